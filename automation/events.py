"""Pulumi engine events (the `--event-log` JSON lines, or `on_event` objects) -> a `ChangeSet`.

A real stream is not a tidy list of one step per resource: events arrive out of sequence order,
a replacement comes as several steps (`create-replacement`, `replace`, `delete-replaced`), the same
step is reported before and after it runs, and property values carry the engine's signature
objects (secrets, resource references, assets) and bookkeeping keys (`__defaults`, `__meta`).
This module folds all of that into one `Change` per resource, with every secret masked, so
nothing downstream ever sees a secret value.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pulumi.automation.events import EngineEvent, OpType, StepEventMetadata

from automation.changes import Change, ChangeSet, Operation, urn_name, urn_type
from automation.errors import UsageProblem

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"

# The engine's special values (sdk/python/lib/pulumi/runtime/rpc.py).
SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a type tag, not a secret)
RESOURCE_SIGNATURE = "5cf8f73096256a8f31e491e813e4eb8e"
ASSET_SIGNATURE = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIGNATURE = "0def7320c3a5731c473e5ecbe6d01bc7"
OUTPUT_VALUE_SIGNATURE = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

SECRET = "[secret]"  # noqa: S105 (the mask shown instead of a secret)
UNKNOWN_VALUE = "[unknown]"

# Each engine step folds into the operation a reviewer cares about. The replacement steps all
# mean "this resource is replaced"; a discard drops the resource from the stack (conservatively
# shown as a delete); refresh and pending-replace bookkeeping change nothing in the cloud.
STEP_OPERATIONS: Mapping[OpType, Operation] = {
    OpType.SAME: Operation.SAME,
    OpType.CREATE: Operation.CREATE,
    OpType.UPDATE: Operation.UPDATE,
    OpType.DELETE: Operation.DELETE,
    OpType.REPLACE: Operation.REPLACE,
    OpType.CREATE_REPLACEMENT: Operation.REPLACE,
    OpType.DELETE_REPLACED: Operation.REPLACE,
    OpType.DISCARD_REPLACED: Operation.REPLACE,
    OpType.IMPORT_REPLACEMENT: Operation.REPLACE,
    OpType.DISCARD: Operation.DELETE,
    OpType.READ: Operation.READ,
    OpType.READ_REPLACEMENT: Operation.READ,
    OpType.REFRESH: Operation.SAME,
    OpType.REMOVE_PENDING_REPLACE: Operation.SAME,
    OpType.IMPORT: Operation.IMPORT,
}

# When one resource shows several operations, the most consequential one is what happens to it.
_PRECEDENCE = {
    Operation.REPLACE: 6,
    Operation.DELETE: 5,
    Operation.CREATE: 4,
    Operation.UPDATE: 3,
    Operation.IMPORT: 2,
    Operation.READ: 1,
    Operation.SAME: 0,
}

# Keys whose values are secret whatever their type, matched on the key lower-cased with
# separators removed (so `db_password`, `masterUserPassword` and `SECRET-KEY` all match).
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)|secret|token|private ?key|keymaterial|credential|apikey|accesskey"
    r"|sessionkey|signingkey|authkey|sharedkey|masterkey|encryptionkey|connectionstring"
    r"|connstr|kubeconfig|cookie|dsn$|databaseurl|dburl"
)
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^@\s/]+@")
_SEPARATORS = str.maketrans("", "", "_-. ")


@lru_cache(maxsize=4096)
def looks_secret(key: str) -> bool:
    """Whether a property name suggests its value is a secret (password, token, key material...)."""
    return _SECRET_KEY.search(key.lower().translate(_SEPARATORS)) is not None


def is_hidden_key(key: str) -> bool:
    """Engine and provider bookkeeping (`__defaults`, `__meta`, `__provider`...), not user data."""
    return key.startswith("__")


def mask(value: Any) -> Any:
    """A copy of a property value that is safe to show: no secret, no engine signature object."""
    if isinstance(value, dict):
        if SIGNATURE_KEY in value:
            return _mask_signature(value)
        masked: dict[str, Any] = {}
        secret_pair = _names_a_secret(value)
        for key, item in value.items():
            if is_hidden_key(key):
                continue
            if looks_secret(key) or (secret_pair and key == "value"):
                masked[key] = SECRET
            else:
                masked[key] = mask(item)
        return masked
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, str):
        if value == UNKNOWN:
            return UNKNOWN_VALUE
        if "@" in value and "://" in value:
            return _URL_PASSWORD.sub(r"\1" + SECRET + "@", value)
    return value


def _names_a_secret(value: Mapping[str, Any]) -> bool:
    """`{"name": "DB_PASSWORD", "value": ...}`: the shape of container and Lambda environments."""
    name = value.get("name")
    return "value" in value and isinstance(name, str) and looks_secret(name)


def _mask_signature(value: Mapping[str, Any]) -> Any:
    signature = value[SIGNATURE_KEY]
    if signature == RESOURCE_SIGNATURE:
        urn = value.get("urn")
        return urn if isinstance(urn, str) else "[resource]"
    if signature == ASSET_SIGNATURE:
        return "[asset]"
    if signature == ARCHIVE_SIGNATURE:
        return "[archive]"
    if signature == OUTPUT_VALUE_SIGNATURE and not value.get("secret"):
        return mask(value["value"]) if "value" in value else UNKNOWN_VALUE
    # Secrets, secret output values, and any signature this reader does not know: never shown.
    return SECRET


def top_level_key(path: str) -> str:
    """The top-level property of a detailed-diff path: `ingress[1].cidrBlocks[0]` -> `ingress`,
    `["a.b"].c` -> `a.b`."""
    if path.startswith('["'):
        end = path.find('"]')
        return path[2:end] if end > 0 else path
    for index, char in enumerate(path):
        if char in ".[":
            return path[:index]
    return path


_NEVER = (-1, None)


@dataclass(slots=True)
class _Resource:
    """Everything the stream said about one URN.

    Events arrive out of sequence order, so each remembered value carries the sequence number
    of the event it came from and only a later event replaces it: the fold gives the same
    result in any arrival order, without holding the whole stream in memory to sort it.
    """

    urn: str
    type: str
    first_sequence: int
    operations: set[Operation] = field(default_factory=set)
    changed: dict[str, None] = field(default_factory=dict)  # an ordered set
    parent: tuple[int, str | None] = _NEVER
    old_inputs: tuple[int, Mapping[str, Any] | None] = _NEVER
    new_inputs: tuple[int, Mapping[str, Any] | None] = _NEVER
    old_outputs: tuple[int, Mapping[str, Any] | None] = _NEVER
    # Before a resource registers its outputs, a pre-event's `new.outputs` is empty, which is
    # not "every output removed": outputs events win over pre-events whatever their order.
    outputs_before: tuple[int, Mapping[str, Any] | None] = _NEVER
    outputs_after: tuple[int, Mapping[str, Any] | None] = _NEVER

    def add(self, sequence: int, step: StepEventMetadata, outputs_event: bool) -> None:
        self.first_sequence = min(self.first_sequence, sequence)
        self.operations.add(STEP_OPERATIONS[step.op])
        for keys in (step.diffs, step.keys, step.detailed_diff):
            for key in keys or ():
                self.changed.setdefault(top_level_key(key))
        for state in (step.old, step.new):
            if state is not None and state.parent and sequence > self.parent[0]:
                self.parent = (sequence, state.parent)
        old, new = step.old, step.new
        if old is not None:
            if old.inputs is not None and sequence > self.old_inputs[0]:
                self.old_inputs = (sequence, old.inputs)
            if old.outputs is not None and sequence > self.old_outputs[0]:
                self.old_outputs = (sequence, old.outputs)
        if new is not None:
            if new.inputs is not None and sequence > self.new_inputs[0]:
                self.new_inputs = (sequence, new.inputs)
            if new.outputs is not None:
                slot = self.outputs_after if outputs_event else self.outputs_before
                if sequence > slot[0]:
                    if outputs_event:
                        self.outputs_after = (sequence, new.outputs)
                    else:
                        self.outputs_before = (sequence, new.outputs)

    def operation(self) -> Operation:
        if {Operation.CREATE, Operation.DELETE} <= self.operations:
            return Operation.REPLACE
        return max(self.operations, key=_PRECEDENCE.__getitem__)

    def to_change(self) -> Change:
        operation = self.operation()
        if self.type == STACK_TYPE:
            return self._stack_change(operation)
        old_inputs, new_inputs = self.old_inputs[1], self.new_inputs[1]
        changed = [key for key in self.changed if not is_hidden_key(key)]
        both_known = old_inputs is not None and new_inputs is not None
        if not changed and both_known and operation in (Operation.UPDATE, Operation.REPLACE):
            changed = _differing_keys(old_inputs, new_inputs)
        inputs = old_inputs if operation is Operation.DELETE else new_inputs
        return Change(
            urn=self.urn,
            type=self.type,
            name=urn_name(self.urn),
            operation=operation,
            changed=tuple(changed),
            properties=mask(dict(inputs or {})),
            parent_urn=self.parent[1],
        )

    def _stack_change(self, operation: Operation) -> Change:
        """The stack itself: its `changed` names the outputs that differ (never their values,
        which can be tens of kilobytes and hold secrets)."""
        after = self.outputs_after[0] >= 0
        if operation is Operation.SAME and not after:
            changed: list[str] = []
        else:
            new_outputs = self.outputs_after[1] if after else self.outputs_before[1]
            changed = _differing_keys(self.old_outputs[1], new_outputs)
        if changed and operation is Operation.SAME:
            operation = Operation.UPDATE
        return Change(
            urn=self.urn,
            type=self.type,
            name=urn_name(self.urn),
            operation=operation,
            changed=tuple(changed),
            properties={},
            parent_urn=None,
        )


def _differing_keys(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    old, new = old or {}, new or {}
    keys = dict.fromkeys([*old, *new])
    return [key for key in keys if not is_hidden_key(key) and not _same(old.get(key), new.get(key))]


def _same(old: Any, new: Any) -> bool:
    """Equal values, ignoring the `@isPulumiResource` marks the engine adds to resource
    objects in new stack outputs (they are not a change)."""
    return old == new or _without_marks(old) == _without_marks(new)


def _without_marks(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_marks(v) for k, v in value.items() if k != "@isPulumiResource"}
    if isinstance(value, list):
        return [_without_marks(item) for item in value]
    return value


def _urn_parts(urn: str) -> tuple[str, str] | None:
    """(stack, project) of a well-formed URN `urn:pulumi:STACK::PROJECT::TYPE::NAME`."""
    if not urn.startswith("urn:pulumi:") or urn.count("::") < 3:
        return None
    stack, project, _rest = urn[len("urn:pulumi:") :].split("::", 2)
    return stack, project


def _step(event: EngineEvent) -> tuple[StepEventMetadata, bool] | None:
    """The step an event reports, and whether it is the after-the-step (outputs) event."""
    if event.resource_pre_event is not None:
        return event.resource_pre_event.metadata, False
    if event.res_outputs_event is not None:
        return event.res_outputs_event.metadata, True
    if event.res_op_failed_event is not None:
        return event.res_op_failed_event.metadata, False
    return None


class MalformedEvent(UsageProblem):
    """An engine event whose shape the reader cannot use (exit 2, like any bad input)."""


def change_set_from_events(
    events: Iterable[EngineEvent], stack: str, version: str | None = None
) -> ChangeSet:
    """Fold engine events (from a log file or collected through `on_event`) into a ChangeSet.

    `stack` may be fully qualified (`org/project/dev`); the events must be from that stack, so
    a preview of one stack is never published as another's. The version defaults to the
    `<project>:version` config the automation stamps, as the prelude event reports it.
    """
    expected_stack = stack.rsplit("/", 1)[-1]
    resources: dict[str, _Resource] = {}
    config: Mapping[str, Any] = {}
    project: str | None = None
    for event in events:
        if event.prelude_event is not None and isinstance(event.prelude_event.config, dict):
            config = event.prelude_event.config
        found = _step(event)
        if found is None:
            continue
        step, outputs_event = found
        problem = _step_problem(event.sequence, step)
        if problem is not None:
            raise MalformedEvent(f"engine event {event.sequence!r}: {problem}")
        resource = resources.get(step.urn)
        if resource is None:
            parts = _urn_parts(step.urn)
            if parts is None:
                raise MalformedEvent(
                    f"engine event {event.sequence}: {step.urn!r} is not a Pulumi URN "
                    "(urn:pulumi:STACK::PROJECT::TYPE::NAME)"
                )
            if parts[0] != expected_stack:
                raise UsageProblem(
                    f"the events are a preview of stack {parts[0]!r}, not {stack!r}: "
                    "pass the event log of the stack named by --stack"
                )
            project = project or parts[1]
            resource = resources[step.urn] = _Resource(
                urn=step.urn, type=step.type or urn_type(step.urn), first_sequence=event.sequence
            )
        resource.add(event.sequence, step, outputs_event)
    if version is None and project is not None:
        stamped = config.get(f"{project}:version")
        version = stamped if isinstance(stamped, str) and stamped else None
    return ChangeSet(
        stack=stack,
        changes=[
            resource.to_change()
            for resource in sorted(resources.values(), key=lambda found: found.first_sequence)
        ],
        version=version,
    )


def _step_problem(sequence: Any, step: StepEventMetadata) -> str | None:
    """What is wrong with a resource step's shape, checked before the fold relies on it."""
    if not isinstance(sequence, int):
        return "sequence must be a number"
    if not isinstance(step.urn, str):
        return "urn must be a string"
    if not isinstance(step.type, str):
        return "type must be a string"
    for name, keys in (("diffs", step.diffs), ("keys", step.keys)):
        if keys is not None and not (
            isinstance(keys, list) and all(isinstance(key, str) for key in keys)
        ):
            return f"{name} must be a list of property names"
    for state in (step.old, step.new):
        if state is None:
            continue
        if state.inputs is not None and not isinstance(state.inputs, dict):
            return "inputs must be an object"
        if state.outputs is not None and not isinstance(state.outputs, dict):
            return "outputs must be an object"
        if not isinstance(state.parent, str):
            return "parent must be a URN string"
    return None


