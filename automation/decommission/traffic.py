"""The traffic gates: an instance is retired only once the users' traffic has left it.

The new service serving (the verification gates) is not enough: the name clients call may still
send them to EC2. When the stack has a domain, two more checks must pass first:
- `legacy-record`: the cutover's `legacy` record has had weight 0 (or is gone) for at least
  `quiet_seconds`, according to the cutover's own state in Route 53;
- `legacy-traffic`: over `quiet_seconds` of complete CloudWatch data, all of it after the legacy
  weight went to 0, the legacy instances that still run served next to nothing: the
  `RequestCount` of the Application or classic load balancers they sit behind (a health check is
  not a request; no data point means no request), or, for an instance behind none (or behind a
  Network Load Balancer, which counts no requests), its `NetworkIn` bytes, every 5-minute point
  present. A resolver or client that ignored the TTL shows up here, not in Route 53.
Not enough data yet fails the check and says when to run again (`metrics`), rather than passing
for want of evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automation.cutover.records import Layout, Phase
from automation.cutover.zone import Zone
from automation.decommission.aws import chunks
from automation.decommission.metrics import LAG_SECONDS, Dimensions, Window, clock_time, read_sum
from automation.decommission.selection import Instance
from automation.decommission.survey import Survey, SurveyFailure
from automation.deploy.aws_errors import describe
from automation.deploy.verify import CheckResult
from automation.errors import AutomationError

RECORD_CHECK = "legacy-record"
DEFAULT_QUIET_SECONDS = 300
DEFAULT_MAX_REQUESTS = 5
DEFAULT_MAX_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class TrafficGate:
    """Where the name lives and how quiet the legacy deployment must have been."""

    zone_id: str
    record: str
    quiet_seconds: float = DEFAULT_QUIET_SECONDS
    max_requests: int = DEFAULT_MAX_REQUESTS
    max_bytes: int = DEFAULT_MAX_BYTES


def quiet_since(layout: Layout) -> datetime | None:
    """Since when the legacy record has had weight 0 (or been gone), per the cutover's state;
    None when that is unknown or not so. `--finish` keeps the time the weight went to 0, so a
    record removed minutes after that has not been quiet any longer than it was."""
    if layout.phase is Phase.SPLIT and layout.weights.legacy == 0:
        state = layout.trusted_state
    elif layout.phase is Phase.FINISHED:
        state = layout.state if layout.state is not None and layout.state.legacy == 0 else None
    else:
        return None
    return None if state is None else state.since


@dataclass(frozen=True, slots=True)
class RecordCheck:
    result: CheckResult
    since: datetime | None = None
    """Since when the legacy weight has been 0, when known: the traffic judged must be younger."""


def check_record(zone: Zone, gate: TrafficGate, now: datetime) -> RecordCheck:
    try:
        layout = zone.read(gate.record)
    except AutomationError as error:
        return RecordCheck(CheckResult(RECORD_CHECK, False, str(error)))
    return RecordCheck(_judge_record(layout, gate, now), quiet_since(layout))


def _judge_record(layout: Layout, gate: TrafficGate, now: datetime) -> CheckResult:
    name = RECORD_CHECK
    if layout.phase is Phase.PLAIN:
        return CheckResult(
            name, False, f"{layout.name} still answers only with EC2: run `automation cutover`"
        )
    weights = layout.weights
    if layout.phase is Phase.SPLIT and weights.legacy != 0:
        return CheckResult(
            name,
            False,
            f"{layout.name} still sends {100 - weights.percent} % to EC2 ({weights}): "
            "`automation cutover --to 100` first",
        )
    since = quiet_since(layout)
    if since is None and layout.phase is Phase.FINISHED:
        return CheckResult(
            name,
            False,
            f"{layout.name} has no legacy record any more, but since when EC2 has been out of "
            "its answers is unknown: the cutover's state does not say the legacy weight went to "
            "0 (the record was removed by something other than `automation cutover --finish`)",
        )
    if since is None:
        return CheckResult(
            name,
            False,
            f"{layout.name} is at {weights}, but since when is unknown (the cutover's state "
            "does not match the records): run `automation cutover --to 100` again",
        )
    held = (now - since).total_seconds()
    if held < gate.quiet_seconds:
        return CheckResult(
            name,
            False,
            f"the legacy weight has been 0 for {held:.0f} s only, since "
            f"{since:%Y-%m-%d %H:%M:%S}Z; {gate.quiet_seconds:.0f} s are needed",
        )
    gone = "; the legacy record is gone" if layout.phase is Phase.FINISHED else ""
    return CheckResult(
        name, True, f"legacy weight 0 since {since:%Y-%m-%d %H:%M:%S}Z ({held:.0f} s){gone}"
    )


LOAD_BALANCERS_PER_CALL = 20  # DescribeLoadBalancers takes up to 20 ARNs


@dataclass(frozen=True, slots=True)
class _Measure:
    """One number an instance is judged by: a sum over one or more dimension sets."""

    label: str
    namespace: str
    metric: str
    dimensions: tuple[Dimensions, ...]
    limit: int
    complete: bool
    """True: every period must have its point (EC2); False: no point means nothing (ELB)."""


@dataclass(frozen=True, slots=True)
class _Front:
    """What is in front of a target group: the `LoadBalancer` dimension of each ALB, and
    whether another kind is there too (a Network Load Balancer counts no requests)."""

    albs: tuple[str, ...] = ()
    other: bool = False


def _fronts(elbv2: Any, target_group_arns: Sequence[str]) -> dict[str, _Front]:
    """Described now: a balancer listed here exists, so its missing points mean no request."""
    if not target_group_arns:
        return {}
    groups = elbv2.describe_target_groups(TargetGroupArns=list(target_group_arns))["TargetGroups"]
    balancer_arns = sorted({arn for g in groups for arn in g.get("LoadBalancerArns", [])})
    kinds: dict[str, str] = {}
    for chunk in chunks(balancer_arns, LOAD_BALANCERS_PER_CALL):
        described = elbv2.describe_load_balancers(LoadBalancerArns=list(chunk))["LoadBalancers"]
        kinds.update({b["LoadBalancerArn"]: b.get("Type", "application") for b in described})
    fronts = {}
    for group in groups:
        arns = group.get("LoadBalancerArns", [])
        fronts[group["TargetGroupArn"]] = _Front(
            tuple(
                arn.split(":loadbalancer/", 1)[1] for arn in arns if kinds.get(arn) == "application"
            ),
            any(kinds.get(arn) != "application" for arn in arns),
        )
    return fronts


def _measures(
    instance: Instance, behind: Survey, fronts: Mapping[str, _Front], gate: TrafficGate
) -> list[_Measure]:
    """The load balancers' requests when they see all of its traffic, else its NetworkIn too."""
    measures: list[_Measure] = []
    unseen = False
    for member in behind.target_groups:
        front = fronts.get(member.target_group_arn, _Front())
        unseen = unseen or front.other
        group = member.target_group_arn.split(":")[-1]
        if front.albs:
            measures.append(
                _Measure(
                    f"{member.target_group_name} requests",
                    "AWS/ApplicationELB",
                    "RequestCount",
                    tuple(
                        [
                            {"Name": "TargetGroup", "Value": group},
                            {"Name": "LoadBalancer", "Value": alb},
                        ]
                        for alb in front.albs
                    ),
                    gate.max_requests,
                    complete=False,
                )
            )
    for balancer in behind.load_balancers:
        measures.append(
            _Measure(
                f"{balancer} requests",
                "AWS/ELB",
                "RequestCount",
                ([{"Name": "LoadBalancerName", "Value": balancer}],),
                gate.max_requests,
                complete=False,
            )
        )
    if unseen or not measures:
        measures.append(
            _Measure(
                "NetworkIn bytes",
                "AWS/EC2",
                "NetworkIn",
                ([{"Name": "InstanceId", "Value": instance.instance_id}],),
                gate.max_bytes,
                complete=True,
            )
        )
    return measures


