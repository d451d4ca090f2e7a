"""Ctrl-C and SIGTERM as exceptions, so a running update can be cancelled before the process ends.

Python turns SIGINT into KeyboardInterrupt but lets SIGTERM (what CI runners and `docker stop`
send) kill the process outright, which would leave the stack locked. Inside `signals_raise()` both
raise `Interrupted`; its exit code follows the shell convention 128 + signal number
(130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from automation.errors import AutomationError

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(AutomationError):
    def __init__(self, signum: int, message: str | None = None) -> None:
        self.signum = signum
        self.signame = signal.Signals(signum).name
        self.exit_code = 128 + signum
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
