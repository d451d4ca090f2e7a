"""The GitHub Actions workflows call commands and flags the CLI really has, pin every action, keep
to least privilege, and survive what the runner does to them: a cancel, a timeout, credentials
that expire, a deploy and a preview reaching the same stack, a tag pushed on a branch. What would
otherwise fail only in CI, or quietly widen access."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import typer
import yaml

from automation.cli import app
from tests.automation.release.conftest import History

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
AWS_ACTION = "aws-actions/configure-aws-credentials@"
CHECKOUT = "actions/checkout@"
STACK_COMMANDS = {"preview", "up", "rollback", "migrate", "decommission", "cutover", "unlock"}
"""Commands that open a stack with the Pulumi CLI (they need its token, uv, the queue...)."""
INTERRUPTIBLE = STACK_COMMANDS - {"unlock"}
"""The ones a cancel can interrupt mid-operation: the runner's signal must reach them."""
LOCKING_COMMANDS = {"up", "rollback"}
"""The ones that take the stack's lock (a Pulumi update: `up`, and `rollback`'s), and so may
leave it behind when interrupted: each is followed by an unlock step, and no other is. A preview
takes no lock (pulumi/pulumi#8642: on Pulumi Cloud previews proceed while an update runs; on a
self-managed backend `Preview` never calls `Lock`, pkg/backend/diy/backend.go); `migrate`
(cutover, decommission) reads the stack's outputs. An unlock step after those could only ever
release someone else's lock (on a self-managed backend `pulumi cancel` deletes every lock file)."""
CANCEL_WINDOW_MINUTES = 5
"""After a cancel GitHub waits 5 minutes, then terminates whatever still runs (the steps with
`if: cancelled()` included): docs.github.com/en/actions/reference/workflow-cancellation-reference"""


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            yield path.name, name, job


def run_commands(script: str) -> Iterator[list[str]]:
    """Each shell command of a `run:` script, as words (pipes, redirections and `&&` split)."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        redirected = False
        for token in lexer:
            if token in ("|", "||", "&&", ";", "&"):
                if words:
                    yield words
                words, redirected = [], False
            elif token in (">", ">>", "<", "2>"):
                redirected = True
            elif not redirected:
                words.append(token)
        if words:
            yield words


def automation_args(words: list[str]) -> list[str] | None:
    """`[exec] <venv>/python -m automation ARGS...` -> ARGS, else None."""
    if words[:1] == ["exec"]:
        words = words[1:]
    if len(words) > 3 and words[0].endswith("python") and words[1:3] == ["-m", "automation"]:
        return words[3:]
    return None


def automation_calls() -> Iterator[tuple[str, list[str]]]:
    for workflow, name, job in jobs():
        for step in job.get("steps", []):
            for words in run_commands(step.get("run", "")):
                args = automation_args(words)
                if args is not None:
                    yield f"{workflow}:{name}", args


def stack_steps(job: dict[str, Any], commands: set[str]) -> Iterator[tuple[int, list[str]]]:
    """(index, automation args) of each step of `job` that runs one of `commands`."""
    for index, step in enumerate(job.get("steps", [])):
        for words in run_commands(step.get("run", "")):
            args = automation_args(words)
            if args is not None and args[0] in commands:
                yield index, args


def variants(job: dict[str, Any]) -> list[dict[str, str]]:
    """The job's matrix combinations (one empty one without a matrix)."""
    matrix = job.get("strategy", {}).get("matrix", {})
    combos: list[dict[str, str]] = [{}]
    for key, values in matrix.items():
        combos = [{**combo, key: str(value)} for combo in combos for value in values]
    return combos


def expand(text: str, matrix: dict[str, str]) -> str:
    return re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: matrix[m[1]], text)


