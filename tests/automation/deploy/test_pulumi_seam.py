"""The real seam (`LocalPulumi`, `PulumiStack`) on Pulumi's own Automation API code.

The Pulumi CLI cannot be installed here, so these tests put a scripted stand-in named `pulumi` on
PATH (`fake_pulumi_cli.py`): everything from our seam down to Pulumi's `PulumiCommand.run` and its
error classification is the real code.
"""

import json
import os
import stat
import sys
import threading
import time
from pathlib import Path

import pytest
from pulumi import automation as auto

from automation.deploy.aws_errors import CredentialsProblem
from automation.deploy.pulumi_process import Stopped, read_marker
from automation.deploy.pulumi_seam import (
    CommandFailed,
    LocalPulumi,
    StackLocked,
    SummaryUnread,
    masked_outputs,
    translated,
)
from automation.errors import AutomationError, UsageProblem

SHARED = Path(__file__).resolve().parents[1]  # tests/automation: the stand-in pulumi and its data
STAMPS = {"alunos-api:version": "1.2.3", "alunos-api:rollbackImage": ""}
STACK_FILE = "config:\n  aws:region: us-east-2\n"


class FakeCli:
    """The stand-in `pulumi` (and a `uv`, which Pulumi.yaml's toolchain needs) first on PATH, its
    backend state in `root/state`, and the update markers in `root/runner-temp`."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, *, uv: bool = True) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        executable(
            self.bin / "pulumi",
            f'#!/bin/sh\nexec "{sys.executable}" "{SHARED / "fake_pulumi_cli.py"}" "$@"\n',
        )
        if uv:
            executable(self.bin / "uv", "#!/bin/sh\nexit 0\n")
        self.log = root / "calls.jsonl"
        self.state = root / "state"
        self.state.mkdir()
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_PULUMI_LOG", str(self.log))
        monkeypatch.setenv("FAKE_PULUMI_STACKS", "dev,prod,acme/alunos-api/prod")
        monkeypatch.setenv("FAKE_PULUMI_STATE", str(self.state))
        monkeypatch.setenv("RUNNER_TEMP", str(root / "runner-temp"))
        monkeypatch.delenv("GITHUB_RUN_ID", raising=False)

    def set(self, name: str, value: object) -> None:
        self.monkeypatch.setenv(f"FAKE_PULUMI_{name}", json.dumps(value))

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        return [" ".join(c[:2]) for c in self.calls() if c != ["version"]]

    def journal(self) -> list[dict]:
        path = self.state / "journal.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def history(self) -> list[dict]:
        path = self.state / "history.json"
        return json.loads(path.read_text()) if path.exists() else []

    @property
    def locked(self) -> bool:
        return (self.state / "lock.json").exists()


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: alunos-api\nruntime: python\n")
    (root / "Pulumi.dev.yaml").write_text(STACK_FILE)
    return root


@pytest.fixture
def cli(tmp_path, monkeypatch):
    return FakeCli(tmp_path, monkeypatch)


def history_json(*entries):
    return [
        {
            "kind": "update",
            "startTime": "2024-05-01T10:00:00.000Z",
            "endTime": "2024-05-01T10:05:00.000Z",
            "message": "deploy",
            "environment": {},
            "result": "succeeded",
            "version": number,
            "resourceChanges": {"update": 1, "same": 3},
            "config": config,
        }
        for number, config in entries
    ]


# --- selection ---------------------------------------------------------------------------------


def test_a_missing_stack_is_never_created_without_create(project, cli):
    with pytest.raises(UsageProblem, match=r"'prdo' does not exist.*--create") as failure:
        LocalPulumi(project).open_stack("prdo")
    assert failure.value.exit_code == 2
    assert "stack init" not in cli.commands()


def test_create_creates_a_missing_stack(project, cli):
    stack = LocalPulumi(project).open_stack("staging", create=True)
    assert stack.name == "staging"
    assert cli.commands() == ["stack select", "stack init"]


def test_an_organization_selects_the_fully_qualified_name(project, cli):
    stack = LocalPulumi(project, org="acme").open_stack("prod")
    assert stack.name == "acme/alunos-api/prod"
    assert stack.project == "alunos-api"
    assert ["stack", "select", "--stack", "acme/alunos-api/prod"] in cli.calls()


@pytest.mark.parametrize("name", ["prod stack", "a/b/c/d", "dev;rm", "", "/dev"])
def test_stack_names_are_validated_before_any_call(project, cli, name):
    with pytest.raises(UsageProblem, match="letters, digits"):
        LocalPulumi(project).open_stack(name)
    assert cli.calls() == []


def test_a_qualified_stack_name_is_used_as_given(project, cli):
    stack = LocalPulumi(project).open_stack("acme/alunos-api/prod")
    assert stack.name == "acme/alunos-api/prod"
    with pytest.raises(UsageProblem, match="drop --org"):
        LocalPulumi(project, org="acme").open_stack("acme/prod")


def test_a_directory_without_pulumi_yaml_is_a_usage_problem(tmp_path):
    with pytest.raises(UsageProblem, match=r"no Pulumi\.yaml"):
        LocalPulumi(tmp_path)


def test_a_missing_pulumi_cli_says_how_to_install_it(project, tmp_path, monkeypatch):
    """Checked before anything starts: a usage error (exit 2; it was a failure, exit 1)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(AutomationError) as failure:
        LocalPulumi(project).open_stack("dev")
    message = str(failure.value)
    assert "https://www.pulumi.com/docs/iac/download-install/" in message
    assert "curl -fsSL https://get.pulumi.com | sh" in message
    assert failure.value.exit_code == 2


