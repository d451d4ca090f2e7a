"""Which stacks a GitHub Actions run previews or deploys, decided in one table.

Read `RULES` top to bottom: the first row whose event and condition match decides; no row
matching means nothing to do. Only `pull_request` previews (never `pull_request_target`, which
runs with the base branch's secrets and must not run code from a fork's branch).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from automation.errors import UsageProblem
from automation.release.version import is_release_tag

MAIN_BRANCH = "main"
TAG_PREFIX = "refs/tags/"


class StackOperation(StrEnum):
    PREVIEW = "preview"
    UP = "up"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class RunContext:
    """The parts of a GitHub Actions run that the decision reads."""

    event_name: str
    ref: str
    base_ref: str | None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    when: str
    event: str
    condition: Callable[[RunContext], bool]
    operation: StackOperation
    stacks: tuple[str, ...]


def _into_main(ctx: RunContext) -> bool:
    return ctx.base_ref == MAIN_BRANCH


def _main_branch(ctx: RunContext) -> bool:
    return ctx.ref == f"refs/heads/{MAIN_BRANCH}" and not ctx.deleted


def _release_tag(ctx: RunContext) -> bool:
    """A pushed (not deleted) tag `vX.Y.Z[-pre]`, the same rule `version` uses for releases."""
    return (
        ctx.ref.startswith(TAG_PREFIX)
        and is_release_tag(ctx.ref.removeprefix(TAG_PREFIX))
        and not ctx.deleted
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "pull request into main",
        "pull_request",
        _into_main,
        StackOperation.PREVIEW,
        ("dev", "prod"),
    ),
    Rule("push to main", "push", _main_branch, StackOperation.UP, ("dev",)),
    Rule("push of a release tag vX.Y.Z[-pre]", "push", _release_tag, StackOperation.UP, ("prod",)),
)


@dataclass(frozen=True, slots=True)
class StackDecision:
    operation: StackOperation
    stacks: tuple[str, ...]
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": str(self.operation),
            "stacks": list(self.stacks),
            "reason": self.reason,
        }


def decide(ctx: RunContext) -> StackDecision:
    for rule in RULES:
        if ctx.event_name == rule.event and rule.condition(ctx):
            return StackDecision(rule.operation, rule.stacks, rule.when)
    return StackDecision(StackOperation.NONE, (), _why_nothing(ctx))


def _why_nothing(ctx: RunContext) -> str:
    if not ctx.event_name:
        return "not a GitHub Actions run (GITHUB_EVENT_NAME is not set)"
    if ctx.deleted:
        return f"{ctx.ref} was deleted"
    if ctx.event_name == "pull_request":
        return f"pull request into {ctx.base_ref or 'an unknown branch'}, not {MAIN_BRANCH}"
    return f"no rule for event {ctx.event_name!r} on {ctx.ref or 'no ref'}"


def context_from_env(env: Mapping[str, str] | None = None) -> RunContext:
    """Build the run context from GitHub's variables and, when given, the event payload file.

    The payload's `pull_request.base.ref` wins over `GITHUB_BASE_REF` (it is what GitHub
    delivered); a push payload's `deleted: true` (a branch or tag deletion) deploys nothing.
    """
    env = os.environ if env is None else env
    event = _read_event(env.get("GITHUB_EVENT_PATH", ""))
    pull_request = event.get("pull_request")
    base_ref = env.get("GITHUB_BASE_REF") or None
    if isinstance(pull_request, dict):
        base = pull_request.get("base")
        if isinstance(base, dict) and isinstance(base.get("ref"), str):
            base_ref = base["ref"]
    return RunContext(
        event_name=env.get("GITHUB_EVENT_NAME", ""),
        ref=env.get("GITHUB_REF", ""),
        base_ref=base_ref,
        deleted=event.get("deleted") is True,
    )


def _read_event(path: str) -> dict[str, Any]:
    if not path:
        return {}
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageProblem(
            f"GITHUB_EVENT_PATH={path}: cannot read it ({error.strerror})"
        ) from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageProblem(
            f"GITHUB_EVENT_PATH={path}: not a JSON event payload ({error})"
        ) from error
    if not isinstance(payload, dict):
        raise UsageProblem(
            f"GITHUB_EVENT_PATH={path}: expected a JSON object, got {type(payload).__name__}"
        )
    return payload
