"""Both stacks, planned from their real config files through the real program."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from infra import outputs
from infra import resource_types as types
from tests.infra.conftest import PlanView

DIGEST_REF = re.compile(r"^\S+\.dkr\.ecr\.us-east-2\.amazonaws\.com/\S+@sha256:[0-9a-f]{64}$")


def test_every_documented_output_is_exported(dev: PlanView, prod: PlanView) -> None:
    # The domain's outputs exist only where the stack has a domain (prod).
    # The alternate target group only with a strategy that shifts traffic (prod's canary).
    domain_only = {outputs.DOMAIN_NAME, outputs.HOSTED_ZONE_ID, outputs.ALTERNATE_TARGET_GROUP_ARN}
    assert set(dev.outputs) == set(outputs.ALL) - domain_only
    assert set(prod.outputs) == set(outputs.ALL)
    for view in (dev, prod):
        assert DIGEST_REF.match(view.outputs[outputs.IMAGE_REF])
        assert view.outputs[outputs.REGION] == "us-east-2"
        assert view.outputs[outputs.ALB_ZONE_ID].startswith("Z")
        assert view.outputs[outputs.ALARM_NAMES] == [
            alarm.inputs["name"]
            for alarm in view.of_type(types.METRIC_ALARM)
            if alarm.name.endswith(("-http-5xx", "-unhealthy"))
        ]


def test_prod_serves_its_own_name_with_an_issued_certificate(prod: PlanView) -> None:
    assert prod.outputs[outputs.SERVICE_URL] == "https://alunos.example.com"
    assert prod.outputs[outputs.DOMAIN_NAME] == "alunos.example.com"
    assert prod.outputs[outputs.HOSTED_ZONE_ID] == "Z0123456789EXAMPLE0A"
    assert prod.one(types.CERTIFICATE)["domainName"] == "alunos.example.com"
    record = prod.one(types.DNS_RECORD)
    assert record["zoneId"] == "Z0123456789EXAMPLE0A"
    assert record["name"].endswith(".alunos.example.com.")
    # The listener waits for the issued certificate (CertificateValidation), not the pending one.
    validation = prod.one(types.CERTIFICATE_VALIDATION)
    https = prod.one(types.LISTENER, "alunos-prod-https")
    assert https["certificateArn"] == validation["certificateArn"]
    # Nothing in the program touches the name's own records: the cutover owns them.
    assert [r.inputs["name"] for r in prod.of_type(types.DNS_RECORD)] == [record["name"]]


def test_a_certificate_of_the_teams_serves_the_domain_without_issuing_one(
    stack_plan: Callable[..., PlanView],
) -> None:
    arn = "arn:aws:acm:us-east-2:123456789012:certificate/4f1e9a52-8c3b-4d7e-9f60-2b5a7c1d3e84"
    view = stack_plan("prod", {"hostedZoneId": None, "certificateArn": arn})
    assert types.CERTIFICATE not in view.types()
    assert view.one(types.LISTENER, "alunos-prod-https")["certificateArn"] == arn
    assert view.outputs[outputs.SERVICE_URL] == "https://alunos.example.com"
    assert outputs.HOSTED_ZONE_ID not in view.outputs


def test_dev_is_small_and_cheap(dev: PlanView) -> None:
    vpc = dev.one("awsx:ec2:Vpc")
    assert vpc["natGateways"]["strategy"] == "None"
    assert vpc["numberOfAvailabilityZones"] == 2
    assert vpc["cidrBlock"] == "10.0.0.0/16"
    assert [s["type"] for s in vpc["subnetSpecs"]] == ["Public", "Isolated"]
    service = dev.one("aws:ecs/service:Service")
    assert service["desiredCount"] == 1
    # No NAT: tasks need a public IP to pull from ECR; their group still admits only the ALB.
    assert service["networkConfiguration"]["assignPublicIp"] is True
    assert dev.one("aws:ecr/repository:Repository")["forceDelete"] is True
    assert dev.one("aws:rds/instance:Instance")["instanceClass"] == "db.t4g.micro"
    assert dev.outputs[outputs.SERVICE_URL].startswith("http://")


def test_prod_is_highly_available_private_and_https(prod: PlanView) -> None:
    service = prod.one("aws:ecs/service:Service")
    assert service["desiredCount"] >= 2
    assert service["networkConfiguration"]["assignPublicIp"] is False
    assert service["networkConfiguration"]["subnets"] == [
        "subnet-0a1b2c3d4e5f60011",
        "subnet-0a1b2c3d4e5f60012",
    ]
    assert "awsx:ec2:Vpc" not in prod.types()  # reuses the VPC the database lives in
    assert prod.one("aws:lb/loadBalancer:LoadBalancer")["enableDeletionProtection"] is True
    assert prod.one("aws:ecr/repository:Repository")["forceDelete"] is False
    assert prod.one("aws:ecs/cluster:Cluster")["settings"] == [
        {"name": "containerInsights", "value": "enabled"}
    ]
    https = prod.one("aws:lb/listener:Listener", "alunos-prod-https")
    assert https["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    redirect = prod.one("aws:lb/listener:Listener", "alunos-prod-http")["defaultActions"][0]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}
    assert prod.outputs[outputs.SERVICE_URL].startswith("https://")


def test_only_the_load_balancer_is_open_to_the_internet(dev: PlanView, prod: PlanView) -> None:
    for view, ports in ((dev, {80}), (prod, {80, 443})):
        ingress = view.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        open_ports = {r.inputs["fromPort"] for r in ingress if r.inputs.get("cidrIpv4")}
        assert open_ports == ports
        assert all(
            r.name.endswith(f"-in-{r.inputs['fromPort']}")
            for r in ingress
            if r.inputs.get("cidrIpv4")
        )
        # The task group admits only the load balancer's group, on the container port.
        task_ingress = view.one(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", f"{_name(view)}-in-alb"
        )
        assert "cidrIpv4" not in task_ingress
        assert task_ingress["fromPort"] == task_ingress["toPort"] == 8000


def _name(view: PlanView) -> str:
    return f"alunos-{view.plan.stack}"


def test_container_gets_the_database_secret_arn_not_its_value(
    dev: PlanView, prod: PlanView
) -> None:
    """The app reads the secret itself (and again after a rotation): no password in the task."""
    for view in (dev, prod):
        container = view.container()
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["PORT"] == "8000"
        assert env["APP_VERSION"] == view.outputs[outputs.VERSION]
        assert {"USER", "PASSWORD", "DATABASE_URL"}.isdisjoint(env)
        assert "secrets" not in container
        assert env["DB_AUTH_ARN"].startswith("arn:aws:secretsmanager:us-east-2:")
        assert container["image"] == view.outputs[outputs.IMAGE_REF]
    assert {e["name"]: e["value"] for e in prod.container()["environment"]}["DB_AUTH_ARN"] == (
        "arn:aws:secretsmanager:us-east-2:123456789012:secret:alunos-api/prod/db-Ab12Cd"
    )
    assert {e["name"]: e["value"] for e in prod.container()["environment"]}["HOST"] == (
        "alunos-db.c1a2b3c4d5e6.us-east-2.rds.amazonaws.com"
    )


def test_execution_role_reaches_only_this_stack_resources(dev: PlanView) -> None:
    policy = json.loads(dev.one("aws:iam/rolePolicy:RolePolicy", "alunos-dev-execution")["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    repository = dev.outputs[outputs.REPOSITORY_URL].split("/", 1)[1]
    assert by_sid["PullImage"]["Resource"].endswith(f":repository/{repository}")
    assert by_sid["WriteLogs"]["Resource"].endswith(":log-group:/ecs/alunos-dev:*")
    assert {sid: s["Action"] for sid, s in by_sid.items()} == {
        "EcrLogin": "ecr:GetAuthorizationToken",
        "PullImage": [
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage",
        ],
        "WriteLogs": ["logs:CreateLogStream", "logs:PutLogEvents"],
    }
    wildcard = [s["Sid"] for s in policy["Statement"] if s["Resource"] == "*"]
    assert wildcard == ["EcrLogin"]  # AWS grants ecr:GetAuthorizationToken on * only
    trust = json.loads(dev.one("aws:iam/role:Role", "alunos-dev-task")["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"


def test_rolling_deploy_settings(dev: PlanView) -> None:
    service = dev.one("aws:ecs/service:Service")
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["deploymentMinimumHealthyPercent"] == 100
    assert service["deploymentMaximumPercent"] == 200
    assert service["waitForSteadyState"] is True
    assert service["healthCheckGracePeriodSeconds"] == 30
    group = dev.one("aws:lb/targetGroup:TargetGroup")
    assert group["targetType"] == "ip"
    assert group["healthCheck"]["path"] == "/health"
    seconds = group["healthCheck"]["interval"] * group["healthCheck"]["healthyThreshold"]
    assert seconds + group["deregistrationDelay"] <= 60  # ALB defaults: 30 x 5 + 300 = 450
    # The grace period lets a task that answers within its container's start period (sized by
    # bench/cold_start.py) pass the target group's checks before ECS looks at them.
    start_period = dev.container()["healthCheck"]["startPeriod"]
    assert 0 <= start_period <= 300  # the ECS API's range
    assert service["healthCheckGracePeriodSeconds"] >= start_period + seconds


def test_version_tags_only_on_deploy_scoped_resources(dev: PlanView) -> None:
    version = dev.outputs[outputs.VERSION]
    tagged = {r.type for r in dev.plan.resources if (r.inputs.get("tags") or {}).get("version")}
    assert tagged == {"aws:ecs/taskDefinition:TaskDefinition", "aws:ecs/service:Service"}
    assert dev.one("aws:ecs/service:Service")["tags"]["version"] == version
    named = [r for r in dev.plan.resources if r.custom and "tags" in r.inputs]
    assert all(r.inputs["tags"]["Name"] for r in named)


def test_plan_is_deterministic(dev: PlanView) -> None:
    from pathlib import Path

    from automation.offline import engine

    again = engine.run(Path(__file__).resolve().parents[2], "dev")
    assert [(r.urn, r.inputs) for r in again.resources] == [
        (r.urn, r.inputs) for r in dev.plan.resources
    ]
