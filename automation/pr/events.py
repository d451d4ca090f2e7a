"""Pulumi engine events (the `--event-log` JSON lines, or `on_event` objects) -> a `ChangeSet`.

A real stream is not a tidy list of one step per resource: events arrive out of sequence order,
a replacement comes as several steps (`create-replacement`, `replace`, `delete-replaced`), the same
step is reported before and after it runs, and property values carry the engine's signature
objects (secrets, resource references, assets) and bookkeeping keys (`__defaults`, `__meta`).
This module folds all of that into one `Change` per resource, with every secret masked, so
nothing downstream ever sees a secret value. It is the one place that says what an event means;
reading a large log file quickly is `event_log.py`'s business, which cannot change the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pulumi.automation.events import BaseEvent, DiffKind, EngineEvent, OpType

from automation.changes import SECRET_MASK, Change, ChangeSet, Operation, urn_name, urn_type
from automation.errors import UsageProblem
from automation.pr.event_log import EventLog, MalformedEvent

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
        return _mask_object(value)
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, str):
        return _mask_text(value)
    return value


def _mask_object(value: dict[str, Any]) -> Any:
    if SIGNATURE_KEY in value:
        return _mask_signature(value)
    secret_pair = _names_a_secret(value)
    masked: dict[str, Any] = {}
    for key, item in value.items():
        if is_hidden_key(key):
            continue
        secret = looks_secret(key) or (secret_pair and key == "value")
        masked[key] = SECRET_MASK if secret else mask(item)
    return masked


def _mask_text(value: str) -> str:
    if value == UNKNOWN:
        return UNKNOWN_VALUE
    if "@" in value and "://" in value:
        return _URL_PASSWORD.sub(r"\1" + SECRET_MASK + "@", value)
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
    return SECRET_MASK


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

# The step events (the SDK's `EngineEvent` prefers them in this order when one has several).
PRE_EVENT, OUTPUTS_EVENT, FAILED_EVENT = "resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"
_OPERATIONS: Mapping[str, Operation] = {op.value: STEP_OPERATIONS[op] for op in OpType}
_DIFF_KINDS = frozenset(kind.value for kind in DiffKind)

Event = Mapping[str, Any]
"""An engine event in the engine's own JSON shape (one line of `--event-log`)."""


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

    def add(
        self,
        sequence: int,
        operation: Operation,
        step: Mapping[str, Any],
        outputs_event: bool,
    ) -> None:
        """Fold one step's metadata (already checked by `_step_problem`)."""
        if sequence < self.first_sequence:
            self.first_sequence = sequence
        self.operations.add(operation)
        for name in ("diffs", "keys", "detailedDiff"):
            for key in step.get(name) or ():
                self.changed.setdefault(top_level_key(key))
        old, new = step.get("old"), step.get("new")
        if old:
            if old.get("parent") and sequence > self.parent[0]:
                self.parent = (sequence, old["parent"])
            inputs, outputs = old.get("inputs"), old.get("outputs")
            if inputs is not None and sequence > self.old_inputs[0]:
                self.old_inputs = (sequence, inputs)
            if outputs is not None and sequence > self.old_outputs[0]:
                self.old_outputs = (sequence, outputs)
        if new:
            if new.get("parent") and sequence > self.parent[0]:
                self.parent = (sequence, new["parent"])
            inputs, outputs = new.get("inputs"), new.get("outputs")
            if inputs is not None and sequence > self.new_inputs[0]:
                self.new_inputs = (sequence, inputs)
            if outputs is not None:
                if outputs_event:
                    if sequence > self.outputs_after[0]:
                        self.outputs_after = (sequence, outputs)
                elif sequence > self.outputs_before[0]:
                    self.outputs_before = (sequence, outputs)

    def operation(self) -> Operation:
        operations = self.operations
        if len(operations) == 1:
            return next(iter(operations))
        if {Operation.CREATE, Operation.DELETE} <= operations:
            return Operation.REPLACE
        return max(operations, key=_PRECEDENCE.__getitem__)

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
            properties=mask(inputs) if inputs else {},
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


