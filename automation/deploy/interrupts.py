"""Ctrl-C and SIGTERM as exceptions, so a running update can be cancelled before the process ends.

Python turns SIGINT into KeyboardInterrupt but lets SIGTERM (what CI runners and `docker stop`
send) kill the process outright, which would leave the stack locked. Inside `signals_raise()` both
raise `Interrupted`; its exit code follows the shell convention 128 + signal number
(130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Generic, TypeVar

from automation.errors import AutomationError

HANDLED = (signal.SIGINT, signal.SIGTERM)

# The kernel may deliver a process signal to any thread; Python runs the handler on the main
# thread, but only once that thread executes bytecode again. A main thread blocked for minutes
# in a join would not notice Ctrl-C until the update ended, so it waits in short slices instead.
SLICE_SECONDS = 0.2

T = TypeVar("T")


class Interrupted(AutomationError):
    def __init__(
        self, signum: int, message: str | None = None, *, received_at: float | None = None
    ) -> None:
        self.signum = signum
        self.signame = signal.Signals(signum).name
        self.exit_code = 128 + signum
        self.received_at = time.monotonic() if received_at is None else received_at
        """When the signal arrived (`time.monotonic()`): the clock a CI runner's kill runs on."""
        super().__init__(message or f"interrupted by {self.signame}")


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Interrupted` inside the block (main thread only: elsewhere
    Python cannot install handlers, and the block runs with the handlers it already has)."""
    with _handlers(_raise):
        yield


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Shield a short clean-up (the cancel) from a second signal; CI follows SIGINT with SIGTERM."""
    with _handlers(signal.SIG_IGN):
        yield


@contextmanager
def _handlers(handler: signal._HANDLER) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class Background(Generic[T]):
    """`action` run on a worker thread by `result()`, awaited from the main thread in slices.

    `started` turns true just before the worker starts: an interrupt that finds it false came
    before the action could begin, so there is nothing to cancel.
    """

    def __init__(self, action: Callable[[], T], *, name: str) -> None:
        self._action = action
        self._name = name
        self._done = threading.Event()
        self._result: list[T] = []
        self._error: list[BaseException] = []
        self.started = False

    def _run(self) -> None:
        try:
            self._result.append(self._action())
        except Exception as error:  # noqa: BLE001 - not hidden: re-raised by result()
            self._error.append(error)
        finally:
            self._done.set()

    @property
    def error(self) -> BaseException | None:
        """What the action raised, once it has ended (None: it returned)."""
        return self._error[0] if self._error else None

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the action to end; True when it has."""
        deadline = time.monotonic() + seconds
        while not self._done.wait(min(SLICE_SECONDS, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
        return True

    def result(self) -> T:
        """Run the action; its result (or its exception), however long it takes."""
        if not self.started:
            self.started = True
            threading.Thread(target=self._run, name=self._name, daemon=True).start()
        while not self._done.wait(SLICE_SECONDS):
            pass
        if self._error:
            raise self._error[0]
        return self._result[0]


def sleep(seconds: float) -> None:
    """`time.sleep` in slices, so that a signal interrupts a long wait promptly."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(SLICE_SECONDS, left))