def stack_of(step: dict[str, Any], args: list[str], matrix: dict[str, str]) -> str:
    """The `--stack` value, with the step's `$VARIABLE` and the job's matrix resolved."""
    value = args[args.index("--stack") + 1]
    if value.startswith("$"):
        value = step["env"][value.strip("${}")]
    return expand(value, matrix)


def pulumi_env(step: dict[str, Any]) -> dict[str, str]:
    return {key: value for key, value in step.get("env", {}).items() if key.startswith("PULUMI_")}


COMMANDS: dict[str, click.Command] = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def test_there_are_workflows_for_pull_requests_and_deploys() -> None:
    names = {path.name for path in WORKFLOWS}
    assert names == {"pull-request.yml", "deploy.yml", "migrate.yml"}
    assert load(ROOT / ".github/workflows/pull-request.yml")["on"] == {
        "pull_request": {"branches": ["main"]}
    }
    assert load(ROOT / ".github/workflows/deploy.yml")["on"] == {
        "push": {"branches": ["main"], "tags": ["v*"]}
    }


def test_every_automation_call_uses_a_real_command_and_real_flags() -> None:
    calls = list(automation_calls())
    used = {words[0] for _, words in calls}
    assert {"report", "preview", "stack", "up", "migrate"} <= used  # report: plan diff + check
    for where, words in calls:
        command = COMMANDS.get(words[0])
        assert command is not None, f"{where}: no command {words[0]!r}"
        flags = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for word in words[1:]:
            if word.startswith("-"):
                assert word.split("=", 1)[0] in flags, f"{where}: {words[0]} has no {word}"
        # And click accepts the whole line (values in place of the shell's variables).
        args = [w.replace("$", "X") for w in words[1:]]
        command.make_context(words[0], args, resilient_parsing=False)


def test_every_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for where, name, job in jobs():
        for step in job.get("steps", []):
            for words in run_commands(step.get("run", "")):
                if words[0] == "make":
                    for target in words[1:]:
                        assert re.search(rf"^{target}:", makefile, re.M), f"{where}:{name} {target}"


def test_every_action_is_pinned_to_a_commit() -> None:
    for where, name, job in jobs():
        for step in job.get("steps", []):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{where}:{name}: {step['uses']} is not pinned"


def test_least_privilege_permissions() -> None:
    for path in WORKFLOWS:
        assert load(path)["permissions"] == {"contents": "read"}, path.name
    for where, name, job in jobs():
        permissions = job.get("permissions", {})
        steps = job.get("steps", [])
        assumes_aws = any(step.get("uses", "").startswith(AWS_ACTION) for step in steps)
        comments = any("--comment" in step.get("run", "") for step in steps)
        assert (permissions.get("id-token") == "write") == assumes_aws, f"{where}:{name}"
        assert (permissions.get("pull-requests") == "write") == comments, f"{where}:{name}"
        assert set(permissions) <= {"contents", "id-token", "pull-requests"}
        assert permissions.get("contents", "read") == "read"


def test_aws_only_through_oidc_role_assumption() -> None:
    for where, name, job in jobs():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith(AWS_ACTION):
                assert set(step["with"]) == {
                    "role-to-assume",
                    "aws-region",
                    "role-duration-seconds",
                }, f"{where}:{name}"
            text = yaml.safe_dump(step)
            assert "AWS_SECRET_ACCESS_KEY" not in text
            assert "aws-access-key-id" not in text


def test_jobs_that_touch_a_stack_install_the_pulumi_cli_and_see_the_tags() -> None:
    for where, name, job in jobs():
        steps = job.get("steps", [])
        scripts = " ".join(step.get("run", "") for step in steps)
        if re.search(r"automation (preview|up|decommission|rollback|migrate)\b", scripts):
            installs = scripts.index("get.pulumi.com")
            assert installs < scripts.index("-m automation"), f"{where}:{name}"
            checkout = steps[0]
            assert checkout["uses"].startswith("actions/checkout@")
            assert checkout["with"]["fetch-depth"] == 0, f"{where}:{name}: the version needs tags"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deploys_never_overlap_per_stack_and_prod_waits_for_reviewers(stack: str) -> None:
    deploy = load(ROOT / ".github/workflows/deploy.yml")["jobs"][f"deploy-{stack}"]
    assert deploy["concurrency"] == {"group": f"stack-{stack}", "cancel-in-progress": False}
    assert deploy["environment"] == stack  # prod's required reviewers live on this environment
    assert f"contains(fromJSON(needs.decide.outputs.stacks), '{stack}')" in deploy["if"]
    assert set(deploy["needs"]) == {"decide", "test"}


