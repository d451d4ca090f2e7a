"""`preview`, `up` and `rollback` end to end: gate, stamp, run, verify, and roll back on failure.

A failed update or a failed verification is a failed deploy (exit 1, rolled back with
`--rollback-on-failure`). An update that succeeded but whose outputs cannot be read afterwards
(retried, with backoff) is not: it is reported as deployed and unverified (exit 3), and never
rolled back, since nothing says it is broken.

Production only ever runs a clean release tag (`release` in `version --json`): a dev build or a
dirty tree is refused with exit 2 before anything runs. A rollback is exempt (it redeploys an
image that was already released). Whether the stack is production is the caller's answer
(`automation.release.stack_config`), passed in: this module never guesses it from a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automation.deploy.interrupts import Interrupted
from automation.deploy.pulumi_seam import (
    CommandFailed,
    OnEvent,
    OnOutput,
    RunSummary,
    StackHandle,
    plain_outputs,
)
from automation.deploy.rollback import Deployed, RollbackPlan, plan_rollback
from automation.deploy.rollout import follow_rollout
from automation.deploy.updates import (
    LockRetry,
    ReadRetry,
    Say,
    UpdateSucceededUnread,
    read_after_update,
    run_preview,
    run_up,
    stack_region,
    stamp,
)
from automation.deploy.verify import (
    SessionFactory,
    VerificationReport,
    VerifyTiming,
    asleep,
    verify_deployment,
)
from automation.errors import AutomationError, UsageProblem
from automation.release.stack_config import short_name
from automation.release.version import BuildVersion


@dataclass(frozen=True, slots=True)
class Console:
    """Where progress goes: `say` for our messages, `output` for the Pulumi CLI's lines."""

    say: Say
    output: OnOutput


@dataclass(frozen=True, slots=True)
class DeploySettings:
    lock: LockRetry = field(default_factory=LockRetry)
    reads: ReadRetry = field(default_factory=ReadRetry)
    verify: VerifyTiming | None = field(default_factory=VerifyTiming)  # None: --skip-verify
    rollback_on_failure: bool = False


@dataclass(frozen=True, slots=True)
class Fallback:
    """What `up --rollback-on-failure` would go back to: a plan, or why there is none."""

    plan: RollbackPlan | None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json() if self.plan else None, "problem": self.problem}


@dataclass(slots=True)
class DeployOutcome:
    stack: str
    operation: str
    version: str
    image_tag: str
    changes: Mapping[str, int] = field(default_factory=dict)
    verification: VerificationReport | None = None
    fallback: Fallback | None = None
    """`up --rollback-on-failure`: the rollback planned before the update."""
    rolled_back_to: Deployed | None = None
    failure: str | None = None
    unverified: bool = False
    """The update succeeded, but its outputs could not be read to verify it (not a failure of
    the deploy: nothing was rolled back)."""

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def exit_code(self) -> int:
        if self.ok:
            return 0
        return UpdateSucceededUnread.exit_code if self.unverified else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stack": self.stack,
            "operation": self.operation,
            "version": self.version,
            "image_tag": self.image_tag,
            "changes": dict(self.changes),
            "verification": self.verification.to_json() if self.verification else None,
            "fallback": self.fallback.to_json() if self.fallback else None,
            "rolled_back_to": self.rolled_back_to.to_json() if self.rolled_back_to else None,
            "failure": self.failure,
            "unverified": self.unverified,
        }


def require_deployable(stack: str, build: BuildVersion, *, production: bool) -> None:
    if production and not build.release:
        state = "a dirty working tree" if build.dirty else "not a release tag"
        raise UsageProblem(
            f"refusing to deploy {build.version} ({build.image_tag}) to {short_name(stack)}: "
            f"{state}. Production deploys only a clean checkout of a tag vX.Y.Z[-pre]; "
            "tag the commit and push the tag"
        )


def preview(
    handle: StackHandle,
    build: BuildVersion,
    *,
    console: Console,
    settings: DeploySettings,
    on_event: OnEvent | None = None,
) -> RunSummary:
    """A preview with the same stamps `up` would set (so the diff shows the real image tag)."""
    console.say(f"previewing {handle.name} at {build.version} ({build.image_tag})")
    return run_preview(
        handle,
        stamp(handle.project, build),
        message=_message("preview", build.version, build.revision),
        output=console.output,
        say=console.say,
        retry=settings.lock,
        on_event=on_event,
    )


def up(
    handle: StackHandle,
    build: BuildVersion,
    *,
    production: bool,
    console: Console,
    settings: DeploySettings,
    sessions: SessionFactory,
    on_event: OnEvent | None = None,
) -> DeployOutcome:
    """Deploy `build`, verify it; with `rollback_on_failure`, the way back is planned first."""
    require_deployable(handle.name, build, production=production)
    outcome = DeployOutcome(handle.name, "up", build.version, build.image_tag)
    if settings.rollback_on_failure:
        outcome.fallback = _plan_fallback(handle, build, console, sessions)
    console.say(f"deploying {build.version} ({build.image_tag}) to {handle.name}")
    try:
        outcome.changes = run_up(
            handle,
            stamp(handle.project, build),
            message=_message("deploy", build.version, build.revision),
            output=console.output,
            say=console.say,
            retry=settings.lock,
            on_event=on_event,
            reads=settings.reads,
        ).changes
    except CommandFailed as failure:
        outcome.failure = str(failure)
    else:
        try:
            outcome.verification = _verify(handle, build.version, console, settings, sessions)
        except UpdateSucceededUnread as unread:
            return _unverified(outcome, unread, console)
        if outcome.verification is not None and not outcome.verification.ok:
            outcome.failure = (
                f"verification of {build.version} on {handle.name} failed: "
                + _failed(outcome.verification)
            )
    fallback = outcome.fallback
    if outcome.failure is not None and fallback is not None:
        if fallback.plan is None:
            outcome.failure += f"; could not roll back: {fallback.problem}"
        else:
            console.say(f"{outcome.failure}; rolling back (--rollback-on-failure)")
            outcome.failure += _roll_back_after_failure(
                handle, fallback.plan, console, settings, sessions, outcome
            )
    return outcome