# --- runs --------------------------------------------------------------------------------------


def test_up_stamps_config_for_the_run_and_leaves_the_checkout_clean(project, cli):
    cli.set("HISTORY", history_json((7, {})))
    stack = LocalPulumi(project).open_stack("dev")
    lines: list[str] = []
    summary = stack.up(run_config=STAMPS, message="deploy 1.2.3", on_output=lines.append)
    assert summary.changes == {"update": 1, "same": 3}
    set_all = next(c for c in cli.calls() if c[:2] == ["config", "set-all"])
    assert "alunos-api:version=1.2.3" in set_all
    assert "alunos-api:rollbackImage=" in set_all
    up = next(c for c in cli.calls() if c[0] == "up")
    assert up[up.index("--message") + 1] == "deploy 1.2.3"
    assert "up done" in lines
    assert (project / "Pulumi.dev.yaml").read_text() == STACK_FILE
    # The update summary is fetched without secrets.
    history_calls = [c for c in cli.calls() if c[:2] == ["stack", "history"]]
    assert all("--show-secrets" not in c for c in history_calls)


def test_a_stack_file_created_by_the_run_is_removed(project, cli):
    (project / "Pulumi.dev.yaml").unlink()
    cli.set("HISTORY", history_json((1, {})))
    LocalPulumi(project).open_stack("dev").up(run_config=STAMPS, message="m", on_output=print)
    assert not (project / "Pulumi.dev.yaml").exists()


def test_a_locked_stack_raises_stack_locked(project, cli):
    cli.set(
        "FAIL", {"up": [255, "error: [409] Conflict: Another update is currently in progress."]}
    )
    stack = LocalPulumi(project).open_stack("dev")
    with pytest.raises(StackLocked, match="locked"):
        stack.up(run_config=STAMPS, message="m", on_output=lambda line: None)
    assert (project / "Pulumi.dev.yaml").read_text() == STACK_FILE


def test_missing_aws_credentials_are_named(project, cli):
    cli.set(
        "FAIL",
        {
            "up": [
                255,
                "error: configuring Terraform AWS Provider: no valid credential sources for "
                "Terraform AWS Provider found.",
            ]
        },
    )
    stack = LocalPulumi(project).open_stack("dev")
    with pytest.raises(CredentialsProblem, match="AWS credentials are missing or expired"):
        stack.up(run_config=STAMPS, message="m", on_output=lambda line: None)


def test_other_failures_carry_the_cli_error(project, cli):
    cli.set("FAIL", {"up": [255, "error: update failed\nerror: ECS service did not stabilize"]})
    stack = LocalPulumi(project).open_stack("dev")
    with pytest.raises(CommandFailed, match="ECS service did not stabilize"):
        stack.up(run_config=STAMPS, message="m", on_output=lambda line: None)


def test_cancel_runs_pulumi_cancel_for_the_stack(project, cli):
    LocalPulumi(project, org="acme").open_stack("prod").cancel()
    assert ["cancel", "--yes", "--stack", "acme/alunos-api/prod"] in cli.calls()


# --- what leaves the seam ----------------------------------------------------------------------


def test_history_never_carries_secret_values(project, cli):
    cli.set(
        "HISTORY",
        history_json(
            (
                3,
                {
                    "alunos-api:version": {"value": "1.2.3", "secret": False},
                    "alunos-api:dbPassword": {"value": "hunter2-very-secret", "secret": True},
                },
            )
        ),
    )
    entries = LocalPulumi(project).open_stack("dev").history(page_size=100, page=1)
    assert entries[0].config == {"alunos-api:version": "1.2.3"}
    assert entries[0].update == 3
    call = next(c for c in cli.calls() if c[:2] == ["stack", "history"])
    assert "--show-secrets" not in call
    assert call[call.index("--page-size") + 1] == "100"