@pytest.mark.parametrize(
    ("tag", "stack"), [("v1.4.2", "prod"), ("v1.5.0", "prod"), ("v2.0.0-rc.1", "dev")]
)
def test_the_deploy_follows_the_mapping_table(history: History, tag: str, stack: str) -> None:
    from automation.release.ci_context import context_from_env, decide

    deploy = load(ROOT / ".github/workflows/deploy.yml")["jobs"]
    pushes = (("refs/heads/main", "dev"), (f"refs/tags/{tag}", stack))
    for ref, expected in pushes:
        env = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": ref}
        decision = decide(context_from_env(env, repo=history.checkout))
        assert (str(decision.operation), list(decision.stacks)) == ("up", [expected])
        scripts = " ".join(step.get("run", "") for step in deploy[f"deploy-{expected}"]["steps"])
        assert f"up --stack {expected}" in scripts


def test_the_tag_check_sees_mains_history() -> None:
    """The mapping asks git whether origin/main contains a tag's commit: the decide job needs
    the whole history (`fetch-depth: 0` fetches every branch as refs/remotes/origin/*)."""
    decide_job = load(ROOT / ".github/workflows/deploy.yml")["jobs"]["decide"]
    checkout = decide_job["steps"][0]
    assert checkout["uses"].startswith(CHECKOUT)
    assert checkout["with"]["fetch-depth"] == 0
    scripts = " ".join(step.get("run", "") for step in decide_job["steps"])
    assert "automation stack" in scripts


def test_a_release_never_decommissions_the_legacy_instances() -> None:
    deploy = (ROOT / ".github/workflows/deploy.yml").read_text()
    assert "decommission" not in deploy.split("jobs:", 1)[1]


def migration_group(job: dict[str, Any], step: str) -> str:
    """The concurrency group GitHub gives the job for a dispatched step: the group is a literal
    or `${{ inputs.step == 'X' && 'A' || 'B' }}` (A for step X, B for any other)."""
    group = str(job["concurrency"]["group"])
    chosen = re.fullmatch(
        r"\$\{\{ inputs\.step == '(\w+)' && '([\w-]+)' \|\| '([\w-]+)' \}\}", group
    )
    if chosen is None:
        assert "${{" not in group, f"an expression this test cannot read: {group}"
        return group
    return chosen[2] if step == chosen[1] else chosen[3]


def test_going_back_runs_at_once_beside_a_running_step() -> None:
    """`0` waiting in the steps' group would wait out a bake or a TTL wait (and a second
    dispatch would replace it): it gets a group no other job uses. A step it overtakes stops
    rather than undo it (tests/automation/cutover/test_concurrency.py)."""
    job = load(ROOT / ".github/workflows/migrate.yml")["jobs"]["migrate"]
    back = migration_group(job, "0")
    assert back != migration_group(job, "10")
    for where, name, other in jobs():
        if (where, name) != ("migrate.yml", "migrate") and "concurrency" in other:
            assert not str(other["concurrency"]["group"]).startswith(back)