class _Fold:
    """Folds engine events, in the engine's JSON shape, into one `_Resource` per URN.

    The log file and the Automation API's `on_event` objects both come here (the objects
    through `event_to_json`), so the two can never disagree.

    A resource's step is reported twice, before it runs and after (`resourcePreEvent`,
    `resOutputsEvent`), with the same operation, diff and inputs: the second report of a
    (URN, operation) step only counts for its sequence number. The stack is the exception: its
    outputs are only known after, so both of its reports are folded.
    """

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.expected_stack = stack.rsplit("/", 1)[-1]
        self.resources: dict[str, _Resource] = {}
        self.config: Mapping[str, Any] = {}
        self.project: str | None = None
        self.folded: set[tuple[str, str]] = set()  # (urn, op) steps of resources, not the stack

    def event(self, event: Event) -> None:
        prelude = event.get("preludeEvent")
        if prelude:
            if not isinstance(prelude, dict):
                raise MalformedEvent(_wrong_type(event, "preludeEvent", prelude))
            config = prelude.get("config")
            if isinstance(config, dict):
                self.config = config
        kind = PRE_EVENT
        found = event.get(PRE_EVENT)
        if not found:
            kind, found = OUTPUTS_EVENT, event.get(OUTPUTS_EVENT)
            if not found:
                kind, found = FAILED_EVENT, event.get(FAILED_EVENT)
                if not found:
                    return
        if not isinstance(found, dict):
            raise MalformedEvent(_wrong_type(event, kind, found))
        step = found.get("metadata", {})
        if not isinstance(step, dict):
            raise MalformedEvent(_wrong_type(event, f"{kind}.metadata", step))
        sequence = event.get("sequence", 0)
        problem = _step_problem(sequence, step)
        if problem is not None:
            raise MalformedEvent(f"engine event {sequence!r}: {problem}")
        urn, op = step.get("urn", ""), step["op"]
        if kind is not FAILED_EVENT and (urn, op) in self.folded:
            # The step's second report (see above): only its sequence number counts.
            resource = self.resources[urn]
            resource.first_sequence = min(resource.first_sequence, sequence)
            return
        resource = self.resources.get(urn) or self._new_resource(sequence, urn, step)
        resource.add(sequence, _OPERATIONS[op], step, kind is OUTPUTS_EVENT)
        if kind is not FAILED_EVENT and resource.type != STACK_TYPE:
            self.folded.add((urn, op))

    def _new_resource(self, sequence: int, urn: str, step: Mapping[str, Any]) -> _Resource:
        parts = _urn_parts(urn)
        if parts is None:
            raise MalformedEvent(
                f"engine event {sequence}: {urn!r} is not a Pulumi URN "
                "(urn:pulumi:STACK::PROJECT::TYPE::NAME)"
            )
        if parts[0] != self.expected_stack:
            raise UsageProblem(
                f"the events are a preview of stack {parts[0]!r}, not {self.stack!r}: "
                "pass the event log of the stack named by --stack"
            )
        self.project = self.project or parts[1]
        resource = self.resources[urn] = _Resource(
            urn=urn, type=step.get("type") or urn_type(urn), first_sequence=sequence
        )
        return resource

    def change_set(self, version: str | None) -> ChangeSet:
        if version is None and self.project is not None:
            stamped = self.config.get(f"{self.project}:version")
            version = stamped if isinstance(stamped, str) and stamped else None
        ordered = sorted(self.resources.values(), key=lambda found: found.first_sequence)
        return ChangeSet(
            stack=self.stack,
            changes=[resource.to_change() for resource in ordered],
            version=version,
        )


def _wrong_type(event: Event, where: str, value: Any) -> str:
    return (
        f"engine event {event.get('sequence', 0)!r}: {where} has the wrong type "
        f"(expected an object, found {type(value).__name__})"
    )


