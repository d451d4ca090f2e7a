"""The policy rules over offline plans: the real stacks pass, each rule fires on a crafted plan."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automation.cli import main
from automation.insights import checks
from infra import resource_types as types
from infra import validation
from policy import rules
from policy.rules import RULES, Context, Resource
from tests.automation.insights.know_before import (
    VIOLATIONS,
    edit_container,
    edited,
    plan,
    stack_plan,
    violating_plan,
)

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def test_both_stacks_pass_on_their_real_config() -> None:
    dev = checks.run_checks(plan("dev"), production=False)
    prod = checks.run_checks(plan("prod"), production=True)
    assert (dev.violations, prod.violations) == ([], [])
    assert checks.text_report(prod) == "check prod (production): all 14 rules passed\n"
    assert checks.text_report(dev).startswith("check dev (non-production): all 11 rules passed (")
    # Production creating its own database passes too (deletion protection, encryption, private).
    assert checks.run_checks(stack_plan("prod-rds"), production=True).passed


def test_dev_would_not_pass_as_production() -> None:
    """Why dev is not production: public tasks, no deletion protection, ECS Exec's writable root."""
    report = checks.run_checks(plan("dev"), production=True)
    assert report.failed_rules() == {
        "no-public-tasks-in-production",
        "deletion-protection-in-production",
        "read-only-root-in-production",
    }


@pytest.mark.parametrize(("rule_id", "stack", "production", "type_", "name", "mutate"), VIOLATIONS)
def test_each_rule_fires_on_a_crafted_plan(
    rule_id: str, stack: str, production: bool, type_: str, name: str | None, mutate: Any
) -> None:
    report = checks.run_checks(violating_plan(stack, type_, name, mutate), production=production)
    assert report.failed_rules() == {rule_id}
    (violation,) = report.violations
    assert violation.resource_type == type_
    assert violation.fix == rules.rule(rule_id).fix
    text = checks.text_report(report)
    assert f"✗ {rule_id}: {violation.resource_name} ({type_})" in text
    assert f"why: {violation.why}" in text
    assert f"fix: {violation.fix}" in text


def test_every_rule_has_a_crafted_violation() -> None:
    assert {case[0] for case in VIOLATIONS} == {rule.id for rule in RULES}


def test_production_rules_do_not_apply_outside_production() -> None:
    public = edited(plan("prod"), types.SERVICE,
                    lambda i: i["networkConfiguration"].update(assignPublicIp=True))  # fmt: skip
    assert checks.run_checks(public, production=False).passed
    assert not checks.run_checks(public, production=True).passed


