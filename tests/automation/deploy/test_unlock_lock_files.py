"""`unlock` on a self-managed backend reads the stack's lock files before deleting any: where
pulumi keeps them (both layouts), what a file it cannot read means, and a backend it cannot list.
The S3 path runs end to end in test_ci_cancel.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from automation.deploy.diy_locks import stack_locks
from automation.deploy.unlock import UnlockSettings, unlock
from tests.automation.fakes import FakeStack

DEAD_PID = 2**22 + 1  # above Linux's largest pid (pid_max is at most 2^22): never running


@pytest.fixture(autouse=True)
def no_update_markers(tmp_path, monkeypatch):
    """No marker of a running update (they live in RUNNER_TEMP): none of these waits."""
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "runner-temp"))


def write_lock(root: Path, directory: str, name: str, **content: object) -> str:
    path = root / directory / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return f"{directory}/{name}.json"


def left_here(pid: int = DEAD_PID) -> dict[str, object]:
    return {"pid": pid, "username": "runner", "hostname": socket.gethostname(),
            "timestamp": "2026-08-21T10:00:00Z"}  # fmt: skip


@pytest.mark.parametrize(
    ("meta", "directory"),
    [
        ("version: 1\n", ".pulumi/locks/organization/alunos-api/dev"),  # a new backend's
        (None, ".pulumi/locks/dev"),  # legacy: no meta.yaml (version 0 is never written)
    ],
    ids=["project-layout", "legacy-layout"],
)
def test_the_stacks_lock_files_are_found_where_pulumi_keeps_them(tmp_path, meta, directory):
    if meta is not None:
        (tmp_path / ".pulumi").mkdir()
        (tmp_path / ".pulumi" / "meta.yaml").write_text(meta)
    key = write_lock(tmp_path, directory, "a1", **left_here())
    write_lock(tmp_path, ".pulumi/locks/organization/alunos-api/prod", "b2", **left_here())
    _, locks = stack_locks(f"file://{tmp_path}", "alunos-api", "dev")
    assert [(lock.key, lock.url) for lock in locks] == [(key, f"file://{tmp_path}/{key}")]
    assert locks[0].left_here


def test_a_lock_of_a_live_process_or_one_it_cannot_read_is_never_deleted(tmp_path):
    (tmp_path / ".pulumi").mkdir()
    (tmp_path / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    directory = ".pulumi/locks/organization/alunos-api/dev"
    dead = write_lock(tmp_path, directory, "dead", **left_here())
    live = write_lock(tmp_path, directory, "live", **left_here(pid=1))  # pid 1 always runs
    garbled = tmp_path / directory / "garbled.json"
    garbled.write_text("{not json")
    stack = FakeStack(backend=f"file://{tmp_path}")
    report = unlock(stack, UnlockSettings(run_id="1"), lambda _: None)
    assert report.state == "refused"
    assert not (tmp_path / dead).exists()
    assert (tmp_path / live).exists()
    assert garbled.exists()
    assert "(?@?, pid ?, ?)" in report.detail  # the garbled one names no one
    assert stack.cancel_calls == 0


def test_a_backend_whose_lock_files_it_cannot_list_is_refused_not_cancelled():
    stack = FakeStack(backend="gs://alunos-state")
    report = unlock(stack, UnlockSettings(run_id="1"), lambda _: None)
    assert (report.state, report.exit_code) == ("refused", 1)
    assert "cannot read lock files on a gs:// backend" in report.detail
    assert stack.cancel_calls == 0
    forced = unlock(stack, UnlockSettings(run_id="1", force=True), lambda _: None)
    assert forced.state == "released"
    assert stack.cancel_calls == 1


def test_no_lock_files_means_unlocked(tmp_path):
    stack = FakeStack(backend=f"file://{tmp_path}")
    report = unlock(stack, UnlockSettings(run_id="1"), lambda _: None)
    assert (report.state, report.exit_code) == ("unlocked", 0)
    assert stack.cancel_calls == 0
