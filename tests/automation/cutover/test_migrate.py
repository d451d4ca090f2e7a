"""`python -m automation migrate`, as the `migrate` workflow runs it: identifiers from the stack
config (domainName, hostedZoneId) and outputs (ALB, alarms), one step per run, and nothing to do
once the migration is finished."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from automation.cli import Environment, main
from infra import outputs as names
from tests.automation.conftest import REGION
from tests.automation.cutover.site import Site, stack_repo
from tests.automation.fakes import FakeBackend, FakeStack, outputs_for


@pytest.fixture
def site(aws: boto3.Session) -> Site:
    return Site(aws, ttl=60)


@pytest.fixture
def repo(tmp_path: Path, site: Site) -> Path:
    """A stack with its own name and legacy selectors that match no instance any more."""
    return stack_repo(
        tmp_path / "repo",
        {
            "alunos-api:domainName": site.record,
            "alunos-api:hostedZoneId": site.zone_id,
            "alunos-api:legacyTags": ["app=alunos-api-gone"],
        },
    )


@pytest.fixture
def backend(site: Site) -> FakeBackend:
    outputs = {
        names.ALB_DNS_NAME: site.alb_dns,
        names.ALB_ZONE_ID: site.alb_zone,
        names.ALARM_NAMES: list(site.alarms),
        names.REGION: REGION,
    }
    return FakeBackend(FakeStack(stack_outputs=outputs_for(outputs)))


@pytest.fixture
def env(env: Environment, backend: FakeBackend) -> Environment:
    return replace(env, backend=backend.for_project)


def migrate(env: Environment, repo: Path, capsys: Any, *args: str) -> tuple[int, dict[str, Any]]:
    """The exit code and the JSON report (or, when there is none, {"error": what stderr says})."""
    code = main(["migrate", "--stack", "dev", "--repo", str(repo), "--json", *args], env)
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {"error": captured.err}


def test_steps_from_config_and_outputs_until_there_is_nothing_to_do(
    env, repo, site, capsys, monkeypatch
):
    code, report = migrate(env, repo, capsys, "--step", "10")
    assert code == 0, report
    assert report["status"] == "planned"  # a dry run unless --execute
    assert report["load_balancer"] == {"dns_name": site.alb_dns, "zone_id": site.alb_zone}
    assert report["alarms"] == list(site.alarms)

    monkeypatch.setenv("MIGRATE_EXECUTE", "true")  # the workflow's checkbox
    for step in ("10", "100", "finish"):
        code, report = migrate(env, repo, capsys, "--step", step)
        assert (code, report["status"]) == (0, "done"), report["reason"]
    assert site.weights() == {"fargate": 100}

    for step in ("0", "50", "finish", "decommission"):
        code, report = migrate(env, repo, capsys, "--step", step)
        assert (code, report["status"]) == (0, "finished"), step
        assert ("Going back after --finish" in report["reason"]) is (step in ("0", "50")), step


def test_decommission_before_the_cutover_is_finished_is_a_config_error(env, repo, capsys):
    code, report = migrate(env, repo, capsys, "--step", "decommission")
    assert code == 2
    assert "no instance in us-east-2 matches" in report["error"]


@pytest.mark.parametrize("step", ["101", "ten", "-1", ""])
def test_an_unknown_step_exits_2(env, repo, capsys, step):
    code, report = migrate(env, repo, capsys, "--step", step)
    assert code == 2
    assert "allowed: status, finish, decommission or a share 0..100" in report["error"]
