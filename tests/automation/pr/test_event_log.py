"""The fast event log reader reads what the plain one reads, object for object, error for error.

The plain reader is `EventLog(path, fast=False)`: every line through `json.loads`, the garbage
collector running. The fast one (`load_change_set`'s) must give the same change set, or the same
error message, on every recorded log and on generated ones, well-formed or not.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.errors import UsageProblem
from automation.pr.event_log import EventLog, MalformedEvent, fast_loads
from automation.pr.events import UNKNOWN, change_set_from_json, load_change_set
from tests.automation.pr.engine_events import (
    SECRET_SIG,
    fixture_logs,
    stack_events,
    steps,
    write_log,
)

FIXTURES = fixture_logs()
SIGNATURE = "4dabf18193072939515e22adb298388d"
STEP_EVENTS = ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent")


def stack_of(log: Path) -> str:
    found = re.search(r'"urn:pulumi:([^:]+)::', log.read_text(encoding="utf-8"))
    assert found, log
    return found.group(1)


def outcome(read: Callable[[], Any]) -> str:
    """What a reader gives, exactly: the repr of its result (it tells 1 from 1.0 and True, and
    shows key order), or its error message."""
    try:
        return repr(read())
    except UsageProblem as problem:
        return f"{type(problem).__name__}: {problem}"


def fast_fold(log: Path, stack: str) -> str:
    return outcome(lambda: load_change_set(log, stack))


def plain_fold(log: Path, stack: str) -> str:
    def read() -> Any:
        with EventLog(log, fast=False) as events:
            return change_set_from_json(events, stack)

    return outcome(read)


def fold_of_json_loads(log: Path, stack: str) -> str:
    """The fold written out with no reader at all (for logs that are well-formed)."""
    with log.open(encoding="utf-8") as lines:
        events = [json.loads(line) for line in lines if not line.isspace()]
    return outcome(lambda: change_set_from_json(events, stack))


@pytest.mark.parametrize("log", FIXTURES, ids=lambda path: path.name)
def test_every_recorded_log_reads_the_same_fast_and_plain(log: Path):
    stack = stack_of(log)
    fast = fast_fold(log, stack)
    assert fast.startswith("ChangeSet(")
    assert fast == plain_fold(log, stack) == fold_of_json_loads(log, stack)
    assert repr(list(EventLog(log))) == repr(list(EventLog(log, fast=False)))


# --- Generated logs.

KEYS = st.sampled_from(
    ["name", "tags", "value", "password", "dbPassword", "apiToken", "url", "__defaults", "__meta"]
) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    # Integers at the edges of what orjson reads as integers (below -2**63, from 2**64 on it
    # reads a float), and floats written with many digits.
    | st.sampled_from([-(2**63), -(2**63) - 1, 2**63 - 1, 2**64 - 1, 2**64, 10**30, 1e20, 0.1])
    | st.sampled_from([UNKNOWN, "postgres://app:pw@db:5432/alunos", "[secret]"])
)
SIGNED = st.sampled_from(
    [
        {**SECRET_SIG, "value": "hunter2"},
        {**SECRET_SIG, "ciphertext": "c1"},
        {SIGNATURE: "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:pulumi:dev::p::t::r"},
        {SIGNATURE: "c44067f5952c0a294b673a41bacd8c17", "path": "a.txt"},
        {SIGNATURE: "d0e6a833031e9bbcd3f4e8bde6ca49a4", "value": "v"},
        {SIGNATURE: "d0e6a833031e9bbcd3f4e8bde6ca49a4", "value": "v", "secret": True},
    ]
)
VALUES = st.recursive(
    SCALARS | SIGNED,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=8,
)
PROPERTIES = st.dictionaries(KEYS, VALUES, max_size=4)
OPS = ["create", "update", "replace", "delete", "same", "read", "import"]
TYPES = ["aws:ecs/service:Service", "aws:iam/role:Role", "aws:rds/instance:Instance"]
RESOURCES = st.lists(
    st.tuples(
        st.sampled_from(OPS),
        st.sampled_from(TYPES),
        PROPERTIES,
        PROPERTIES,
        st.none() | st.lists(st.sampled_from(["name", "tags", "password", "a.b", "x[0]"])),
    ),
    max_size=5,
)
FORMATS: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "separators": st.sampled_from([(",", ":"), (", ", ": ")]),  # the engine's, Python's
        "sort_keys": st.booleans(),
        "ensure_ascii": st.booleans(),
    }
)


@st.composite
def event_logs(draw: st.DrawFn) -> list[str]:
    """The lines of a log: a prelude, the stack and some resources, in any order and format."""
    events = [*stack_events(draw(PROPERTIES), draw(PROPERTIES))]
    for index, (op, type_, old, new, diffs) in enumerate(draw(RESOURCES)):
        events += steps(op, type_, f"r{index}", old=old, new=new, diffs=diffs)
    numbered = [{"sequence": n, "timestamp": 1, **event} for n, event in enumerate(events, 1)]
    config = {"alunos-api:version": draw(st.sampled_from(["1.2.3", ""]))}
    lines = [
        {"sequence": 0, "timestamp": 1, "preludeEvent": {"config": config}},
        *draw(st.permutations(numbered)),
        {"sequence": len(events) + 1, "timestamp": 1, "cancelEvent": {}},
    ]
    text_format = draw(FORMATS)
    written = [
        json.dumps(
            line,
            separators=text_format["separators"],
            sort_keys=text_format["sort_keys"],
            ensure_ascii=text_format["ensure_ascii"],
        )
        + "\n"
        for line in lines
    ]
    for index in draw(st.lists(st.integers(0, len(written)), max_size=2)):
        written.insert(index, draw(st.sampled_from(["\n", "  \n", "\t\n"])))
    return written


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


GENERATED = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@GENERATED
@given(lines=event_logs())
def test_generated_logs_read_the_same_fast_and_plain(tmp_path: Path, lines: list[str]):
    log = write(tmp_path / "events.jsonl", lines)
    fast = fast_fold(log, "dev")
    assert fast.startswith("ChangeSet(")
    assert fast == plain_fold(log, "dev") == fold_of_json_loads(log, "dev")


# A step's field given a value the engine never writes: (path under the metadata, value).
FIELD_BREAKS = st.sampled_from(
    [
        (("type",), 5),
        (("urn",), 7),
        (("urn",), "nope"),
        (("op",), "explode"),
        (("diffs",), 5),
        (("keys",), ["a", 1]),
        (("detailedDiff",), {"a": {"diffKind": "sideways"}}),
        (("old",), "x"),
        (("new", "inputs"), [1]),
        (("new", "parent"), 3),
    ]
)


def broken(event: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    kind = next((kind for kind in STEP_EVENTS if kind in event), None)
    target = event[kind]["metadata"] if kind else event
    *parents, last = path
    for key in parents:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[last] = value
    return event


BAD_LINES = st.sampled_from(
    ["[1, 2]", '"text"', "7", "null", "{not json", "{}}", '{"a": NaN', '{"a": "\\ud800"}}']
)


@st.composite
def broken_logs(draw: st.DrawFn) -> list[str]:
    """A generated log with one line broken: cut short, a character changed, replaced, or a
    step's field given a value the engine never writes."""
    lines = draw(event_logs())
    index = draw(st.integers(0, len(lines) - 1))
    line = lines[index]
    where = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["cut", "character", "line", "field"]))
    if how == "cut":
        lines[index] = line[:where]
    elif how == "character":
        lines[index] = line[:where] + draw(st.sampled_from('"{}[],:\\ x0-')) + line[where + 1 :]
    elif how == "line":
        lines[index] = draw(BAD_LINES) + "\n"
    elif not line.isspace():
        lines[index] = json.dumps(broken(json.loads(line), *draw(FIELD_BREAKS))) + "\n"
    return lines


