"""The Pulumi SDK's private runtime names the offline engine relies on, in one place.

`pulumi.runtime.test` (the SDK's public way to run code under mocks) runs one function and drops
what it returns; the engine must also read the stack's exports once the program has finished. So
it does what that decorator does, with the same private names: clear the runtime's settings of a
previous run, run the program as the language host does (`run_pulumi_func`) and pump the event
loop until it is done (`_sync_await`). Private names can change in any release:
tests/automation/offline/test_pulumi_internals.py checks them against the pulumi version pinned
in uv.lock and fails, naming what to check, when that pin moves away from CHECKED_PULUMI_VERSION.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

CHECKED_PULUMI_VERSION = "3.272.0"
"""The pulumi release whose runtime the calls below were read against (pulumi.runtime.mocks.test
in that release does the same)."""

T = TypeVar("T")


def ensure_event_loop() -> None:
    """An event loop on this thread before `set_mocks`: a caller that ran asyncio.run() before
    (which closes and clears it) would otherwise break the mock engine."""
    _ensure_event_loop()


def run_program(program: Callable[[], None]) -> None:
    """Run `program` under the configured mocks to the end, every resource registration
    included, with nothing left over from a previous run."""
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(program))


def wait(awaitable: Awaitable[T]) -> T:
    """The result of `awaitable`, on the runtime's event loop (outside any running coroutine)."""
    return _sync_await(awaitable)
