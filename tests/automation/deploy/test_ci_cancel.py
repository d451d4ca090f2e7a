"""What a cancelled or killed CI run leaves behind, end to end: `python -m automation` in a child
process, the stand-in `pulumi` on PATH (its lock, history and journal in a state directory), a
scratch git checkout.

A GitHub Actions runner cancels a step by sending its entry process (the step's shell) SIGINT,
then SIGTERM if it still runs 7.5 s later, then killing it 2.5 s after that (actions/runner
src/Runner.Sdk/ProcessInvoker.cs: `_sigintTimeout` 7500 ms, `_sigtermTimeout` 2500 ms,
`CancelAndKillProcessTree`). The workflows `exec` the tool, so the signals reach it.

One test runs that sequence against the tool's stop budget as they are in CI. The others, whose
budget runs out, start the tool through `timed_automation` and move every deadline counted from
the runner's SIGINT SHIFT seconds sooner: the budget, the runner's SIGTERM and SIGKILL, the end of
the stand-in CLI's cancel. The gaps between them, which decide each race (the 1.5 s the tool has
to exit after its budget, the 3 s a cancel goes on printing after the tool has gone), stay
exactly as in CI: what the tool does after its budget and how long a process takes to start do
not get any faster when the clocks do, so scaling the deadlines down would shrink those margins
too. Only idle time goes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from automation.deploy import updates
from automation.deploy.pulumi_process import start_ticks
from tests.automation.conftest import ScratchRepo
from tests.automation.deploy.test_pulumi_seam import FakeCli

pytestmark = pytest.mark.slow  # python -m automation in child processes, signalled

ROOT = Path(__file__).resolve().parents[3]
RUN_ID = "8123456789"
STACKS = {"dev": {"aws:region": "us-east-2"}}
RUNNER_SIGTERM_SECONDS = 7.5  # after the runner's SIGINT (ProcessInvoker's _sigintTimeout)
RUNNER_SIGKILL_SECONDS = 10.0  # 2.5 s after its SIGTERM (_sigtermTimeout)
SHIFT = 5.0
"""How much sooner the shifted tests' deadlines come: the tool's budget 6 s -> 1 s after the
runner's SIGINT, its SIGTERM 7.5 s -> 2.5 s, its SIGKILL 10 s -> 5 s."""
UNLOCK_POLL_SECONDS = 0.5
"""How often the shifted tests' `unlock --wait` looks (2 s in the tool): what it finds is the same,
it finds it sooner."""


@pytest.fixture
def checkout(repo: ScratchRepo) -> ScratchRepo:
    repo.project(**STACKS).commit()
    repo.tag("v1.4.2")
    repo.commit()
    return repo


@pytest.fixture
def cli(tmp_path, monkeypatch) -> FakeCli:
    fake = FakeCli(tmp_path / "fake", monkeypatch)
    monkeypatch.setenv("GITHUB_RUN_ID", RUN_ID)
    return fake


@dataclass
class Run:
    """The tool, started as a CI step starts it; stderr lines with when they arrived."""

    process: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append((time.time(), line.rstrip()))

    def json(self) -> dict:
        assert self.process.stdout is not None
        return json.loads(self.process.stdout.read())

    def stderr(self) -> str:
        self._reader.join(timeout=5)
        return "\n".join(line for _, line in self.lines)


def start(*command: str, shell_exec: bool = False, shifted: bool = False) -> Run:
    """`python -m automation COMMAND`; with `shell_exec`, as a workflow step runs it: `bash -c`
    with `exec`, so that the runner's signals reach the tool (bash passes none on to a child);
    `shifted`: with its stop budget SHIFT seconds shorter, and `unlock` polling faster."""
    argv = [sys.executable, "-m", "automation", *command]
    if shifted:
        budget = updates.STOP_BUDGET_SECONDS - SHIFT
        argv[2:3] = ["tests.automation.deploy.timed_automation", str(budget),
                     str(UNLOCK_POLL_SECONDS)]  # fmt: skip
    if shell_exec:
        argv = ["bash", "-c", 'exec "$@"', "step", *argv]
    process = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return Run(process)


