"""Reading a `pulumi preview --event-log` file: one JSON object per line, quickly.

What the events mean is `events.py`'s business. This module turns the lines of a log into the
objects `json.loads` gives, and names the line of any problem. A preview of 20,000 resources
writes some 60 MB of events; two measured shortcuts (`bench/render_bench.py`) halve the time
it takes to read and fold them, and neither can change what is read:

- orjson decodes a line twice as fast as `json.loads` (1.4 times with the check below), but
  not always to the same value: it reads an integer below -2**63 or from 2**64 on as a float,
  and refuses NaN, Infinity and lone surrogate escapes. A line with 19 digits in a row (as any
  such integer has) goes to `json.loads`, and so does every line orjson refuses: values and
  error messages are always the standard decoder's.
- The cyclic garbage collector is paused while a log is read and folded (see `EventLog`).

A third shortcut, skipping repeated step lines undecoded when a regex recognised their first
fields in the engine's order, saved 2% and let a broken repeated line through: it is gone.

`EventLog(path, fast=False)` is the plain reader, without either: the tests hold the fast one
to it, object for object and error for error.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from automation.errors import UsageProblem


class MalformedEvent(UsageProblem):
    """An engine event whose shape the reader cannot use (exit 2, like any bad input)."""


# Every byte but the ASCII digits becomes "x" and every digit "0": 19 zeros in a row are 19
# digits in a row (translating bytes is a table look-up in C; a regex takes ten times longer).
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x78 for byte in range(256))
_NINETEEN_DIGITS = b"0" * 19


def fast_loads(line: str) -> Any:
    """`json.loads(line)`, with orjson where it is known to decode the same (see above)."""
    encoded = line.encode("utf-8", "surrogatepass")
    if _NINETEEN_DIGITS in encoded.translate(_DIGITS_AS_ZEROS):
        return json.loads(line)
    try:
        return orjson.loads(encoded)
    except orjson.JSONDecodeError:
        return json.loads(line)


class EventLog:
    """An event log file: iterating it yields each line's JSON object, and `line` says which
    line it is at. Used as a context manager, it pauses the garbage collector and names the
    line of any `MalformedEvent` raised in the block (by the fold the objects go to).

    The pause: reading a large log allocates millions of objects and keeps many of them, none
    in a reference cycle (JSON is a tree, and so is the fold), so the cyclic collector would
    rescan them over and over while finding nothing to free: 40% of the time of a fold.
    Objects are still freed as soon as they are dropped; only the scans wait.
    """

    def __init__(self, path: Path, *, fast: bool = True) -> None:
        self.path = path
        self.fast = fast
        self.line = 0
        self._collector_was_enabled = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        path, loads = self.path, fast_loads if self.fast else json.loads
        self.line = 0
        try:
            with path.open(encoding="utf-8") as lines:
                for self.line, text in enumerate(lines, start=1):
                    if text.isspace():
                        continue
                    try:
                        event = loads(text)
                    except json.JSONDecodeError as error:
                        raise UsageProblem(
                            f"{path}:{self.line}: not a JSON engine event ({error.msg} at column "
                            f"{error.colno}); an event log holds one JSON object per line"
                        ) from None
                    except RecursionError:
                        raise UsageProblem(
                            f"{path}:{self.line}: not an engine event: JSON nested too deeply to "
                            "read (the engine writes a few levels)"
                        ) from None
                    if not isinstance(event, dict):
                        raise UsageProblem(
                            f"{path}:{self.line}: expected a JSON object, "
                            f"found {type(event).__name__}"
                        )
                    yield event
        except FileNotFoundError:
            raise UsageProblem(f"event log {path} does not exist") from None
        except IsADirectoryError:
            raise UsageProblem(f"event log {path} is a directory, not a file") from None
        except PermissionError:
            raise UsageProblem(f"event log {path} is not readable (permission denied)") from None
        except UnicodeDecodeError:
            raise UsageProblem(
                f"event log {path} is not UTF-8 text ({_first_non_utf8(path)}); "
                "pass the file `pulumi preview --event-log` wrote"
            ) from None

    def __enter__(self) -> EventLog:
        if self.fast:
            self._collector_was_enabled = gc.isenabled()
            gc.disable()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        problem: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._collector_was_enabled:
            gc.enable()
        if isinstance(problem, MalformedEvent):
            raise MalformedEvent(
                f"{self.path}:{self.line}: not a valid engine event: {problem}"
            ) from None


def _first_non_utf8(path: Path) -> str:
    """Where a file's first byte that is not UTF-8 is, as `line N, byte M` (both from 1): the
    text reader decodes ahead of the line it yields, so its own error cannot say."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = error.start - data.rfind(b"\n", 0, error.start)
        return f"line {line}, byte {byte}"
    return "the file changed while it was read"