def test_the_migration_is_one_reviewed_step_per_run() -> None:
    from automation.cli import MIGRATION_STEPS

    workflow = load(ROOT / ".github/workflows/migrate.yml")
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    for choice in inputs["step"]["options"]:
        assert choice in MIGRATION_STEPS or 0 <= int(choice) <= 100
    assert {"10", "50", "100", "0", "finish", "decommission"} <= set(inputs["step"]["options"])
    assert inputs["execute"]["default"] is False  # a dry run unless asked
    job = workflow["jobs"]["migrate"]
    assert job["environment"] == "prod"
    # One step at a time, and never in the deploys' group, where a waiting step would cancel a
    # waiting release (one pending job per group).
    assert job["concurrency"]["cancel-in-progress"] is False
    groups = {choice: migration_group(job, choice) for choice in inputs["step"]["options"]}
    assert {groups[choice] for choice in groups if choice != "0"} == {"migrate-prod"}
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads
    assert uploads[0]["if"] == "always()"
    assert uploads[0]["with"]["path"] == "migrate-report.json"


# --- 1. uv on PATH wherever Pulumi runs the program -------------------------------------------


def test_uv_is_on_path_wherever_pulumi_runs_the_program() -> None:
    """Pulumi.yaml's `toolchain: uv` makes the CLI's Python host run `uv` from PATH at every
    program run; the runner image has no uv and `make setup` installs it in `.tools/bin` only."""
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]
    assert runtime["options"]["toolchain"] == "uv"
    fallback = re.search(r"^UV := .*\|\| echo (\S+)/uv\)$", (ROOT / "Makefile").read_text(), re.M)
    assert fallback, "the Makefile installs uv where?"
    on_path = f'echo "$PWD/{fallback[1]}" >> "$GITHUB_PATH"'
    for where, name, job in jobs():
        first = next(stack_steps(job, STACK_COMMANDS), None)
        if first is None:
            continue
        before = [step.get("run", "") for step in job["steps"][: first[0]]]
        setup = [script for script in before if "make setup" in script]
        assert setup, f"{where}:{name}"
        assert on_path in setup[0].split("make setup", 1)[1], f"{where}:{name}: uv not on PATH"


# --- 2. a cancel or a timeout never leaves a stack locked -------------------------------------


def test_pulumi_runs_as_the_steps_own_process() -> None:
    """The runner signals a cancelled step's shell only; `exec` makes Python that process."""
    for where, name, job in jobs():
        for index, _ in stack_steps(job, STACK_COMMANDS):
            commands = list(run_commands(job["steps"][index]["run"]))
            assert len(commands) == 1, f"{where}:{name}: one command, exec'd"
            assert commands[0][0] == "exec", f"{where}:{name}: not exec'd"


def fake_venv(tmp_path: Path) -> None:
    """`.venv/bin/python` that notes when it runs (its pid in `started`), when SIGINT reaches it
    (`interrupted`) and when a probe (SIGUSR1) does (`probed`)."""
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        f"#!{sys.executable}\n"
        "import os, pathlib, signal, sys, time\n"
        "def interrupted(*_):\n"
        "    pathlib.Path('interrupted').touch()\n"
        "    sys.exit(130)\n"
        "signal.signal(signal.SIGINT, interrupted)\n"
        "signal.signal(signal.SIGUSR1, lambda *_: pathlib.Path('probed').touch())\n"
        "pathlib.Path('starting').write_text(str(os.getpid()))\n"
        "os.replace('starting', 'started')\n"
        "time.sleep(30)\n"
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)


