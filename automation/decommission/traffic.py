"""The traffic gates: an instance is retired only once the users' traffic has left it.

The new service serving (the verification gates) is not enough: the name clients call may still
send them to EC2. When the stack has a domain, two more checks must pass first:
- `legacy-record`: the cutover's `legacy` record has had weight 0 (or is gone) for at least
  `quiet_seconds`, according to the cutover's own state in Route 53;
- `legacy-traffic`: over those same seconds, the legacy instances that still run served next to
  nothing: the `RequestCount` of the load balancers they sit behind (a health check is not a
  request), or, for an instance behind none, its `NetworkIn` bytes. A resolver or client that
  ignored the TTL shows up here, not in Route 53.
CloudWatch reports EC2 metrics every 5 minutes with basic monitoring: a window with no data yet
fails the check (run again later) rather than passing for want of evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automation.cutover.records import Layout, Phase
from automation.cutover.zone import Zone
from automation.decommission.selection import Instance
from automation.decommission.survey import Survey, SurveyFailure
from automation.deploy.aws_errors import describe
from automation.deploy.verify import CheckResult
from automation.errors import AutomationError

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


def check_record(zone: Zone, gate: TrafficGate, now: datetime) -> CheckResult:
    name = "legacy-record"
    try:
        layout = zone.read(gate.record)
    except AutomationError as error:
        return CheckResult(name, False, str(error))
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


def _sum(
    cloudwatch: Any,
    namespace: str,
    metric: str,
    dimensions: list[dict[str, str]],
    start: datetime,
    end: datetime,
) -> float | None:
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(float(p["Sum"]) for p in points) if points else None


def _balancer_dimensions(
    elbv2: Any, target_group_arns: Sequence[str]
) -> dict[str, list[dict[str, str]]]:
    """RequestCount of a target group is reported per (TargetGroup, LoadBalancer) pair."""
    dimensions: dict[str, list[dict[str, str]]] = {}
    if not target_group_arns:
        return dimensions
    groups = elbv2.describe_target_groups(TargetGroupArns=list(target_group_arns))["TargetGroups"]
    for group in groups:
        for balancer in group.get("LoadBalancerArns", []):
            dimensions[group["TargetGroupArn"]] = [
                {"Name": "TargetGroup", "Value": group["TargetGroupArn"].split(":")[-1]},
                {"Name": "LoadBalancer", "Value": balancer.split(":loadbalancer/", 1)[1]},
            ]
    return dimensions


def check_instances(
    cloudwatch: Any,
    elbv2: Any,
    instances: Sequence[Instance],
    surveyed: Mapping[str, Survey | SurveyFailure],
    gate: TrafficGate,
    now: datetime,
) -> CheckResult:
    name = "legacy-traffic"
    running = [i for i in instances if i.state == "running"]
    if not running:
        return CheckResult(name, True, "no selected instance is running")
    start, end = now - timedelta(seconds=gate.quiet_seconds), now
    findings: list[str] = []
    too_much: list[str] = []
    try:
        arns = sorted(
            {
                m.target_group_arn
                for i in running
                if isinstance(s := surveyed.get(i.instance_id), Survey)
                for m in s.target_groups
            }
        )
        by_group = _balancer_dimensions(elbv2, arns)
        for instance in running:
            survey = surveyed.get(instance.instance_id)
            behind = survey if isinstance(survey, Survey) else Survey()
            measured: list[tuple[str, float | None, float]] = []
            for member in behind.target_groups:
                if member.target_group_arn in by_group:
                    total = _sum(
                        cloudwatch,
                        "AWS/ApplicationELB",
                        "RequestCount",
                        by_group[member.target_group_arn],
                        start,
                        end,
                    )
                    measured.append(
                        (f"{member.target_group_name} requests", total, gate.max_requests)
                    )
            for balancer in behind.load_balancers:
                total = _sum(
                    cloudwatch,
                    "AWS/ELB",
                    "RequestCount",
                    [{"Name": "LoadBalancerName", "Value": balancer}],
                    start,
                    end,
                )
                measured.append((f"{balancer} requests", total, gate.max_requests))
            if not measured:
                total = _sum(
                    cloudwatch,
                    "AWS/EC2",
                    "NetworkIn",
                    [{"Name": "InstanceId", "Value": instance.instance_id}],
                    start,
                    end,
                )
                measured.append(("NetworkIn bytes", total, gate.max_bytes))
            for what, total, limit in measured:
                if total is None:
                    too_much.append(
                        f"{instance.instance_id}: no {what} data in the last "
                        f"{gate.quiet_seconds:.0f} s yet (run again later)"
                    )
                elif total > limit:
                    too_much.append(f"{instance.instance_id}: {total:.0f} {what} (at most {limit})")
                else:
                    findings.append(f"{instance.instance_id}: {total:.0f} {what}")
    except (ClientError, BotoCoreError) as error:
        return CheckResult(name, False, describe(error, "reading the legacy instances' traffic"))
    if too_much:
        return CheckResult(name, False, "; ".join(too_much))
    window = f"over the last {gate.quiet_seconds:.0f} s"
    return CheckResult(name, True, f"{'; '.join(findings)} {window}")
