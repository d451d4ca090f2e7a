"""capacity ec2 and hybrid, and the schedule, under the mock engine: what each one declares and
what the settings refuse."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra import capacity, outputs
from infra import resource_types as types
from tests.infra.conftest import PlanView, plan_failure

EC2_DEV = {"capacity": "ec2", "natGateways": "Single", "spotPercent": 0, "schedule": ""}
HYBRID_PROD = {
    "capacity": "hybrid",
    "ec2BaseCount": 2,
    "autoscalingMinCount": 0,
    "desiredCount": 0,
    "deploymentStrategy": "rolling",
}


def _strategy(service: dict[str, Any]) -> list[str]:
    return [item["capacityProvider"] for item in service["capacityProviderStrategies"]]


def test_ec2_runs_every_task_on_hardened_instances(stack_plan: Callable[..., PlanView]) -> None:
    plan = stack_plan("dev", EC2_DEV)
    template = plan.one(types.LAUNCH_TEMPLATE)
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (root,) = template["blockDeviceMappings"]
    assert root["ebs"]["encrypted"] == "true"
    assert root["ebs"]["volumeSize"] == 30
    assert template["networkInterfaces"][0]["associatePublicIpAddress"] == "false"
    script = base64.b64decode(template["userData"]).decode()
    assert f"ECS_CLUSTER={plan.outputs[outputs.CLUSTER_NAME]}" in script
    assert "ECS_AWSVPC_BLOCK_IMDS=true" in script
    group = plan.one(types.AUTOSCALING_GROUP)
    assert group["protectFromScaleIn"] is True
    assert group["minSize"] == 0
    assert group["maxSize"] == 2
    provider = plan.one(types.ECS_CAPACITY_PROVIDER)["autoScalingGroupProvider"]
    assert provider["managedTerminationProtection"] == "ENABLED"
    assert provider["managedDraining"] == "ENABLED"
    assert provider["managedScaling"] == {"status": "ENABLED", "targetCapacity": 100}
    assert not plan.of_type(types.ROLE_POLICY_ATTACHMENT)  # no managed policy: the agent's own
    agent = plan.resource(types.ROLE_POLICY, "alunos-dev-instance-agent")
    (scoped, _) = json.loads(agent.inputs["policy"])["Statement"]
    assert scoped["Resource"].startswith("arn:aws:ecs:us-east-2:123456789012:cluster/alunos-dev")
    assert plan.resource(types.CLUSTER).urn in agent.dependencies  # its ARN, not a pattern
    assert agent.urn in plan.resource(types.AUTOSCALING_GROUP).dependencies
    task = plan.one(types.TASK_DEFINITION)
    assert task["requiresCompatibilities"] == ["EC2", "FARGATE"]
    assert task["networkMode"] == "awsvpc"
    (service,) = plan.of_type(types.SERVICE)
    assert _strategy(service.inputs) not in (["FARGATE"], ["FARGATE_SPOT"])
    assert "platformVersion" not in service.inputs
    assert service.inputs["networkConfiguration"]["assignPublicIp"] is False
    # The instances' security group admits nothing, and lets out only HTTPS.
    assert not [r for r in plan.of_type(types.INGRESS_RULE) if "instances" in r.name]
    (egress,) = [r.inputs for r in plan.of_type(types.EGRESS_RULE) if "instances" in r.name]
    assert (egress["fromPort"], egress["toPort"]) == (443, 443)


def test_fargate_stays_as_it_was(dev: PlanView) -> None:
    assert dev.one(types.TASK_DEFINITION)["requiresCompatibilities"] == ["FARGATE"]
    assert not dev.of_type(types.AUTOSCALING_GROUP)
    assert dev.outputs[outputs.CAPACITY] == "fargate"
    assert dev.outputs[outputs.SERVICE_NAMES] == [dev.outputs[outputs.SERVICE_NAME]]


def test_hybrid_runs_a_base_on_ec2_and_bursts_on_fargate(
    stack_plan: Callable[..., PlanView],
) -> None:
    plan = stack_plan("prod", HYBRID_PROD)
    services = {r.name: r.inputs for r in plan.of_type(types.SERVICE)}
    base = services["alunos-prod-base-service"]
    burst = services["alunos-prod-service"]
    assert base["taskDefinition"] == burst["taskDefinition"]
    assert base["loadBalancers"] == burst["loadBalancers"]
    assert base["desiredCount"] == 2
    assert set(_strategy(burst)) == {"FARGATE"}
    assert set(_strategy(base)).isdisjoint({"FARGATE", "FARGATE_SPOT"})
    target = plan.one(types.SCALABLE_TARGET)
    assert (target["minCapacity"], target["maxCapacity"]) == (0, 6)
    names = plan.outputs[outputs.SERVICE_NAMES]
    assert len(names) == 2
    assert names[1] == plan.outputs[outputs.SERVICE_NAME]
    # Room for a release: 2 base tasks twice over, one 1024 MiB task per t3.small, in 2 AZs.
    assert plan.one(types.AUTOSCALING_GROUP)["maxSize"] == 4


def test_schedule_sleeps_the_service_and_the_database(dev: PlanView) -> None:
    actions = {r.name: r.inputs for r in dev.of_type(types.SCHEDULED_ACTION)}
    wake, sleep = actions["alunos-dev-wake"], actions["alunos-dev-sleep"]
    assert wake["schedule"] == "cron(0 8 ? * MON-FRI *)"
    assert sleep["schedule"] == "cron(0 20 ? * MON-FRI *)"
    assert wake["timezone"] == sleep["timezone"] == "America/Sao_Paulo"
    assert sleep["scalableTargetAction"] == {"minCapacity": 0, "maxCapacity": 0}
    assert wake["scalableTargetAction"] == {"minCapacity": 1, "maxCapacity": 2}
    schedules = {r.name: r.inputs for r in dev.of_type(types.SCHEDULE)}
    # The database wakes 20 minutes before the tasks (an RDS start takes minutes), and sleeps
    # with them.
    assert schedules["alunos-dev-db-start"]["scheduleExpression"] == "cron(40 7 ? * MON-FRI *)"
    assert schedules["alunos-dev-db-stop"]["scheduleExpression"] == sleep["schedule"]
    for name, action in (("start", "startDBInstance"), ("stop", "stopDBInstance")):
        target = schedules[f"alunos-dev-db-{name}"]["target"]
        assert target["arn"] == f"arn:aws:scheduler:::aws-sdk:rds:{action}"
        identifier = json.loads(target["input"])["DbInstanceIdentifier"]
        assert identifier.startswith("alunos-dev-postgres-")
        assert schedules[f"alunos-dev-db-{name}"]["scheduleExpressionTimezone"] == (
            "America/Sao_Paulo"
        )
    role = dev.one(types.ROLE, "alunos-dev-db-scheduler")
    trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    (statement,) = json.loads(dev.one(types.ROLE_POLICY, "alunos-dev-db-scheduler")["policy"])[
        "Statement"
    ]
    assert statement["Action"] == ["rds:StopDBInstance", "rds:StartDBInstance"]
    assert statement["Resource"].startswith("arn:aws:rds:us-east-2:123456789012:db:")


def test_schedule_leaves_a_database_the_stack_does_not_own(
    stack_plan: Callable[..., PlanView],
) -> None:
    plan = stack_plan(
        "dev",
        {
            "createDatabase": None,
            "dbHost": "legacy-db.internal.example.com",
            "dbSecretArn": "arn:aws:secretsmanager:us-east-2:123456789012:secret:alunos/db-Zz99Yy",
        },
    )
    assert len(plan.of_type(types.SCHEDULED_ACTION)) == 2
    assert not plan.of_type(types.SCHEDULE)


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        pytest.param("dev", {"capacity": "spot"}, ["alunos-api:capacity", "'fargate', 'ec2', 'hybrid'"], id="unknown-capacity"),
        pytest.param("dev", {"capacity": "ec2", "spotPercent": 0}, ["alunos-api:capacity", "no public IP", "natGateways Single"], id="ec2-public-subnets"),
        pytest.param("dev", {**EC2_DEV, "spotPercent": 50}, ["alunos-api:spotPercent", "0 with capacity ec2"], id="ec2-spot"),
        pytest.param("dev", {**EC2_DEV, "ec2InstanceType": "t4g.small"}, ["alunos-api:ec2InstanceType", "x86_64", "Graviton"], id="graviton"),
        pytest.param("dev", {**EC2_DEV, "ec2InstanceType": "small"}, ["alunos-api:ec2InstanceType", "such as t3.small"], id="not-a-type"),
        pytest.param("prod", {**HYBRID_PROD, "ec2InstanceType": "t3.micro"}, ["alunos-api:ec2InstanceType", "holds one task of 512 CPU units and 1024 MiB", "about 921 MiB"], id="task-does-not-fit"),
        pytest.param("dev", {"autoscalingMinCount": 0}, ["alunos-api:autoscalingMinCount", "0 only with capacity hybrid"], id="zero-without-hybrid"),
        pytest.param("prod", {**HYBRID_PROD, "ec2BaseCount": 1}, ["alunos-api:ec2BaseCount", "from 2 to 100"], id="prod-base-of-one"),
        pytest.param("prod", {**HYBRID_PROD, "deploymentStrategy": "canary"}, ["alunos-api:deploymentStrategy", "rolling with capacity hybrid"], id="hybrid-canary"),
        pytest.param("prod", {"schedule": "MON-FRI 08:00-20:00 America/Sao_Paulo"}, ["alunos-api:schedule", "a production API never sleeps"], id="prod-schedule"),
        pytest.param("dev", {"schedule": "MON-FRI 20:00-08:00 America/Sao_Paulo"}, ["alunos-api:schedule", "start before stop"], id="overnight"),
        pytest.param("dev", {"schedule": "MON-FRI 08:00-20:00 Mars/Olympus"}, ["alunos-api:schedule", "IANA time zone"], id="zone"),
        pytest.param("dev", {"schedule": "FRI-MON 08:00-20:00 UTC"}, ["alunos-api:schedule"], id="backwards-days"),
        pytest.param("dev", {"schedule": "MON-FRI 00:10-20:00 UTC"}, ["alunos-api:schedule", "a start at 00:20 or later", "20 minutes before the tasks"], id="no-room-for-the-database"),
    ],
)  # fmt: skip
def test_capacity_and_schedule_refusals_name_the_key(
    stack_plan: Callable[..., PlanView], stack: str, overrides: dict[str, Any], expected: list[str]
) -> None:
    message = plan_failure(stack_plan, stack, overrides)
    for part in expected:
        assert part in message, message


def test_architecture_by_family() -> None:
    assert capacity.architecture("t3.small") == capacity.X86_64
    for arm in ("t4g.micro", "m7g.large", "c6gn.xlarge", "a1.medium", "g5g.xlarge"):
        assert capacity.architecture(arm) == capacity.ARM64, arm
    for x86 in ("g5.xlarge", "g4dn.xlarge", "m6i.large", "inf2.xlarge"):
        assert capacity.architecture(x86) == capacity.X86_64, x86


@pytest.mark.parametrize(
    ("instance_type", "cpu", "memory", "expected"),
    [
        pytest.param("t3.small", 256, 512, 2, id="interfaces: 3, the primary one is the host's"),
        pytest.param("t3a.small", 256, 512, 1, id="t3a.small has 2 interfaces, not 3"),
        pytest.param("t3.small", 512, 1024, 1, id="memory: 2 GiB registers less than 2 tasks"),
        pytest.param("m5.xlarge", 2048, 4096, 2, id="cpu: 4 vCPUs hold 2 tasks of 2048 units"),
        pytest.param("t3.micro", 512, 1024, 0, id="does not fit"),
        pytest.param("r8i.large", 256, 512, 1, id="a type not listed: one task"),
    ],
)  # fmt: skip
def test_tasks_per_instance(instance_type: str, cpu: int, memory: int, expected: int) -> None:
    assert capacity.tasks_per_instance(instance_type, cpu, memory) == expected


@pytest.mark.parametrize(
    ("tasks", "per_instance", "zones", "expected"),
    [
        (2, 2, 2, 2),  # 4 tasks during a release, 2 a zone, 2 an instance
        (2, 1, 2, 4),  # the old bug: maxSize 2 left no room for the new tasks
        (1, 2, 2, 2),  # 2 tasks spread over 2 zones need an instance in each
        (1, 4, 3, 2),  # 2 tasks use 2 of 3 zones
        (3, 2, 2, 4),  # 6 tasks, 3 a zone, 2 instances a zone
    ],
)
def test_the_group_has_room_for_a_release(
    tasks: int, per_instance: int, zones: int, expected: int
) -> None:
    assert capacity.release_instances(tasks, per_instance, zones) == expected


def test_ec2_makes_room_for_a_release_of_every_task(stack_plan: Callable[..., PlanView]) -> None:
    """capacity ec2 in prod's shape: up to 6 tasks of 1024 MiB, one per t3.small, so a
    release needs 12 instances at most, 6 in each AZ."""
    plan = stack_plan("prod", {"capacity": "ec2", "onDemandBase": 0})
    assert plan.one(types.AUTOSCALING_GROUP)["maxSize"] == 12


def test_the_instance_role_may_only_register_and_report_in_its_cluster() -> None:
    cluster = "arn:aws:ecs:us-east-2:123456789012:cluster/alunos-dev-cluster-1a2b3c4"
    document = json.loads(capacity.agent_policy(cluster))
    by_sid = {statement["Sid"]: statement for statement in document["Statement"]}
    assert by_sid["RegisterAndReportInThisCluster"] == {
        "Sid": "RegisterAndReportInThisCluster",
        "Effect": "Allow",
        "Action": [
            "ecs:RegisterContainerInstance",
            "ecs:DeregisterContainerInstance",
            "ecs:SubmitAttachmentStateChanges",
            "ecs:SubmitContainerStateChange",
            "ecs:SubmitTaskStateChange",
        ],
        "Resource": cluster,
    }
    sessions = by_sid["AgentSessionsNoResourceToName"]
    assert sessions["Action"] == [
        "ecs:DiscoverPollEndpoint",
        "ecs:Poll",
        "ecs:StartTelemetrySession",
    ]
    assert sessions["Resource"] == "*"
    assert set(by_sid) == {"RegisterAndReportInThisCluster", "AgentSessionsNoResourceToName"}
    # What the managed AmazonEC2ContainerServiceforEC2Role also grants, and the tasks' execution
    # role does instead (or nobody needs): no image pulls, no logs, no new clusters, no tags.
    granted = [action for statement in document["Statement"] for action in statement["Action"]]
    assert not [a for a in granted if a.split(":")[0] in ("ecr", "logs", "ec2")]
    assert "ecs:CreateCluster" not in granted
    assert "ecs:TagResource" not in granted
    assert not any("*" in action for action in granted)
