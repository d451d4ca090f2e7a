"""Production hardening, planned from the real stacks: capacity (Fargate Spot in dev, on-demand
in prod), autoscaling, the container's privileges, alarms wired to rollback, ECS Exec and WAF."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from automation.offline import plan as plan_table
from infra import outputs
from tests.infra.conftest import PlanView

SERVICE = "aws:ecs/service:Service"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
POLICY = "aws:appautoscaling/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
ALB_SUFFIX = re.compile(r"^app/alunos-(dev|prod)-alb-[0-9a-f]{7}/[0-9a-f]{7}$")


def _tg_suffix(view: PlanView) -> str:
    return view.outputs[outputs.TARGET_GROUP_ARN].split(":", 5)[5]


def _alb_suffix(view: PlanView) -> str:
    """The LoadBalancer dimension, as the 5xx alarm's request count names it."""
    queries = view.one(ALARM, f"alunos-{view.plan.stack}-http-5xx")["metricQueries"]
    dimensions = next(q["metric"]["dimensions"] for q in queries if q["id"] == "requests")
    assert ALB_SUFFIX.match(dimensions["LoadBalancer"])
    return str(dimensions["LoadBalancer"])


# Capacity


def test_dev_runs_on_fargate_spot(dev: PlanView) -> None:
    service = dev.one(SERVICE)
    assert "launchType" not in service  # conflicts with a capacity provider strategy
    assert service["capacityProviderStrategies"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1}
    ]
    cluster = dev.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
    assert cluster["clusterName"] == dev.outputs[outputs.CLUSTER_NAME]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert cluster["defaultCapacityProviderStrategies"] == service["capacityProviderStrategies"]


def test_prod_runs_on_demand(prod: PlanView) -> None:
    service = prod.one(SERVICE)
    assert "launchType" not in service
    assert service["capacityProviderStrategies"] == [
        {"capacityProvider": "FARGATE", "base": 2, "weight": 1}
    ]


def test_prod_spot_share_above_the_on_demand_base(stack_plan: Callable[..., PlanView]) -> None:
    view = stack_plan("prod", {"spotPercent": 75, "onDemandBase": 3})
    assert view.one(SERVICE)["capacityProviderStrategies"] == [
        {"capacityProvider": "FARGATE", "base": 3, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3},
    ]


def test_strategy_changes_deploy_in_place(dev: PlanView) -> None:
    # pulumi-aws replaces the service on a strategy change unless forceNewDeployment is set.
    assert dev.one(SERVICE)["forceNewDeployment"] is True


# Autoscaling


@pytest.mark.parametrize(("stack", "low", "high"), [("dev", 1, 2), ("prod", 2, 6)])
def test_autoscaling_target_is_the_service_desired_count(
    stack: str, low: int, high: int, request: pytest.FixtureRequest
) -> None:
    view: PlanView = request.getfixturevalue(stack)
    target = view.one("aws:appautoscaling/target:Target")
    assert target["serviceNamespace"] == "ecs"
    assert target["scalableDimension"] == "ecs:service:DesiredCount"
    assert target["resourceId"] == (
        f"service/{view.outputs[outputs.CLUSTER_NAME]}/{view.outputs[outputs.SERVICE_NAME]}"
    )
    assert (target["minCapacity"], target["maxCapacity"]) == (low, high)
    assert low <= view.one(SERVICE)["desiredCount"] <= high


