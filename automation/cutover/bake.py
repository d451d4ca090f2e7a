"""The bake: after traffic moves to the new service, watch its alarms for a while.

The alarms are the stack's own (5xx rate, unhealthy targets...: the `alarmNames` output). An
alarm in ALARM at any look ends the bake as breached, and the caller puts the weights back.
INSUFFICIENT_DATA is not a breach: with little traffic on the new service, its metrics may have
no data points yet. An alarm name that does not exist is a configuration error found before any
change is made (`alarm_states`), not a bake that can never fail. Each look first calls `watch`,
which ends the bake by raising (the caller's check that the records still hold its weights).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from automation.deploy.aws_errors import aws_call
from automation.errors import UsageProblem

ALARM = "ALARM"
NAMES_PER_CALL = 100  # DescribeAlarms accepts at most 100 AlarmNames


@dataclass(frozen=True, slots=True)
class AlarmState:
    name: str
    state: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "state": self.state, "reason": self.reason}


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> list[AlarmState]:
    """The current state of each named alarm (metric or composite); unknown names -> exit 2."""
    found: dict[str, AlarmState] = {}
    with aws_call("reading the alarms' states"):
        for start in range(0, len(names), NAMES_PER_CALL):
            chunk = list(names[start : start + NAMES_PER_CALL])
            pages = cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            for page in pages:
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    found[alarm["AlarmName"]] = AlarmState(
                        alarm["AlarmName"], alarm["StateValue"], alarm.get("StateReason", "")
                    )
    missing = [name for name in names if name not in found]
    if missing:
        raise UsageProblem(
            f"alarm(s) not found in this region: {', '.join(missing)} (check --alarm or the "
            "stack's alarmNames output)"
        )
    return [found[name] for name in names]


class Progress(Protocol):
    """Shows the bake as it goes: a live bar in a terminal, plain lines in CI."""

    def start(self, total_seconds: float, what: str) -> None: ...

    def update(self, elapsed_seconds: float, note: str) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BakeResult:
    seconds: float
    watched_seconds: float
    looks: int
    breached: tuple[AlarmState, ...]

    @property
    def passed(self) -> bool:
        return not self.breached

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "watched_seconds": round(self.watched_seconds, 1),
            "looks": self.looks,
            "result": "passed" if self.passed else "breached",
            "breached": [alarm.to_json() for alarm in self.breached],
        }


@dataclass(frozen=True, slots=True)
class Clock:
    """Time for waits, passed in so tests control it."""

    interval_seconds: float = 15.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)


def bake(
    cloudwatch: Any,
    alarms: Sequence[str],
    seconds: float,
    *,
    clock: Clock,
    progress: Progress,
    watch: Callable[[], None],
) -> BakeResult:
    """Look at the alarms every `clock.interval_seconds` for `seconds`; stop at the first ALARM.
    Errors (CloudWatch's, `watch`'s) propagate: the caller decides what the weights become."""
    start = clock.monotonic()
    looks = 0
    progress.start(seconds, f"baking: watching {len(alarms)} alarm(s)")
    try:
        while True:
            looks += 1
            watch()
            states = alarm_states(cloudwatch, alarms)
            breached = tuple(state for state in states if state.state == ALARM)
            elapsed = clock.monotonic() - start
            if breached:
                names = ", ".join(state.name for state in breached)
                progress.update(elapsed, f"ALARM: {names}")
                return BakeResult(seconds, elapsed, looks, breached)
            progress.update(min(elapsed, seconds), "alarms OK")
            if elapsed >= seconds:
                return BakeResult(seconds, elapsed, looks, ())
            clock.sleep(min(clock.interval_seconds, seconds - elapsed))
    finally:
        progress.stop()
