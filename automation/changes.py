"""One change model for the real preview (engine events) and the offline plan (mock engine).

Everything that reads a change set (the Markdown renderer, cost, policy checks, the diagram) is
written once against these types, whichever way the change set was produced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# What every reader shows instead of a secret value (engine-marked or secret-looking).
SECRET_MASK = "[secret]"  # noqa: S105 - the mask, not a secret


class Operation(StrEnum):
    """What the engine will do to one resource; replace folds create/delete-replaced steps."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    SAME = "same"
    READ = "read"
    IMPORT = "import"


CHANGING = (Operation.CREATE, Operation.UPDATE, Operation.REPLACE, Operation.DELETE)


def urn_type(urn: str) -> str:
    """The resource's own type from a URN (the last of any `$`-joined parent types)."""
    qualified = urn.split("::")[2] if urn.count("::") >= 3 else ""
    return qualified.rsplit("$", 1)[-1]


def urn_name(urn: str) -> str:
    """The resource's logical name: the URN's last `::` segment (names may contain `::`)."""
    return urn.split("::", 3)[3] if urn.count("::") >= 3 else urn


@dataclass(frozen=True, slots=True)
class Change:
    """One resource and what happens to it.

    `properties` are the new inputs (old ones for a delete), with secrets already masked by
    whoever built the change; `changed` names the top-level input keys that differ.
    """

    urn: str
    type: str
    name: str
    operation: Operation
    changed: tuple[str, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict)
    parent_urn: str | None = None


@dataclass(slots=True)
class ChangeSet:
    """The changes to one stack, with where they came from."""

    stack: str
    changes: list[Change]
    version: str | None = None
    offline: bool = False

    def counts(self) -> dict[Operation, int]:
        tally = Counter(change.operation for change in self.changes)
        return {op: tally.get(op, 0) for op in Operation}

    def changing(self) -> list[Change]:
        return [change for change in self.changes if change.operation in CHANGING]
