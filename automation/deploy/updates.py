"""Running a preview or an update safely: stamped config, lock retries, a clean stop on a signal.

- A locked stack (another update running) is retried with exponential backoff
  (10 s, 20 s, 40 s, ... capped at 120 s; `--lock-retries` of them, 5 by default: about 4.5 min),
  saying so each time, then fails with how to clear a stale lock.
- Ctrl-C or SIGTERM during a run sends the running `pulumi` process one SIGINT: the Pulumi CLI
  then cancels the update, which ends it and releases the stack's lock (pulumi/pulumi
  pkg/backend/cancellation_scope.go). We wait for it within a budget that ends before a CI
  runner's next move (GitHub Actions sends the step's process SIGINT, then SIGTERM after 7.5 s,
  then kills it 2.5 s later: actions/runner src/Runner.Sdk/ProcessInvoker.cs), print what state
  the stack is left in, and exit 130 (SIGINT) or 143 (SIGTERM). A second signal meanwhile is
  ignored: one more SIGINT would make the CLI terminate at once, mid-operation.
- After a successful update, what reads its result (summary, outputs) retries transient
  failures: the update is done, and a read that fails is no reason to call it failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from automation.deploy import interrupts
from automation.deploy.interrupts import Background, Interrupted, signals_ignored, signals_raise
from automation.deploy.pulumi_seam import (
    CommandFailed,
    OnEvent,
    OnOutput,
    RunSummary,
    StackHandle,
    StackLocked,
    SummaryUnread,
)
from automation.errors import AutomationError, UsageProblem
from automation.release.version import BuildVersion
from infra import outputs as names

VERSION = "version"
IMAGE_TAG = "imageTag"
REVISION = "revision"
CREATED = "created"
ROLLBACK_IMAGE = "rollbackImage"
AWS_REGION = "aws:region"

# From the first signal: how long the Pulumi CLI gets to cancel and exit, before we print the
# outcome and exit ourselves (a GitHub Actions runner sends SIGTERM at 7.5 s, SIGKILL at 10 s).
STOP_BUDGET_SECONDS = 6.0

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


@dataclass(frozen=True, slots=True)
class ReadRetry:
    """Retries of a read after a successful update (outputs, history): 2 s, 4 s, 8 s."""

    retries: int = 3
    first_delay_seconds: float = 2.0
    sleep: Callable[[float], None] = field(default=interrupts.sleep, repr=False)


class UpdateSucceededUnread(AutomationError):
    """The update succeeded, but what follows it could not read its result (outputs, history)
    even after retries: the deploy is not known to have failed, and must not be rolled back."""

    exit_code = 3


def read_after_update(action: Callable[[], T], *, what: str, retry: ReadRetry, say: Say) -> T:
    """`action` (a read of the stack), retried on a failing CLI call with backoff."""
    for attempt in range(retry.retries + 1):
        try:
            return action()
        except CommandFailed as failure:
            if attempt == retry.retries:
                raise UpdateSucceededUnread(
                    f"{what} failed {retry.retries + 1} times: {failure}"
                ) from failure
            delay = retry.first_delay_seconds * 2**attempt
            say(
                f"{what} failed ({failure}); retry {attempt + 1} of {retry.retries} in {delay:.0f}s"
            )
            retry.sleep(delay)
    raise AssertionError("unreachable")


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
        running = Background(
            lambda: handle.preview(
                run_config=config, message=message, on_output=output, on_event=on_event
            ),
            name="pulumi-preview",
        )
        try:
            return running.result()
        except Interrupted as stop:
            raise _stopped(handle, stop, running, say, update=False) from stop

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
    reads: ReadRetry | None = None,
) -> RunSummary:
    """The update; its change summary is read again (with retries) when the Automation API's own
    read right after the update failed, and left empty, with a warning, when it still fails."""

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
            raise _stopped(handle, stop, running, say, update=True) from stop

    with signals_raise():
        try:
            return with_lock_retry(attempt, stack=handle.name, retry=retry, say=say)
        except SummaryUnread as unread:
            say(f"{unread}; reading it again")
            return _summary_again(handle, reads or ReadRetry(), say)


def _summary_again(handle: StackHandle, reads: ReadRetry, say: Say) -> RunSummary:
    try:
        entries = read_after_update(
            lambda: handle.history(page_size=1, page=1),
            what=f"reading the summary of the update of {handle.name}",
            retry=reads,
            say=say,
        )
    except UpdateSucceededUnread as unread:
        say(f"warning: the update succeeded; {unread}: its changes are not shown")
        return RunSummary(changes={})
    return RunSummary(changes=dict(entries[0].changes) if entries else {})


def _stopped(
    handle: StackHandle,
    stop: Interrupted,
    running: Background[RunSummary],
    say: Say,
    *,
    update: bool,
) -> Interrupted:
    """Stop the running `pulumi` (one SIGINT), wait for it within the budget, and say what state
    the stack is left in: the error `main()` prints last, before the exit code."""
    if not running.started:
        return stop
    name, kind = handle.name, ("update" if update else "preview")
    with signals_ignored():
        signalled = handle.interrupt()
        if signalled is not None:
            say(
                f"{stop.signame} received: sent SIGINT to {signalled} so that it cancels the "
                f"{kind} of {name}; waiting up to {STOP_BUDGET_SECONDS:.0f}s"
            )
        deadline = stop.received_at + STOP_BUDGET_SECONDS
        ended = running.wait(max(0.0, deadline - time.monotonic()))
    error = running.error if ended else None
    if not ended:
        state = (
            f"could not confirm that the update of {name} stopped ({signalled} is still "
            "cancelling: operations in flight finish first); the stack may stay locked: run "
            f"`python -m automation unlock --stack {name}`"
            if update
            else f"the preview of {name} is still stopping; a preview changes nothing"
        )
    elif not update:
        state = f"preview of {name} stopped; nothing changed"
    elif error is None or isinstance(error, SummaryUnread):
        state = f"the update of {name} finished before it could be cancelled; stack unlocked"
    elif signalled is not None and signalled.command == "up":
        state = (
            f"update of {name} cancelled, stack unlocked; resources it was changing may be "
            "half-done: run the deploy again"
        )
    else:
        state = f"the update of {name} had not started: nothing to cancel, stack not locked"
    return Interrupted(
        stop.signum, f"interrupted by {stop.signame}: {state}", received_at=stop.received_at
    )