def settled(pid: int, signum: int) -> bool:
    """Whether process `pid` has taken `signum` and done with it whatever it does: the signal is
    no longer pending and the process sleeps again (or has ended), so its handler has returned
    (/proc/PID/status: State, SigPnd and ShdPnd, one snapshot)."""
    try:
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
    except FileNotFoundError:
        return True
    pending = int(status["SigPnd"], 16) | int(status["ShdPnd"], 16)
    state = status["State"].split()[0]
    return not pending & (1 << (signum - 1)) and state in ("S", "Z")


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def cancel_reaches_python(tmp_path: Path, script: str, env: dict[str, str]) -> bool:
    """Run `script` as the runner runs a `run:` step (`bash -e {0}`, no `shell:` given), send
    SIGINT to that process only, as a cancel does, and say whether Python received it.

    No fixed wait decides it: once the step's process has taken the SIGINT (whatever it passes
    on, it has sent), a probe signal goes to Python itself; Python handles pending signals
    lowest number first (SIGINT 2 before SIGUSR1 10), so a forwarded SIGINT shows before the
    probe does."""
    (tmp_path / "step.sh").write_text(script)
    shell = subprocess.Popen(
        ["bash", "-e", "step.sh"],
        cwd=tmp_path,
        env={**os.environ, **env},
        start_new_session=True,
    )
    started, interrupted, probed = (tmp_path / n for n in ("started", "interrupted", "probed"))
    try:
        wait_until(started.exists, "the step never started Python")
        python = int(started.read_text())
        shell.send_signal(signal.SIGINT)
        wait_until(lambda: settled(shell.pid, signal.SIGINT), "the step never took the SIGINT")
        with contextlib.suppress(ProcessLookupError):
            os.kill(python, signal.SIGUSR1)
        wait_until(lambda: interrupted.exists() or probed.exists(), "Python never answered")
        return interrupted.exists()
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()


def interruptible_steps() -> Iterator[Any]:
    for where, name, job in jobs():
        for index, args in stack_steps(job, INTERRUPTIBLE):
            step = job["steps"][index]
            yield pytest.param(step, id=f"{where}:{name}:{args[0]}")


@pytest.mark.parametrize("step", list(interruptible_steps()))
def test_a_cancel_reaches_the_pulumi_process(tmp_path: Path, step: dict[str, Any]) -> None:
    fake_venv(tmp_path)
    env = dict.fromkeys(step.get("env", {}), "x")
    assert cancel_reaches_python(tmp_path, step["run"], env)


def test_without_exec_the_cancel_stops_at_the_shell(tmp_path: Path) -> None:
    """Why `exec`: bash waits for its child and does not forward the signal."""
    fake_venv(tmp_path)
    script = ".venv/bin/python -m automation up --stack dev\n"
    assert not cancel_reaches_python(tmp_path, script, {})


def test_every_job_and_every_long_step_has_a_timeout() -> None:
    for where, name, job in jobs():
        assert isinstance(job.get("timeout-minutes"), int), f"{where}:{name}"
        for step in job["steps"]:
            script = step.get("run", "")
            long = "make " in script or any(
                (args := automation_args(words)) is not None and args[0] in STACK_COMMANDS
                for words in run_commands(script)
            )
            if long:
                assert isinstance(step.get("timeout-minutes"), int), f"{where}:{name}: {script}"


def test_a_timed_out_pulumi_step_still_leaves_time_to_unlock() -> None:
    """A step's timeout fails the step (the unlock step runs); the job's own timeout would
    cancel everything. So in a job that opens a stack, the steps' timeouts add up to at most
    the job's."""
    for where, name, job in jobs():
        if next(stack_steps(job, STACK_COMMANDS), None) is None:
            continue
        budget = sum(step.get("timeout-minutes", 0) for step in job["steps"])
        assert budget <= job["timeout-minutes"], f"{where}:{name}: {budget} min of steps"


