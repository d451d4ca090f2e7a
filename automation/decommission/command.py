"""A whole decommission run: config, selection, gates, plan, then (with --execute) the steps.

Usage and configuration problems (exit 2) are found before the first change: the config first,
then which instances (none: exit 2, `NothingSelected`), then the gates' identifiers; the gates
run before the first change. Only then, one instance at a time, the plan is carried out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from automation.cutover.zone import CLIENT_CONFIG as ROUTE53_CONFIG
from automation.cutover.zone import Zone
from automation.decommission import gates, traffic
from automation.decommission.aws import Aws, Waits
from automation.decommission.dns import namings
from automation.decommission.execute import execute, planned_actions
from automation.decommission.plan import InstancePlan, Options, Status, plan_instance
from automation.decommission.report import InstanceReport, Report
from automation.decommission.selection import select, selectors_from
from automation.decommission.steps import Context
from automation.decommission.survey import survey
from automation.deploy.aws_errors import aws_call
from automation.deploy.pulumi_seam import StackHandle, validate_stack_name
from automation.deploy.verify import SessionFactory, VerificationReport, VerifyTiming
from automation.errors import UsageProblem
from automation.release import stack_config

FINISHED_STATES = frozenset({"terminated", "shutting-down"})


@dataclass(frozen=True, slots=True)
class Request:
    stack: str
    repo: Path
    tags: tuple[str, ...] = ()
    instance_ids: tuple[str, ...] = ()
    execute: bool = False
    options: Options = field(default_factory=Options)
    skip_gates: bool = False
    gate_flags: Mapping[str, str | None] = field(default_factory=dict)
    """Gate identifiers given as flags, keyed by stack output name (`infra.outputs`)."""
    zone_id: str | None = None
    """The name's Route 53 zone (default: the stack config's hostedZoneId)."""
    record: str | None = None
    """The name clients call (default: the stack config's domainName)."""
    quiet_seconds: float = traffic.DEFAULT_QUIET_SECONDS
    max_requests: int = traffic.DEFAULT_MAX_REQUESTS
    max_bytes: int = traffic.DEFAULT_MAX_BYTES


class NothingSelected(UsageProblem):
    """No instance matches the selectors: a mistake, or the migration is over (exit 2)."""


def _quiet(message: str) -> None:
    pass


@dataclass(frozen=True, slots=True)
class Environment:
    """What a run talks to and how long it waits: the CLI's environment, for this stack."""

    session: SessionFactory
    open_stack: Callable[[], StackHandle] | None = None
    waits: Waits = field(default_factory=Waits)
    gate_timing: VerifyTiming = gates.GATE_TIMING
    say: Callable[[str], None] = _quiet


def run(request: Request, env: Environment) -> Report:
    validate_stack_name(request.stack)
    short = stack_config.short_name(request.stack)
    config = stack_config.load(request.repo, short)
    production = config.production  # asked of every run: a misconfigured prod stops here
    region = config.get("aws:region")
    if not region:
        raise UsageProblem(
            f"Pulumi.{short}.yaml sets no aws:region: the legacy instances are looked for in the "
            "stack's region"
        )
    selectors = selectors_from(config, request.tags, request.instance_ids)
    if selectors.empty:
        raise UsageProblem(
            f"nothing to select: no --tag or --instance-id given, and Pulumi.{short}.yaml sets "
            "neither legacyTags nor legacyInstanceIds"
        )
    if request.skip_gates and production:
        raise UsageProblem(
            f"--skip-gates is refused for stack {request.stack}: its config sets "
            "`production: true`; the gates must pass before production instances are touched"
        )

    session = env.session(str(region))
    aws = Aws.from_session(session)
    env.say(f"selecting instances in {region}: {selectors.describe()}")
    with aws_call("listing the selected instances"):
        selection = select(aws.ec2, selectors)
    if not selection.instances:
        raise NothingSelected(
            f"no instance in {region} matches {selectors.describe()}: check the selectors "
            "(once every legacy instance is gone, remove legacyTags and legacyInstanceIds from "
            "the stack config: the migration is complete)"
        )
    domain = request.record or str(config.get("domainName") or "")
    zone_id = request.zone_id or str(config.get("hostedZoneId") or "")
    zone = (
        Zone(session.client("route53", config=ROUTE53_CONFIG), zone_id)
        if zone_id and domain
        else None
    )
    targets = (
        None
        if request.skip_gates
        else gates.resolve(request.gate_flags, env.open_stack, domain=domain)
    )
    acting = [i for i in selection.instances if not i.keep and i.state not in FINISHED_STATES]
    surveyed = survey(aws, acting)
    verification = None
    if targets is not None:
        env.say("checking the gates: is the new service serving the deployed version?")
        verification = gates.check(targets, session, env.gate_timing)
    now = env.waits.now()
    if targets is not None and verification is not None and domain:
        env.say(f"checking the traffic gates: has the users' traffic left EC2 ({domain})?")
        gate = traffic.TrafficGate(
            zone_id, domain, request.quiet_seconds, request.max_requests, request.max_bytes
        )
        extra = []
        since = None
        if zone is not None:
            record = traffic.check_record(zone, gate, now)
            extra.append(record.result)
            since = record.since
        extra.append(
            traffic.check_instances(
                session.client("cloudwatch"), aws.elbv2, acting, surveyed, gate, now, since
            )
        )
        verification = VerificationReport((*verification.checks, *extra))
    # Without a zone there is no record to ask: the name's DNS is the team's to keep in step.
    named = namings(zone, domain, acting, surveyed) if zone is not None else {}
    acting_ids = {i.instance_id for i in acting}
    plans = [
        plan_instance(
            i,
            surveyed.get(i.instance_id),
            request.options,
            now,
            acting_ids,
            named.get(i.instance_id),
        )
        for i in selection.instances
    ]
    proceed = verification is None or verification.ok
    reports = []
    for plan in plans:
        if plan.status is not Status.PLANNED:
            reports.append(_as_is(plan))
        elif not proceed:
            reports.append(_as_is(plan, Status.REFUSED, "the gates failed: nothing was changed"))
        elif not request.execute:
            reports.append(_as_is(plan))
        else:
            ctx = Context(aws, env.waits, plan.instance, request.stack, env.say)
            outcome = execute(plan, ctx, request.options)
            reports.append(
                InstanceReport(
                    plan.instance.instance_id,
                    plan.instance.name,
                    outcome.state,
                    outcome.status,
                    outcome.reason,
                    outcome.actions,
                    plan.instance.selected_by,
                )
            )
    reports += [
        InstanceReport(
            iid,
            "",
            "not found",
            Status.SKIPPED,
            f"no such instance in {region} (terminated over an hour ago, or a wrong id)",
            selected_by=("id",),
        )
        for iid in selection.missing_ids
    ]
    return Report(
        stack=request.stack,
        region=str(region),
        execute=request.execute,
        selectors=selectors,
        options=request.options,
        gates=verification,
        instances=tuple(sorted(reports, key=lambda r: r.instance_id)),
    )


def _as_is(plan: InstancePlan, status: Status | None = None, reason: str = "") -> InstanceReport:
    instance = plan.instance
    return InstanceReport(
        instance.instance_id,
        instance.name,
        instance.state,
        status or plan.status,
        f"{reason}; planned: {plan.reason}" if reason else plan.reason,
        planned_actions(plan),
        instance.selected_by,
    )