def test_scaling_policies_track_cpu_and_requests_per_task(prod: PlanView) -> None:
    policies = {r.name: r.inputs for r in prod.of_type(POLICY)}
    # prod releases as a canary: its second target group's requests are tracked too.
    assert set(policies) == {
        "alunos-prod-scale-cpu",
        "alunos-prod-scale-requests",
        "alunos-prod-scale-requests-tg2",
    }
    target_id = prod.one("aws:appautoscaling/target:Target")["resourceId"]
    configs = {}
    for name, policy in policies.items():
        assert policy["policyType"] == "TargetTrackingScaling"
        assert policy["resourceId"] == target_id
        assert policy["scalableDimension"] == "ecs:service:DesiredCount"
        config = policy["targetTrackingScalingPolicyConfiguration"]
        # Quick to add a task, slow to remove one: no flapping.
        assert (config["scaleOutCooldown"], config["scaleInCooldown"]) == (60, 300)
        configs[name.removeprefix("alunos-prod-scale-")] = config
    # A canary's idle group reports no requests, and no policy scales in on missing data while
    # scale-in needs every policy that may scale in: the requests policies only scale out.
    assert configs["cpu"]["disableScaleIn"] is False
    assert configs["requests"]["disableScaleIn"] is True
    assert configs["requests-tg2"]["disableScaleIn"] is True
    cpu = configs["cpu"]["predefinedMetricSpecification"]
    assert cpu == {"predefinedMetricType": "ECSServiceAverageCPUUtilization"}
    assert configs["cpu"]["targetValue"] == 60
    requests = configs["requests"]["predefinedMetricSpecification"]
    assert requests["predefinedMetricType"] == "ALBRequestCountPerTarget"
    assert requests["resourceLabel"] == f"{_alb_suffix(prod)}/{_tg_suffix(prod)}"
    assert configs["requests"]["targetValue"] == 1000
    alternate = configs["requests-tg2"]["predefinedMetricSpecification"]
    tg2 = prod.outputs[outputs.ALTERNATE_TARGET_GROUP_ARN].split(":", 5)[5]
    assert alternate["resourceLabel"] == f"{_alb_suffix(prod)}/{tg2}"
    assert configs["requests-tg2"]["targetValue"] == 1000


def test_a_rolling_stack_tracks_its_one_target_group_both_ways(dev: PlanView) -> None:
    policies = {r.name: r.inputs for r in dev.of_type(POLICY)}
    assert set(policies) == {"alunos-dev-scale-cpu", "alunos-dev-scale-requests"}
    for policy in policies.values():
        assert policy["targetTrackingScalingPolicyConfiguration"]["disableScaleIn"] is False


def test_pulumi_up_leaves_the_autoscaled_count_alone(dev: PlanView, prod: PlanView) -> None:
    for view in (dev, prod):
        assert "desiredCount" in view.resource(SERVICE).ignore_changes


# Container


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_container_runs_as_non_root_without_capabilities(
    stack: str, request: pytest.FixtureRequest
) -> None:
    container = request.getfixturevalue(stack).container()
    assert container["user"] == "10001:10001"
    assert container["privileged"] is False
    assert container["linuxParameters"]["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in container["linuxParameters"]["capabilities"]
    assert container["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp"}]


# ECS Exec


def _task_role_policies(view: PlanView) -> list[dict[str, Any]]:
    role = f"alunos-{view.plan.stack}-task"
    return [
        r.inputs
        for r in view.of_type(ROLE_POLICY)
        if r.inputs["role"].startswith(f"{role}-")  # the mock's physical name of the role
    ]


def test_exec_on_grants_only_the_session_channels(dev: PlanView) -> None:
    assert dev.one(SERVICE)["enableExecuteCommand"] is True
    (policy,) = [p for p in _task_role_policies(dev) if "ssmmessages" in p["policy"]]
    statements = json.loads(policy["policy"])["Statement"]
    assert statements == [
        {
            "Sid": "EcsExecChannels",
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": "*",
        }
    ]
    container = dev.container()
    # AWS does not support ECS Exec on a read-only root filesystem: the agent writes to it.
    assert container["readonlyRootFilesystem"] is False
    assert container["linuxParameters"]["initProcessEnabled"] is True


