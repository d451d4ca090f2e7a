"""A whole cutover run: identifiers, the records as read, the plan, then (with --execute) the steps.

Usage and configuration problems (exit 2) are found before the first change: an unknown zone, no
record of that name, a record the cutover cannot carry over, a name routed by something else, an
alarm that does not exist. A run that sends more traffic to the new service first checks that
its alarms are quiet; one that sends traffic back to EC2 checks nothing, so going back always
works, even while the new service is failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from automation.cutover import records
from automation.cutover.bake import BakeResult, Clock, Progress, alarm_states, bake
from automation.cutover.plan import (
    Kind,
    Plan,
    Step,
    batch,
    plan_finish,
    plan_move,
    revert_step,
    simulate,
)
from automation.cutover.records import Change, Layout, LoadBalancer, Phase
from automation.cutover.zone import CLIENT_CONFIG, Rejected, Submitted, Zone
from automation.deploy.interrupts import Interrupted
from automation.deploy.pulumi_seam import StackHandle, validate_stack_name
from automation.deploy.verify import SessionFactory
from automation.errors import AutomationError, UsageProblem
from automation.release import stack_config
from infra import outputs as names

SCHEMA = 1
DEFAULT_BAKE_SECONDS = 300
DEFAULT_TTL_WAIT_LIMIT = 900


class Action(StrEnum):
    STATUS = "status"
    MOVE = "move"
    FINISH = "finish"


class Outcome(StrEnum):
    DONE = "done"
    NOTHING = "nothing-to-do"
    PLANNED = "planned"
    WAITING = "waiting"
    REFUSED = "refused"
    REVERTED = "reverted"
    FAILED = "failed"


FAILING = frozenset({Outcome.REFUSED, Outcome.REVERTED, Outcome.FAILED})


@dataclass(frozen=True, slots=True)
class Identifiers:
    """What the run works on; flags win, the stack's outputs and config fill the rest."""

    zone_id: str | None = None
    record: str | None = None
    alb_dns_name: str | None = None
    alb_zone_id: str | None = None
    alarms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    stack: str
    repo: Path
    action: Action
    percent: int | None = None
    execute: bool = False
    bake_seconds: float = DEFAULT_BAKE_SECONDS
    ttl_wait_limit: float = DEFAULT_TTL_WAIT_LIMIT
    identifiers: Identifiers = field(default_factory=Identifiers)


def _quiet(message: str) -> None:
    pass


class _Silent:
    def start(self, total_seconds: float, what: str) -> None:
        pass

    def update(self, elapsed_seconds: float, note: str) -> None:
        pass

    def stop(self) -> None:
        pass


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class CutoverTiming:
    """How time passes for a run: the bake's and the TTL wait's clock, the wall clock (recorded
    in the state), and how often Route 53 is asked whether a change is INSYNC."""

    clock: Clock = field(default_factory=Clock)
    now: Callable[[], datetime] = utc_now
    route53_wait_delay: int = 10


@dataclass(frozen=True, slots=True)
class Environment:
    """What a run talks to and how time passes: the CLI's environment, for this stack."""

    session: SessionFactory
    open_stack: Callable[[], StackHandle] | None = None
    timing: CutoverTiming = field(default_factory=CutoverTiming)
    progress: Progress = field(default_factory=_Silent)
    say: Callable[[str], None] = _quiet

    @property
    def clock(self) -> Clock:
        return self.timing.clock

    def now(self) -> datetime:
        return self.timing.now()


