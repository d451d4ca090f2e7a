"""The policy rules over offline plans: the real stacks pass, each rule fires on a crafted plan."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from dunamai import Version

from automation.cli import main
from automation.insights import checks
from automation.release.version import _build_version
from infra import image, validation
from infra import resource_types as types
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
    assert checks.text_report(prod) == "check prod (production): all 25 rules passed\n"
    assert checks.text_report(dev).startswith("check dev (non-production): all 21 rules passed (")
    # Production creating its own database passes too (deletion protection, encryption, private).
    assert checks.run_checks(stack_plan("prod-rds"), production=True).passed


def test_dev_would_not_pass_as_production() -> None:
    """Why dev is not production: public tasks, no deletion protection, ECS Exec's writable root,
    no access logs."""
    report = checks.run_checks(plan("dev"), production=True)
    assert report.failed_rules() == {
        "no-public-tasks-in-production",
        "deletion-protection-in-production",
        "read-only-root-in-production",
        "edge-logging-in-production",
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


def test_every_description_is_one_aws_accepts() -> None:
    """EC2's character set and length, on groups, their inline rules and standalone rules of
    every kind, and WAF's on web ACLs: an apostrophe or an accent fails the AWS call."""

    def why(type_: str, props: dict[str, Any]) -> list[str]:
        return [v.why for v in rules.evaluate([Resource(type_, "r", "urn:r", props)],
                                              Context(production=False))]  # fmt: skip

    allowed = "ALB to tasks: tcp/8000 (ECS) #1, @a [b] {c} +=&;!$* x_y-z.w"
    for type_ in (types.INGRESS_RULE, types.EGRESS_RULE, types.SECURITY_GROUP_RULE):
        assert why(type_, {"description": allowed}) == []
        assert why(type_, {"description": "the tasks' port"}) == [
            'description "the tasks\' port" has characters AWS rejects: "\'"'
        ]
    assert why(types.SECURITY_GROUP, {"description": "ação", "egress": [
        {"description": "ok"}, {"description": 'say "hi"'}]}) == [
        "description 'ação' has characters AWS rejects: 'ã' 'ç'",
        "egress[1].description 'say \"hi\"' has characters AWS rejects: '\"'",
    ]  # fmt: skip
    assert why(types.SECURITY_GROUP, {"description": "d" * 255}) == []
    assert why(types.SECURITY_GROUP, {"description": "d" * 256}) == [
        "description is 256 characters long; AWS accepts 255"
    ]
    assert why(types.INGRESS_RULE, {"description": UNKNOWN}) == []
    # WAF accepts fewer characters than EC2 (no parentheses, no apostrophe) and no edge spaces.
    assert why(types.WEB_ACL, {"description": "alunos-prod: rules, rate limit/IP #1 @a+b=c"}) == []
    assert why(types.WEB_ACL, {"description": "the app's limit (64 KiB) "}) == [
        "description \"the app's limit (64 KiB) \" has characters AWS rejects: \"'\" '(' ')'",
        'description "the app\'s limit (64 KiB) " starts or ends with a space, which AWS rejects',
    ]
    assert why(types.WEB_ACL, {"description": "w" * 257}) == [
        "description is 257 characters long; AWS accepts 256"
    ]
    # Every description the real stacks send passes (the fixed ALB egress rule among them).
    for stack in ("dev", "prod"):
        assert not checks.run_checks(plan(stack), production=stack == "prod",
                                     rules=[rules.rule("aws-descriptions")]).violations  # fmt: skip