class _EventLog:
    """The events of a log file, remembering which line the latest one came from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line = 0

    def __iter__(self) -> Iterator[EngineEvent]:
        path = self.path
        announced: set[tuple[str, str]] = set()
        try:
            with path.open(encoding="utf-8") as lines:
                for self.line, text in enumerate(lines, start=1):
                    if text.isspace():
                        continue
                    data = _parse_json(f"{path}:{self.line}", text)
                    if _repeats_announced_step(data, announced):
                        continue
                    yield _engine_event(f"{path}:{self.line}", data)
        except FileNotFoundError:
            raise UsageProblem(f"event log {path} does not exist") from None
        except IsADirectoryError:
            raise UsageProblem(f"event log {path} is a directory, not a file") from None
        except PermissionError:
            raise UsageProblem(f"event log {path} is not readable (permission denied)") from None
        except UnicodeDecodeError as error:
            raise UsageProblem(
                f"event log {path} is not UTF-8 text (line {self.line + 1}, byte {error.start}); "
                "pass the file `pulumi preview --event-log` wrote"
            ) from None


def _parse_json(where: str, line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise UsageProblem(
            f"{where}: not a JSON engine event ({error.msg} at column {error.colno}); "
            "an event log holds one JSON object per line"
        ) from None
    if not isinstance(data, dict):
        raise UsageProblem(f"{where}: expected a JSON object, found {type(data).__name__}")
    return data


def _repeats_announced_step(data: dict[str, Any], announced: set[tuple[str, str]]) -> bool:
    """Whether an event only repeats a step already read: a resource's outputs event says
    nothing its pre-event for the same step did not (operation, diff, inputs), except for the
    stack, whose outputs are only known then. Skipping those halves the work on a large log."""
    pre = data.get("resourcePreEvent")
    if isinstance(pre, dict) and isinstance(metadata := pre.get("metadata"), dict):
        urn, op = metadata.get("urn"), metadata.get("op")
        if isinstance(urn, str) and isinstance(op, str) and metadata.get("type") != STACK_TYPE:
            announced.add((urn, op))
        return False
    outputs = data.get("resOutputsEvent")
    if isinstance(outputs, dict) and isinstance(metadata := outputs.get("metadata"), dict):
        return (metadata.get("urn"), metadata.get("op")) in announced
    return False


def _engine_event(where: str, data: dict[str, Any]) -> EngineEvent:
    try:
        return EngineEvent.from_json(data)
    except ValueError as error:  # an operation or diff kind the engine does not define
        raise UsageProblem(f"{where}: not a valid engine event: {error}") from None
    except (AttributeError, TypeError):  # a field of the wrong JSON type
        raise UsageProblem(
            f"{where}: not a valid engine event (a field has the wrong type)"
        ) from None


def read_event_log(path: Path) -> Iterator[EngineEvent]:
    """Parse an event log line by line; a malformed line is a usage error naming its number."""
    return iter(_EventLog(path))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing a large log allocates millions of acyclic objects and keeps many: the cyclic
    garbage collector would rescan them over and over (about a third of the parse time) while
    finding nothing to free, so it pauses for the parse."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_change_set(path: Path, stack: str, version: str | None = None) -> ChangeSet:
    """The change set of an event log file (`pulumi preview --event-log FILE`).

    Events are folded as they are read, so a malformed event is reported at its line.
    """
    log = _EventLog(path)
    try:
        with _collector_paused():
            return change_set_from_events(log, stack, version)
    except MalformedEvent as problem:
        raise MalformedEvent(f"{path}:{log.line}: not a valid engine event: {problem}") from None