def wait_for(predicate, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def pulumi_up_running(cli: FakeCli) -> dict | None:
    return next((e for e in cli.journal() if e.get("command") == "up"), None)


def pulumi_up_pid(cli: FakeCli) -> int:
    running = pulumi_up_running(cli)
    assert running is not None
    return int(running["pid"])


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- cancelling a step: the runner's signals ----------------------------------------------------


def runner_cancels(run: Run, shift: float = 0.0) -> dict[str, float]:
    """SIGINT now, SIGTERM at +7.5 s, SIGKILL at +10 s (each `shift` sooner), each only while the
    process still runs (ProcessInvoker); returns when each was sent, and when the process
    exited."""
    sent: dict[str, float] = {"SIGINT": time.time()}
    run.process.send_signal(signal.SIGINT)
    for name, at in (("SIGTERM", RUNNER_SIGTERM_SECONDS), ("SIGKILL", RUNNER_SIGKILL_SECONDS)):
        try:
            run.process.wait(timeout=max(0.0, sent["SIGINT"] + at - shift - time.time()))
            break
        except subprocess.TimeoutExpired:
            sent[name] = time.time()
            run.process.send_signal(getattr(signal, name))
    run.process.wait(timeout=5)
    sent["exit"] = time.time()
    return sent


def shifted(seconds: float) -> str:
    """How long the stand-in CLI's cancel lasts (FAKE_PULUMI_CANCEL_SECONDS), SHIFT sooner."""
    return str(seconds - SHIFT)


def exited_at_the_shifted_budget(run: Run, sent: dict[str, float]) -> None:
    """The tool waited its shifted budget (so the shift took effect), then exited before the
    runner's shifted SIGTERM."""
    budget = updates.STOP_BUDGET_SECONDS - SHIFT
    assert f"waiting up to {budget:.0f}s" in run.stderr()
    took = sent["exit"] - sent["SIGINT"]
    assert budget - 0.05 <= took < RUNNER_SIGTERM_SECONDS - SHIFT, f"exited after {took:.2f}s"


def test_the_stop_budget_ends_before_the_runners_sigterm():
    """In CI order; the tests below race them (SHIFT sooner, with the same gap) in real time."""
    assert SHIFT < updates.STOP_BUDGET_SECONDS < RUNNER_SIGTERM_SECONDS < RUNNER_SIGKILL_SECONDS


def test_a_cancelled_step_stops_pulumi_says_so_and_exits_before_the_kill(
    checkout, cli, monkeypatch, capsys
):
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    monkeypatch.setenv("FAKE_PULUMI_CANCEL_SECONDS", "0.5")  # in-flight operations finishing
    run = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify",
                shell_exec=True)  # fmt: skip
    wait_for(lambda: pulumi_up_running(cli) is not None)
    sent = runner_cancels(run)
    err = run.stderr()
    journal = cli.journal()
    signalled = next(e for e in journal if e["what"] == "signal")
    child_exit = next(e for e in journal if e["what"] == "exit")
    outcome = next(t for t, line in run.lines if "update of dev cancelled, stack unlocked" in line)

    assert run.process.returncode == 130, err
    assert signalled["signal"] == "SIGINT"  # the pulumi child got SIGINT, once
    assert [e["signal"] for e in journal if e["what"] == "signal"] == ["SIGINT"]
    assert set(sent) == {"SIGINT", "exit"}  # gone before the runner's SIGTERM and SIGKILL
    assert sent["exit"] - sent["SIGINT"] < 7.5
    assert not cli.locked
    assert cli.history()[0]["result"] == "failed"
    with capsys.disabled():
        t0 = sent["SIGINT"]
        print(
            "\ncancelled step timeline (ms after the runner's SIGINT): "
            f"pulumi got SIGINT {1000 * (signalled['t'] - t0):.0f}, "
            f"pulumi exited {1000 * (child_exit['t'] - t0):.0f}, "
            f"outcome printed {1000 * (outcome - t0):.0f}, "
            f"tool exited {1000 * (sent['exit'] - t0):.0f}"
        )


