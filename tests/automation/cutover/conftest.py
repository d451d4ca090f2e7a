"""Fixtures of the cutover tests: the fake clocks and the CLI environment that uses them, on a
moto server that keeps Route 53's rule for DELETE (`strict_deletes`)."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest

from automation.cli import Environment
from automation.cutover.bake import Clock
from automation.cutover.command import CutoverTiming
from tests.automation.cutover.site import FakeTime, strict_deletes


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def env(aws: boto3.Session, time: FakeTime) -> Environment:
    timing = CutoverTiming(
        clock=Clock(interval_seconds=15, sleep=time.sleep, monotonic=time.monotonic),
        now=time.now,
        route53_wait_delay=0,
    )
    strict_deletes(aws)
    return replace(Environment.real(), session=lambda region: aws, cutover_timing=timing)
