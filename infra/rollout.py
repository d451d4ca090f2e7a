"""How a release reaches the tasks: the `deploymentStrategy` config key and its parameters, and
how long a rollout takes at those settings.

Plain values only (no resources): the settings validate it, the service and the deployment
strategy component build from it, and the preview, the PR comment and the deploy check read it
back from the service's inputs (`from_service_inputs`), so all of them say the same thing.

ECS's own strategies (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/canary-deployment.html):
- rolling: new tasks replace old ones (min 100 %, max 200 %), each gets traffic once healthy;
- canary: all new tasks start, `canary_percent` of production traffic goes to them for
  `canary_minutes`, then all of it; the old tasks stay for `bake_minutes` to roll back to;
- linear: traffic moves in steps of `linear_step_percent`, `linear_step_minutes` apart, then
  the same bake;
- blue_green: all traffic moves at once to the new tasks, then the bake.
Ranges: canaryPercent 0.1..100 and stepPercent 3..100, both in steps of 0.1; canary, step and
bake times 0..1440 minutes (API_CanaryConfiguration, API_LinearConfiguration and
API_DeploymentConfiguration in the ECS API reference). Pulumi's config schema has no decimal
type, so the percentages here are whole numbers inside those ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROLLING = "rolling"
CANARY = "canary"
LINEAR = "linear"
BLUE_GREEN = "blue_green"
STRATEGIES = (ROLLING, CANARY, LINEAR, BLUE_GREEN)
ECS_STRATEGY = {ROLLING: "ROLLING", CANARY: "CANARY", LINEAR: "LINEAR", BLUE_GREEN: "BLUE_GREEN"}
_FROM_ECS = {ecs: ours for ours, ecs in ECS_STRATEGY.items()}

CANARY_PERCENT = (1, 100)
LINEAR_STEP_PERCENT = (3, 100)
MINUTES = (0, 1440)

TASK_START_SECONDS = 60
"""What a rollout estimate allows for a Fargate task to pull its image and start, before the
load balancer's checks begin: an allowance, not an AWS figure (bench/cold_start.py measures the
app's own start at about 2 s; the image pull dominates)."""


@dataclass(frozen=True)
class TargetTiming:
    """The load balancer settings a rollout waits on (infra/load_balancer.py)."""

    health_check_interval: int
    healthy_threshold: int
    deregistration_delay: int

    @property
    def ready_seconds(self) -> int:
        """A new task's start and its first passing checks."""
        return TASK_START_SECONDS + self.health_check_interval * self.healthy_threshold


@dataclass(frozen=True)
class Rollout:
    strategy: str = ROLLING
    canary_percent: int = 10
    canary_minutes: int = 10
    linear_step_percent: int = 20
    linear_step_minutes: int = 5
    bake_minutes: int = 10

    def validate(self, key: Any = lambda name: name) -> None:
        """`key` qualifies a config key's name for the message (project:key)."""
        # Imported here, not at the top: infra.validation raises pulumi.RunError, and reading a
        # plan back (a cached plan, the PR comment) must not import the Pulumi SDK.
        from infra import validation as v

        v.one_of(key("deploymentStrategy"), self.strategy, STRATEGIES)
        v.in_range(key("canaryPercent"), self.canary_percent, *CANARY_PERCENT)
        v.in_range(key("linearStepPercent"), self.linear_step_percent, *LINEAR_STEP_PERCENT)
        for name, minutes in (
            ("canaryMinutes", self.canary_minutes),
            ("linearStepMinutes", self.linear_step_minutes),
            ("deploymentBakeMinutes", self.bake_minutes),
        ):
            v.in_range(key(name), minutes, *MINUTES)

    @property
    def shifts_traffic(self) -> bool:
        """ECS moves listener-rule weights itself: an alternate target group, the rules and the
        infrastructure role are needed."""
        return self.strategy != ROLLING

    @property
    def linear_steps(self) -> int:
        return math.ceil(100 / self.linear_step_percent)

    @property
    def traffic_minutes(self) -> int:
        """From the first shift of production traffic to the end of the bake. AWS: the linear
        step time "is not applied after reaching 100 percent traffic" (API_LinearConfiguration),
        so n steps wait n - 1 times."""
        if self.strategy == CANARY:
            return self.canary_minutes + self.bake_minutes
        if self.strategy == LINEAR:
            return (self.linear_steps - 1) * self.linear_step_minutes + self.bake_minutes
        if self.strategy == BLUE_GREEN:
            return self.bake_minutes
        return 0

    def seconds(self, timing: TargetTiming | None) -> int:
        """The whole rollout, estimated: the new tasks ready, the traffic moved and baked, the
        old tasks drained (without `timing`, the traffic part alone)."""
        if timing is None:
            return self.traffic_minutes * 60
        return timing.ready_seconds + self.traffic_minutes * 60 + timing.deregistration_delay

    def describe(self) -> str:
        if self.strategy == CANARY:
            return (
                f"canary: {self.canary_percent}% of requests to the new tasks for "
                f"{self.canary_minutes} min, then all; {self.bake_minutes} min bake"
            )
        if self.strategy == LINEAR:
            return (
                f"linear: {self.linear_steps} steps of {self.linear_step_percent}% every "
                f"{self.linear_step_minutes} min; {self.bake_minutes} min bake"
            )
        if self.strategy == BLUE_GREEN:
            return f"blue/green: all requests at once; {self.bake_minutes} min bake"
        return "rolling: each new task takes requests once healthy, replacing an old one"


def duration(seconds: int) -> str:
    """About how long, as a person says it: 95 -> 'about 2 min'."""
    return f"about {max(1, round(seconds / 60))} min"


def from_service_inputs(inputs: Mapping[str, Any]) -> Rollout:
    """The rollout an `aws:ecs/service:Service`'s inputs (camelCase, as the engine and the
    previews carry them) configure; no deploymentConfiguration is ECS's default, ROLLING."""
    config = inputs.get("deploymentConfiguration") or {}
    strategy = _FROM_ECS.get(str(config.get("strategy") or "ROLLING"), ROLLING)
    canary = config.get("canaryConfiguration") or {}
    linear = config.get("linearConfiguration") or {}
    default = Rollout()
    return Rollout(
        strategy=strategy,
        canary_percent=_number(canary.get("canaryPercent"), default.canary_percent),
        canary_minutes=_number(canary.get("canaryBakeTimeInMinutes"), default.canary_minutes),
        linear_step_percent=_number(linear.get("stepPercent"), default.linear_step_percent),
        linear_step_minutes=_number(
            linear.get("stepBakeTimeInMinutes"), default.linear_step_minutes
        ),
        bake_minutes=_number(config.get("bakeTimeInMinutes"), 0),
    )


def _number(value: Any, default: int) -> int:
    """The provider carries the minutes as strings and the percentages as floats."""
    try:
        return round(float(value))
    except (TypeError, ValueError):
        return default


def timing_from_target_group(inputs: Mapping[str, Any]) -> TargetTiming | None:
    """The timing an `aws:lb/targetGroup:TargetGroup`'s inputs configure, when they say."""
    check = inputs.get("healthCheck") or {}
    try:
        return TargetTiming(
            health_check_interval=int(check["interval"]),
            healthy_threshold=int(check["healthyThreshold"]),
            deregistration_delay=int(inputs["deregistrationDelay"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