def test_a_cancel_that_outlasts_the_tool_finishes_after_it_exits(
    checkout, cli, monkeypatch, capsys
):
    """The tool exits within the runner's patience while `pulumi` still cancels and prints its
    progress. The real CLI is a Go program: a write to a stdout or stderr pipe nobody reads any
    more kills it with SIGPIPE, mid-cancel, leaving the stack locked (so does the fake). Its output
    goes to files, which never break: it finishes its cancel and releases the lock itself."""
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    monkeypatch.setenv("FAKE_PULUMI_CANCEL_SECONDS", shifted(9))  # past the tool's budget, 6 s
    run = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify",
                shell_exec=True, shifted=True)  # fmt: skip
    wait_for(lambda: cli.locked)
    pulumi = pulumi_up_pid(cli)
    sent = runner_cancels(run, SHIFT)
    assert run.process.returncode == 130, run.stderr()
    assert set(sent) == {"SIGINT", "exit"}
    exited_at_the_shifted_budget(run, sent)
    assert start_ticks(pulumi) is not None, "pulumi ended with the tool"
    wait_for(lambda: start_ticks(pulumi) is None, seconds=30)
    ended = [e for e in cli.journal() if e["what"] == "exit" and e["pid"] == pulumi]
    assert ended, "pulumi died mid-cancel (SIGPIPE), without finishing it"
    assert ended[0]["code"] == 255  # the CLI's exit code for a cancelled update
    assert not cli.locked
    assert cli.history()[0]["result"] == "failed"
    with capsys.disabled():
        t0 = sent["SIGINT"]
        print(
            "\nslow cancel (s after the runner's SIGINT): "
            f"tool exited {sent['exit'] - t0:.2f}, pulumi finished its cancel and exited "
            f"{ended[0]['t'] - t0:.2f}"
        )


def test_a_slow_cancel_exits_in_time_and_one_unlock_finishes_the_job(checkout, cli, monkeypatch):
    """Operations in flight outlast the runner's patience and the unlock step's wait: the tool
    says it could not confirm and exits in time; the `if: cancelled()` step's one `unlock` waits
    for the CLI still running, then stops it (this run started it, and the runner would kill it
    at the end of the job anyway, leaving the lock), and releases what it left."""
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    monkeypatch.setenv("FAKE_PULUMI_CANCEL_SECONDS", shifted(60))
    run = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify",
                shell_exec=True, shifted=True)  # fmt: skip
    wait_for(lambda: cli.locked)
    pulumi = pulumi_up_pid(cli)
    try:
        sent = runner_cancels(run, SHIFT)
        assert run.process.returncode == 130
        assert set(sent) == {"SIGINT", "exit"}
        exited_at_the_shifted_budget(run, sent)
        assert "could not confirm that the update of dev stopped" in run.stderr()
        assert "run `python -m automation unlock --stack dev`" in run.stderr()

        unlocked = start("unlock", "--stack", "dev", "--repo", str(checkout.path), "--json",
                         "--wait", "1", shifted=True)  # fmt: skip
        assert unlocked.process.wait(timeout=60) == 0, unlocked.stderr()
    finally:
        kill_quietly(pulumi)  # the runner's clean-up at the end of the job
    report = unlocked.json()
    assert (report["state"], report["backend"]) == ("released", "service")
    assert "left by this run" in report["detail"]
    assert f"(pid {pulumi}) still runs after 1s; this run started it" in unlocked.stderr()
    signals = [e["signal"] for e in cli.journal() if e["what"] == "signal" and e["pid"] == pulumi]
    assert signals == ["SIGINT", "SIGTERM"]  # the tool's cancel, then unlock's stop
    assert not cli.locked
    assert cli.history()[0]["result"] == "failed"


def test_unlock_outside_the_run_that_started_the_update_never_stops_it(checkout, cli, monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    monkeypatch.setenv("FAKE_PULUMI_CANCEL_SECONDS", shifted(60))
    run = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify",
                shell_exec=True, shifted=True)  # fmt: skip
    wait_for(lambda: cli.locked)
    pulumi = pulumi_up_pid(cli)
    try:
        exited_at_the_shifted_budget(run, runner_cancels(run, SHIFT))
        monkeypatch.delenv("GITHUB_RUN_ID")  # a person's shell, not the CI run
        args = ["unlock", "--stack", "dev", "--repo", str(checkout.path), "--json", "--wait", "1"]
        waiting = start(*args, shifted=True)
        assert waiting.process.wait(timeout=30) == 1, waiting.stderr()
        assert waiting.json()["state"] == "running"
        assert "this CI run did not start it: not stopping it" in waiting.stderr()
        assert start_ticks(pulumi) is not None  # still running, never signalled again
        assert [e["signal"] for e in cli.journal() if e["what"] == "signal"] == ["SIGINT"]
        assert cli.locked  # nothing cancelled under a live update
        assert "cancel" not in cli.commands()
    finally:
        kill_quietly(pulumi)


