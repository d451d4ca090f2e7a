"""The engine events of a preview run through the Automation API, kept for its PR comment.

`preview --comment` renders the comment from the events the preview delivers through `on_event`
(the same fold as `render --events FILE`), and `--events-out FILE` saves them as an event log
for the workflow's artifacts. The saved log has property values and config masked the way the
comment shows them, so an artifact anyone with read access can download never holds a secret
or a value under a secret-looking key; rendering it again gives the same comment, except that a
change only a secret value shows (say, a new kubeconfig output) is no longer seen.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pulumi.automation import EngineEvent

from automation.changes import ChangeSet
from automation.errors import UsageProblem
from automation.pr.events import (
    FAILED_EVENT,
    OUTPUTS_EVENT,
    PRE_EVENT,
    change_set_from_json,
    event_to_json,
    mask,
)


class EventRecorder:
    """An `on_event` callback that keeps every event, converted once to the engine's JSON.

    The Automation API may call it from several threads at once (newer CLIs stream events over
    gRPC to a thread pool): appends and writes are serialized; the fold does not mind the order.
    """

    def __init__(self, log: IO[str] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._log = log
        self._lock = threading.Lock()

    def __call__(self, event: EngineEvent) -> None:
        converted = event_to_json(event)
        with self._lock:
            self.events.append(converted)
            if self._log is not None:
                self._log.write(json.dumps(saved_event(converted)) + "\n")

    def change_set(self, stack: str, version: str | None = None) -> ChangeSet:
        with self._lock:
            events = list(self.events)
        return change_set_from_json(events, stack, version)


@contextmanager
def recording(events_out: Path | None) -> Iterator[EventRecorder]:
    """A recorder, writing to `events_out` when given (opened now, so a bad path fails before
    the preview runs rather than after)."""
    if events_out is None:
        yield EventRecorder()
        return
    try:
        log = events_out.open("w", encoding="utf-8")
    except OSError as error:
        raise UsageProblem(
            f"--events-out {events_out}: cannot write the event log ({error.strerror})"
        ) from None
    with log:
        yield EventRecorder(log)


def saved_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as the artifact keeps it: step states' inputs and outputs, and the prelude's
    config, masked (`events.mask`); everything else (operations, diffs, URNs) as it was."""
    saved = dict(event)
    prelude = saved.get("preludeEvent")
    if isinstance(prelude, dict) and isinstance(prelude.get("config"), dict):
        saved["preludeEvent"] = {**prelude, "config": mask(prelude["config"])}
    for kind in (PRE_EVENT, OUTPUTS_EVENT, FAILED_EVENT):
        body = saved.get(kind)
        if not (isinstance(body, dict) and isinstance(body.get("metadata"), dict)):
            continue
        metadata = dict(body["metadata"])
        for name in ("old", "new"):
            state = metadata.get(name)
            if isinstance(state, dict):
                metadata[name] = {
                    key: mask(value) if key in ("inputs", "outputs") else value
                    for key, value in state.items()
                }
        saved[kind] = {**body, "metadata": metadata}
    return saved
