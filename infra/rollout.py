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
type, so the percentages here are whole numbers inside those ranges (`limits`). The defaults
are Pulumi.yaml's, and only there.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.validation import Limit

ROLLING = "rolling"
CANARY = "canary"
LINEAR = "linear"
BLUE_GREEN = "blue_green"
STRATEGIES = (ROLLING, CANARY, LINEAR, BLUE_GREEN)
ECS_STRATEGY = {ROLLING: "ROLLING", CANARY: "CANARY", LINEAR: "LINEAR", BLUE_GREEN: "BLUE_GREEN"}
_FROM_ECS = {ecs: ours for ours, ecs in ECS_STRATEGY.items()}

STRATEGY_KEY = "deploymentStrategy"
CANARY_PERCENT = "canaryPercent"
CANARY_MINUTES = "canaryMinutes"
LINEAR_STEP_PERCENT = "linearStepPercent"
LINEAR_STEP_MINUTES = "linearStepMinutes"
BAKE_MINUTES = "deploymentBakeMinutes"


@functools.cache
def limits() -> dict[str, Limit]:
    """Each numeric key's range. Built on first use, not at import: infra.validation raises
    pulumi.RunError, and reading a plan back (a cached plan, the PR comment) imports this module
    and must not import the Pulumi SDK (tests/automation/offline/test_cache.py)."""
    from infra.validation import Limit

    minutes = Limit(0, 1440)
    return {
        CANARY_PERCENT: Limit(1, 100),
        CANARY_MINUTES: minutes,
        LINEAR_STEP_PERCENT: Limit(3, 100),
        LINEAR_STEP_MINUTES: minutes,
        BAKE_MINUTES: minutes,
    }


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
    """The strategy and its parameters, as the stack's config sets them (no defaults here:
    Pulumi.yaml's apply, `from_config`)."""

    strategy: str
    canary_percent: int
    canary_minutes: int
    linear_step_percent: int
    linear_step_minutes: int
    bake_minutes: int

    @classmethod
    def from_config(cls, string: Callable[[str], str], integer: Callable[[str], int]) -> Rollout:
        """Read from config keys by name (the settings' reader, or a test's values)."""
        return cls(
            strategy=string(STRATEGY_KEY),
            canary_percent=integer(CANARY_PERCENT),
            canary_minutes=integer(CANARY_MINUTES),
            linear_step_percent=integer(LINEAR_STEP_PERCENT),
            linear_step_minutes=integer(LINEAR_STEP_MINUTES),
            bake_minutes=integer(BAKE_MINUTES),
        )

    @property
    def numbers(self) -> dict[str, int]:
        """Each numeric parameter by its config key."""
        return {
            CANARY_PERCENT: self.canary_percent,
            CANARY_MINUTES: self.canary_minutes,
            LINEAR_STEP_PERCENT: self.linear_step_percent,
            LINEAR_STEP_MINUTES: self.linear_step_minutes,
            BAKE_MINUTES: self.bake_minutes,
        }

    def validate(self, key: Any = lambda name: name) -> None:
        """`key` qualifies a config key's name for the message (project:key)."""
        # Imported here, not at the top: see `limits`.
        from infra import validation as v

        v.one_of(key(STRATEGY_KEY), self.strategy, STRATEGIES)
        for name, value in self.numbers.items():
            limits()[name].check(key(name), value)

    @property
    def shifts_traffic(self) -> bool:
        """ECS moves listener-rule weights itself: an alternate target group, the rules and the
        infrastructure role are needed."""
        return self.strategy != ROLLING

    @property
    def first_shift(self) -> tuple[str, int] | None:
        """The key and share (%) of production requests the new tasks take first, before the
        alarms can judge them; None for rolling, where ECS moves no traffic."""
        if self.strategy == CANARY:
            return CANARY_PERCENT, self.canary_percent
        if self.strategy == LINEAR:
            return LINEAR_STEP_PERCENT, self.linear_step_percent
        if self.strategy == BLUE_GREEN:
            return STRATEGY_KEY, 100
        return None

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
    previews carry them) configure; no deploymentConfiguration is ECS's default, ROLLING. The
    service carries only its own strategy's parameters (infra/service.py's
    deployment_configuration): the others read 0."""
    config = inputs.get("deploymentConfiguration") or {}
    strategy = _FROM_ECS.get(str(config.get("strategy") or "ROLLING"), ROLLING)
    canary = config.get("canaryConfiguration") or {}
    linear = config.get("linearConfiguration") or {}
    return Rollout(
        strategy=strategy,
        canary_percent=_number(canary.get("canaryPercent")),
        canary_minutes=_number(canary.get("canaryBakeTimeInMinutes")),
        linear_step_percent=_number(linear.get("stepPercent")),
        linear_step_minutes=_number(linear.get("stepBakeTimeInMinutes")),
        bake_minutes=_number(config.get("bakeTimeInMinutes")),
    )


def _number(value: Any) -> int:
    """The provider carries the minutes as strings and the percentages as floats; absent: 0."""
    try:
        return round(float(value))
    except (TypeError, ValueError):
        return 0


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