def test_every_pulumi_step_is_followed_by_an_unlock_step() -> None:
    for where, name, job in jobs():
        steps = job["steps"]
        for index, args in stack_steps(job, LOCKING_COMMANDS):
            step = steps[index]
            assert "id" in step, f"{where}:{name}: the unlock step needs the step's outcome"
            unlocks = [
                (later, later_args)
                for later, later_args in stack_steps(job, {"unlock"})
                if later > index
            ]
            assert unlocks, f"{where}:{name}: no unlock after {args[0]}"
            later, unlock_args = unlocks[0]
            unlock = steps[later]
            condition = unlock["if"].replace(" ", "")
            assert condition.startswith("(cancelled()||failure())&&"), f"{where}:{name}"
            assert f"steps.{step['id']}.outcome=='cancelled'" in condition
            assert f"steps.{step['id']}.outcome=='failure'" in condition
            # GitHub terminates a cancelled job 5 minutes after the cancel.
            assert unlock["timeout-minutes"] < CANCEL_WINDOW_MINUTES
            # The same stack, with the same token, backend and secrets.
            assert pulumi_env(unlock) == pulumi_env(step), f"{where}:{name}"
            for matrix in variants(job):
                assert stack_of(unlock, unlock_args, matrix) == stack_of(step, args, matrix)


def test_an_unlock_step_follows_only_a_step_that_takes_the_lock() -> None:
    """The migrate workflow's step takes no lock; its unlock step, after a refused or failed step
    on prod while a release deployed (another concurrency group), would delete the release's
    lock on S3."""
    for where, name, job in jobs():
        locking = [index for index, _ in stack_steps(job, LOCKING_COMMANDS)]
        for index, _ in stack_steps(job, {"unlock"}):
            assert any(before < index for before in locking), f"{where}:{name}: unlock of what?"


# --- 5. credentials outlive the job -----------------------------------------------------------


def test_aws_credentials_outlive_the_job() -> None:
    """configure-aws-credentials asks for 1 h by default; a job allowed to run longer would
    lose its credentials mid-deploy. 43200 s is STS's maximum (and IAM's MaxSessionDuration)."""
    for where, name, job in jobs():
        for step in job["steps"]:
            if step.get("uses", "").startswith(AWS_ACTION):
                duration = step["with"]["role-duration-seconds"]
                assert isinstance(duration, int), f"{where}:{name}"
                assert 60 * job["timeout-minutes"] <= duration <= 43200, f"{where}:{name}"


# --- 6. only updates take a stack's lock, and they queue; previews wait for nothing -----------


def test_only_updates_queue_for_a_stack_and_previews_never_wait_for_its_lock() -> None:
    """Only updates take the stack's lock, and the deploys of a stack, which are all the updates
    CI runs, queue in `stack-<stack>`: one at a time, never cancelled, and none meets another's
    lock. GitHub keeps one running and one pending job per group, and a new pending job cancels
    the pending one (docs: "Control the concurrency of workflows and jobs"): a preview or a
    migration step in that group could cancel a waiting release. A preview takes no lock, so it
    needs no group, no lock retries (it would never use them) and no unlock step."""
    members: dict[str, set[str]] = {}
    for where, name, job in jobs():
        group = job.get("concurrency", {}).get("group", "")
        if group.startswith("stack-"):
            assert job["concurrency"] == {"group": group, "cancel-in-progress": False}
            members.setdefault(group, set()).add(f"{where}:{name}")
        updates = list(stack_steps(job, LOCKING_COMMANDS))
        assert not updates or group.startswith("stack-"), f"{where}:{name}: an update, no queue"
    assert members == {
        "stack-dev": {"deploy.yml:deploy-dev"},
        "stack-prod": {"deploy.yml:deploy-prod"},
    }
    preview = load(ROOT / ".github/workflows/pull-request.yml")["jobs"]["preview"]
    assert "concurrency" not in preview
    (_, args), *others = stack_steps(preview, {"preview", "unlock"})
    assert others == [], "a preview takes no lock: nothing to unlock"
    assert "--lock-retries" not in args


def test_a_newer_push_cancels_only_its_own_pull_requests_run() -> None:
    pull_request = load(ROOT / ".github/workflows/pull-request.yml")
    assert pull_request["concurrency"] == {
        "group": "pull-request-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    for path in WORKFLOWS:
        workflow = load(path)
        if path.name != "pull-request.yml":
            assert workflow.get("concurrency", {}).get("cancel-in-progress") in (None, False)
        for job in workflow["jobs"].values():
            assert job.get("concurrency", {}).get("cancel-in-progress") in (None, False)


# --- 7. which Pulumi token reaches which code -----------------------------------------------


def secrets_used(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job)))