def test_lifecycle_policies_ecr_would_refuse() -> None:
    def why(rules_: list[dict[str, Any]]) -> list[str]:
        policy = Resource(
            types.LIFECYCLE_POLICY, "p", "urn:p", {"policy": json.dumps({"rules": rules_})}
        )
        return [v.why for v in rules.evaluate([policy], Context(production=False))]

    def rule_(priority: int, status: str, **selection: Any) -> dict[str, Any]:
        counted = {"countType": "imageCountMoreThan", "countNumber": 5}
        return {"rulePriority": priority, "action": {"type": "expire"},
                "selection": {"tagStatus": status, **counted, **selection}}  # fmt: skip

    good = [rule_(1, "untagged", countType="sinceImagePushed", countUnit="days", countNumber=7),
            rule_(2, "tagged", tagPatternList=["*dev*"]), rule_(9, "any")]  # fmt: skip
    assert why(good) == []
    assert why([rule_(1, "any"), rule_(2, "tagged", tagPatternList=["*a*b*c*d*e"])]) == [
        "rule 2: pattern '*a*b*c*d*e' has more than 4 wildcards",
        "rule 1 (tagStatus any) is not the last by priority",
    ]
    assert why([rule_(1, "tagged"), rule_(1, "untagged", tagPrefixList=["v"])]) == [
        "rule priorities are not unique: [1, 1]",
        "rule 1: a tagged rule selects by exactly one of tagPatternList and tagPrefixList",
        "rule 1: a untagged rule cannot select by tagPrefixList",
    ]
    assert why([rule_(1, "untagged"), rule_(2, "untagged", countNumber=0),
                rule_(3, "tagged", tagPrefixList=["v"], countType="sinceImagePushed")]) == [
        "rule 2: countNumber is 0, not a positive integer",
        "rule 3: a sinceImagePushed rule needs countUnit: days",
        "more than one rule selects untagged images",
    ]  # fmt: skip
    unknown_policy = Resource(types.LIFECYCLE_POLICY, "p", "urn:p", {"policy": UNKNOWN})
    assert rules.evaluate([unknown_policy], Context(production=False)) == []


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


def test_the_program_and_the_rule_accept_the_same_snapshot_names() -> None:
    assert validation.SNAPSHOT_IDENTIFIER.pattern == rules.SNAPSHOT_IDENTIFIER.pattern


def _stamped(base: str, stage: str | None, distance: int, dirty: bool) -> str:
    found = Version(
        base,
        stage=(stage, None) if stage else None,
        distance=distance,
        commit="0123456789abcdef0123456789abcdef01234567",
        dirty=dirty,
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
    )
    return _build_version(found, dirt="89abcdef" * 8 if dirty else "").image_tag


@pytest.mark.parametrize(
    ("base", "stage", "distance", "dirty"),
    [
        ("1.4.2", None, 0, False),  # a release
        ("1.5.0", "rc.1", 0, False),  # a pre-release at its tag
        ("1.4.2", None, 3, False),  # 1.4.3-dev.3.g0123456
        ("1.5.0", "rc.1", 3, False),  # 1.5.0-rc.1.dev.3.g0123456
        ("1.4.2", None, 3, True),  # ... .dirty.89abcdef
        ("1.4.2", None, 0, True),  # a release tag checked out with changes
        ("0.0.0", None, 7, False),  # no tag yet
    ],
)
def test_the_tags_the_stamping_produces_name_one_build(
    base: str, stage: str | None, distance: int, dirty: bool
) -> None:
    assert rules.names_one_build(_stamped(base, stage, distance, dirty))


@pytest.mark.parametrize("version", ["0.0.0-dev", "1.4.2", "1.4.3-dev.3", "2.0.0+build.7"])
def test_the_unstamped_tag_of_a_plain_pulumi_up_names_one_build(version: str) -> None:
    assert rules.names_one_build(image.image_tag("", version, "f" * 64))


@pytest.mark.parametrize(
    "tag",
    [
        "0.0.0-dev",  # Pulumi.yaml's version, unstamped: every build of it would share the tag
        "1.4.3-dev.3",  # a dev version without its commit
        "1.5.0-rc.1.dev.3",
        "1.4.2.dirty",  # dirty without the digest of the changes
        "1.4.3-dev.3.g0123456.dirty",
        "main",
        "v1.4.2",
        "1.4.2.src-",
    ],
)
def test_tags_without_a_build_identity_are_refused(tag: str) -> None:
    assert not rules.names_one_build(tag)


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
    assert "### Policy checks: `dev` (non-production): ✅ 21 rules passed" in text
    assert "Production-only rules not applied: no-public-tasks-in-production" in text
    assert "### Policy checks: `prod` (production): ❌ 1 violation(s)" in text
    assert (
        "| `read-only-root-in-production` | `alunos-prod-task` | container 'app' can write" in text
    )


