"""`python -m automation decommission` through `automation.cli.main`, as CI runs it: exit codes,
JSON and human reports, the production guard, configuration errors."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from automation.cli import Environment, main
from automation.deploy.pulumi_seam import INSTALL_PULUMI
from automation.errors import AutomationError
from infra import outputs as names
from tests.automation.conftest import FakeService, make_service, make_target_group
from tests.automation.decommission.legacy_fleet import (
    ApiCalls,
    Clock,
    Fleet,
    cli_environment,
    gate_args,
    healthy_gates,
    new_session,
    project,
)
from tests.automation.fakes import FakeBackend


@pytest.fixture
def aws(moto_endpoint: str) -> boto3.Session:
    return new_session()


@pytest.fixture
def fleet(aws: boto3.Session) -> Fleet:
    return Fleet(aws)


@pytest.fixture
def repo(tmp_path: Path, fleet: Fleet) -> Path:
    return project(tmp_path / "repo", legacy_tags=fleet.selector_tags)


@pytest.fixture
def gates(aws: boto3.Session, service: FakeService) -> list[str]:
    return gate_args(healthy_gates(aws, service))


@pytest.fixture
def env(aws: boto3.Session) -> Environment:
    """Runs use the test's session, fast waits and a fixed clock."""
    return cli_environment(aws, Clock())


@pytest.fixture
def calls(aws: boto3.Session) -> ApiCalls:
    """The AWS calls the runs make through the test's session."""
    return ApiCalls.on(aws)


def decommission(env: Environment, repo: Path, *args: str) -> int:
    return main(["decommission", "--stack", "dev", "--repo", str(repo), *args], env)


def test_the_json_report_has_a_stable_shape(repo, fleet, gates, calls, env, capsys):
    web = fleet.instance("web-1")
    kept = fleet.instance("kept", extra={"DoNotDecommission": "yes"})

    code = decommission(env, repo, *gates, "--json")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert set(report) == {
        "schema",
        "stack",
        "region",
        "mode",
        "selection",
        "options",
        "gates",
        "proceed",
        "ok",
        "counts",
        "instances",
    }
    assert report["schema"] == 1
    assert report["mode"] == "dry-run"
    assert report["selection"] == {
        "tags": fleet.selector_tags,
        "instance_ids": [],
        "source": "Pulumi.dev.yaml",
    }
    assert report["options"] == {"terminate_now": False, "retain_days": 7, "force_protected": False}
    assert report["gates"]["checked"] is True
    assert report["gates"]["ok"] is True
    assert [c["name"] for c in report["gates"]["checks"]] == [
        "ecs-service-steady",
        "alb-targets-healthy",
        "health",
        "version",
    ]
    assert report["counts"] == {"planned": 1, "done": 0, "skipped": 1, "refused": 0, "failed": 0}
    instances = {i["instance_id"]: i for i in report["instances"]}
    assert set(instances[web]) == {
        "instance_id",
        "name",
        "state",
        "status",
        "reason",
        "actions",
        "selected_by",
    }
    assert instances[web]["status"] == "planned"
    assert instances[web]["name"] == "web-1"
    assert instances[web]["selected_by"] == ["tags"]
    assert [a["step"] for a in instances[web]["actions"]] == ["backup", "stop"]
    assert all(
        set(a) == {"step", "detail", "done"} and not a["done"] for a in instances[web]["actions"]
    )
    assert instances[kept]["status"] == "skipped"
    assert instances[kept]["actions"] == []
    assert calls.changes() == []


def test_the_human_report_is_a_table_on_stdout(repo, fleet, gates, calls, env, capsys):
    web = fleet.instance("web-1")
    assert decommission(env, repo, *gates) == 0
    out = capsys.readouterr().out
    assert "dry run (nothing changed; --execute to carry it out)" in out
    assert web in out
    assert "planned" in out
    assert "ok   version" in out


def test_execute_exits_1_when_an_instance_is_refused_and_the_others_proceed(
    repo, fleet, gates, calls, env, capsys
):
    web = fleet.instance("web")
    guarded = fleet.instance("guarded")
    fleet.protect(guarded, stop=True)

    code = decommission(env, repo, *gates, "--execute", "--json")
    captured = capsys.readouterr()
    assert code == 1
    assert "error: 1 instance(s) refused and 0 failed of 2 selected" in captured.err
    statuses = {i["instance_id"]: i["status"] for i in json.loads(captured.out)["instances"]}
    assert statuses == {web: "done", guarded: "refused"}
    assert fleet.state(web) == "stopped"
    assert fleet.state(guarded) == "running"


@pytest.mark.parametrize("broken", ["health", "version", "ecs"])
def test_gates_that_fail_refuse_with_exit_1_and_nothing_changes(
    broken, repo, fleet, aws, service, calls, env, capsys
):
    flags = healthy_gates(aws, service)
    if broken == "health":
        service.health_status = 503
    elif broken == "version":
        flags["version"] = "2.0.0"  # expected; the service still reports 1.4.2
    else:
        flags["serviceName"] = make_service(aws, desired=2, running=False).service
    web = fleet.instance("web")
    before = fleet.tags(web)
    calls.clear()

    code = decommission(env, repo, *gate_args(flags), "--execute")
    err = capsys.readouterr().err
    assert code == 1
    assert "error: the gates failed, nothing was changed" in err
    assert calls.changes() == []
    assert fleet.state(web) == "running"
    assert fleet.tags(web) == before


