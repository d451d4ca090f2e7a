"""Post-deploy verification: is the new service really serving the version we just deployed?

Public interface (also the decommission gates' building blocks). Every check returns a
`CheckResult(name, ok, detail)` and never raises for a failed check or a cloud/HTTP error
(missing or expired AWS credentials become a failed check that says so):
- `check_service_steady(ecs, cluster, service, *, waiter_config, idle=None)`
  ("ecs-service-steady"): boto3's `services_stable` waiter (one deployment, running ==
  desired), then running == desired >= 1 (a service scaled to zero is "stable" but serves
  nothing), unless `idle` says why this one may rest at 0 tasks;
- `check_targets_healthy(elbv2, target_group_arn, *, deadline_seconds=0, polling)`
  ("alb-targets-healthy"): every target not `draining` is `healthy`, and at least one is;
- `check_health(endpoint, *, client, path="/health", deadline_seconds=0, polling)` ("health"):
  `GET <endpoint><path>` answers 200, and not with the app's `"status": "starting"` or
  `"degraded"` (its database not reached, or its login refused);
- `check_version(endpoint, expected, *, client, deadline_seconds=0, polling)` ("version"):
  `GET <endpoint>/version` answers 200 with a JSON object whose `version` equals `expected`;
- `verify_deployment(outputs, expected_version, session, *, client=None, timing=None)` runs all
  four from the stack outputs (`clusterName`, `serviceName`, `targetGroupArn`, `serviceUrl`) and
  returns a `VerificationReport` (`ok`, `checks`, `failures()`, `to_json()`); with
  `serviceNames` (capacity hybrid: two services behind the target group) every one of them must
  be steady, one "ecs-service-steady" check each; one whose scalable target allows 0 tasks
  (hybrid's Fargate service, autoscalingMinCount 0: `scales_to_zero`) may be at 0 while another
  listed service runs tasks (the EC2 base service serves; bursts come and go). The health check
  asks the app's own path (`healthCheckPath`, /health for stacks older than that output); a
  prebuilt image (`imageSource` prebuilt: a team's own app) is not asked for /version, which only
  this program's builds serve: its report holds the other three checks.
An endpoint is a URL, or (`Endpoint`) the load balancer reached directly with TLS verified for
the service's own name: a stack with `domainName` is always checked that way (`from_outputs`),
never through the public name, which during the migration also answers from EC2.
With a deadline, a check looks again every `polling.interval_seconds` until it passes or the
deadline comes: right after a deploy the load balancer may need a few seconds before it routes to
the new tasks. `Polling` also carries the sleep and clock, so callers and tests control time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import boto3
import httpx
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from automation.deploy.aws_errors import boto_credentials_marker, describe
from infra import outputs as names

Sleep = Callable[[float], None]
Clock = Callable[[], float]
SessionFactory = Callable[[str], boto3.Session]
"""A boto3 session in a region: the caller's (the CLI's environment) to build, never ours."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    undecided: bool = False
    """The check could not look (its AWS call was refused or failed), which says nothing of the
    service: a deploy is then reported unverified, never rolled back for it."""

    def to_json(self) -> dict[str, Any]:
        """name, ok, detail; and `undecided` only on a check that could not look."""
        found = asdict(self)
        if not self.undecided:
            del found["undecided"]
        return found


def could_not(name: str, error: Exception, doing: str) -> CheckResult:
    """A check whose AWS call failed: failed, and undecided."""
    return CheckResult(name, False, describe(error, doing), undecided=True)


@dataclass(frozen=True, slots=True)
class VerificationReport:
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.ok]

    @property
    def undecided(self) -> bool:
        """Not ok, but only because checks could not look: nothing says the service is broken."""
        failures = self.failures()
        return bool(failures) and all(check.undecided for check in failures)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [check.to_json() for check in self.checks]}


@dataclass(frozen=True, slots=True)
class Polling:
    """How a check that waits looks again: every `interval_seconds` until its deadline."""

    interval_seconds: float = 5.0
    sleep: Sleep = field(default=time.sleep, repr=False)
    clock: Clock = field(default=time.monotonic, repr=False)

    def wait_until(self, stop_at: float) -> None:
        """Sleep one interval, or less when the deadline comes sooner."""
        self.sleep(max(0.0, min(self.interval_seconds, stop_at - self.clock())))


DEFAULT_POLLING = Polling()


