"""`automation unlock`: the state of a stack's lock, and releasing one a cancelled run left.

A CI run that is cancelled (or killed) while it updates a stack can leave the update "in progress"
and the stack locked: every later deploy then fails until someone runs `pulumi cancel`. But
`pulumi cancel` on an update that is still running makes it fail midway (the CLI calls it "very
dangerous"), so this command cancels only when nothing can still be running it:

- an update started on this machine leaves a marker with its CLI's pid while it runs
  (`pulumi_process.markers`): while that process lives, it is still running (the cancelled step's
  `pulumi` finishing the operations in flight), so we wait for it (`--wait`), and cancel nothing
  while it lives. If it outlives the wait and this CI run started it (the marker names the run,
  and sits in the job's own RUNNER_TEMP), its job is ending and the runner would kill it anyway,
  mid-operation, leaving the lock for the next run to trip over: we stop it ourselves
  (`pulumi_process.stop`: SIGTERM, SIGKILL after a grace) and go on to release the lock below.
  Outside CI, or for another run's process, we only report it;
- Pulumi Cloud shows an update in progress in the stack's history (`result: in-progress`), with
  where it runs (`ci.build.id`: the GitHub Actions run id, pulumi/pulumi
  pkg/cmd/pulumi/metadata/metadata.go). One started by this run (GITHUB_RUN_ID, or `--run-id`)
  whose process is gone can only be left over: it is cancelled. One started elsewhere may still
  be running there: refused (exit 1) unless `--force`;
- a self-managed backend (`PULUMI_BACKEND_URL=s3://...`, file://...) shows no update in progress
  anywhere, and `pulumi cancel` there deletes every lock file of the stack, whoever wrote it
  (pkg/backend/diy/backend.go, `CancelCurrentUpdate`). But each lock file says who wrote it
  (`diy_locks`: host, pid, time): once no update of ours runs here, we delete the ones a dead
  process of this machine left, and only those; a lock another machine (or a live process) holds
  may be a deploy running there: refused (exit 1), saying whose it is, unless `--force`
  (`pulumi cancel`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automation.deploy import diy_locks, interrupts
from automation.deploy.pulumi_process import Marker, clear_marker, read_marker, stop
from automation.deploy.pulumi_seam import HistoryEntry, StackHandle

IN_PROGRESS = "in-progress"
POLL_SECONDS = 2.0
SELF_MANAGED = ("s3://", "gs://", "azblob://", "file://")

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class UnlockReport:
    stack: str
    backend: str
    """`service` (Pulumi Cloud, or a self-hosted service) or `self-managed`."""
    state: str
    """`unlocked`, `released` (we cancelled or deleted the lock), `running` or `refused`."""
    detail: str
    update: int | None = None
    running_here: int | None = None
    """The pid of an update of ours still running on this machine."""

    @property
    def exit_code(self) -> int:
        return 0 if self.state in ("unlocked", "released") else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "stack": self.stack,
            "backend": self.backend,
            "state": self.state,
            "detail": self.detail,
            "update": self.update,
            "running_here": self.running_here,
        }


@dataclass(frozen=True, slots=True)
class UnlockSettings:
    run_id: str | None
    """This CI run (GITHUB_RUN_ID): an update it started and left behind may be cancelled."""
    wait_seconds: float = 120.0
    grace_seconds: float = 10.0
    """After SIGTERM to a CLI that outlived the wait: how long before SIGKILL."""
    force: bool = False
    sleep: Callable[[float], None] = interrupts.sleep
    clock: Callable[[], float] = time.monotonic


def unlock(handle: StackHandle, settings: UnlockSettings, say: Say) -> UnlockReport:
    name, url = handle.name, handle.backend_url()
    backend = "self-managed" if url.startswith(SELF_MANAGED) else "service"
    running = _settle_marker(name, backend, settings, say)
    if running is not None:
        return running
    if backend == "self-managed":
        return _release_lock_files(handle, url, settings)
    latest = _latest(handle)
    if latest is None or latest.result != IN_PROGRESS:
        last = f"the last update ({latest.update}) {latest.result}" if latest else "no updates"
        return UnlockReport(
            name, backend, "unlocked", f"no update in progress: {last}", _update(latest)
        )
    owner = latest.environment.get("ci.build.id")
    ours = owner is not None and owner == settings.run_id
    if not ours and not settings.force:
        where = f"CI run {owner}" if owner else "outside CI (or a CI Pulumi does not detect)"
        return UnlockReport(
            name,
            backend,
            "refused",
            f"update {latest.update} of {name} is in progress, started "
            f"{latest.start_time:%Y-%m-%d %H:%M:%S} UTC by {where}, not by this run: it may "
            "still be running there, so it is not cancelled (`--force` cancels it)",
            latest.update,
        )
    handle.cancel()
    why = "left by this run, whose pulumi process is gone" if ours else "--force"
    return UnlockReport(
        name,
        backend,
        "released",
        f"cancelled update {latest.update} of {name} ({why}): stack unlocked; resources it was "
        "changing may be half-done: run the deploy again",
        latest.update,
    )


def _settle_marker(
    name: str, backend: str, settings: UnlockSettings, say: Say
) -> UnlockReport | None:
    """Wait for an update of ours still running on this machine, or stop it (see the module
    docstring); the report when it still runs, None once no update of ours runs here."""
    marker = read_marker(name)
    if marker is not None and marker.alive:
        say(
            f"pulumi {marker.command} (pid {marker.pid}) still runs the update of {name} on this "
            f"machine; waiting up to {settings.wait_seconds:.0f}s for it to end"
        )
        if _ended(marker, settings):
            say(f"pulumi {marker.command} (pid {marker.pid}) has ended")
        elif settings.run_id is None or marker.run_id != settings.run_id:
            return UnlockReport(
                name,
                backend,
                "running",
                f"pulumi {marker.command} (pid {marker.pid}) is still updating {name} after "
                f"{settings.wait_seconds:.0f}s, and this CI run did not start it: not stopping "
                "it, nor cancelling an update that is running; run `unlock` again once it ends",
                running_here=marker.pid,
            )
        else:
            say(
                f"pulumi {marker.command} (pid {marker.pid}) still runs after "
                f"{settings.wait_seconds:.0f}s; this run started it and its job is ending: "
                f"stopping it (SIGTERM, then SIGKILL after {settings.grace_seconds:.0f}s)"
            )
            if not stop(
                marker, grace=settings.grace_seconds, sleep=settings.sleep, clock=settings.clock
            ):
                return UnlockReport(
                    name,
                    backend,
                    "running",
                    f"pulumi {marker.command} (pid {marker.pid}) is still updating {name}: it "
                    "outlived SIGTERM and SIGKILL; not cancelling an update that is running",
                    running_here=marker.pid,
                )
            say(f"pulumi {marker.command} (pid {marker.pid}) stopped")
    if marker is not None:
        clear_marker(name)  # its process is gone
    return None


def _release_lock_files(handle: StackHandle, url: str, settings: UnlockSettings) -> UnlockReport:
    """Delete the lock files a dead process of this machine left; report the others."""
    name, backend = handle.name, "self-managed"
    if settings.force:
        handle.cancel()
        return UnlockReport(
            name, backend, "released", f"--force: `pulumi cancel` deleted every lock file of {name}"
        )
    try:
        bucket, locks = diy_locks.stack_locks(url, handle.project, name)
    except diy_locks.Unreadable as unreadable:
        return UnlockReport(
            name,
            backend,
            "refused",
            f"{unreadable}: whose lock files {name} has is unknown, so none is deleted "
            "(`--force` deletes them all)",
        )
    if not locks:
        return UnlockReport(name, backend, "unlocked", f"no lock files: {name} is not locked")
    ours = [lock for lock in locks if lock.left_here]
    for lock in ours:
        bucket.delete(lock.key)
    deleted = f"deleted {_listed(ours)}, left by a process of this machine that no longer runs"
    others = [lock for lock in locks if lock not in ours]
    if others:
        return UnlockReport(
            name,
            backend,
            "refused",
            (f"{deleted}; " if ours else "")
            + f"left {_listed(others)}: not a dead process of this machine "
            f"({socket.gethostname()}): an update may still be running there, so it stays "
            "(`--force` deletes every lock file)",
        )
    return UnlockReport(
        name,
        backend,
        "released",
        f"{deleted}: {name} unlocked; resources the update was changing may be half-done (pending "
        "operations): run the deploy again",
    )


def _listed(locks: list[diy_locks.LockFile]) -> str:
    return ", ".join(f"lock file {lock}" for lock in locks)


def _ended(marker: Marker, settings: UnlockSettings) -> bool:
    deadline = settings.clock() + settings.wait_seconds
    while marker.alive:
        if settings.clock() >= deadline:
            return False
        settings.sleep(POLL_SECONDS)
    return True


def _latest(handle: StackHandle) -> HistoryEntry | None:
    entries = handle.history(page_size=1, page=1)
    return entries[0] if entries else None


def _update(entry: HistoryEntry | None) -> int | None:
    return entry.update if entry is not None else None
