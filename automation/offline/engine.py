"""Run the Pulumi program under Pulumi's mock engine: no AWS account, no Pulumi CLI.

`run` returns a `Plan`: every resource the program registers, with its inputs, and the stack's
exports. The mocks (`mocks.py`) give each resource the outputs its real provider would; the SDK's
private runtime calls this needs sit in `pulumi_internals.py`. The plan's query methods answer
what its readers (cost, diagram, plan table, tests) ask of it, each in one place: which resource
of a type, which one belongs with another, a service's capacity provider strategy and task counts.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from automation.changes import SECRET_MASK, Change, ChangeSet, Operation
from automation.errors import UsageProblem
from automation.offline import pulumi_internals
from automation.offline.mocks import OfflineMocks
from automation.release import stack_config
from infra import resource_types as types

FARGATE = "FARGATE"
FARGATE_SPOT = "FARGATE_SPOT"
ALL_ON_DEMAND = ({"capacityProvider": FARGATE, "weight": 1},)
"""What a service without a strategy (its own or its cluster's) runs on: its launch type."""


def _clean(value: Any) -> Any:
    """Inputs as a reader expects them: secrets masked (they never leave the mock engine in
    clear), and integers back from the wire's doubles."""
    if rpc.is_rpc_secret(value):
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping what a plan shows: parent, kind, inputs, exports."""

    def __init__(self, mocks: pulumi.runtime.Mocks, plan: Plan) -> None:
        super().__init__(mocks)
        self.plan = plan

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != types.STACK:
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.plan.resources.append(
                PlannedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=_clean(dict(inputs)),
                    protect=bool(request.protect),
                    ignore_changes=tuple(request.ignoreChanges),
                    replace_on_changes=tuple(request.replaceOnChanges),
                    dependencies=tuple(sorted(request.dependencies)),
                )
            )
        return response


@contextmanager
def _program_path(project_dir: Path) -> Iterator[None]:
    """Import the program's own `infra` package, even when another copy was imported before."""
    stale = [name for name in sys.modules if name == "infra" or name.startswith("infra.")]
    saved = {name: sys.modules.pop(name) for name in stale}
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        sys.path.remove(str(project_dir))
        for name in [n for n in sys.modules if n == "infra" or n.startswith("infra.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def execute(
    program: Callable[[], None],
    *,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: Sequence[str] = (),
) -> Plan:
    """Run `program` under the mock engine with `config` (engine form: strings) and record it."""
    pulumi_internals.ensure_event_loop()
    plan = Plan(stack=stack)
    mocks = OfflineMocks(region=config.get("aws:region") or "us-east-2")
    monitor = _RecordingMonitor(mocks, plan)
    # set_mocks makes a root stack only when none is left from a previous run in this process;
    # without this, a second run's resources would hang under the first run's stack, with its
    # exports too.
    pulumi.runtime.reset_options(project=project, stack=stack)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    pulumi_internals.run_program(program)
    plan.outputs = pulumi_internals.wait(_resolve_exports())
    # Registration order depends on the event loop; a plan (and a plan diff) must not.
    plan.resources.sort(key=lambda resource: resource.urn)
    return plan


def run(project_dir: Path, stack: str, overrides: Mapping[str, Any] | None = None) -> Plan:
    """Run `__main__.py` of `project_dir` with `stack`'s config under the mock engine;
    `overrides` (short key -> value) change the config for this run only (what-ifs such as
    `automation cost --compare-capacity`)."""
    config = stack_config.load(project_dir, stack)
    for key, value in (overrides or {}).items():
        config.values[f"{config.project}:{key}"] = value
    program = project_dir / "__main__.py"
    if not program.exists():
        raise UsageProblem(f"{program} does not exist: --project-dir must hold the program")

    def run_program() -> None:
        runpy.run_path(str(program), run_name="__main__")

    with _program_path(project_dir):
        try:
            return execute(
                run_program,
                project=config.project,
                stack=stack,
                config=config.as_engine_config(),
                secret_keys=config.secret_keys,
            )
        except pulumi.RunError as error:
            raise UsageProblem(f"stack {stack}: {error}") from None


async def _resolve_exports() -> dict[str, Any]:
    """Stack exports as plain values; secret ones masked."""
    root = pulumi.runtime.get_root_resource()
    exports: dict[str, Any] = getattr(root, "outputs", {}) or {}
    resolved: dict[str, Any] = {}
    for name, value in exports.items():
        output = pulumi.Output.from_input(value)
        secret = await output.is_secret()
        resolved[name] = SECRET_MASK if secret else await output.future()
    return resolved
