"""The AWS clients a run uses, and how long it waits."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from automation.deploy.verify import DEFAULT_POLLING, Polling

# Standard retries ride out throttling (a fleet-wide scan makes many describe calls).
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})


@dataclass(frozen=True, slots=True)
class Aws:
    ec2: Any
    elbv2: Any
    elb: Any
    autoscaling: Any

    @classmethod
    def from_session(cls, session: boto3.Session) -> Aws:
        """Clients in the session's region; `AWS_ENDPOINT_URL` is honoured by boto3 itself."""
        return cls(
            ec2=session.client("ec2", config=CLIENT_CONFIG),
            elbv2=session.client("elbv2", config=CLIENT_CONFIG),
            elb=session.client("elb", config=CLIENT_CONFIG),
            autoscaling=session.client("autoscaling", config=CLIENT_CONFIG),
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Waits:
    """How long each wait may last. Waiters poll every `delay_seconds`; the defaults cover the
    slowest normal case (a load balancer's drain timeout, a large AMI), and a wait that gives up
    fails only that instance: the next run resumes it."""

    delay_seconds: int = 15
    draining_margin_seconds: int = 120  # beyond the load balancer's own drain timeout
    draining_max_seconds: int = 3600 + 120  # the longest drain timeout AWS allows, and margin
    image_seconds: int = 3600
    state_seconds: int = 900  # stopping or terminating
    detach_seconds: int = 300
    polling: Polling = DEFAULT_POLLING  # for the waits boto3 has no waiter for (detaching)
    now: Callable[[], datetime] = field(default=utc_now, repr=False)
    """Wall clock (UTC) for the recorded stop time and the retention."""

    def config(self, seconds: float) -> dict[str, int]:
        """A waiter's `WaiterConfig` that gives up after about `seconds`."""
        attempts = math.ceil(seconds / self.delay_seconds) if self.delay_seconds else seconds
        return {"Delay": self.delay_seconds, "MaxAttempts": max(1, int(attempts)) + 1}

    def draining(self, drain_timeout_seconds: float) -> dict[str, int]:
        seconds = drain_timeout_seconds + self.draining_margin_seconds
        return self.config(min(seconds, self.draining_max_seconds))


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """`items` in slices of at most `size`: the API's limit on ids or filter values per call."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
