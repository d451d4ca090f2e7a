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
  anywhere, and `pulumi cancel` there only deletes the stack's lock files
  (pkg/backend/diy/backend.go, `CancelCurrentUpdate`): once no update of ours runs here, the lock
  is deleted. Two runs updating the same stack at once are the workflows' concurrency groups' to
  prevent; this command cannot see another machine's update on such a backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automation.deploy import interrupts
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
    name = handle.name
    backend = "self-managed" if handle.backend_url().startswith(SELF_MANAGED) else "service"
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
    if backend == "self-managed":
        handle.cancel()
        return UnlockReport(
            name,
            backend,
            "released",
            f"no update of {name} runs on this machine; deleted its lock files, if any (a "
            "self-managed backend shows no update in progress, and `pulumi cancel` only deletes "
            "lock files)",
        )
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