def test_unlock_waits_for_a_cancel_that_ends_by_itself(checkout, cli, monkeypatch, tmp_path):
    """The CLI's cancel outlasts the tool's budget and ends (by itself: its operations in flight
    finish) while `unlock` waits for it, whenever that starts: it ends once `unlock` says it
    waits, not at a set time that a slow start of `unlock` could miss."""
    operations_done = tmp_path / "operations-done"
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    monkeypatch.setenv("FAKE_PULUMI_CANCEL_SECONDS", "60")
    monkeypatch.setenv("FAKE_PULUMI_CANCEL_UNTIL", str(operations_done))
    run = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify",
                shell_exec=True, shifted=True)  # fmt: skip
    wait_for(lambda: cli.locked)
    sent = runner_cancels(run, SHIFT)
    assert run.process.returncode == 130
    exited_at_the_shifted_budget(run, sent)
    assert cli.locked
    unlocked = start("unlock", "--stack", "dev", "--repo", str(checkout.path), "--wait", "30",
                     shifted=True)  # fmt: skip
    wait_for(lambda: any("waiting up to 30s for it to end" in line for _, line in unlocked.lines))
    operations_done.touch()
    assert unlocked.process.wait(timeout=60) == 0, unlocked.stderr()
    assert "has ended" in unlocked.stderr()
    assert "unlocked: no update in progress: the last update (1) failed" in unlocked.stderr()
    assert "cancel" not in cli.commands()  # it released the lock itself
    assert not cli.locked


