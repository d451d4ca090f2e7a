"""Follow a canary, linear or blue/green release to its end, saying how far it got.

ECS records each release as a service deployment: ListServiceDeployments lists them,
DescribeServiceDeployments gives one's `status`, `lifecycleStage` and the new revision's
`requestedProductionTrafficWeight` (botocore's ecs model, shapes ServiceDeployment and
ServiceRevisionSummary). The list comes in pages (20 by default, `nextToken` for the rest) in
no documented order, and botocore has no paginator for it (its ecs paginators-1.json), so every
page is read and the newest by `createdAt` is the release
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServiceDeployments.html).
The release is over at SUCCESSFUL, after the bake; a ROLLBACK_* or STOPPED status means the
alarms or the circuit breaker sent the traffic back
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html).
`pulumi up` usually returns once the service is steady; the bake may still be running, so the
deploy check waits here for the verdict instead of verifying a release ECS is about to undo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from automation.deploy.verify import (
    DEFAULT_POLLING,
    CheckResult,
    Polling,
    VerifyTiming,
    could_not,
)
from infra import outputs as names
from infra.rollout import ROLLING

NAME = "ecs-rollout"
MARGIN_SECONDS = 600
"""Beyond the stack's own estimate (rolloutSeconds): slow image pulls, alarm evaluation."""
DONE = "SUCCESSFUL"
GOING = frozenset({"PENDING", "IN_PROGRESS"})


def progress_line(deployment: dict[str, Any]) -> str:
    """`IN_PROGRESS PRODUCTION_TRAFFIC_SHIFT: 10% of production traffic on the new tasks`."""
    target = deployment.get("targetServiceRevision") or {}
    weight = target.get("requestedProductionTrafficWeight")
    running, requested = target.get("runningTaskCount"), target.get("requestedTaskCount")
    parts = [f"{deployment.get('status')} {deployment.get('lifecycleStage') or ''}".strip()]
    if weight is not None:
        parts.append(f"{weight:g}% of production traffic on the new tasks")
    if requested is not None:
        parts.append(f"{running}/{requested} new tasks running")
    return ": ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if parts[1:] else "")


def check_rollout(
    ecs: Any,
    cluster: str,
    service: str,
    *,
    deadline_seconds: float,
    polling: Polling = DEFAULT_POLLING,
    say: Callable[[str], None] = lambda line: None,
) -> CheckResult:
    """Wait for the newest service deployment to end; `say` each change of its progress."""
    stop_at = polling.clock() + deadline_seconds
    last = ""
    while True:
        try:
            deployment = _newest(ecs, cluster, service)
        except (ClientError, BotoCoreError) as error:
            return could_not(NAME, error, "reading the service's deployments")
        if deployment is None:
            return CheckResult(NAME, False, f"service {service} has no deployment to follow")
        line = progress_line(deployment)
        if line != last:
            say(f"  rollout: {line}")
            last = line
        status = deployment.get("status")
        if status == DONE:
            return CheckResult(NAME, True, f"release finished its bake: {line}")
        if status not in GOING:
            reason = deployment.get("statusReason") or "no reason given"
            return CheckResult(NAME, False, f"release did not finish ({status}): {reason}")
        if polling.clock() >= stop_at:
            return CheckResult(
                NAME, False, f"release still in progress after {deadline_seconds:.0f} s: {line}"
            )
        polling.wait_until(stop_at)


PAGE_SIZE = 100
"""ListServiceDeployments' largest page (maxResults 1..100)."""


def _newest(ecs: Any, cluster: str, service: str) -> dict[str, Any] | None:
    briefs: list[dict[str, Any]] = []
    more: dict[str, str] = {}
    while True:
        page = ecs.list_service_deployments(
            cluster=cluster, service=service, maxResults=PAGE_SIZE, **more
        )
        briefs += page.get("serviceDeployments") or []
        if not page.get("nextToken"):
            break
        more = {"nextToken": page["nextToken"]}
    dated = [brief for brief in briefs if brief.get("createdAt") is not None]
    if not dated:
        return None
    newest = max(dated, key=lambda brief: brief["createdAt"])
    described = ecs.describe_service_deployments(
        serviceDeploymentArns=[newest["serviceDeploymentArn"]]
    )
    found = described.get("serviceDeployments") or []
    return dict(found[0]) if found else None


def follow_rollout(
    outputs: Mapping[str, Any],
    session: boto3.Session,
    timing: VerifyTiming | None,
    say: Callable[[str], None],
) -> CheckResult | None:
    """The rollout check for a stack whose strategy shifts traffic; None for a rolling one (and
    for stacks older than the deploymentStrategy output), which the other checks judge alone."""
    strategy = outputs.get(names.DEPLOYMENT_STRATEGY)
    if timing is None or not strategy or strategy == ROLLING:
        return None
    estimate = float(outputs.get(names.ROLLOUT_SECONDS) or 0)
    say(f"following the {strategy} release (about {max(1, round(estimate / 60))} min)")
    return check_rollout(
        session.client("ecs"),
        str(outputs[names.CLUSTER_NAME]),
        str(outputs[names.SERVICE_NAME]),
        deadline_seconds=estimate + MARGIN_SECONDS,
        polling=timing.polling,
        say=say,
    )