def test_exec_off_leaves_the_task_role_only_the_database_secret(prod: PlanView) -> None:
    assert prod.one(SERVICE)["enableExecuteCommand"] is False
    (policy,) = _task_role_policies(prod)
    assert json.loads(policy["policy"])["Statement"] == [
        {
            "Sid": "ReadDatabaseSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:us-east-2:123456789012:secret:alunos-api/prod/db-Ab12Cd",
        }
    ]
    # The tasks' roles (ECS's own infrastructure role for the canary: test_rollout.py).
    task_roles = [r for r in prod.of_type(ROLE_POLICY) if not r.name.endswith("-ecs-infra")]
    assert [r.name for r in task_roles] == [
        "alunos-prod-execution",
        "alunos-prod-task-db-secret",
    ]
    container = prod.container()
    assert container["readonlyRootFilesystem"] is True
    assert container["linuxParameters"]["initProcessEnabled"] is False


# Alarms


def test_alarms_watch_the_load_balancer_and_the_service(
    stack_plan: Callable[..., PlanView],
) -> None:
    # One target group with a rolling release (a canary's alarm watches two: test_rollout.py).
    prod = stack_plan("prod", {"deploymentStrategy": "rolling"})
    alarms = {r.name: r.inputs for r in prod.of_type(ALARM)}
    assert {a["name"] for a in alarms.values()} == {
        "alunos-prod-http-5xx-rate",
        "alunos-prod-unhealthy-targets",
        "alunos-prod-cpu-high",
        "alunos-prod-memory-high",
    }
    alb = _alb_suffix(prod)
    unhealthy = alarms["alunos-prod-unhealthy"]
    assert unhealthy["namespace"] == "AWS/ApplicationELB"
    assert unhealthy["metricName"] == "UnHealthyHostCount"
    assert unhealthy["dimensions"] == {"TargetGroup": _tg_suffix(prod), "LoadBalancer": alb}
    assert (unhealthy["comparisonOperator"], unhealthy["threshold"]) == ("GreaterThanThreshold", 0)

    rate = alarms["alunos-prod-http-5xx"]
    queries = {q["id"]: q for q in rate["metricQueries"]}
    metrics = {q["metric"]["metricName"] for q in queries.values() if "metric" in q}
    assert metrics == {"HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "RequestCount"}
    for query in queries.values():
        if "metric" in query:
            assert query["metric"]["dimensions"] == {"LoadBalancer": alb}
            assert query["metric"]["stat"] == "Sum"
    (returned,) = [q for q in queries.values() if q.get("returnData")]
    assert "100 * errors" in returned["expression"]
    assert "metricName" not in rate  # a metric math alarm
    assert rate["threshold"] == 5  # alarm5xxPercent
    assert rate["treatMissingData"] == "notBreaching"  # no traffic is not an outage

    for role, metric in (("cpu", "CPUUtilization"), ("memory", "MemoryUtilization")):
        alarm = alarms[f"alunos-prod-{role}-high"]
        assert (alarm["namespace"], alarm["metricName"]) == ("AWS/ECS", metric)
        assert alarm["dimensions"] == {
            "ClusterName": prod.outputs[outputs.CLUSTER_NAME],
            "ServiceName": prod.outputs[outputs.SERVICE_NAME],
        }


def test_5xx_and_unhealthy_alarms_roll_deployments_back(dev: PlanView, prod: PlanView) -> None:
    for view in (dev, prod):
        stack = view.plan.stack
        alarms = view.one(SERVICE)["alarms"]
        assert alarms == {
            "alarmNames": [f"alunos-{stack}-http-5xx-rate", f"alunos-{stack}-unhealthy-targets"],
            "enable": True,
            "rollback": True,
        }
        # Every name the service watches is an alarm this stack creates.
        created = {r.inputs["name"] for r in view.of_type(ALARM)}
        assert set(alarms["alarmNames"]) <= created


def test_alarms_notify_the_configured_topic_only(dev: PlanView, prod: PlanView) -> None:
    topic = "arn:aws:sns:us-east-2:123456789012:alunos-api-prod-alarms"
    for alarm in prod.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic]
        assert alarm.inputs["okActions"] == [topic]
    for alarm in dev.of_type(ALARM):
        assert "alarmActions" not in alarm.inputs
        assert "okActions" not in alarm.inputs


