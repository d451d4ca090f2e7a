"""The edge (issue 13): WAF aligned with the app's body limit and logging what it blocks, the load
balancer's access logs in an S3 bucket ELB can write to, created before the load balancer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from app.web import MAX_BODY_BYTES
from automation.offline import engine
from infra import resource_types as types
from infra.access_logs import AccessLogBucket, AccessLogBucketArgs
from infra.load_balancer import AccessLogs, LoadBalancer
from infra.validation import InvalidConfig
from infra.waf import APP_MAX_BODY_BYTES, BODY_INSPECTION_LIMIT, Waf, WafArgs, greater_than
from tests.infra.conftest import ROOT, PlanView, run_component
from tests.infra.test_components import LOAD_BALANCER, WAF


def test_the_waf_knows_the_app_body_limit() -> None:
    assert APP_MAX_BODY_BYTES == MAX_BODY_BYTES
    assert BODY_INSPECTION_LIMIT == 8192  # WAF's fixed body limit for an ALB


@pytest.mark.parametrize("limit", [0, 7, 9, 99, 100, 8191, 8192, 65535, 65536, 99999, 123456])
def test_greater_than_matches_exactly_the_numbers_above_the_limit(limit: int) -> None:
    pattern = re.compile(greater_than(limit))
    for number in [*range(0, 200_001), 10**9, 10**12]:
        assert bool(pattern.search(str(number))) == (number > limit), number
        assert bool(pattern.search(f"00{number}")) == (number > limit), number
    for text in ("", "abc", "65537 ", "-70000", "1e9", "65537,1"):
        assert not pattern.search(text), text
    # WAF refuses capturing subexpressions (waf-regex-pattern-support.html): none here.
    assert "(" not in pattern.pattern


def test_waf_lets_the_app_bodies_through_and_refuses_larger_ones_with_413() -> None:
    view = run_component(lambda: Waf("fw", replace(WAF, max_body_bytes=64 * 1024)))
    acl = view.one(types.WEB_ACL)
    rules = sorted(acl["rules"], key=lambda rule: rule["priority"])
    assert [rule["name"] for rule in rules[:2]] == ["rate-limit-per-ip", "body-over-app-limit"]
    body = rules[1]
    statement = body["statement"]["regexMatchStatement"]
    assert statement["fieldToMatch"] == {"singleHeader": {"name": "content-length"}}
    assert statement["regexString"] == greater_than(65536)
    assert body["action"]["block"]["customResponse"]["responseCode"] == 413
    (response_body,) = acl["customResponseBodies"]
    assert (
        response_body["key"] == body["action"]["block"]["customResponse"]["customResponseBodyKey"]
    )
    assert json.loads(response_body["content"]) == {
        "erro": "corpo da requisição muito grande: máximo 65536 bytes"
    }
    core = next(r for r in rules if r["name"] == "AWSManagedRulesCommonRuleSet")
    assert core["statement"]["managedRuleGroupStatement"]["ruleActionOverrides"] == [
        {"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}
    ]
    # The web ACL's description is one WAF accepts (no apostrophe: issue 13's EC2 mistake).
    assert re.fullmatch(r"[\w+=:#@/\-,.][\w+=:#@/\-,.\s]+[\w+=:#@/\-,.]", acl["description"])


def test_at_waf_body_limit_the_core_rule_set_is_left_as_is() -> None:
    acl = run_component(lambda: Waf("fw", WAF)).one(types.WEB_ACL)
    assert "body-over-app-limit" not in [rule["name"] for rule in acl["rules"]]
    assert not any(
        rule["statement"].get("managedRuleGroupStatement", {}).get("ruleActionOverrides")
        for rule in acl["rules"]
    )
    assert "customResponseBodies" not in acl


def test_waf_logs_what_it_blocks_to_a_group_it_may_write_to() -> None:
    view = run_component(lambda: Waf("fw", replace(WAF, log_retention_days=90)))
    group = view.one(types.LOG_GROUP)
    assert group["name"] == "aws-waf-logs-fw"
    assert group["retentionInDays"] == 90
    logging = view.one(types.WEB_ACL_LOGGING)
    assert logging["logDestinationConfigs"] == [
        "arn:aws:logs:us-east-2:123456789012:log-group:aws-waf-logs-fw"
    ]
    assert logging["resourceArn"].startswith(
        "arn:aws:wafv2:us-east-2:123456789012:regional/webacl/fw-waf/"
    )
    assert logging["redactedFields"] == [
        {"singleHeader": {"name": "authorization"}},
        {"singleHeader": {"name": "cookie"}},
    ]
    assert logging["loggingFilter"] == {
        "defaultBehavior": "DROP",
        "filters": [{"behavior": "KEEP", "requirement": "MEETS_ANY", "conditions": [
            {"actionCondition": {"action": action}}
            for action in ("BLOCK", "COUNT", "EXCLUDED_AS_COUNT")]}],
    }  # fmt: skip
    policy = view.one(types.LOG_RESOURCE_POLICY)
    assert policy["resourceArn"] == logging["logDestinationConfigs"][0]
    (statement,) = json.loads(policy["policyDocument"])["Statement"]
    assert statement == {
        "Sid": "AWSLogDeliveryWrite20150319",
        "Effect": "Allow",
        "Principal": {"Service": ["delivery.logs.amazonaws.com"]},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": ["arn:aws:logs:us-east-2:123456789012:log-group:aws-waf-logs-fw:log-stream:*"],
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ["123456789012"]},
            "ArnLike": {"aws:SourceArn": ["arn:aws:logs:us-east-2:123456789012:*"]},
        },
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (replace(WAF, max_body_bytes=0), "max_body_bytes: 0 is not valid"),
        (replace(WAF, log_retention_days=10), "log_retention_days: 10 is not valid"),
    ],
)
def test_waf_logging_argument_validation(args: WafArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        Waf("fw", args)


def test_the_access_log_bucket_is_what_elb_requires() -> None:
    view = run_component(
        lambda: AccessLogBucket("web", AccessLogBucketArgs(region="us-east-2", expiration_days=30))
    )
    name = "web-alb-logs-123456789012-us-east-2"
    assert view.one(types.BUCKET) == {"bucket": name, "forceDestroy": False,
                                      "tags": {"Name": "web-alb-logs"}}  # fmt: skip
    assert view.one(types.BUCKET_ENCRYPTION)["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    block = view.one(types.BUCKET_PUBLIC_ACCESS_BLOCK)
    assert all(block[flag] is True for flag in ("blockPublicAcls", "blockPublicPolicy",
                                                "ignorePublicAcls", "restrictPublicBuckets"))  # fmt: skip
    assert view.one(types.BUCKET_OWNERSHIP)["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert view.one(types.BUCKET_LIFECYCLE)["rules"] == [
        {"id": "expire-access-logs", "status": "Enabled", "filter": {"prefix": "alb/"},
         "expiration": {"days": 30}}
    ]  # fmt: skip
    statements = {
        s["Sid"]: s for s in json.loads(view.one(types.BUCKET_POLICY)["policy"])["Statement"]
    }
    # us-east-2 opened before August 2022: the policy names its ELB account.
    assert statements["ElbAccessLogs"] == {
        "Sid": "ElbAccessLogs",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::033677994240:root"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{name}/alb/AWSLogs/123456789012/*",
    }
    assert statements["TlsOnly"]["Effect"] == "Deny"
    assert statements["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["TlsOnly"]["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    # Every companion names the bucket.
    for type_ in (types.BUCKET_POLICY, types.BUCKET_PUBLIC_ACCESS_BLOCK, types.BUCKET_OWNERSHIP,
                  types.BUCKET_ENCRYPTION, types.BUCKET_LIFECYCLE):  # fmt: skip
        assert view.one(type_)["bucket"] == name


@pytest.mark.parametrize(
    ("name", "args", "fragment"),
    [
        ("web", AccessLogBucketArgs("us-east-2", 0), "expiration_days: 0"),
        ("web", AccessLogBucketArgs("us-east-2", 30, prefix="AWSLogs"), "prefix"),
        ("Web", AccessLogBucketArgs("us-east-2", 30), "name: 'Web' is not valid"),
        ("w" * 32, AccessLogBucketArgs("us-east-2", 30), "at most 63 characters"),
    ],
)
def test_access_log_bucket_validation(name: str, args: AccessLogBucketArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        AccessLogBucket(name, args)


def test_the_load_balancer_logs_to_the_bucket() -> None:
    args = replace(LOAD_BALANCER, access_logs=AccessLogs(bucket="logs-bucket", prefix="alb"))
    alb = run_component(lambda: LoadBalancer("web", args)).one(types.LOAD_BALANCER)
    assert alb["accessLogs"] == {"bucket": "logs-bucket", "prefix": "alb", "enabled": True}
    assert "accessLogs" not in run_component(lambda: LoadBalancer("web", LOAD_BALANCER)).one(
        types.LOAD_BALANCER
    )
    with pytest.raises(InvalidConfig, match=r"access_logs\.prefix"):
        LoadBalancer("web", replace(args, access_logs=AccessLogs("b", "x/AWSLogs")))


@pytest.fixture
def dependencies(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Resource name -> the URNs it depends on, as the engine would order them."""
    found: dict[str, set[str]] = {}

    class Recording(engine._RecordingMonitor):
        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            urns = set(request.dependencies)
            for dependency in request.propertyDependencies.values():
                urns |= set(dependency.urns)
            found[request.name] = urns
            return response

    monkeypatch.setattr(engine, "_RecordingMonitor", Recording)
    return found


