"""Which stacks a GitHub Actions run previews or deploys, decided in one table.

Read `RULES` top to bottom: the first row whose event and condition match decides; no row
matching means nothing to do. Only `pull_request` previews (never `pull_request_target`, which
runs with the base branch's secrets and must not run code from a fork's branch).

A tag deploys only from main's history: anyone who can push a tag can push it on a commit no
pull request ever reviewed (a branch's tip, a rewritten history), and its name alone would send
that commit to prod. So for a pushed release tag git answers whether main contains the tagged
commit (`git merge-base --is-ancestor`), against `refs/remotes/origin/main` as
`actions/checkout` with `fetch-depth: 0` leaves it; a checkout without that history is a usage
error, never a silent "not on main". Other events decide from GitHub's variables alone.
A pre-release tag (`v2.0.0-rc.1`) is a rehearsal: it deploys to dev, never to prod.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from automation.errors import UsageProblem
from automation.release.version import RELEASE_TAG_PATTERN

MAIN_BRANCH = "main"
MAIN_TRACKING_REF = f"refs/remotes/origin/{MAIN_BRANCH}"
"""Main as `actions/checkout` with `fetch-depth: 0` fetches it (`refs/heads/*` into origin's)."""
TAG_PREFIX = "refs/tags/"
_RELEASE_TAG = re.compile(RELEASE_TAG_PATTERN)


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
    on_main: bool = False
    """The pushed commit is in main's history (git is asked for pushed release tags only)."""


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


def release_tag(ref: str) -> re.Match[str] | None:
    """`refs/tags/vX.Y.Z[-pre]` parsed (the rule `version` uses for releases), else None."""
    if not ref.startswith(TAG_PREFIX):
        return None
    return _RELEASE_TAG.match(ref.removeprefix(TAG_PREFIX))


def _release_on_main(ctx: RunContext) -> bool:
    tag = release_tag(ctx.ref)
    return tag is not None and tag["stage"] is None and ctx.on_main and not ctx.deleted


def _prerelease_on_main(ctx: RunContext) -> bool:
    tag = release_tag(ctx.ref)
    return tag is not None and tag["stage"] is not None and ctx.on_main and not ctx.deleted


RULES: tuple[Rule, ...] = (
    Rule(
        "pull request into main",
        "pull_request",
        _into_main,
        StackOperation.PREVIEW,
        ("dev", "prod"),
    ),
    Rule("push to main", "push", _main_branch, StackOperation.UP, ("dev",)),
    Rule(
        "push of a release tag vX.Y.Z on main's history",
        "push",
        _release_on_main,
        StackOperation.UP,
        ("prod",),
    ),
    Rule(
        "push of a pre-release tag vX.Y.Z-<pre> on main's history (rehearsed in dev, never prod)",
        "push",
        _prerelease_on_main,
        StackOperation.UP,
        ("dev",),
    ),
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
    if ctx.event_name == "push" and release_tag(ctx.ref) and not ctx.on_main:
        tag = ctx.ref.removeprefix(TAG_PREFIX)
        return (
            f"tag {tag} is not on {MAIN_BRANCH}'s history: only tags of commits merged into "
            f"{MAIN_BRANCH} deploy"
        )
    return f"no rule for event {ctx.event_name!r} on {ctx.ref or 'no ref'}"


def context_from_env(env: Mapping[str, str] | None = None, repo: Path | None = None) -> RunContext:
    """Build the run context from GitHub's variables and, when given, the event payload file.

    The payload's `pull_request.base.ref` wins over `GITHUB_BASE_REF` (it is what GitHub
    delivered); a push payload's `deleted: true` (a branch or tag deletion) deploys nothing.
    For a pushed release tag, the checkout at `repo` (default: the current directory) says
    whether main contains the pushed commit (`GITHUB_SHA`, else the tag itself).
    """
    env = os.environ if env is None else env
    event = _read_event(env.get("GITHUB_EVENT_PATH", ""))
    pull_request = event.get("pull_request")
    base_ref = env.get("GITHUB_BASE_REF") or None
    if isinstance(pull_request, dict):
        base = pull_request.get("base")
        if isinstance(base, dict) and isinstance(base.get("ref"), str):
            base_ref = base["ref"]
    event_name = env.get("GITHUB_EVENT_NAME", "")
    ref = env.get("GITHUB_REF", "")
    deleted = event.get("deleted") is True
    on_main = False
    if event_name == "push" and not deleted and release_tag(ref):
        commit = env.get("GITHUB_SHA") or ref
        on_main = commit_on_main(Path(".") if repo is None else repo, commit)
    return RunContext(event_name, ref, base_ref, deleted=deleted, on_main=on_main)


def commit_on_main(repo: Path, commit: str) -> bool:
    """Whether main's history (as fetched into `repo`) contains `commit` (a tag peels to its
    commit). Main itself or the commit missing from the checkout is a usage error: a shallow
    checkout cannot tell, and guessing either way would be wrong."""
    git = shutil.which("git")
    if git is None:
        raise UsageProblem("git is not installed (or not on PATH): a tag's stacks need it")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed git subcommands, refs from GitHub's variables
            [git, *args], cwd=repo, capture_output=True, text=True, check=False
        )

    fetch_all = "(in GitHub Actions, check out with fetch-depth: 0)"
    if run("rev-parse", "--verify", "--quiet", f"{MAIN_TRACKING_REF}^{{commit}}").returncode:
        raise UsageProblem(
            f"{MAIN_TRACKING_REF} is not in the checkout at {repo}: cannot tell whether "
            f"{commit} is on {MAIN_BRANCH}'s history {fetch_all}"
        )
    if run("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").returncode:
        raise UsageProblem(f"commit {commit} is not in the checkout at {repo} {fetch_all}")
    done = run("merge-base", "--is-ancestor", commit, MAIN_TRACKING_REF)
    if done.returncode not in (0, 1):
        raise UsageProblem(f"git merge-base failed in {repo}: {done.stderr.strip()}")
    return done.returncode == 0


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