@dataclass(frozen=True, slots=True)
class Done:
    """A step as reported: planned (`done` false) or carried out, with its Route 53 change."""

    step: Step
    changes: tuple[Change, ...] = ()
    done: bool = False
    submitted: Submitted | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.step.to_json(),
            "changes": [records.describe_change(c) for c in self.changes],
            "done": self.done,
            "change": None if self.submitted is None else self.submitted.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Report:
    stack: str
    zone_id: str
    record: str
    action: Action
    percent: int | None
    execute: bool
    outcome: Outcome
    reason: str
    before: Layout | None
    after: Layout | None = None
    steps: tuple[Done, ...] = ()
    bake: BakeResult | None = None
    alarms: tuple[str, ...] = ()
    load_balancer: LoadBalancer | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.outcome in FAILING else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "stack": self.stack,
            "zone_id": self.zone_id,
            "record": self.record,
            "action": self.action.value,
            "percent": self.percent,
            "execute": self.execute,
            "status": self.outcome.value,
            "reason": self.reason,
            "load_balancer": None
            if self.load_balancer is None
            else {"dns_name": self.load_balancer.dns_name, "zone_id": self.load_balancer.zone_id},
            "alarms": list(self.alarms),
            "before": None if self.before is None else self.before.to_json(),
            "after": None if self.after is None else self.after.to_json(),
            "steps": [step.to_json() for step in self.steps],
            "bake": None if self.bake is None else self.bake.to_json(),
        }


@dataclass(frozen=True, slots=True)
class _Resolved:
    zone_id: str
    record: str
    region: str
    load_balancer: LoadBalancer | None
    alarms: tuple[str, ...]


def _resolve(request: Request, env: Environment, config: stack_config.StackConfig) -> _Resolved:
    flags = request.identifiers
    region = str(config.get("aws:region") or "")
    zone_id = flags.zone_id or str(config.get("hostedZoneId") or "")
    record = flags.record or str(config.get("domainName") or "")
    if not zone_id or not record:
        raise UsageProblem(
            f"stack {request.stack} sets no domainName/hostedZoneId: give --zone-id and --record "
            "(the name clients call, in a Route 53 hosted zone of this account)"
        )
    needs_outputs = request.action is not Action.STATUS and (
        not (flags.alb_dns_name and flags.alb_zone_id) or not flags.alarms
    )
    outputs: dict[str, Any] = {}
    if needs_outputs:
        if env.open_stack is None:
            raise UsageProblem(
                "the load balancer and alarms come from the stack outputs: give --alb-dns-name, "
                "--alb-zone-id and --alarm to run without the Pulumi CLI"
            )
        from automation.deploy.pulumi_seam import plain_outputs

        outputs = plain_outputs(env.open_stack().outputs())
    dns_name = flags.alb_dns_name or str(outputs.get(names.ALB_DNS_NAME) or "")
    alb_zone = flags.alb_zone_id or str(outputs.get(names.ALB_ZONE_ID) or "")
    alarms = flags.alarms or tuple(str(n) for n in outputs.get(names.ALARM_NAMES) or ())
    region = str(outputs.get(names.REGION) or region)
    if request.action is not Action.STATUS and not (dns_name and alb_zone):
        raise UsageProblem(
            "the new service's load balancer is unknown: the stack has no albDnsName/albZoneId "
            "outputs (deploy it first) and no --alb-dns-name/--alb-zone-id were given"
        )
    if not region:
        raise UsageProblem(f"Pulumi.{request.stack}.yaml sets no aws:region (the alarms' region)")
    balancer = LoadBalancer(dns_name, alb_zone) if dns_name and alb_zone else None
    return _Resolved(zone_id, record, region, balancer, alarms)


def run(request: Request, env: Environment) -> Report:
    validate_stack_name(request.stack)
    short = request.stack.rsplit("/", 1)[-1]
    config = stack_config.load(request.repo, short)
    ids = _resolve(request, env, config)
    session = env.session(ids.region)
    zone = Zone(
        session.client("route53", config=CLIENT_CONFIG),
        ids.zone_id,
        wait_delay=env.timing.route53_wait_delay,
    )
    cloudwatch = session.client("cloudwatch", config=CLIENT_CONFIG)
    try:
        return _attempt(request, env, ids, zone, cloudwatch, first=True)
    except _Again:
        env.say("someone else moved the traffic as this run began: going back from there")
        return _attempt(request, env, ids, zone, cloudwatch, first=False)