def test_skip_gates_is_refused_with_exit_2_on_a_production_stack(
    tmp_path, fleet, calls, env, capsys
):
    """The guard follows the `production` config flag, whatever the stack is called."""
    fleet.instance("web")
    repo = project(
        tmp_path / "repo", stack="staging", production=True, legacy_tags=fleet.selector_tags
    )
    code = main(
        ["decommission", "--stack", "staging", "--repo", str(repo), "--skip-gates", "--execute"],
        env,
    )
    assert code == 2
    assert "--skip-gates is refused for stack staging" in capsys.readouterr().err
    assert calls.calls == []  # refused before any AWS call


def test_skip_gates_on_a_non_production_stack_decommissions_without_gates(
    repo, fleet, calls, env, capsys
):
    web = fleet.instance("web")
    code = decommission(env, repo, "--skip-gates", "--execute", "--json")
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["gates"] == {"checked": False, "ok": None, "checks": []}
    assert report["instances"][0]["status"] == "done"
    assert fleet.state(web) == "stopped"


def test_selectors_that_match_nothing_exit_2_naming_them(repo, fleet, gates, calls, env, capsys):
    code = decommission(env, repo, *gates)
    err = capsys.readouterr().err
    assert code == 2
    assert (
        f"no instance in us-east-2 matches tags app=alunos-api, environment={fleet.environment}"
        in err
    )
    assert "(from Pulumi.dev.yaml)" in err


def test_no_selector_at_all_exits_2(tmp_path, gates, calls, env, capsys):
    repo = project(tmp_path / "repo")
    assert main(["decommission", "--stack", "dev", "--repo", str(repo), *gates], env) == 2
    assert "nothing to select" in capsys.readouterr().err
    assert calls.calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", "app"], "'app' is not KEY=VALUE"),
        (["--tag", "environment=dev*"], "contains a wildcard"),
        (["--instance-id", "web-1"], "'web-1' is not an instance id"),
        (["--retain-days", "-1"], "Invalid value for '--retain-days'"),
    ],
)
def test_bad_flags_exit_2(args, message, repo, gates, calls, env, capsys):
    assert decommission(env, repo, *gates, *args) == 2
    assert message in capsys.readouterr().err
    assert calls.calls == []


def test_flags_replace_the_stack_config_selectors(repo, fleet, gates, calls, env, capsys):
    fleet.instance("from-config")
    other = fleet.instance("other", environment="qa-" + fleet.environment)
    code = decommission(
        env,
        repo,
        *gates,
        "--tag",
        "app=alunos-api",
        "--tag",
        f"environment=qa-{fleet.environment}",
        "--json",
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [i["instance_id"] for i in report["instances"]] == [other]
    assert report["selection"]["source"] == "flags"


def test_gate_identifiers_missing_without_the_pulumi_cli_exit_2(repo, fleet, aws, capsys):
    fleet.instance("web")
    no_pulumi = FakeBackend(failure=AutomationError(INSTALL_PULUMI))
    env = cli_environment(aws, Clock(), backend=no_pulumi.for_project)
    code = decommission(env, repo, "--url", "http://127.0.0.1:9")
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "the gates need --cluster, --service, --target-group-arn, --expected-version: not given, "
        "and the stack outputs could not be read: the Pulumi CLI is not installed" in err
    )


def test_missing_credentials_are_named(repo, fleet, monkeypatch, tmp_path, capsys):
    fleet.instance("web")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code = main(["decommission", "--stack", "dev", "--repo", str(repo), "--skip-gates"])
    err = capsys.readouterr().err
    assert code == 1
    assert "AWS credentials are missing or expired (NoCredentialsError)" in err
    assert "Traceback" not in err


def test_tasks_in_the_alternate_target_group_pass_the_gates(
    repo, fleet, aws, service, calls, env, capsys
):
    """A canary, linear or blue/green strategy swaps the two target groups at each release:
    after an odd number the tasks sit in the second one, and the first is empty."""
    flags = healthy_gates(aws, service)
    serving = flags[names.TARGET_GROUP_ARN]
    flags[names.TARGET_GROUP_ARN] = make_target_group(aws)  # empty: the other one serves
    fleet.instance("web")
    assert decommission(env, repo, *gate_args(flags), "--json") == 1
    assert "no targets registered" in capsys.readouterr().out

    args = [*gate_args(flags), "--alternate-target-group-arn", serving, "--json"]
    assert decommission(env, repo, *args) == 0
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["gates"]["checks"]}
    assert checks["alb-targets-healthy"] == {
        "name": "alb-targets-healthy",
        "ok": True,
        "detail": "1/1 targets healthy",
    }
