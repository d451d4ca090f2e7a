"""The offline plan as data: every resource the program registers, with its inputs, and the
stack's exports, plus the queries its readers (cost, diagram, checks, plan table) ask of it.

Apart from `engine.py` (which imports the Pulumi SDK to make one), so that a plan read back from
the cache (`cache.py`), and everything computed from it, never loads the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automation.changes import Change, ChangeSet, Operation
from infra import resource_types as types

FARGATE = "FARGATE"
FARGATE_SPOT = "FARGATE_SPOT"
ALL_ON_DEMAND = ({"capacityProvider": FARGATE, "weight": 1},)
"""What a service without a strategy (its own or its cluster's) runs on: its launch type."""


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    """URNs the engine waits for before creating or updating this one (depends_on and inputs)."""


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def first(self, type_: str) -> PlannedResource | None:
        return next((r for r in self.resources if r.type == type_), None)

    def companion(self, resource: PlannedResource, type_: str) -> PlannedResource | None:
        """The resource of `type_` that belongs with `resource`: from the same component (the
        program's components hold one of each), or the only one in the plan."""
        candidates = self.of_type(type_)
        component = _component_name(resource.parent)
        same = [c for c in candidates if _component_name(c.parent) == component]
        if len(same) == 1:
            return same[0]
        return candidates[0] if len(candidates) == 1 else None

    def service_task(self, service: PlannedResource) -> PlannedResource | None:
        """The task definition a service runs: by the family in its ARN, else its companion."""
        arn = str(service.inputs.get("taskDefinition") or "")
        for task in self.of_type(types.TASK_DEFINITION):
            family = task.inputs.get("family")
            if family and f":task-definition/{family}:" in arn:
                return task
        return self.companion(service, types.TASK_DEFINITION)

    def task_counts(self, service: PlannedResource) -> tuple[int, int]:
        """The service's task count at its autoscaler's min (the baseline) and max; its desired
        count at both without one."""
        targets = [
            target
            for target in self.of_type(types.SCALABLE_TARGET)
            if target.inputs.get("scalableDimension") == "ecs:service:DesiredCount"
        ]
        component = _component_name(service.parent)
        target = next((t for t in targets if _component_name(t.parent) == component), None)
        if target is None and len(targets) == 1:
            target = targets[0]
        if target is not None:
            return int(target.inputs["minCapacity"]), int(target.inputs["maxCapacity"])
        desired = int(service.inputs.get("desiredCount") or 0)
        return desired, desired

    def service_strategy(self, service: PlannedResource) -> CapacityStrategy:
        """The service's capacity provider strategy, else its cluster's default, else its launch
        type (FARGATE: all on-demand)."""
        own = service.inputs.get("capacityProviderStrategies") or []
        providers = None if own else self.companion(service, types.CAPACITY_PROVIDERS)
        default = (
            (providers.inputs.get("defaultCapacityProviderStrategies") or []) if providers else []
        )
        return CapacityStrategy(tuple(own or default or ALL_ON_DEMAND))

    def change_set(self, version: str | None = None) -> ChangeSet:
        """The plan as a change set: everything it declares would be created."""
        changes = [
            Change(
                urn=r.urn,
                type=r.type,
                name=r.name,
                operation=Operation.CREATE,
                properties=r.inputs,
                parent_urn=r.parent or None,
            )
            for r in self.resources
        ]
        return ChangeSet(stack=self.stack, changes=changes, version=version, offline=True)


@dataclass(frozen=True)
class CapacityStrategy:
    """A capacity provider strategy read as ECS places tasks: each provider's `base` first, then
    the rest by `weight`; FARGATE_SPOT is Spot, any other provider on-demand."""

    items: tuple[Mapping[str, Any], ...]

    def split(self, count: int) -> tuple[float, float]:
        """(on-demand, Spot) tasks out of `count` (an average: ECS rounds per task)."""
        on_demand = spot = 0.0
        remaining = float(count)
        for item in self.items:
            base = min(float(item.get("base") or 0), remaining)
            remaining -= base
            if _is_spot(item):
                spot += base
            else:
                on_demand += base
        weights = sum(float(item.get("weight") or 0) for item in self.items)
        if remaining and weights:
            for item in self.items:
                share = remaining * float(item.get("weight") or 0) / weights
                if _is_spot(item):
                    spot += share
                else:
                    on_demand += share
        return on_demand, spot

    @property
    def on_demand_base(self) -> int:
        """Tasks that run on-demand before any weight applies."""
        return sum(int(item.get("base") or 0) for item in self.items if not _is_spot(item))

    @property
    def spot_share(self) -> float:
        """Spot's share of the weights: of the tasks above the bases, the part on Spot."""
        weights = sum(float(item.get("weight") or 0) for item in self.items)
        spot = sum(float(item.get("weight") or 0) for item in self.items if _is_spot(item))
        return spot / weights if weights else 0.0


def _is_spot(item: Mapping[str, Any]) -> bool:
    return item.get("capacityProvider") == FARGATE_SPOT


def _component_name(parent_urn: str) -> str:
    return parent_urn.split("::")[-1] if parent_urn else ""
