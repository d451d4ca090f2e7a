"""Fakes of the Pulumi seam (`StackHandle`, `StackBackend`), behaving like a backend would, and
the CLI environment that uses them.

A successful `up` records the run's config in the history (non-secret values only, as the real
seam hands them out) and updates the `version` output, so deploy -> rollback sequences behave as
they would against a real backend. Each fake is checked against its protocol by mypy (the typed
assignments after each class).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi.automation import EngineEvent

from automation.cli import Environment
from automation.deploy.pulumi_seam import (
    CommandFailed,
    HistoryEntry,
    OnEvent,
    OnOutput,
    OutputValue,
    RunSummary,
    Signalled,
    StackBackend,
    StackHandle,
    StackLocked,
    SummaryUnread,
)
from automation.errors import AutomationError

PROJECT = "alunos-api"


def key(name: str) -> str:
    return f"{PROJECT}:{name}"


def deployed(
    version: str,
    tag: str | None = None,
    *,
    update: int = 1,
    result: str = "succeeded",
    kind: str = "update",
    extra: Mapping[str, str] | None = None,
) -> HistoryEntry:
    config = {
        key("version"): version,
        key("imageTag"): tag or version,
        key("revision"): f"{update:040x}",
        key("created"): "2024-05-01T10:00:00Z",
        "aws:region": "us-east-2",
        **(extra or {}),
    }
    return HistoryEntry(
        update=update,
        kind=kind,
        result=result,
        start_time=datetime(2024, 5, 1, tzinfo=UTC),
        config=config,
    )


@dataclass
class FakeStack:
    name: str = "dev"
    project: str = PROJECT
    config: dict[str, str] = field(default_factory=lambda: {"aws:region": "us-east-2"})
    stack_outputs: dict[str, OutputValue] = field(default_factory=dict)
    entries: list[HistoryEntry] = field(default_factory=list)  # newest first
    locked_times: int = 0
    up_failure: AutomationError | None = None
    block_until_cancelled: bool = False
    """`up` runs until interrupted (SIGINT to its CLI), then fails as a cancelled update does."""
    ignores_interrupt: bool = False
    """...and keeps running after the SIGINT until `released` is set (in-flight operations)."""
    released: threading.Event = field(default_factory=threading.Event)
    summary_unread: bool = False
    """`up` succeeds, then the Automation API's read of its summary fails (once)."""
    outputs_failures: int = 0
    """`outputs()` fails this many times first, as a flaky backend would."""
    backend: str = "https://api.pulumi.com"
    cancel_failure: AutomationError | None = None
    after_up: Callable[[Mapping[str, str]], None] | None = None
    up_calls: list[dict[str, str]] = field(default_factory=list)
    preview_calls: list[dict[str, str]] = field(default_factory=list)
    # What `preview` delivers through `on_event`, as the Automation API would.
    preview_events: list[EngineEvent] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    blocking: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)
    interrupted: threading.Event = field(default_factory=threading.Event)
    cancel_calls: int = 0
    outputs_calls: int = 0
    history_pages: list[tuple[int, int]] = field(default_factory=list)
    # Bookkeeping for tests: the ECR images pushed for this stack.
    repository_url: str = ""
    digests: dict[str, str] = field(default_factory=dict)

    def get_config(self, key: str) -> str | None:
        return self.config.get(key)

    def preview(
        self,
        *,
        run_config: Mapping[str, str],
        message: str,
        on_output: OnOutput,
        on_event: OnEvent | None = None,
    ) -> RunSummary:
        self._maybe_locked()
        self.preview_calls.append(dict(run_config))
        self.messages.append(message)
        on_output(f"Previewing update ({self.name})")
        if on_event is not None:
            for event in self.preview_events:
                on_event(event)
        return RunSummary(changes={"update": 1, "same": 20})

    def up(
        self,
        *,
        run_config: Mapping[str, str],
        message: str,
        on_output: OnOutput,
        on_event: OnEvent | None = None,
    ) -> RunSummary:
        self._maybe_locked()
        self.up_calls.append(dict(run_config))
        self.messages.append(message)
        on_output(f"Updating ({self.name})")
        if self.block_until_cancelled:
            # Like a long `pulumi up`: only a SIGINT to its CLI (or the test's timeout) ends it.
            self.blocking.set()
            if not self.interrupted.wait(timeout=10):
                raise AssertionError("up was never interrupted")
            if self.ignores_interrupt:
                self.released.wait(timeout=10)
            raise CommandFailed(f"pulumi up failed for stack {self.name!r}: error: update canceled")
        if self.up_failure is not None:
            failure, self.up_failure = self.up_failure, None
            raise failure
        update = (self.entries[0].update or 0) + 1 if self.entries else 1
        self.entries.insert(
            0,
            HistoryEntry(
                update=update,
                kind="update",
                result="succeeded",
                start_time=datetime.now(UTC),
                config=dict(run_config),
                changes={"update": 2, "same": 19},
            ),
        )
        version = run_config.get(key("version"))
        if version:
            self.stack_outputs["version"] = OutputValue(version, secret=False)
        if self.after_up is not None:
            self.after_up(run_config)
        if self.summary_unread:
            self.summary_unread = False
            raise SummaryUnread(
                f"the update of {self.name} succeeded, but reading its summary failed"
            )
        return RunSummary(changes={"update": 2, "same": 19})

    def cancel(self) -> None:
        self.cancel_calls += 1
        self.cancelled.set()
        if self.cancel_failure is not None:
            raise self.cancel_failure

    def interrupt(self) -> Signalled | None:
        running = self.blocking.is_set() and not self.interrupted.is_set()
        self.interrupted.set()
        return Signalled("up", 4242) if running else None

    def backend_url(self) -> str:
        return self.backend

    def outputs(self) -> dict[str, OutputValue]:
        self.outputs_calls += 1
        if self.outputs_failures > 0:
            self.outputs_failures -= 1
            raise CommandFailed(
                f"pulumi stack output failed for stack {self.name!r}: error: 502 Bad Gateway"
            )
        return dict(self.stack_outputs)

    def history(self, *, page_size: int, page: int) -> list[HistoryEntry]:
        self.history_pages.append((page_size, page))
        start = (page - 1) * page_size
        return self.entries[start : start + page_size]

    def _maybe_locked(self) -> None:
        if self.locked_times > 0:
            self.locked_times -= 1
            raise StackLocked(f"stack {self.name!r} is locked: another update is in progress")


