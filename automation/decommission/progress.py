"""Progress recorded as tags on the instance, so an interrupted run resumes where it stopped.

The cloud's own state says most of what is done (an instance left its target groups, it is
stopped). Tags record what state cannot: when we stopped it (the retention clock starts there)
and which image is its backup. `step` is for people reading the console: the last step completed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "alunos-api:decommission:"
STEP = PREFIX + "step"
STOPPED_AT = PREFIX + "stopped-at"
BACKUP = PREFIX + "backup"
# On the backup image and its snapshots.
SOURCE_INSTANCE = PREFIX + "instance-id"
BACKUP_DATE = PREFIX + "date"
STACK = PREFIX + "stack"

KEEP_TAG = "DoNotDecommission"
"""Any instance carrying this tag (whatever its value) is never touched."""


@dataclass(frozen=True, slots=True)
class Progress:
    step: str | None = None
    stopped_at: datetime | None = None
    backup: str | None = None

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Progress:
        return cls(
            step=tags.get(STEP) or None,
            stopped_at=parse_time(tags.get(STOPPED_AT)),
            backup=tags.get(BACKUP) or None,
        )

    def to_json(self) -> dict[str, str | None]:
        return {
            "step": self.step,
            "stopped_at": format_time(self.stopped_at) if self.stopped_at else None,
            "backup": self.backup,
        }


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second: `2024-05-01T10:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """A recorded time, or None when absent or unreadable (then the clock starts again: the
    retention can only get longer, never shorter, when someone edits the tag by hand)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
