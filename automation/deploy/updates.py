"""Running a preview or an update safely: stamped config, lock retries, cancel on interrupt.

- A locked stack (another update running) is retried with exponential backoff
  (10 s, 20 s, 40 s, ... capped at 120 s; `--lock-retries` of them, 5 by default: about 4.5 min),
  saying so each time, then fails with how to clear a stale lock.
- Ctrl-C or SIGTERM during `up` cancels the update (`pulumi cancel`) so the stack is not left
  locked, then exits 130 (SIGINT) or 143 (SIGTERM). A preview changes nothing and takes no
  update lock worth cancelling, so an interrupted preview just exits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from automation.deploy import interrupts
from automation.deploy.interrupts import Background, Interrupted, signals_ignored, signals_raise
from automation.deploy.pulumi_seam import OnEvent, OnOutput, RunSummary, StackHandle, StackLocked
from automation.errors import AutomationError, UsageProblem
from automation.release.version import BuildVersion
from infra import outputs as names

VERSION = "version"
IMAGE_TAG = "imageTag"
REVISION = "revision"
CREATED = "created"
ROLLBACK_IMAGE = "rollbackImage"
AWS_REGION = "aws:region"

# After `pulumi cancel`, how long to let the running update wind down before exiting.
CANCEL_GRACE_SECONDS = 20.0

T = TypeVar("T")
Say = Callable[[str], None]


def qualified(project: str, key: str) -> str:
    return f"{project}:{key}"


def stamp(project: str, build: BuildVersion) -> dict[str, str]:
    """The config every preview/up sets; a normal deploy clears `rollbackImage` (builds app/)."""
    return {
        qualified(project, VERSION): build.version,
        qualified(project, IMAGE_TAG): build.image_tag,
        qualified(project, REVISION): build.revision,
        qualified(project, CREATED): build.created,
        qualified(project, ROLLBACK_IMAGE): "",
    }


def stack_region(handle: StackHandle, outputs: Mapping[str, Any]) -> str:
    """The stack's AWS region: the `region` output, else config `aws:region`."""
    region = outputs.get(names.REGION) or handle.get_config(AWS_REGION)
    if not region:
        raise UsageProblem(
            f"stack {handle.name}: no region (neither a `{names.REGION}` output "
            f"nor `{AWS_REGION}` config)"
        )
    return str(region)


@dataclass(frozen=True, slots=True)
class LockRetry:
    retries: int = 5
    first_delay_seconds: float = 10.0
    max_delay_seconds: float = 120.0
    sleep: Callable[[float], None] = field(default=interrupts.sleep, repr=False)

    def delays(self) -> list[float]:
        return [
            min(self.first_delay_seconds * 2**attempt, self.max_delay_seconds)
            for attempt in range(self.retries)
        ]


def with_lock_retry(action: Callable[[], T], *, stack: str, retry: LockRetry, say: Say) -> T:
    delays = retry.delays()
    for attempt, delay in enumerate(delays, start=1):
        try:
            return action()
        except StackLocked as locked:
            say(f"{locked}; waiting {delay:.0f}s before retry {attempt} of {len(delays)}")
            retry.sleep(delay)
    try:
        return action()
    except StackLocked as locked:
        waited = sum(delays)
        raise StackLocked(
            f"{locked}; still locked after {len(delays)} retries ({waited:.0f}s). If no update "
            "is really running (a crashed run), clear the lock with "
            f"`pulumi cancel --stack {stack}`"
        ) from locked


def run_preview(
    handle: StackHandle,
    config: Mapping[str, str],
    *,
    message: str,
    output: OnOutput,
    say: Say,
    retry: LockRetry,
    on_event: OnEvent | None = None,
) -> RunSummary:
    def attempt() -> RunSummary:
        return Background(
            lambda: handle.preview(
                run_config=config, message=message, on_output=output, on_event=on_event
            ),
            name="pulumi-preview",
        ).result()

    with signals_raise():
        return with_lock_retry(attempt, stack=handle.name, retry=retry, say=say)


def run_up(
    handle: StackHandle,
    config: Mapping[str, str],
    *,
    message: str,
    output: OnOutput,
    say: Say,
    retry: LockRetry,
    on_event: OnEvent | None = None,
) -> RunSummary:
    def attempt() -> RunSummary:
        running = Background(
            lambda: handle.up(
                run_config=config, message=message, on_output=output, on_event=on_event
            ),
            name="pulumi-up",
        )
        try:
            return running.result()
        except Interrupted as stop:
            if not running.started:
                raise
            raise _cancelled(handle, stop, say, running) from stop

    with signals_raise():
        return with_lock_retry(attempt, stack=handle.name, retry=retry, say=say)


def _cancelled(
    handle: StackHandle, stop: Interrupted, say: Say, running: Background[RunSummary]
) -> Interrupted:
    signame = stop.signame
    say(
        f"{signame} received: cancelling the update of {handle.name} "
        "so the stack is not left locked"
    )
    with signals_ignored():
        try:
            handle.cancel()
            if not running.wait(CANCEL_GRACE_SECONDS):
                say(f"the update is still winding down after {CANCEL_GRACE_SECONDS:.0f}s")
        except AutomationError as error:
            return Interrupted(
                stop.signum,
                f"update of {handle.name} interrupted by {signame}, and cancelling it failed "
                f"({error}): run `pulumi cancel --stack {handle.name}` before the next deploy",
            )
    return Interrupted(
        stop.signum,
        f"update of {handle.name} interrupted by {signame} and cancelled: the stack is unlocked, "
        "but resources being changed may be half-done; run the deploy again",
    )