@GENERATED
@given(lines=broken_logs())
def test_broken_logs_fail_the_same_fast_and_plain(tmp_path: Path, lines: list[str]):
    log = write(tmp_path / "events.jsonl", lines)
    assert fast_fold(log, "dev") == plain_fold(log, "dev")


# --- The decoder.

NUMBER = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)
JSON_TEXTS = (
    st.builds(json.dumps, VALUES, ensure_ascii=st.booleans())
    | NUMBER
    | NUMBER.map(lambda number: f'{{"v": [{number}]}}')
    | st.text(alphabet='{}[]":,\\ 0123456789.eE+-truefalsnNIy\ud800', max_size=20)
    | st.text(max_size=20)
)


def decoded(loads: Callable[[str], Any], text: str) -> str:
    try:
        return repr(loads(text))
    except json.JSONDecodeError as error:
        return f"error: {error.msg} at column {error.colno}"


@settings(max_examples=500, deadline=None)
@given(text=JSON_TEXTS)
def test_fast_loads_reads_what_json_loads_reads(text: str):
    assert decoded(fast_loads, text) == decoded(json.loads, text)


@pytest.mark.parametrize(
    "number", [-(2**63), -(2**63) - 1, 2**63 - 1, 2**64 - 1, 2**64, 10**30, -(10**19)]
)
def test_integers_orjson_reads_as_floats_are_read_exactly(tmp_path: Path, number: int):
    """orjson reads an integer below -2**63 or from 2**64 on as a float: such a line goes to
    `json.loads` (a change from one such integer to the next is still a change)."""
    log = write_log(
        tmp_path / "e.jsonl",
        steps("update", "aws:s3/bucket:Bucket", "b", old={"n": number}, new={"n": number + 1}),
    )
    (change,) = load_change_set(log, "dev").changes
    assert (change.changed, repr(change.properties["n"])) == (("n",), repr(number + 1))


