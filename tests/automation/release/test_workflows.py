"""The GitHub Actions workflows call commands and flags the CLI really has, pin every action, and
keep to least privilege: what would otherwise fail only in CI, or quietly widen access."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import typer
import yaml

from automation.cli import app

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
AWS_ACTION = "aws-actions/configure-aws-credentials@"


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


def automation_calls() -> Iterator[tuple[str, list[str]]]:
    for workflow, name, job in jobs():
        for step in job.get("steps", []):
            for words in run_commands(step.get("run", "")):
                if words[0].endswith("python") and words[1:3] == ["-m", "automation"]:
                    yield f"{workflow}:{name}", words[3:]


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
    assert {"plan", "check", "preview", "stack", "up", "migrate"} <= used
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
                assert set(step["with"]) == {"role-to-assume", "aws-region"}, f"{where}:{name}"
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


def test_the_deploy_follows_the_mapping_table() -> None:
    from automation.release.ci_context import context_from_env, decide

    deploy = load(ROOT / ".github/workflows/deploy.yml")["jobs"]
    for ref, stack in (("refs/heads/main", "dev"), ("refs/tags/v1.2.3", "prod")):
        decision = decide(context_from_env({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": ref}))
        assert (str(decision.operation), list(decision.stacks)) == ("up", [stack])
        scripts = " ".join(step.get("run", "") for step in deploy[f"deploy-{stack}"]["steps"])
        assert f"up --stack {stack}" in scripts


def test_a_release_never_decommissions_the_legacy_instances() -> None:
    deploy = (ROOT / ".github/workflows/deploy.yml").read_text()
    assert "decommission" not in deploy.split("jobs:", 1)[1]


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
    assert job["concurrency"] == {"group": "migrate-prod", "cancel-in-progress": False}
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads
    assert uploads[0]["if"] == "always()"
    assert uploads[0]["with"]["path"] == "migrate-report.json"
