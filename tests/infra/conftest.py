"""Helpers: run the real program (or one component) under the offline mock engine."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from automation.errors import UsageProblem
from automation.offline import engine
from automation.offline.engine import Plan, PlannedResource
from automation.release import stack_config
from infra import resource_types as types
from infra.rollout import Rollout

ROOT = Path(__file__).resolve().parents[2]


class PlanView:
    """A plan with lookups by type and name, for readable assertions."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.outputs = plan.outputs

    def of_type(self, type_: str) -> list[PlannedResource]:
        return self.plan.of_type(type_)

    def one(self, type_: str, name: str | None = None) -> dict[str, Any]:
        return self.resource(type_, name).inputs

    def resource(self, type_: str, name: str | None = None) -> PlannedResource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, got {[r.name for r in found]}"
        return found[0]

    def types(self) -> set[str]:
        return {r.type for r in self.plan.resources}

    def container(self) -> dict[str, Any]:
        task = self.one(types.TASK_DEFINITION)
        return json.loads(task["containerDefinitions"])[0]


@pytest.fixture(scope="session")
def dev() -> PlanView:
    """The dev stack as its config file describes it (planned once per test session)."""
    return PlanView(engine.run(ROOT, "dev"))


@pytest.fixture(scope="session")
def prod() -> PlanView:
    """The prod stack as its config file describes it."""
    return PlanView(engine.run(ROOT, "prod"))


@pytest.fixture
def stack_plan(tmp_path: Path) -> Callable[..., PlanView]:
    """Plan a stack from a copy of the project whose stack file is changed by `overrides`
    (key -> value; None removes the key). Runs the real __main__.py and infra/."""

    def run(stack: str = "dev", overrides: dict[str, Any] | None = None) -> PlanView:
        project = tmp_path / f"project-{stack}"
        if not project.exists():
            project.mkdir()
            shutil.copy(ROOT / "Pulumi.yaml", project)
            shutil.copy(ROOT / "__main__.py", project)
            (project / "infra").symlink_to(ROOT / "infra")
        source = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
        config = source["config"]
        for key, value in (overrides or {}).items():
            qualified = key if ":" in key else f"alunos-api:{key}"
            if value is None:
                config.pop(qualified, None)
            else:
                config[qualified] = value
        (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(source))
        return PlanView(engine.run(project, stack))

    return run


def plan_failure(run: Callable[..., PlanView], *args: Any) -> str:
    """The one-line message a plan fails with (UsageProblem). A program failing inside an
    `apply` fails every output that waited on it, and nobody retrieves those exceptions: they
    are retrieved here, else each one logs a traceback when finalized (at exit, or during a
    later import, where CPython 3.11 turns the logging into a SystemError)."""
    with pytest.raises(UsageProblem) as failed:
        run(*args)
    message = str(failed.value)
    # Every future of the run holds the runtime's event loop: its referrers are found by a scan
    # in C, where a loop over gc.get_objects() took a fifth of these tests' time.
    for thing in gc.get_referrers(asyncio.get_event_loop()):
        if isinstance(thing, asyncio.Future) and thing.done() and not thing.cancelled():
            thing.exception()
    assert "\n" not in message
    return message


def run_component(build: Callable[[], object], config: dict[str, str] | None = None) -> PlanView:
    """Register whatever `build` creates under the mock engine and return the plan."""

    def program() -> None:
        build()

    return PlanView(
        engine.execute(
            program,
            project="alunos-api",
            stack="test",
            config={"aws:region": "us-east-2", **(config or {})},
        )
    )


def configured_rollout(stack: str = "dev", **changes: Any) -> Rollout:
    """The rollout a stack's config gives (Pulumi.yaml's defaults where the stack file sets
    none), with `changes` by field name: the one source of the defaults."""
    values = stack_config.load(ROOT, stack).project_values()
    return dataclasses.replace(
        Rollout.from_config(values.__getitem__, values.__getitem__), **changes
    )