def test_a_repeated_step_with_a_field_of_the_wrong_type_is_an_error(tmp_path: Path):
    """The second report of a step only counts for its sequence number, but it is still read
    and checked: a broken one fails as the first would."""
    log = write_log(tmp_path / "e.jsonl", steps("create", "aws:s3/bucket:Bucket", "b"))
    lines = log.read_text().splitlines(keepends=True)
    assert '"resOutputsEvent"' in lines[2]
    lines[2] = lines[2].replace('"type": "aws:s3/bucket:Bucket"', '"type": 5', 1)
    log.write_text("".join(lines))
    with pytest.raises(MalformedEvent, match=re.escape(f"{log}:3: not a valid engine event")):
        load_change_set(log, "dev")


def test_a_log_that_is_not_utf8_is_named_at_its_line_and_byte(tmp_path: Path):
    """The text reader decodes ahead in chunks of kilobytes: the line it is at is not the one
    with the bad byte."""
    prelude = b'{"sequence": 0, "timestamp": 1, "preludeEvent": {"config": {}}}\n'
    log = tmp_path / "latin1.jsonl"
    log.write_bytes(prelude * 500 + '{"name": "S\u00e3o"}\n'.encode("latin-1") + prelude)
    with pytest.raises(UsageProblem, match=r"is not UTF-8 text \(line 501, byte 12\)"):
        load_change_set(log, "dev")


# --- The garbage collector.


def test_the_collector_is_paused_only_while_a_log_is_read(tmp_path: Path):
    log = write_log(tmp_path / "e.jsonl", steps("create", "aws:s3/bucket:Bucket", "b"))
    with EventLog(log) as events:
        seen = [gc.isenabled() for _event in events]
        assert len(seen) == 5
        assert not any(seen)
    assert gc.isenabled()
    with EventLog(log, fast=False) as events:
        assert all(gc.isenabled() for _event in events)
    bad = write(tmp_path / "bad.jsonl", ['{"sequence": 1, "resourcePreEvent": "oops"}\n'])
    with pytest.raises(MalformedEvent, match=re.escape(f"{bad}:1: not a valid engine event")):
        load_change_set(bad, "dev")
    assert gc.isenabled()
    gc.disable()
    try:
        load_change_set(log, "dev")
        assert not gc.isenabled()  # paused by someone else: left paused
    finally:
        gc.enable()


# --- Formats the engine does not write, read all the same.


def test_a_log_the_fast_path_cannot_read_gives_the_same_change_set(tmp_path: Path):
    """Lines whose fields come in another order (or after blanks) are decoded in full."""
    events = [
        *stack_events({"serviceUrl": "http://old"}, {"serviceUrl": "http://new"}),
        *steps("update", "aws:ecs/service:Service", "api", old={"n": 1}, new={"n": 2}),
        *steps(
            "replace",
            "aws:rds/instance:Instance",
            "db",
            old={"engineVersion": "15"},
            new={"engineVersion": "16"},
            diffs=["engineVersion"],
        ),
    ]
    engine_order = write_log(tmp_path / "a.jsonl", events, reverse=True)
    sorted_keys = tmp_path / "b.jsonl"
    sorted_keys.write_text(
        "".join(
            "  " + json.dumps(json.loads(line), sort_keys=True) + "\n"
            for line in engine_order.read_text().splitlines()
        )
    )
    assert load_change_set(engine_order, "dev") == load_change_set(sorted_keys, "dev")


def test_a_repeated_step_cut_off_mid_line_is_still_an_error(tmp_path: Path):
    log = write_log(tmp_path / "e.jsonl", steps("create", "aws:s3/bucket:Bucket", "b"))
    lines = log.read_text().splitlines(keepends=True)
    assert '"resOutputsEvent"' in lines[2]
    lines[2] = lines[2][: len(lines[2]) // 2]  # the outputs event, repeating the pre event
    log.write_text("".join(lines[:3]))
    with pytest.raises(UsageProblem, match=re.escape(f"{log}:3: not a JSON engine event")):
        load_change_set(log, "dev")


def test_json_only_the_standard_decoder_reads_still_reads_the_same(tmp_path: Path):
    """NaN, integers beyond 64 bits and lone surrogates: valid for Python's decoder."""
    log = write_log(
        tmp_path / "e.jsonl",
        steps("create", "aws:s3/bucket:Bucket", "b", new={"ratio": 0.5, "big": 1, "name": "x"}),
    )
    text = log.read_text()
    text = text.replace('"ratio": 0.5', '"ratio": NaN').replace('"big": 1', f'"big": {10**30}')
    log.write_text(text.replace('"name": "x"', '"name": "\\ud800"'))
    (change,) = load_change_set(log, "dev").changes
    assert change.properties["big"] == 10**30
    assert change.properties["ratio"] != change.properties["ratio"]  # NaN
    assert change.properties["name"] == "\ud800"


@pytest.mark.parametrize("fast", [True, False])
def test_a_line_nested_too_deeply_is_an_error_not_a_traceback(tmp_path: Path, fast: bool):
    log = tmp_path / "deep.jsonl"
    log.write_text('{"sequence": 0, "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(UsageProblem, match=r"deep\.jsonl:1: not an engine event: JSON nested too"):
        list(EventLog(log, fast=fast))