def _plan_fallback(
    handle: StackHandle, build: BuildVersion, console: Console, sessions: SessionFactory
) -> Fallback:
    """The rollback a failure of `build` would run, planned before the update so that "nothing
    to roll back to" is said at minute 0. Not having one warns and deploys anyway: a first
    deploy has nothing to go back to and must still be deployable."""
    try:
        plan = plan_rollback(handle, sessions, to=None, current=build.version)
    except Interrupted:
        raise
    except AutomationError as error:  # no earlier version, image gone, ...
        console.say(
            f"warning: --rollback-on-failure: {error}; deploying {build.version} without a "
            "fallback (a failure will not be rolled back)"
        )
        return Fallback(None, str(error))
    console.say(
        f"--rollback-on-failure: if {build.version} fails, {handle.name} goes back to "
        f"{plan.target.version} ({plan.image})"
    )
    return Fallback(plan)


def _roll_back_after_failure(
    handle: StackHandle,
    plan: RollbackPlan,
    console: Console,
    settings: DeploySettings,
    sessions: SessionFactory,
    outcome: DeployOutcome,
) -> str:
    """Carry out the fallback; what happened, to append to the failure message."""
    try:
        back = rollback(handle, plan, console=console, settings=settings, sessions=sessions)
    except Interrupted:
        raise
    except AutomationError as error:  # the stack stayed locked, ...: keep the first failure
        return f"; could not roll back: {error}"
    outcome.rolled_back_to = back.rolled_back_to
    return (
        f"; rolled back to {back.version}"
        if back.ok
        else f"; the rollback failed too: {back.failure}"
    )


def rollback(
    handle: StackHandle,
    plan: RollbackPlan,
    *,
    console: Console,
    settings: DeploySettings,
    sessions: SessionFactory,
) -> DeployOutcome:
    """Carry out `plan` (from `rollback.plan_rollback`): redeploy its image by digest
    (`rollbackImage`), then verify it serves the target version."""
    target = plan.target
    console.say(f"rolling {handle.name} back to {target.version} ({plan.image})")
    outcome = DeployOutcome(
        handle.name, "rollback", target.version, target.image_tag, rolled_back_to=target
    )
    try:
        outcome.changes = run_up(
            handle,
            plan.config(handle.project),
            message=_message("rollback", target.version, target.revision),
            output=console.output,
            say=console.say,
            retry=settings.lock,
            reads=settings.reads,
        ).changes
    except CommandFailed as failure:
        outcome.failure = str(failure)
        return outcome
    try:
        outcome.verification = _verify(handle, target.version, console, settings, sessions)
    except UpdateSucceededUnread as unread:
        return _unverified(outcome, unread, console)
    if outcome.verification is not None and not outcome.verification.ok:
        outcome.failure = f"verification of {target.version} on {handle.name} failed: " + _failed(
            outcome.verification
        )
    return outcome


def _verify(
    handle: StackHandle,
    expected: str,
    console: Console,
    settings: DeploySettings,
    sessions: SessionFactory,
) -> VerificationReport | None:
    if settings.verify is None:
        console.say("verification skipped (--skip-verify)")
        return None
    console.say(f"verifying {handle.name} serves {expected}")
    outputs = plain_outputs(
        read_after_update(
            handle.outputs,
            what=f"reading the outputs of {handle.name}",
            retry=settings.reads,
            say=console.say,
        )
    )
    session = sessions(stack_region(handle, outputs))
    sleeping = asleep(outputs, session)
    if sleeping is not None:
        raise UpdateSucceededUnread(sleeping)
    # A canary, linear or blue/green release is judged after its bake: follow it there first.
    followed = follow_rollout(outputs, session, settings.verify, console.say)
    report = verify_deployment(outputs, expected, session, timing=settings.verify)
    if followed is not None:
        report = VerificationReport((followed, *report.checks))
    for check in report.checks:
        console.say(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if report.undecided:
        # AccessDenied, expired credentials, an AWS outage: the checks could not look. Rolling a
        # good release back for that would be worse than saying it is unverified (exit 3).
        raise UpdateSucceededUnread(_failed(report))
    return report


def _unverified(
    outcome: DeployOutcome, unread: UpdateSucceededUnread, console: Console
) -> DeployOutcome:
    """The update succeeded and cannot be verified: say so; no rollback of a good update."""
    outcome.unverified = True
    outcome.failure = (
        f"the {outcome.operation} of {outcome.stack} to {outcome.version} succeeded, but it "
        f"could not be verified: {unread}. Not rolled back (nothing says it is broken); check "
        f"it with `python -m automation outputs --stack {outcome.stack}` and the service itself"
    )
    console.say(f"warning: {outcome.failure}")
    return outcome


def _failed(report: VerificationReport) -> str:
    return "; ".join(f"{check.name}: {check.detail}" for check in report.failures())


def _message(kind: str, version: str, revision: str) -> str:
    return f"{kind} {version}" + (f" ({revision[:12]})" if revision else "")