def test_deploy_secrets_reach_only_jobs_of_an_environment() -> None:
    """Environment secrets reach only jobs of that environment, after its deployment rules
    (branches, tags, reviewers) pass; the rest of the repository, pull requests included,
    sees only the preview token, which the linter's config allows by name."""
    zizmor = yaml.safe_load((ROOT / ".github" / "zizmor.yml").read_text())
    allowed = set(zizmor["rules"]["secrets-outside-env"]["config"]["allow"])
    assert allowed == {"PULUMI_PREVIEW_TOKEN"}
    for where, name, job in jobs():
        used = secrets_used(job)
        if "environment" not in job:
            assert used <= allowed, f"{where}:{name}: {used - allowed} outside an environment"
        if "PULUMI_ACCESS_TOKEN" in used or "PULUMI_CONFIG_PASSPHRASE" in used:
            assert job["environment"] in ("dev", "prod"), f"{where}:{name}"


def test_pull_requests_get_the_preview_token_and_never_a_passphrase() -> None:
    pull_request = load(ROOT / ".github/workflows/pull-request.yml")
    used = set().union(*(secrets_used(job) for job in pull_request["jobs"].values()))
    assert used == {"PULUMI_PREVIEW_TOKEN"}
    preview = pull_request["jobs"]["preview"]
    assert "environment" not in preview
    # A stack encrypted with a passphrase gets no real preview (the offline plan still runs).
    assert "vars.PULUMI_SECRETS_PROVIDER != 'passphrase'" in preview["if"]
    for index, _ in stack_steps(preview, STACK_COMMANDS):
        env = preview["steps"][index]["env"]
        assert env["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_PREVIEW_TOKEN }}"
        assert "PULUMI_CONFIG_PASSPHRASE" not in env


def test_deploys_use_their_environments_token_and_secrets() -> None:
    for where, name, job in jobs():
        if job.get("environment") not in ("dev", "prod"):
            continue
        for index, _ in stack_steps(job, STACK_COMMANDS):
            assert pulumi_env(job["steps"][index]) == {
                "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
                "PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}",
                "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
            }, f"{where}:{name}"


# --- 8. checkouts keep no credentials, and a real linter reads the workflows ------------------


def test_no_checkout_keeps_the_token_on_disk() -> None:
    """actions/checkout writes the token into .git/config unless told not to; nothing here
    pushes with git."""
    for where, name, job in jobs():
        for step in job["steps"]:
            if step.get("uses", "").startswith(CHECKOUT):
                assert step["with"]["persist-credentials"] is False, f"{where}:{name}"


def zizmor(target: Path) -> subprocess.CompletedProcess[str]:
    """The workflow linter exactly as `make lint` runs it."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\t\$\(RUN\) zizmor \$\(ZIZMOR_FLAGS\) \.github/workflows$", makefile, re.M)
    flags = re.search(r"^ZIZMOR_FLAGS := (.+)$", makefile, re.M)
    assert flags
    command = [Path(sys.executable).with_name("zizmor"), *flags[1].split(), ".github/workflows"]
    return subprocess.run(command, cwd=target, capture_output=True, text=True, check=False)


def test_the_workflow_linter_passes() -> None:
    done = zizmor(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflow_linter_fails_on_a_new_finding(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "zizmor.yml").write_text((ROOT / ".github" / "zizmor.yml").read_text())
    for path in WORKFLOWS:
        text = path.read_text()
        if path.name == "deploy.yml":
            text = text.replace("          persist-credentials: false\n", "", 1)
        (tmp_path / ".github" / "workflows" / path.name).write_text(text)
    done = zizmor(tmp_path)
    assert done.returncode != 0
    assert "artipacked" in done.stdout