def _step_problem(sequence: Any, step: Mapping[str, Any]) -> str | None:
    """What is wrong with a resource step's shape, checked before the fold relies on it."""
    if not isinstance(sequence, int):
        return "sequence must be a number"
    get = step.get
    op = get("op", "")
    if not isinstance(op, str) or op not in _OPERATIONS:
        return f"{op!r} is not an operation the engine defines ({', '.join(_OPERATIONS)})"
    if not isinstance(get("urn", ""), str):
        return "urn must be a string"
    if not isinstance(get("type", ""), str):
        return "type must be a string"
    for name in ("diffs", "keys"):
        keys = get(name)
        if keys is not None and not (
            isinstance(keys, list) and all(isinstance(key, str) for key in keys)
        ):
            return f"{name} must be a list of property names"
    detailed = get("detailedDiff")
    if detailed:
        if not isinstance(detailed, dict):
            return "detailedDiff must be an object"
        for path, diff in detailed.items():
            kind = diff.get("diffKind") if isinstance(diff, dict) else None
            if kind not in _DIFF_KINDS:
                return f"detailedDiff {path!r}: {kind!r} is not a diff kind the engine defines"
    for name in ("old", "new"):
        state = get(name)
        if state:
            problem = _state_problem(name, state)
            if problem is not None:
                return problem
    return None


def _state_problem(name: str, state: Any) -> str | None:
    if not isinstance(state, dict):
        return f"{name} must be an object"
    inputs, outputs = state.get("inputs"), state.get("outputs")
    if inputs is not None and not isinstance(inputs, dict):
        return "inputs must be an object"
    if outputs is not None and not isinstance(outputs, dict):
        return "outputs must be an object"
    if not isinstance(state.get("parent", ""), str):
        return "parent must be a URN string"
    return None


def change_set_from_events(
    events: Iterable[EngineEvent], stack: str, version: str | None = None
) -> ChangeSet:
    """Fold the Automation API's engine events (collected through `on_event`) into a ChangeSet.

    `stack` may be fully qualified (`org/project/dev`); the events must be from that stack, so
    a preview of one stack is never published as another's. The version defaults to the
    `<project>:version` config the automation stamps, as the prelude event reports it.
    """
    return change_set_from_json((event_to_json(event) for event in events), stack, version)


def change_set_from_json(
    events: Iterable[Event], stack: str, version: str | None = None
) -> ChangeSet:
    """Fold engine events already in the engine's JSON shape (see `change_set_from_events`)."""
    fold = _Fold(stack)
    for event in events:
        fold.event(event)
    return fold.change_set(version)


# --- The SDK's event objects back to the engine's JSON (the `--event-log` line format).

# JSON names of the SDK's attributes: the one that is not its camelCase form, then a cache.
_JSON_NAMES = {"policy_packs": "PolicyPacks"}


def _json_name(attribute: str) -> str:
    found = _JSON_NAMES.get(attribute)
    if found is None:
        head, *rest = attribute.split("_")
        found = _JSON_NAMES[attribute] = head + "".join(part.title() for part in rest)
    return found


def event_to_json(event: EngineEvent) -> dict[str, Any]:
    """An `EngineEvent` as the engine wrote it: `EngineEvent.from_json` reads it back the same.

    The SDK's classes mirror the engine's JSON types field by field (apitype/events.go), so the
    conversion is generic: attribute names back to camelCase, enums to their values, unset
    (None) fields left out. Property values (inputs, outputs, config) are copied as they are.
    """
    return _object_to_json(event)


def _object_to_json(value: BaseEvent) -> dict[str, Any]:
    return {
        _json_name(name): _to_json(item) for name, item in vars(value).items() if item is not None
    }


def _to_json(value: Any) -> Any:
    if isinstance(value, BaseEvent):
        return _object_to_json(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        # Property maps hold plain JSON values: only a detailed diff's values are objects.
        return {
            key.value if isinstance(key, Enum) else key: _to_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    return value


# --- Event log files.


def load_change_set(path: Path, stack: str, version: str | None = None) -> ChangeSet:
    """The change set of an event log file (`pulumi preview --event-log FILE`).

    Events are folded as they are read (`event_log.EventLog`), so a malformed event is
    reported at its line.
    """
    with EventLog(path) as log:
        return change_set_from_json(log, stack, version)
