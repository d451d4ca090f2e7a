"""Run the Pulumi program under Pulumi's mock engine: no AWS account, no Pulumi CLI.

`run` returns a `Plan` (`planned.py`, re-exported here): every resource the program registers,
with its inputs, and the stack's exports. The mocks (`mocks.py`) give each resource the outputs
its real provider would; the SDK's private runtime calls this needs sit in `pulumi_internals.py`.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from automation.changes import SECRET_MASK
from automation.errors import UsageProblem
from automation.offline import pulumi_internals
from automation.offline.mocks import OfflineMocks
from automation.offline.planned import CapacityStrategy, Plan, PlannedResource
from automation.release import stack_config
from infra import resource_types as types

__all__ = ["CapacityStrategy", "Plan", "PlannedResource", "execute", "run"]


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