def _attempt(
    request: Request, env: Environment, ids: _Resolved, zone: Zone, cloudwatch: Any, *, first: bool
) -> Report:
    """One read of the records, its plan, and (with --execute) its steps."""
    current = zone.read(ids.record)

    def report(outcome: Outcome, reason: str, **extra: Any) -> Report:
        return Report(
            stack=request.stack,
            zone_id=zone.zone_id,
            record=current.name,
            action=request.action,
            percent=request.percent,
            execute=request.execute,
            outcome=outcome,
            reason=reason,
            before=current,
            alarms=ids.alarms,
            load_balancer=ids.load_balancer,
            **extra,
        )

    if request.action is Action.STATUS:
        return report(Outcome.DONE, _status_line(current, ids.load_balancer, env.now()))
    assert ids.load_balancer is not None
    target = ids.load_balancer
    now = env.now()
    if request.action is Action.FINISH:
        plan = plan_finish(current)
    else:
        assert request.percent is not None
        plan = plan_move(
            current, request.percent, target, now=now, bake_seconds=request.bake_seconds
        )
    if plan.refused:
        return report(Outcome.REFUSED, plan.refused)
    if plan.nothing_to_do:
        return report(Outcome.NOTHING, plan.nothing_to_do)
    baking = any(step.kind is Kind.BAKE for step in plan.steps)
    if baking and not ids.alarms:
        raise UsageProblem(
            "no alarms to watch during the bake: the stack has no alarmNames output and no "
            "--alarm was given (or pass --bake 0 to move without watching)"
        )
    if plan.raises_share or baking:
        loud = [s for s in alarm_states(cloudwatch, ids.alarms) if s.state == "ALARM"]
        if loud:
            named = ", ".join(f"{s.name} ({s.reason})" for s in loud)
            return report(
                Outcome.REFUSED,
                f"the new service's alarms are already in ALARM: {named}; fix it before "
                "sending it more traffic (--to 0 sends everything back to EC2)",
            )
    if not request.execute:
        shown = tuple(Done(s, tuple(c)) for s, c in simulate(plan, current, target, now))
        return report(
            Outcome.PLANNED, "dry run: nothing was changed (--execute to apply)", steps=shown
        )
    # `--to 0` beaten by another run's batch before changing anything may go again, once, from
    # what the records say then: everything back to EC2 means the same from anywhere.
    again = first and request.percent == 0
    return _execute(request, env, plan, zone, cloudwatch, target, current, ids, report, again)


class _Moved(Exception):
    """Route 53 no longer holds what this run last saw: someone else changed the name."""

    def __init__(self, now: str) -> None:
        super().__init__(now)
        self.now = now


class _Again(Exception):
    """A `--to 0` was beaten by another run before it changed anything: read and plan again."""