def test_outputs_keep_the_secret_flag_and_masking_hides_the_value(project, cli):
    cli.set("OUTPUTS", {"serviceUrl": ["http://alb", False], "dbUrl": ["postgres://u:pw@h", True]})
    outputs = LocalPulumi(project).open_stack("dev").outputs()
    assert outputs["dbUrl"].secret
    assert masked_outputs(outputs) == {"serviceUrl": "http://alb", "dbUrl": "[secret]"}


def test_get_config_returns_none_for_a_missing_key(project, cli):
    cli.set(
        "FAIL",
        {"config get": [255, "error: configuration key 'aws:region' not found for stack 'dev'"]},
    )
    assert LocalPulumi(project).open_stack("dev").get_config("aws:region") is None


# --- error translation, on Pulumi's own classification of CLI output ---------------------------


def classified(stderr: str, stdout: str = "") -> Exception:
    from pulumi.automation.errors import create_command_error

    return create_command_error(auto.CommandResult(stdout=stdout, stderr=stderr, code=255))


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("error: no stack named 'prdo' found", UsageProblem),
        ("error: [409] Conflict: Another update is currently in progress.", StackLocked),
        ("error: the stack is currently locked by 1 lock(s).", StackLocked),
        ("error: NoCredentialProviders: no valid providers in chain", CredentialsProblem),
        (
            "error: ExpiredToken: The security token included in the request is expired",
            CredentialsProblem,
        ),
        (
            "error: InvalidClientTokenId: The security token included in the request is invalid",
            CredentialsProblem,
        ),
        ("error: something else broke", CommandFailed),
    ],
)
def test_translation(stderr, expected):
    with pytest.raises(expected), translated("dev", "up"):
        raise classified(stderr)


def test_translated_messages_stay_short():
    noisy = "\n".join(f"line {n}" for n in range(500))
    with pytest.raises(CommandFailed) as failure, translated("dev", "up"):
        raise classified(noisy)
    assert "line 499" in str(failure.value)
    assert "line 100" not in str(failure.value)


def test_preview_streams_engine_events_and_reads_the_summary(project, cli, monkeypatch):
    """A recorded engine event log, replayed through the SDK's own event-log watcher."""
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "3.200.0")
    monkeypatch.setenv(
        "FAKE_PULUMI_EVENTS", str(SHARED / "data" / "engine-events-up-interrupted.jsonl")
    )
    events: list[auto.EngineEvent] = []
    summary = (
        LocalPulumi(project)
        .open_stack("dev")
        .preview(
            run_config=STAMPS,
            message="preview 1.2.3",
            on_output=lambda line: None,
            on_event=events.append,
        )
    )
    assert summary.changes == {"create": 1, "same": 1}
    assert len(events) == 9
    assert events[-1].cancel_event is not None
    assert (project / "Pulumi.dev.yaml").read_text() == STACK_FILE


def test_a_preview_without_a_summary_is_a_clear_failure(project, cli, monkeypatch, tmp_path):
    """The recorded log minus its summary event: like every real stream it still ends with a
    `cancelEvent`, which is what stops the SDK's log watcher (without one, the SDK waits 5 s for
    it before giving up: `_cleanup`'s `thread.join(5)`)."""
    recorded = (SHARED / "data" / "engine-events-up-interrupted.jsonl").read_text().splitlines()
    unsummarised = [line for line in recorded if '"summaryEvent"' not in line]
    assert len(unsummarised) == len(recorded) - 1
    assert '"cancelEvent"' in unsummarised[-1]
    events = tmp_path / "no-summary.jsonl"
    events.write_text("\n".join(unsummarised) + "\n")
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "3.200.0")
    monkeypatch.setenv("FAKE_PULUMI_EVENTS", str(events))
    with pytest.raises(AutomationError, match="summary event never found"):
        LocalPulumi(project).open_stack("dev").preview(
            run_config={}, message="m", on_output=lambda line: None
        )


# --- the checkout is never written to ----------------------------------------------------------


def test_stamps_go_to_a_copy_of_the_stack_file_outside_the_checkout(project, cli):
    """`config set-all` and `up` get `--config-file` (a copy, outside the repository): the tracked
    Pulumi.dev.yaml is never opened for writing, so no kill can leave it stamped."""
    tracked = project / "Pulumi.dev.yaml"
    os.utime(tracked, ns=(1, 1))
    LocalPulumi(project).open_stack("dev").up(run_config=STAMPS, message="m", on_output=print)
    set_all = next(c for c in cli.calls() if c[:2] == ["config", "set-all"])
    up = next(c for c in cli.calls() if c[0] == "up")
    copy = Path(set_all[set_all.index("--config-file") + 1])
    assert up[up.index("--config-file") + 1] == str(copy)
    assert project not in copy.parents
    assert copy.name == "Pulumi.dev.yaml"
    assert not copy.parent.exists()  # removed after the run
    assert tracked.read_text() == STACK_FILE
    assert tracked.stat().st_mtime_ns == 1  # not even rewritten with the same bytes
    # The update ran with the tracked settings and the stamps: the history keeps both.
    recorded = cli.history()[0]["config"]
    assert recorded["alunos-api:version"]["value"] == "1.2.3"
    assert recorded["aws:region"]["value"] == "us-east-2"