def test_prod_logs_at_the_edge_and_the_load_balancer_waits_for_the_bucket_policy(
    dependencies: dict[str, set[str]],
) -> None:
    prod = PlanView(engine.run(ROOT, "prod"))
    policy = prod.resource(types.BUCKET_POLICY)
    alb = prod.resource(types.LOAD_BALANCER)
    bucket = prod.one(types.BUCKET)["bucket"]
    assert alb.inputs["accessLogs"] == {"bucket": bucket, "prefix": "alb", "enabled": True}
    # ELB tests its write access when logging is turned on: the policy must exist first.
    assert policy.urn in dependencies[alb.name]
    # WAF finds the log group's resource policy in place.
    assert prod.resource(types.LOG_RESOURCE_POLICY).urn in dependencies["alunos-prod-waf-logging"]
    assert prod.one(types.LOG_GROUP, "alunos-prod-waf-logs")["name"] == "aws-waf-logs-alunos-prod"


def test_access_logs_only_where_the_config_asks(
    dev: PlanView, stack_plan: Callable[..., PlanView]
) -> None:
    assert types.BUCKET not in dev.types()
    assert "accessLogs" not in dev.one(types.LOAD_BALANCER)
    view = stack_plan("dev", {"albAccessLogs": True, "albAccessLogDays": 7})
    assert view.one(types.BUCKET)["bucket"] == "alunos-dev-alb-logs-123456789012-us-east-2"
    assert view.one(types.BUCKET_LIFECYCLE)["rules"][0]["expiration"] == {"days": 7}
    waf = stack_plan("dev", {"wafEnabled": True, "wafLogRetentionDays": 14})
    assert waf.one(types.LOG_GROUP, "alunos-dev-waf-logs")["retentionInDays"] == 14