@dataclass(frozen=True, slots=True)
class VerifyTiming:
    """How long verification may wait; the defaults suit a rolling Fargate deploy."""

    service_delay_seconds: int = 15
    service_max_attempts: int = 40  # 10 minutes, the waiter's own default
    targets_deadline_seconds: float = 120.0
    http_deadline_seconds: float = 120.0
    request_timeout_seconds: float = 10.0
    polling: Polling = DEFAULT_POLLING

    @classmethod
    def within(cls, seconds: float, polling: Polling = DEFAULT_POLLING) -> VerifyTiming:
        """Timing for a verification that should give up after about `seconds` per check."""
        delay = 15 if seconds >= 60 else 1
        return cls(
            service_delay_seconds=delay,
            service_max_attempts=max(1, int(seconds // delay)),
            targets_deadline_seconds=min(120.0, seconds),
            http_deadline_seconds=min(120.0, seconds),
            polling=polling,
        )


Idle = Callable[[], str | None]
"""Why a service may rest at 0 tasks now (None: it may not), asked only when it does."""


def check_service_steady(
    ecs: Any,
    cluster: str,
    service: str,
    *,
    waiter_config: Mapping[str, int] | None = None,
    idle: Idle | None = None,
) -> CheckResult:
    return _service_state(ecs, cluster, service, waiter_config, idle)[0]


def _service_state(
    ecs: Any,
    cluster: str,
    service: str,
    waiter_config: Mapping[str, int] | None,
    idle: Idle | None,
) -> tuple[CheckResult, bool]:
    """The check, and whether the service passed it at rest (0 tasks, allowed by `idle`)."""
    name = "ecs-service-steady"
    config = dict(waiter_config or {"Delay": 15, "MaxAttempts": 40})
    try:
        ecs.get_waiter("services_stable").wait(
            cluster=cluster, services=[service], WaiterConfig=config
        )
        described = ecs.describe_services(cluster=cluster, services=[service])
    except WaiterError as error:
        if boto_credentials_marker(error) is not None:
            return could_not(name, error, "describing services"), False
        return CheckResult(name, False, _unsteady_detail(service, error)), False
    except (ClientError, BotoCoreError) as error:
        return could_not(name, error, f"describing service {service}"), False
    found = described.get("services", [])
    if not found:
        return CheckResult(name, False, f"service {service} not found in cluster {cluster}"), False
    running, desired = found[0].get("runningCount", 0), found[0].get("desiredCount", 0)
    if desired < 1:
        why = idle() if idle is not None and running == 0 else None
        if why is not None:
            return CheckResult(name, True, f"service {service} at rest, 0 tasks: {why}"), True
        wants = f"service {service} wants 0 tasks: nothing serves traffic"
        return CheckResult(name, False, wants), False
    if running != desired:
        detail = f"service {service}: {running} of {desired} tasks running"
        return CheckResult(name, False, detail), False
    detail = f"service {service} steady: {running}/{desired} tasks running"
    return CheckResult(name, True, detail), False


def _unsteady_detail(service: str, error: WaiterError) -> str:
    last = error.last_response or {}
    failures = last.get("failures") or []
    if failures:
        reasons = ", ".join(str(f.get("reason")) for f in failures)
        return f"service {service} not found ({reasons})"
    services = last.get("services") or []
    if not services:
        return f"service {service} did not become steady: {error.kwargs.get('reason', error)}"
    svc = services[0]
    return (
        f"service {service} not steady ({svc.get('status')}): "
        f"{svc.get('runningCount')} of {svc.get('desiredCount')} tasks running, "
        f"{len(svc.get('deployments') or [])} deployment(s) in progress"
    )


def check_targets_healthy(
    elbv2: Any,
    target_group_arn: str | Sequence[str],
    *,
    deadline_seconds: float = 0.0,
    polling: Polling = DEFAULT_POLLING,
) -> CheckResult:
    """Targets leaving (`draining`) are ignored: they receive no new requests. Several groups
    (a canary's two, which ECS swaps at each release) count as one: the tasks are in either."""
    name = "alb-targets-healthy"
    groups = [target_group_arn] if isinstance(target_group_arn, str) else list(target_group_arn)
    stop_at = polling.clock() + deadline_seconds
    while True:
        try:
            described = [
                t
                for group in groups
                for t in elbv2.describe_target_health(TargetGroupArn=group).get(
                    "TargetHealthDescriptions", []
                )
            ]
        except (ClientError, BotoCoreError) as error:
            return could_not(name, error, "describing target health")
        serving = [t for t in described if t.get("TargetHealth", {}).get("State") != "draining"]
        bad = [t for t in serving if t.get("TargetHealth", {}).get("State") != "healthy"]
        if serving and not bad:
            return CheckResult(name, True, f"{len(serving)}/{len(serving)} targets healthy")
        if polling.clock() >= stop_at:
            if not serving:
                return CheckResult(name, False, "no targets registered in the target group")
            listed = "; ".join(_describe_target(t) for t in bad[:5])
            return CheckResult(
                name, False, f"{len(bad)} of {len(serving)} targets not healthy: {listed}"
            )
        polling.wait_until(stop_at)


def _describe_target(description: Mapping[str, Any]) -> str:
    target, health = description.get("Target", {}), description.get("TargetHealth", {})
    where = f"{target.get('Id')}:{target.get('Port')}"
    reason = health.get("Reason") or ""
    return f"{where} {health.get('State')}" + (f" ({reason})" if reason else "")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the HTTP checks go. With `host` (the service's own name), the request goes to `url`
    (the load balancer itself) with TLS verified for `host`, sent as SNI and as the Host header:
    the checks reach the new service even while the public name also answers from the EC2
    deployment, and the certificate is checked for the name it really carries (no certificate can
    name the ALB's `*.elb.amazonaws.com`)."""

    url: str
    host: str | None = None

    @classmethod
    def of(cls, target: Endpoint | str) -> Endpoint:
        return target if isinstance(target, Endpoint) else cls(target)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Endpoint:
        """The ALB with the domain's TLS when the stack has a domain, else `serviceUrl`."""
        domain, alb = outputs.get(names.DOMAIN_NAME), outputs.get(names.ALB_DNS_NAME)
        if domain and alb:
            return cls(f"https://{alb}", str(domain))
        return cls(str(outputs[names.SERVICE_URL]))

    def label(self, path: str) -> str:
        where = _join(self.url, path)
        return f"{where} (TLS and Host {self.host})" if self.host else where

    def get(self, client: httpx.Client, path: str) -> httpx.Response:
        if self.host is None:
            return client.get(_join(self.url, path))
        return client.get(
            _join(self.url, path),
            headers={"Host": self.host},
            extensions={"sni_hostname": self.host},
        )


def check_health(
    url: Endpoint | str,
    *,
    client: httpx.Client,
    path: str = "/health",
    deadline_seconds: float = 0.0,
    polling: Polling = DEFAULT_POLLING,
) -> CheckResult:
    endpoint = Endpoint.of(url)

    def judge(response: httpx.Response) -> str | None:
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        return _not_serving_data(response)

    return _poll_http("health", endpoint, path, judge, client, deadline_seconds, polling)


def _not_serving_data(response: httpx.Response) -> str | None:
    """The app answers its health check 200 while it has no database (`"status": "starting"`
    until it first connects, `"degraded"` while its login is refused), so that tasks outlive a
    database that wakes after them (a stack's schedule) or a password rotation. A release whose
    tasks never reach the database must not pass for healthy on that 200: it would never be
    rolled back. An image of the team's own, whose health body says nothing of the kind, is
    judged by its status code alone."""
    try:
        body = response.json()
    except ValueError:
        return None
    status = body.get("status") if isinstance(body, dict) else None
    if status in ("starting", "degraded"):
        return f"{status}: database {body.get('database', 'not reached')}"
    return None


def check_version(
    url: Endpoint | str,
    expected: str,
    *,
    client: httpx.Client,
    deadline_seconds: float = 0.0,
    polling: Polling = DEFAULT_POLLING,
) -> CheckResult:
    endpoint = Endpoint.of(url)

    def judge(response: httpx.Response) -> str | None:
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        try:
            body = response.json()
        except ValueError:
            return f"not JSON: {response.text[:80]!r}"
        reported = body.get("version") if isinstance(body, dict) else None
        if reported is None:
            return "the JSON has no `version` field"
        if reported != expected:
            return f"reports version {reported!r}, expected {expected!r}"
        return None

    result = _poll_http("version", endpoint, "/version", judge, client, deadline_seconds, polling)
    if result.ok:
        return CheckResult(result.name, True, f"{endpoint.label('/version')} reports {expected}")
    return result


def _poll_http(
    name: str,
    endpoint: Endpoint,
    path: str,
    judge: Callable[[httpx.Response], str | None],
    client: httpx.Client,
    deadline_seconds: float,
    polling: Polling,
) -> CheckResult:
    stop_at = polling.clock() + deadline_seconds
    attempts = 0
    while True:
        attempts += 1
        try:
            problem = judge(endpoint.get(client, path))
        except httpx.HTTPError as error:
            problem = f"{type(error).__name__}: {error}"
        if problem is None:
            return CheckResult(name, True, f"{endpoint.label(path)} OK")
        if polling.clock() >= stop_at:
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            return CheckResult(name, False, f"{endpoint.label(path)}{tries}: {problem}")
        polling.wait_until(stop_at)


def _join(url: str, path: str) -> str:
    return url.rstrip("/") + path


REQUIRED_OUTPUTS = (
    names.CLUSTER_NAME,
    names.SERVICE_NAME,
    names.TARGET_GROUP_ARN,
    names.SERVICE_URL,
)


def service_names(outputs: Mapping[str, Any]) -> list[str]:
    """Every service behind the target group: `serviceNames` (capacity hybrid has two, the EC2
    base service and the autoscaled one), else `serviceName` (stacks older than that output)."""
    listed = outputs.get(names.SERVICE_NAMES)
    if isinstance(listed, list) and listed:
        return [str(name) for name in listed]
    return [str(outputs[names.SERVICE_NAME])]


def _scalable_target(session: boto3.Session, cluster: str, service: str) -> dict[str, Any] | None:
    """The service's Application Auto Scaling target, or None (none, or it cannot be read: the
    checks that follow read the service and report what is wrong)."""
    try:
        found = session.client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="ecs",
            ResourceIds=[f"service/{cluster}/{service}"],
            ScalableDimension="ecs:service:DesiredCount",
        )["ScalableTargets"]
    except (ClientError, BotoCoreError):
        return None
    return dict(found[0]) if found else None


def scales_to_zero(session: boto3.Session, cluster: str, service: str) -> str | None:
    """Why `service` may run no task, or None: its scalable target's minimum is 0 (capacity
    hybrid's Fargate service with autoscalingMinCount 0 idles at 0 between bursts). Read live,
    not from an output, so the decommission gates, which pass only the outputs they know
    (automation/decommission/gates.py), judge it the same way."""
    target = _scalable_target(session, cluster, service)
    if target is None or target.get("MinCapacity") != 0 or not target.get("MaxCapacity"):
        return None
    return (
        f"its scalable target allows {target['MinCapacity']}..{target['MaxCapacity']} tasks "
        "(it runs only for bursts)"
    )


def asleep(outputs: Mapping[str, Any], session: boto3.Session) -> str | None:
    """Why the service cannot serve now by design, or None: a stack with a `schedule` sets its
    scalable target to 0..0 outside working hours (infra/schedule.py), and a deploy then leaves
    it at no task, with the database stopped. Nothing to verify until the schedule wakes it:
    reported apart from a failure, so a deploy at night is neither failed nor rolled back."""
    cluster, service = outputs.get(names.CLUSTER_NAME), outputs.get(names.SERVICE_NAME)
    if not cluster or not service:
        return None
    target = _scalable_target(session, str(cluster), str(service))
    if target is not None and target["MaxCapacity"] == 0:
        return (
            f"service {service} is asleep: its scalable target allows 0 tasks (the stack's "
            "schedule, outside working hours); it wakes at the schedule's start"
        )
    return None


def verify_deployment(
    outputs: Mapping[str, Any],
    expected_version: str,
    session: boto3.Session,
    *,
    client: httpx.Client | None = None,
    timing: VerifyTiming | None = None,
) -> VerificationReport:
    """Run every check against the deployment the stack outputs describe."""
    timing = timing or VerifyTiming()
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        return VerificationReport(
            (CheckResult("stack-outputs", False, f"stack outputs missing: {', '.join(missing)}"),)
        )
    url = Endpoint.from_outputs(outputs)
    own_client = client is None
    http = client or httpx.Client(timeout=timing.request_timeout_seconds)
    try:
        steady = _services_steady(outputs, session, timing)
        groups = [names.TARGET_GROUP_ARN, names.ALTERNATE_TARGET_GROUP_ARN]
        targets = check_targets_healthy(
            session.client("elbv2"),
            [str(outputs[group]) for group in groups if outputs.get(group)],
            deadline_seconds=timing.targets_deadline_seconds,
            polling=timing.polling,
        )
        health = check_health(
            url,
            client=http,
            path=str(outputs.get(names.HEALTH_CHECK_PATH) or "/health"),
            deadline_seconds=timing.http_deadline_seconds,
            polling=timing.polling,
        )
        if outputs.get(names.IMAGE_SOURCE) == names.PREBUILT:
            return VerificationReport((*steady, targets, health))
        version = check_version(
            url,
            expected_version,
            client=http,
            deadline_seconds=timing.http_deadline_seconds,
            polling=timing.polling,
        )
    finally:
        if own_client:
            http.close()
    return VerificationReport((*steady, targets, health, version))


def _services_steady(
    outputs: Mapping[str, Any], session: boto3.Session, timing: VerifyTiming
) -> tuple[CheckResult, ...]:
    """One check per service; a service may rest at 0 tasks (`scales_to_zero`) only while
    another listed one runs tasks: if every one rests, nothing serves and each fails."""
    ecs = session.client("ecs")
    cluster = str(outputs[names.CLUSTER_NAME])
    waiter = {"Delay": timing.service_delay_seconds, "MaxAttempts": timing.service_max_attempts}
    states = [
        _service_state(ecs, cluster, name, waiter, partial(scales_to_zero, session, cluster, name))
        for name in service_names(outputs)
    ]
    if not all(resting for _, resting in states):
        return tuple(result for result, _ in states)
    return tuple(
        CheckResult(
            result.name, False, f"{result.detail}; but no other service runs a task: nothing serves"
        )
        for result, _ in states
    )