_stack_conforms: type[StackHandle] = FakeStack


@dataclass
class FakeBackend:
    """One `FakeStack` behind every stack name; records what was opened: (stack, org, create).

    `failure` makes opening fail as the real backend would (no Pulumi CLI, no such stack)."""

    stack: FakeStack = field(default_factory=FakeStack)
    org: str | None = None
    opened: list[tuple[str, str | None, bool]] = field(default_factory=list)
    failure: AutomationError | None = None

    def open_stack(self, stack: str, *, create: bool = False) -> FakeStack:
        if self.failure is not None:
            raise self.failure
        self.opened.append((stack, self.org, create))
        self.stack.name = stack
        return self.stack

    def for_project(self, work_dir: Path, org: str | None) -> FakeBackend:
        """The environment's backend factory: this backend, for `org`."""
        self.org = org
        return self


_backend_conforms: type[StackBackend] = FakeBackend


def fake_environment(backend: FakeBackend, **parts: Any) -> Environment:
    """The real environment (boto3 reaches the moto server through AWS_ENDPOINT_URL, output on
    the captured stderr) with the fake backend, and any other `parts` replaced."""
    return replace(Environment.real(), backend=backend.for_project, **parts)


def outputs_for(
    values: Mapping[str, Any], secrets: Mapping[str, Any] | None = None
) -> dict[str, OutputValue]:
    shown = {k: OutputValue(v, secret=False) for k, v in values.items()}
    shown.update({k: OutputValue(v, secret=True) for k, v in (secrets or {}).items()})
    return shown