def check_instances(
    cloudwatch: Any,
    elbv2: Any,
    instances: Sequence[Instance],
    surveyed: Mapping[str, Survey | SurveyFailure],
    gate: TrafficGate,
    now: datetime,
    not_before: datetime | None = None,
) -> CheckResult:
    """`not_before`: since when the legacy weight has been 0; the data judged must be younger
    (traffic from before says nothing about whether it left)."""
    name = "legacy-traffic"
    running = [i for i in instances if i.state == "running"]
    if not running:
        return CheckResult(name, True, "no selected instance is running")
    window = Window.of(gate.quiet_seconds, now)
    if not_before is not None and window.start < not_before:
        return CheckResult(
            name,
            False,
            f"not enough data yet: the legacy weight went to 0 at {not_before:%H:%M:%S}Z, and "
            f"CloudWatch's complete data ends at {window.end:%H:%M}Z (EC2 publishes every 5 "
            f"minutes, up to {LAG_SECONDS // 60} minutes late); {window.count * window.period} s "
            f"after the change are needed: run again after "
            f"{clock_time(window.ready_for(not_before), now)}",
        )
    findings: list[str] = []
    problems: list[str] = []
    try:
        fronts = _fronts(
            elbv2,
            sorted(
                {
                    m.target_group_arn
                    for i in running
                    if isinstance(s := surveyed.get(i.instance_id), Survey)
                    for m in s.target_groups
                }
            ),
        )
        for instance in running:
            survey = surveyed.get(instance.instance_id)
            behind = survey if isinstance(survey, Survey) else Survey()
            for measure in _measures(instance, behind, fronts, gate):
                readings = [
                    read_sum(cloudwatch, measure.namespace, measure.metric, dims, window)
                    for dims in measure.dimensions
                ]
                total = sum(r.total for r in readings)
                periods = min(r.periods for r in readings)
                iid, label = instance.instance_id, measure.label
                if total > measure.limit:
                    problems.append(f"{iid}: {total:.0f} {label} (at most {measure.limit})")
                elif measure.complete and periods < window.count:
                    have = "no" if not periods else f"only {periods} of {window.count} periods of"
                    problems.append(
                        f"{iid}: {have} {label} data for {window.describe()} yet (EC2 publishes "
                        f"a point every 5 minutes, up to {LAG_SECONDS // 60} minutes late): run "
                        f"again after {clock_time(window.next_complete, now)}"
                    )
                elif not measure.complete and not any(r.periods for r in readings):
                    findings.append(f"{iid}: 0 {label} (no data point: none flowed)")
                else:
                    findings.append(f"{iid}: {total:.0f} {label}")
    except (ClientError, BotoCoreError) as error:
        return CheckResult(name, False, describe(error, "reading the legacy instances' traffic"))
    if problems:
        return CheckResult(name, False, "; ".join(problems))
    return CheckResult(name, True, f"{'; '.join(findings)} over {window.describe()}")