# --- what must be on PATH ----------------------------------------------------------------------


def test_a_program_run_with_uv_needs_uv_on_path_and_says_how(tmp_path, monkeypatch):
    """Pulumi.yaml's `toolchain: uv` makes the language host look `uv` up on PATH: without it,
    a usage error before Pulumi starts, not the host's failure after the stack is locked."""
    cli = FakeCli(tmp_path, monkeypatch, uv=False)
    monkeypatch.setenv("PATH", f"{cli.bin}{os.pathsep}/usr/bin{os.pathsep}/bin")
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        "name: alunos-api\nruntime:\n  name: python\n  options:\n    toolchain: uv\n"
    )
    stack = LocalPulumi(project).open_stack("dev")
    for run in (stack.up, stack.preview):
        with pytest.raises(UsageProblem) as failure:
            run(run_config=STAMPS, message="m", on_output=print)
        message = str(failure.value)
        assert "`uv` is not on PATH" in message
        assert "Could not find `uv` executable" in message
        assert ".tools/bin" in message
        assert "astral-sh/setup-uv" in message
        assert "GITHUB_PATH" in message
        assert failure.value.exit_code == 2
    assert not {"up", "preview", "config set-all"} & {c.split()[0] for c in cli.commands()}
    assert not cli.locked


# --- events, interrupts, reads after an update -------------------------------------------------


def test_preview_streams_engine_events_over_grpc_with_a_current_cli(project, cli, monkeypatch):
    """Pulumi CLIs above 3.205 stream events to the SDK's gRPC server (`--event-log tcp://...`)."""
    monkeypatch.setenv(
        "FAKE_PULUMI_EVENTS", str(SHARED / "data" / "engine-events-up-interrupted.jsonl")
    )
    events: list[auto.EngineEvent] = []
    summary = (
        LocalPulumi(project)
        .open_stack("dev")
        .preview(run_config={}, message="m", on_output=lambda line: None, on_event=events.append)
    )
    preview = next(c for c in cli.calls() if c[0] == "preview")
    assert preview[preview.index("--event-log") + 1].startswith("tcp://127.0.0.1:")
    assert summary.changes == {"create": 1, "same": 1}
    assert len(events) == 9


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_interrupt_sends_the_running_cli_one_sigint_and_it_releases_the_lock(
    project, cli, monkeypatch
):
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "30")
    stack = LocalPulumi(project).open_stack("dev")
    failures: list[BaseException] = []

    def update():
        try:
            stack.up(run_config=STAMPS, message="m", on_output=lambda line: None)
        except Exception as error:
            failures.append(error)

    worker = threading.Thread(target=update)
    worker.start()
    wait_for(lambda: any(e.get("command") == "up" for e in cli.journal()))
    pid = next(e["pid"] for e in cli.journal() if e.get("command") == "up")
    marker = read_marker("dev")
    assert marker is not None
    assert (marker.pid, marker.command, marker.alive) == (pid, "up", True)
    # The fake journals its start, then records the update and takes the lock: wait for both.
    wait_for(lambda: cli.locked)
    signalled = stack.interrupt()
    worker.join(timeout=10)
    assert signalled is not None
    assert (signalled.command, signalled.pid) == ("up", pid)
    assert [e["signal"] for e in cli.journal() if e["what"] == "signal"] == ["SIGINT"]
    assert isinstance(failures[0], CommandFailed)
    assert "update canceled" in str(failures[0])
    assert not cli.locked
    assert cli.history()[0]["result"] == "failed"
    assert read_marker("dev") is None
    assert stack.interrupt() is None  # once
    with pytest.raises(Stopped):  # and nothing starts afterwards
        stack.outputs()


def test_a_failed_read_after_a_successful_update_is_not_a_failed_update(project, cli):
    cli.set("FAIL", {"stack output": [255, "error: [502] Bad Gateway"]})
    with pytest.raises(SummaryUnread, match="succeeded, but reading its summary failed"):
        LocalPulumi(project).open_stack("dev").up(
            run_config=STAMPS, message="m", on_output=lambda line: None
        )
    assert cli.history()[0]["result"] == "succeeded"
