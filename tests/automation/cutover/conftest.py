"""Fixtures of the cutover tests: the fake clocks and the CLI environment that uses them, on a
moto server that keeps Route 53's rule for DELETE (`strict_deletes`)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from automation.cli import Environment, main
from automation.cutover.bake import Clock
from automation.cutover.command import CutoverTiming
from tests.automation.cutover.site import Errors, FakeTime, Run, Site, stack_repo, strict_deletes


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


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return stack_repo(tmp_path / "repo")


@pytest.fixture
def site(aws: boto3.Session) -> Site:
    return Site(aws)


@pytest.fixture
def errors() -> Errors:
    return Errors()


@pytest.fixture
def run(
    repo: Path, site: Site, env: Environment, errors: Errors, capsys: pytest.CaptureFixture[str]
) -> Run:
    """`cutover --stack dev ... --json ARGS` on the site (or `on=` another): exit code, report."""

    def cutover(*args: str, on: Site | None = None) -> tuple[int, dict[str, Any]]:
        target = on or site
        argv = ["cutover", "--stack", "dev", "--repo", str(repo), *target.flags(), "--json", *args]
        code = main(argv, env)
        captured = capsys.readouterr()
        errors.text = captured.err
        return code, json.loads(captured.out) if captured.out.strip() else {}

    return cutover
