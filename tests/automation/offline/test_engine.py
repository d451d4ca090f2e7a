"""The offline engine run after run in one process (as the tests and `plan --diff-against` do):
each plan holds its own program's resources and exports, and nothing else."""

from __future__ import annotations

import asyncio

import pulumi
import pytest

from automation.offline import engine


def _first() -> None:
    pulumi.CustomResource("test:index:Thing", "a", {"size": 1})
    pulumi.export("answer", 42)
    pulumi.export("token", pulumi.Output.secret("s3cret"))


def _unmocked_data_source() -> None:
    pulumi.CustomResource("test:index:Thing", "x", {"size": 1})
    pulumi.runtime.invoke("aws:index/getNothing:getNothing", {})


def _second() -> None:
    pulumi.CustomResource("test:index:Thing", "b", {"size": 2})
    pulumi.export("other", "x")


def test_each_run_starts_clean() -> None:
    first = engine.execute(_first, project="p", stack="one", config={})
    assert [(r.name, r.inputs) for r in first.resources] == [("a", {"size": 1})]
    assert first.outputs == {"answer": 42, "token": "[secret]"}

    with pytest.raises(NotImplementedError, match=r"no mock for the data source aws:index/getNo"):
        engine.execute(_unmocked_data_source, project="p", stack="one", config={})
    asyncio.run(asyncio.sleep(0))  # closes and clears this thread's event loop

    second = engine.execute(_second, project="q", stack="two", config={})
    (thing,) = second.resources
    assert thing.name == "b"
    assert thing.parent == "urn:pulumi:two::q::pulumi:pulumi:Stack::q-two"
    assert second.outputs == {"other": "x"}


def test_a_type_without_a_mock_echoes_its_inputs_with_a_name() -> None:
    def program() -> None:
        thing = pulumi.CustomResource("test:index:Thing", "c", {"size": 3, "name": None})
        pulumi.export("name", thing.name)  # type: ignore[attr-defined]

    planned = engine.execute(program, project="p", stack="s", config={})
    assert planned.outputs["name"].startswith("c-")
