"""Build engine event logs for tests, shaped like what `pulumi preview --event-log` writes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

STACK = "dev"
PROJECT = "alunos-api"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}

_REPLACE_STEPS = ("create-replacement", "replace", "delete-replaced")


def fixtures_dir() -> Path:
    """Real recorded engine event logs, kept in the repository (see their README for the source)."""
    directory = Path(__file__).resolve().parents[2] / "fixtures" / "pulumi-engine-events"
    if not any(directory.glob("*.jsonl")):
        pytest.fail(f"no recorded event logs in {directory}")
    return directory


def fixture_logs() -> list[Path]:
    return sorted(fixtures_dir().glob("*.jsonl"))


def urn(type_: str, name: str, parents: Iterable[str] = ()) -> str:
    qualified = "$".join([*parents, type_])
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"


def state(
    urn_: str,
    type_: str,
    inputs: Mapping[str, Any] | None,
    outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": type_,
        "urn": urn_,
        "id": "",
        "parent": STACK_URN,
        "provider": "",
        "inputs": dict(inputs or {}),
        "outputs": dict(outputs or {}),
    }


def steps(
    op: str,
    type_: str,
    name: str,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    diffs: list[str] | None = None,
    detailed: Mapping[str, str] | None = None,
    parents: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The pre and outputs events of one resource; `replace` expands to the engine's three
    steps. Sequence numbers are assigned by `write_log`."""
    the_urn = urn(type_, name, parents)
    ops = _REPLACE_STEPS if op == "replace" else (op,)
    events = []
    for step_op in ops:
        metadata = {
            "op": step_op,
            "urn": the_urn,
            "type": type_,
            "provider": "",
            "old": None if step_op == "create" else state(the_urn, type_, old or {}),
            "new": None
            if step_op in ("delete", "delete-replaced")
            else state(the_urn, type_, new or {}),
            "diffs": diffs,
            "keys": diffs if step_op in ("create-replacement", "replace") else None,
            "detailedDiff": {
                path: {"diffKind": kind, "inputDiff": True}
                for path, kind in (detailed or {}).items()
            }
            or None,
            "logical": True,
        }
        events.append({"resourcePreEvent": {"metadata": metadata, "planning": True}})
        events.append({"resOutputsEvent": {"metadata": metadata, "planning": True}})
    return events


def stack_events(old_outputs: Mapping[str, Any], new_outputs: Mapping[str, Any]) -> list[dict]:
    """The stack resource: a pre-event (outputs not known yet) and its outputs event."""
    type_ = "pulumi:pulumi:Stack"
    before = {"op": "same", "urn": STACK_URN, "type": type_, "provider": ""}
    pre = dict(
        before, old=state(STACK_URN, type_, {}, old_outputs), new=state(STACK_URN, type_, {})
    )
    post = dict(
        before,
        old=state(STACK_URN, type_, {}, old_outputs),
        new=state(STACK_URN, type_, {}, new_outputs),
    )
    return [
        {"resourcePreEvent": {"metadata": pre, "planning": True}},
        {"resOutputsEvent": {"metadata": post, "planning": True}},
    ]


def write_log(
    path: Path,
    events: Iterable[Mapping[str, Any]],
    config: Mapping[str, str] | None = None,
    reverse: bool = False,
) -> Path:
    """A full log: prelude, the events numbered in order (written reversed if asked, as events
    finishing out of order would be), a summary and the trailing cancel event."""
    numbered = [
        {"sequence": number, "timestamp": 1_700_000_000, **event}
        for number, event in enumerate(events, start=1)
    ]
    if reverse:
        numbered.reverse()
    lines = [
        {"sequence": 0, "timestamp": 1_700_000_000, "preludeEvent": {"config": dict(config or {})}},
        *numbered,
        {"sequence": 10**6, "timestamp": 1, "summaryEvent": {"maybeCorrupt": False}},
        {"sequence": 10**6 + 1, "timestamp": 1, "cancelEvent": {}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path
