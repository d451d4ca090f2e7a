"""`preview`, `up` and `rollback` end to end: gate, stamp, run, verify, and roll back on failure.

Production only ever runs a clean release tag (`release` in `version --json`): a dev build or a
dirty tree is refused with exit 2 before anything runs. A rollback is exempt (it redeploys an
image that was already released). Whether the stack is production is the caller's answer
(`automation.release.stack_config`), passed in: this module never guesses it from a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automation.deploy import updates
from automation.deploy.interrupts import Interrupted
from automation.deploy.pulumi_seam import (
    CommandFailed,
    OnEvent,
    OnOutput,
    RunSummary,
    StackHandle,
    plain_outputs,
)
from automation.deploy.rollback import (
    Deployed,
    choose_target,
    deployed_versions,
    history_entries,
    image_digest,
)
from automation.deploy.updates import LockRetry, Say, qualified, run_preview, run_up, stamp
from automation.deploy.verify import (
    SessionFactory,
    VerificationReport,
    VerifyTiming,
    verify_deployment,
)
from automation.errors import AutomationError, UsageProblem
from automation.release.stack_config import short_name
from automation.release.version import BuildVersion
from infra import outputs as names


@dataclass(frozen=True, slots=True)
class Console:
    """Where progress goes: `say` for our messages, `output` for the Pulumi CLI's lines."""

    say: Say
    output: OnOutput


@dataclass(frozen=True, slots=True)
class DeploySettings:
    lock: LockRetry = field(default_factory=LockRetry)
    verify: VerifyTiming | None = field(default_factory=VerifyTiming)  # None: --skip-verify
    rollback_on_failure: bool = False


@dataclass(slots=True)
class DeployOutcome:
    stack: str
    operation: str
    version: str
    image_tag: str
    changes: Mapping[str, int] = field(default_factory=dict)
    verification: VerificationReport | None = None
    rolled_back_to: Deployed | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stack": self.stack,
            "operation": self.operation,
            "version": self.version,
            "image_tag": self.image_tag,
            "changes": dict(self.changes),
            "verification": self.verification.to_json() if self.verification else None,
            "rolled_back_to": self.rolled_back_to.to_json() if self.rolled_back_to else None,
            "failure": self.failure,
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
    require_deployable(handle.name, build, production=production)
    outcome = DeployOutcome(handle.name, "up", build.version, build.image_tag)
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
        ).changes
    except CommandFailed as failure:
        outcome.failure = str(failure)
    else:
        outcome.verification = _verify(handle, build.version, console, settings, sessions)
        if outcome.verification is not None and not outcome.verification.ok:
            outcome.failure = (
                f"verification of {build.version} on {handle.name} failed: "
                + _failed(outcome.verification)
            )
    if outcome.failure is not None and settings.rollback_on_failure:
        console.say(f"{outcome.failure}; rolling back (--rollback-on-failure)")
        outcome.failure += _roll_back_after_failure(
            handle, build, console, settings, sessions, outcome
        )
    return outcome


def _roll_back_after_failure(
    handle: StackHandle,
    build: BuildVersion,
    console: Console,
    settings: DeploySettings,
    sessions: SessionFactory,
    outcome: DeployOutcome,
) -> str:
    """Redeploy what ran before `build`; what happened, to append to the failure message."""
    try:
        back = rollback(
            handle,
            console=console,
            settings=settings,
            sessions=sessions,
            current=build.version,
            to=None,
        )
    except Interrupted:
        raise
    except AutomationError as error:  # no earlier version, image gone, ...: keep the first failure
        return f"; could not roll back: {error}"
    outcome.rolled_back_to = back.rolled_back_to
    return (
        f"; rolled back to {back.version}"
        if back.ok
        else f"; the rollback failed too: {back.failure}"
    )


def rollback(
    handle: StackHandle,
    *,
    console: Console,
    settings: DeploySettings,
    sessions: SessionFactory,
    to: str | None,
    current: str | None = None,
) -> DeployOutcome:
    """Redeploy an earlier version's image by digest (`rollbackImage`), then verify it."""
    target = choose_target(
        deployed_versions(history_entries(handle), handle.project), current=current, to=to
    )
    outputs = plain_outputs(handle.outputs())
    repository_url = outputs.get(names.REPOSITORY_URL)
    if not repository_url:
        raise AutomationError(
            f"stack {handle.name} has no {names.REPOSITORY_URL} output: cannot find the images"
        )
    session = sessions(stack_region(handle, outputs))
    digest = image_digest(session.client("ecr"), str(repository_url), target.image_tag)
    image = f"{repository_url}@{digest}"
    console.say(f"rolling {handle.name} back to {target.version} ({image})")
    config = {
        qualified(handle.project, updates.VERSION): target.version,
        qualified(handle.project, updates.IMAGE_TAG): target.image_tag,
        qualified(handle.project, updates.REVISION): target.revision,
        qualified(handle.project, updates.CREATED): target.created,
        qualified(handle.project, updates.ROLLBACK_IMAGE): image,
    }
    outcome = DeployOutcome(
        handle.name, "rollback", target.version, target.image_tag, rolled_back_to=target
    )
    try:
        outcome.changes = run_up(
            handle,
            config,
            message=_message("rollback", target.version, target.revision),
            output=console.output,
            say=console.say,
            retry=settings.lock,
        ).changes
    except CommandFailed as failure:
        outcome.failure = str(failure)
        return outcome
    outcome.verification = _verify(handle, target.version, console, settings, sessions)
    if outcome.verification is not None and not outcome.verification.ok:
        outcome.failure = f"verification of {target.version} on {handle.name} failed: " + _failed(
            outcome.verification
        )
    return outcome


def stack_region(handle: StackHandle, outputs: Mapping[str, Any]) -> str:
    """The stack's AWS region: the `region` output, else config `aws:region`."""
    region = outputs.get(names.REGION) or handle.get_config(updates.AWS_REGION)
    if not region:
        raise UsageProblem(
            f"stack {handle.name}: no region (neither a `{names.REGION}` output "
            f"nor `{updates.AWS_REGION}` config)"
        )
    return str(region)


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
    outputs = plain_outputs(handle.outputs())
    report = verify_deployment(
        outputs, expected, sessions(stack_region(handle, outputs)), timing=settings.verify
    )
    for check in report.checks:
        console.say(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    return report


def _failed(report: VerificationReport) -> str:
    return "; ".join(f"{check.name}: {check.detail}" for check in report.failures())


def _message(kind: str, version: str, revision: str) -> str:
    return f"{kind} {version}" + (f" ({revision[:12]})" if revision else "")