def test_unlock_leaves_another_runs_update_alone(checkout, cli, monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    monkeypatch.setenv("GITHUB_RUN_ID", "111")  # another run's update...
    run = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify")
    wait_for(lambda: cli.locked)
    kill_quietly(run.process.pid)
    kill_quietly(pulumi_up_pid(cli))
    monkeypatch.setenv("GITHUB_RUN_ID", RUN_ID)  # ...seen from this one
    args = ["unlock", "--stack", "dev", "--repo", str(checkout.path)]
    refused = start(*args)
    assert refused.process.wait(timeout=30) == 1
    assert "by CI run 111, not by this run" in refused.stderr()
    assert cli.locked
    forced = start(*args, "--force")
    assert forced.process.wait(timeout=30) == 0, forced.stderr()
    assert not cli.locked


# --- a self-managed backend (S3): lock files that say who wrote them ----------------------------

STATE_BUCKET = "alunos-state"
LOCK_DIR = "pulumi/.pulumi/locks/organization/alunos-api/dev/"
"""Where pulumi keeps the stack's lock files on s3://alunos-state/pulumi (pkg/backend/diy)."""


@pytest.fixture
def s3_backend(moto_endpoint, cli, monkeypatch):
    """The fake CLI on a self-managed backend in S3 (the tests' moto server)."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket=STATE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )
    monkeypatch.setenv("FAKE_PULUMI_BACKEND", "diy")
    monkeypatch.setenv("FAKE_PULUMI_BACKEND_URL", f"s3://{STATE_BUCKET}/pulumi?region=us-east-2")
    yield s3
    for key in [*lock_files(s3), "pulumi/.pulumi/meta.yaml"]:
        s3.delete_object(Bucket=STATE_BUCKET, Key=key)
    s3.delete_bucket(Bucket=STATE_BUCKET)


def lock_files(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=LOCK_DIR)
    return [item["Key"] for item in listed.get("Contents", [])]


def killed_mid_update(checkout, cli, s3) -> str:
    """An `up` whose tool and CLI are killed (-9) mid-update: its lock file stays; its key."""
    run = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify")
    wait_for(lambda: bool(lock_files(s3)))
    kill_quietly(run.process.pid)
    kill_quietly(pulumi_up_pid(cli))
    run.process.wait(timeout=5)
    (key,) = lock_files(s3)
    return key


def another_machines_lock(s3) -> str:
    """The lock of an update running on another runner (a release deploying prod, say)."""
    key = LOCK_DIR + "5b1f0a3e-2c4d-4f6a-9e8b-7d6c5b4a3f21.json"
    content = {"pid": 4242, "username": "runner", "hostname": "fv-az-other-runner",
               "timestamp": "2026-08-21T10:00:00.123456789Z"}  # fmt: skip
    s3.put_object(Bucket=STATE_BUCKET, Key=key, Body=json.dumps(content).encode())
    return key


def test_unlock_on_s3_deletes_the_lock_file_a_dead_pulumi_of_this_machine_left(
    checkout, cli, monkeypatch, s3_backend
):
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    ours = killed_mid_update(checkout, cli, s3_backend)
    unlocked = start("unlock", "--stack", "dev", "--repo", str(checkout.path), "--json")
    assert unlocked.process.wait(timeout=30) == 0, unlocked.stderr()
    report = unlocked.json()
    assert (report["state"], report["backend"]) == ("released", "self-managed")
    assert f"s3://{STATE_BUCKET}/{ours}" in report["detail"]
    assert lock_files(s3_backend) == []
    assert "cancel" not in cli.commands()  # that lock file, not `pulumi cancel` (every one)


def test_unlock_on_s3_never_deletes_another_machines_lock(checkout, cli, monkeypatch, s3_backend):
    """A `pulumi cancel` would delete every lock file, a release running on another runner's
    included, and let the next deploy run beside it. Only this machine's dead one goes."""
    monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    ours = killed_mid_update(checkout, cli, s3_backend)
    theirs = another_machines_lock(s3_backend)
    args = ["unlock", "--stack", "dev", "--repo", str(checkout.path), "--json"]
    refused = start(*args)
    assert refused.process.wait(timeout=30) == 1, refused.stderr()
    report = refused.json()
    assert report["state"] == "refused"
    assert f"deleted lock file s3://{STATE_BUCKET}/{ours}" in report["detail"]
    assert (
        f"left lock file s3://{STATE_BUCKET}/{theirs} (runner@fv-az-other-runner, pid 4242"
        in report["detail"]
    )
    assert lock_files(s3_backend) == [theirs]
    assert "cancel" not in cli.commands()
    forced = start(*args, "--force")
    assert forced.process.wait(timeout=30) == 0, forced.stderr()
    assert forced.json()["state"] == "released"
    assert lock_files(s3_backend) == []


def test_unlock_of_a_stack_nobody_holds_changes_nothing(checkout, cli):
    done = start("unlock", "--stack", "dev", "--repo", str(checkout.path))
    assert done.process.wait(timeout=30) == 0, done.stderr()
    assert "unlocked: no update in progress" in done.stderr()
    assert "cancel" not in cli.commands()


# --- the harness end to end: preview and up through the real seam and the Automation API ---------


def test_preview_and_up_end_to_end(checkout, cli, monkeypatch):
    monkeypatch.setenv(
        "FAKE_PULUMI_EVENTS",
        str(ROOT / "tests/fixtures/pulumi-engine-events/not-truncated--up.jsonl"),
    )
    preview = start("preview", "--stack", "dev", "--repo", str(checkout.path), "--json")
    assert preview.process.wait(timeout=60) == 0, preview.stderr()
    previewed = preview.json()
    assert previewed["version"] == "1.4.3-dev.1"
    assert previewed["changes"]  # from the replayed log's summary event, over gRPC
    up = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify", "--json")
    assert up.process.wait(timeout=60) == 0, up.stderr()
    assert up.json()["ok"] is True
    deployed = cli.history()[0]
    assert deployed["result"] == "succeeded"
    assert deployed["config"]["alunos-api:version"]["value"] == "1.4.3-dev.1"
    assert deployed["environment"]["ci.build.id"] == RUN_ID
    assert not cli.locked
    assert checkout.git("status", "--porcelain") == ""


# --- a killed run leaves the checkout clean -----------------------------------------------------


@pytest.mark.parametrize("point", ["config set-all", "up"], ids=["after-stamping", "mid-update"])
def test_kill_9_at_any_point_of_up_leaves_git_status_clean(checkout, cli, monkeypatch, point):
    """The stamps used to be written into the tracked Pulumi.dev.yaml and restored afterwards:
    a kill in between left the tree dirty, and the next prod `up` refused it."""
    if point == "up":
        monkeypatch.setenv("FAKE_PULUMI_UP_SECONDS", "60")
    else:
        monkeypatch.setenv("FAKE_PULUMI_PAUSE_AFTER", point)
    run = start("up", "--stack", "dev", "--repo", str(checkout.path), "--skip-verify")
    wait_for(
        lambda: any(
            e["what"] == "paused" or (e["what"] == "start" and e["command"] == point == "up")
            for e in cli.journal()
        )
    )
    os.kill(run.process.pid, signal.SIGKILL)
    run.process.wait(timeout=5)
    for entry in cli.journal():
        kill_quietly(entry["pid"])
    assert checkout.git("status", "--porcelain") == ""