# WAF


def test_prod_load_balancer_is_behind_waf(prod: PlanView) -> None:
    acl = prod.one(WEB_ACL)
    assert acl["scope"] == "REGIONAL"
    assert acl["defaultAction"] == {"allow": {}}
    rules = sorted(acl["rules"], key=lambda rule: rule["priority"])
    assert len({rule["priority"] for rule in rules}) == len(rules)
    rate, body_limit, *managed = rules
    assert rate["statement"]["rateBasedStatement"] == {
        "aggregateKeyType": "IP",
        "limit": 2000,
        "evaluationWindowSec": 300,
    }
    assert rate["action"] == {"block": {}}
    # The app accepts 64 KiB bodies (issue 13): the core rule set's 8 KB body rule only counts,
    # and a declared body above 64 KiB gets the app's own 413 at the edge.
    assert body_limit["name"] == "body-over-app-limit"
    assert body_limit["action"] == {
        "block": {
            "customResponse": {"responseCode": 413, "customResponseBodyKey": "body-too-large"}
        }
    }
    assert [
        {key: value for key, value in rule["statement"]["managedRuleGroupStatement"].items()
         if key != "ruleActionOverrides"}
        for rule in managed
    ] == [
        {"vendorName": "AWS", "name": name}
        for name in (
            "AWSManagedRulesAmazonIpReputationList",
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesSQLiRuleSet",
        )
    ]  # fmt: skip
    overrides = {
        rule["name"]: rule["statement"]["managedRuleGroupStatement"].get("ruleActionOverrides")
        for rule in managed
    }
    assert overrides.pop("AWSManagedRulesCommonRuleSet") == [
        {"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}
    ]
    assert set(overrides.values()) == {None}
    # "none" keeps each rule group's own block actions (count would only watch).
    assert all(rule["overrideAction"] == {"none": {}} for rule in managed)
    visibility = [rule["visibilityConfig"] for rule in rules] + [acl["visibilityConfig"]]
    assert all(v["cloudwatchMetricsEnabled"] and v["sampledRequestsEnabled"] for v in visibility)
    assert len({v["metricName"] for v in visibility}) == len(visibility)

    association = prod.one("aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association["resourceArn"].endswith(f":loadbalancer/{_alb_suffix(prod)}")
    assert association["webAclArn"].startswith("arn:aws:wafv2:us-east-2:123456789012:regional/")


def test_waf_only_when_config_asks(dev: PlanView, stack_plan: Callable[..., PlanView]) -> None:
    assert not [r for r in dev.plan.resources if r.type.startswith("aws:wafv2")]
    view = stack_plan("dev", {"wafEnabled": True, "wafRateLimit": 300})
    rules = view.one(WEB_ACL)["rules"]
    limits = [
        r["statement"]["rateBasedStatement"]["limit"]
        for r in rules
        if r["name"] == "rate-limit-per-ip"
    ]
    assert limits == [300]


# The offline plan shows it


def test_plan_table_shows_the_hardening(prod: PlanView) -> None:
    console = Console(record=True, width=400)
    plan_table.print_table(prod.plan, console)
    text = console.export_text()
    assert "capacity=FARGATE(base 2, weight 1)" in text
    assert "rollbackAlarms=alunos-prod-http-5xx-rate,alunos-prod-unhealthy-targets" in text
    assert "min=2 max=6" in text
    assert "ALBRequestCountPerTarget target=1000 scaleOutCooldown=60s scaleInCooldown=300s" in text
    assert "user=10001:10001 readOnlyRoot=True dropCaps=ALL" in text
    # Metric math is printed as written, not eaten as rich markup.
    assert "MAX([served, errors])" in text
    assert (
        "rules=rate-limit-per-ip,body-over-app-limit,AWSManagedRulesAmazonIpReputationList" in text
    )
    assert "overrides=SizeRestrictions_BODY:count" in text
    assert "to=aws-waf-logs-alunos-prod redacted=authorization,cookie" in text