def test_check_command_exit_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from automation.release import placeholders

    # The shipped prod stack holds example ids (tests/automation/release/test_placeholders.py):
    # here its rules alone are checked.
    monkeypatch.setattr(placeholders, "find", lambda root, stack: [])
    assert main(["check", "--stack", "prod"]) == 0
    assert capsys.readouterr().out == "check prod (production): all 25 rules passed\n"

    from automation.offline import engine

    bad = violating_plan(
        "prod", types.LOG_GROUP, "alunos-prod-logs", lambda i: i.pop("retentionInDays")
    )
    monkeypatch.setattr(engine, "run", lambda root, stack: bad)
    assert main(["check", "--stack", "prod", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [v["rule"] for v in document["violations"]] == ["log-retention"]
    assert main(["check", "--stack", "nope"]) == 2
    assert "unknown stack 'nope'" in capsys.readouterr().err


def test_edge_rules_follow_references_when_a_preview_knows_no_ids() -> None:
    """In a first preview the log group's ARN, the web ACL's and the bucket's id are unknown;
    the engine's property dependencies (the pack's refs) say what points where."""
    group = Resource(types.LOG_GROUP, "g", "urn:g", {"name": "waf-logs", "retentionInDays": 30})
    acl = Resource(types.WEB_ACL, "acl", "urn:acl", {"name": UNKNOWN})
    logging = Resource(
        types.WEB_ACL_LOGGING, "l", "urn:l",
        {"logDestinationConfigs": [UNKNOWN], "resourceArn": UNKNOWN, "redactedFields": [
            {"singleHeader": {"name": "authorization"}}, {"singleHeader": {"name": "cookie"}}]},
        refs={"logDestinationConfigs": ["urn:g"], "resourceArn": ["urn:acl"]},
    )  # fmt: skip
    found = rules.evaluate([group, acl, logging], Context(production=True))
    assert [(v.rule, v.why) for v in found] == [
        (
            "waf-logging",
            "logs go to 'waf-logs', but WAF writes only to names starting aws-waf-logs-",
        )
    ]
    unlogged = Resource(types.WEB_ACL, "other", "urn:other", {"name": "other"})
    assert [(v.rule, v.resource_name) for v in rules.evaluate(
        [acl, logging, unlogged], Context(production=True), [rules.rule("edge-logging-in-production")])
    ] == [("edge-logging-in-production", "other")]  # fmt: skip

    bucket = Resource(types.BUCKET, "b", "urn:b", {"bucket": UNKNOWN})
    block = Resource(types.BUCKET_PUBLIC_ACCESS_BLOCK, "pab", "urn:pab",
                     {"bucket": UNKNOWN, "blockPublicAcls": True, "blockPublicPolicy": True,
                      "ignorePublicAcls": True, "restrictPublicBuckets": False},
                     refs={"bucket": ["urn:b"]})  # fmt: skip
    policy = Resource(types.BUCKET_POLICY, "p", "urn:p", {"bucket": UNKNOWN, "policy": UNKNOWN},
                      refs={"bucket": ["urn:b"]})  # fmt: skip
    assert [(v.resource_name, v.why) for v in rules.evaluate(
        [bucket, block, policy], Context(production=False), [rules.rule("s3-private-tls-only")])
    ] == [("pab", "public access is not blocked: restrictPublicBuckets off")]  # fmt: skip
    # No public access block at all: the bucket itself is reported.
    assert [v.why for v in rules.evaluate(
        [bucket], Context(production=False), [rules.rule("s3-private-tls-only")])
    ] == ["the bucket has no public access block", "requests without TLS are not denied "
          "(no aws:SecureTransport deny)"]  # fmt: skip