def _execute(
    request: Request,
    env: Environment,
    plan: Plan,
    zone: Zone,
    cloudwatch: Any,
    target: LoadBalancer,
    current: Layout,
    ids: _Resolved,
    report: Callable[..., Report],
    again: bool,
) -> Report:
    done: list[Done] = []
    baked: BakeResult | None = None
    # The records as this run last saw them: as read, then as its own batches left them. Every
    # batch is built on this, never on a fresh read (see plan.py).
    seen = current

    def watch() -> None:
        """Stop (`_Moved`) when Route 53 no longer holds what this run last saw."""
        try:
            now = zone.read(ids.record)
        except UsageProblem as problem:  # turned into something the cutover does not manage
            raise _Moved(str(problem)) from problem
        if records.moved(seen, now):
            raise _Moved(_status_line(now, target, env.now()))

    def apply(step: Step) -> None:
        nonlocal seen
        changes = batch(step, seen, target, env.now())
        env.say(f"{step.summary}: submitting {len(changes)} change(s) to Route 53")
        comment = f"alunos-api cutover ({request.stack}): {step.summary}"
        try:
            submitted = zone.submit(changes, comment)
        except Rejected:
            watch()  # a DELETE no longer matched: whose change was it?
            raise
        seen = records.after(seen, changes)
        env.say(f"change {submitted.change_id} is INSYNC: {step.weights}")
        done.append(Done(step, tuple(changes), True, submitted))

    def go_back(why: str, **extra: Any) -> Report:
        try:
            apply(revert_step(plan))
        except AutomationError as error:
            return report(
                Outcome.FAILED,
                f"{why}; going back to {plan.before} failed: {error}. Send the traffic back "
                f"now: cutover --to {plan.before.percent} --execute",
                steps=tuple(done),
                **extra,
            )
        return report(
            Outcome.REVERTED,
            f"{why}; the weights went back to {plan.before}",
            steps=tuple(done),
            after=seen,
            **extra,
        )

    try:
        for step in plan.steps:
            if step.kind is Kind.WAIT_TTL:
                if step.seconds > request.ttl_wait_limit:
                    at = env.now().timestamp() + step.seconds
                    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
                    return report(
                        Outcome.WAITING,
                        f"the TTL was lowered; resolvers may cache the old answers for "
                        f"{step.seconds:.0f} s more: run the same command again after {when}",
                        steps=tuple(done),
                        after=seen,
                    )
                _wait(env, step, watch)
                done.append(Done(step, (), True))
            elif step.kind is Kind.BAKE:
                try:
                    baked = bake(
                        cloudwatch,
                        ids.alarms,
                        step.seconds,
                        clock=env.clock,
                        progress=env.progress,
                        watch=watch,
                    )
                except Interrupted:
                    raise
                except AutomationError as error:  # CloudWatch's or Route 53's: unwatched now
                    return go_back(f"the bake could not go on: {error}")
                done.append(Done(step, (), True))
                if not baked.passed:
                    why = ", ".join(f"{a.name} ({a.reason})" for a in baked.breached)
                    return go_back(f"alarm during the bake: {why}", bake=baked)
            else:
                apply(step)
    except _Moved as moved:
        if again and not done:
            raise _Again from moved
        return report(
            Outcome.FAILED,
            f"someone else moved the traffic during this run (another cutover run or a hand "
            f"edit): {moved.now}. This run did nothing more and leaves it so (no revert, no "
            "bake recorded): find out who moved it before running a step again",
            steps=tuple(done),
            bake=baked,
        )
    except AutomationError as error:
        if isinstance(error, UsageProblem):
            raise
        return report(Outcome.FAILED, str(error), steps=tuple(done), bake=baked)
    return report(
        Outcome.DONE,
        _status_line(seen, target, env.now()),
        steps=tuple(done),
        bake=baked,
        after=seen,
    )


def _wait(env: Environment, step: Step, watch: Callable[[], None]) -> None:
    """Sleep through a wait with progress, in slices the clock controls, looking at the records
    after each (`watch` raises when someone else changed them)."""
    start = env.clock.monotonic()
    env.progress.start(step.seconds, step.summary)
    try:
        while (elapsed := env.clock.monotonic() - start) < step.seconds:
            env.progress.update(elapsed, "waiting")
            env.clock.sleep(min(env.clock.interval_seconds, step.seconds - elapsed))
            watch()
        env.progress.update(step.seconds, "done")
    finally:
        env.progress.stop()


def _status_line(current: Layout, target: LoadBalancer | None, now: datetime) -> str:
    weights = current.weights
    line = f"{current.name}: {current.phase.value}, {weights.percent} % to Fargate ({weights})"
    state = current.trusted_state
    if state is not None and state.since is not None:
        held = int((now - state.since).total_seconds())
        line += f", since {state.since:%Y-%m-%d %H:%M:%S}Z ({held} s)"
        if current.phase is not Phase.PLAIN:
            line += ", baked" if state.baked and state.baked >= state.since else ", not baked"
    if (
        target is not None
        and current.fargate is not None
        and not current.fargate.points_at(target.dns_name)
    ):
        line += f"; `fargate` points at {current.fargate.target}, not the stack's ALB"
    return line


__all__ = ["Action", "Environment", "Identifiers", "Outcome", "Report", "Request", "run"]
