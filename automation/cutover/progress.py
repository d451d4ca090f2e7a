"""How a wait or a bake shows itself: a live bar in a terminal, plain lines in CI.

A CI log cannot redraw a bar, and a bar's carriage returns make an unreadable log; so on anything
but a terminal the wait prints one line at its start, one every `every_seconds`, and one at the
end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


@dataclass
class LineProgress:
    """Plain lines, for logs."""

    say: Callable[[str], None]
    every_seconds: float = 30.0
    _total: float = field(default=0.0, init=False)
    _what: str = field(default="", init=False)
    _last: float = field(default=-1.0, init=False)

    def start(self, total_seconds: float, what: str) -> None:
        self._total, self._what, self._last = total_seconds, what, -1.0
        self.say(f"{what}: {total_seconds:.0f} s")

    def update(self, elapsed_seconds: float, note: str) -> None:
        finished = elapsed_seconds >= self._total
        if finished or self._last < 0 or elapsed_seconds - self._last >= self.every_seconds:
            self._last = elapsed_seconds
            left = max(0.0, self._total - elapsed_seconds)
            self.say(f"  {elapsed_seconds:.0f}/{self._total:.0f} s ({left:.0f} s left): {note}")

    def stop(self) -> None:
        pass


class BarProgress:
    """A live bar with the time left, for a person at a terminal."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[note]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, total_seconds: float, what: str) -> None:
        self._progress.start()
        self._task = self._progress.add_task(what, total=total_seconds, note="")

    def update(self, elapsed_seconds: float, note: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=elapsed_seconds, note=note)

    def stop(self) -> None:
        self._progress.stop()  # draws the bar's last state, which stays on screen
        if self._task is not None:
            # One Progress serves every wait of a run: without this, the next wait's bar would
            # be drawn under a copy of this finished one.
            self._progress.remove_task(self._task)
        self._task = None


def for_console(console: Console, say: Callable[[str], None]) -> LineProgress | BarProgress:
    return BarProgress(console) if console.is_terminal else LineProgress(say)