def test_the_load_balancers_http_and_https_are_the_only_world_open_ports() -> None:
    # 443 open to the world on the load balancer's group (prod) is allowed, on the tasks' not.
    prod = checks.run_checks(plan("prod"), production=True)
    assert prod.passed

    def open_443(inputs: dict[str, Any]) -> None:
        inputs.pop("referencedSecurityGroupId")
        inputs.update(cidrIpv4="0.0.0.0/0", fromPort=443, toPort=443)

    tasks_443 = edited(plan("dev"), types.INGRESS_RULE, open_443, "alunos-dev-in-alb")
    (violation,) = checks.run_checks(tasks_443, production=False).violations
    assert (
        violation.why
        == "opens tcp/443-443 to 0.0.0.0/0 on a security group that is not a load balancer's"
    )
    # Inline ingress on a security group, and the classic SecurityGroupRule, are read too.
    inline = Resource(types.SECURITY_GROUP, "sg", "urn:sg", {
        "ingress": [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["0.0.0.0/0"]}]})  # fmt: skip
    classic = Resource(types.SECURITY_GROUP_RULE, "r", "urn:r", {
        "type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["::/0"]})  # fmt: skip
    found = rules.evaluate([inline, classic], Context(production=False))
    assert [(v.resource_name, v.why) for v in found] == [
        ("sg", "opens tcp/5432-5432 to 0.0.0.0/0"),
        ("r", "opens tcp/22-22 to ::/0"),
    ]


def test_secret_detection_by_name_and_value() -> None:
    def env(name: str, value: str) -> list[str]:
        task = Resource(types.TASK_DEFINITION, "t", "urn:t", {
            "containerDefinitions": json.dumps([{"name": "app", "environment": [{"name": name, "value": value}]}])})  # fmt: skip
        return [v.why for v in rules.evaluate([task], Context(production=False))]

    for name in (
        "DB_PASSWORD",
        "api_key",
        "GITHUB_TOKEN",
        "JWT_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "SIGNING_KEY",
    ):
        assert env(name, "x"), name
    for value in ("AKIAIOSFODNN7EXAMPLE", "postgres://app:s3cret@db/alunos",
                  "-----BEGIN RSA PRIVATE KEY-----", "ghp_" + "a" * 36):  # fmt: skip
        assert env("SETTING", value), value
    for name, value in (("HOST", "db.internal"), ("DBPORT", "5432"), ("URL", "https://example.com/a@b"),
                        ("PORT", "8000"), ("APP_VERSION", "1.4.2")):  # fmt: skip
        assert env(name, value) == [], name


def test_unknown_values_are_not_violations() -> None:
    """A preview's unknown values are judged at `pulumi up`, when they are known."""
    unknown_image = edited(plan("dev"), types.TASK_DEFINITION,
                           edit_container(lambda c: c.update(image=UNKNOWN)))  # fmt: skip
    unknown_task = edited(plan("dev"), types.TASK_DEFINITION,
                          lambda i: i.update(containerDefinitions=UNKNOWN))  # fmt: skip
    unknown_policy = edited(plan("prod"), types.LISTENER,
                            lambda i: i.update(sslPolicy=UNKNOWN), "alunos-prod-https")  # fmt: skip
    for candidate, production in (
        (unknown_image, False),
        (unknown_task, False),
        (unknown_policy, True),
    ):
        assert checks.run_checks(candidate, production=production).passed


def test_tls_policies_the_config_accepts_pass_the_rule() -> None:
    assert set(validation.MODERN_SSL_POLICIES) <= set(rules.MODERN_TLS_POLICIES)


def test_json_and_markdown_reports() -> None:
    _, stack, _, type_, name, mutate = VIOLATIONS[-1]
    failing = checks.run_checks(violating_plan(stack, type_, name, mutate), production=True)
    document = checks.to_json(failing)
    assert document["passed"] is False
    assert document["stack"] == "prod"
    assert {r["id"]: r["status"] for r in document["rules"]}[
        "read-only-root-in-production"
    ] == "failed"
    assert set(document["violations"][0]) == {
        "rule",
        "resource_type",
        "resource",
        "urn",
        "why",
        "fix",
    }
    dev = checks.to_json(checks.run_checks(plan("dev"), production=False))
    assert {r["status"] for r in dev["rules"]} == {"passed", "skipped"}

    text = checks.check_markdown([checks.run_checks(plan("dev"), production=False), failing])
    assert "### Policy checks: `dev` (non-production): ✅ 11 rules passed" in text
    assert "Production-only rules not applied: no-public-tasks-in-production" in text
    assert "### Policy checks: `prod` (production): ❌ 1 violation(s)" in text
    assert (
        "| `read-only-root-in-production` | `alunos-prod-task` | container 'app' can write" in text
    )


def test_check_command_exit_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["check", "--stack", "prod"]) == 0
    assert capsys.readouterr().out == "check prod (production): all 14 rules passed\n"

    from automation.offline import engine

    bad = violating_plan("prod", types.LOG_GROUP, None, lambda i: i.pop("retentionInDays"))
    monkeypatch.setattr(engine, "run", lambda root, stack: bad)
    assert main(["check", "--stack", "prod", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [v["rule"] for v in document["violations"]] == ["log-retention"]
    assert main(["check", "--stack", "nope"]) == 2
    assert "unknown stack 'nope'" in capsys.readouterr().err
