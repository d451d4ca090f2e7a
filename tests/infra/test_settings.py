"""Bad stack config: a clear error naming the key and what is allowed, before any resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from automation.cli import main
from automation.errors import UsageProblem
from tests.infra.conftest import PlanView

BAD_CONFIG = [
    pytest.param("dev", {"cpu": 256, "memory": 4096}, ["alunos-api:memory", "512..2048"], id="fargate-pair"),
    pytest.param("dev", {"cpu": 300}, ["alunos-api:cpu", "256, 512, 1024"], id="fargate-cpu"),
    pytest.param("dev", {"desiredCount": 0}, ["alunos-api:desiredCount", ">= 1"], id="count-zero"),
    pytest.param("prod", {"desiredCount": 1}, ["alunos-api:desiredCount", "at least 2 in production"], id="prod-one-task"),
    pytest.param("dev", {"natGateways": "Double"}, ["alunos-api:natGateways", "'OnePerAz'"], id="nat-unknown"),
    pytest.param("dev", {"https": True}, ["alunos-api:https", "certificateArn"], id="https-no-cert"),
    pytest.param("dev", {"domainName": "alunos.example.com"}, ["alunos-api:domainName", "needs a certificate", "hostedZoneId"], id="domain-no-cert"),
    pytest.param("dev", {"hostedZoneId": "Z0123456789ABCDEFGHIJ"}, ["alunos-api:hostedZoneId is set", "domainName is empty"], id="zone-no-domain"),
    pytest.param("dev", {"domainName": "*.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, ["alunos-api:domainName", "no wildcard"], id="domain-wildcard"),
    pytest.param("dev", {"domainName": "alunos", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, ["alunos-api:domainName", "2+ labels"], id="domain-one-label"),
    pytest.param("dev", {"domainName": "alunos-.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, ["alunos-api:domainName", "inner hyphens"], id="domain-hyphen"),
    pytest.param("dev", {"domainName": "alunos.example.com", "hostedZoneId": "/hostedzone/Z01234"}, ["alunos-api:hostedZoneId", "without the /hostedzone/ prefix"], id="zone-prefix"),
    pytest.param("dev", {"certificateArn": "my-cert"}, ["alunos-api:certificateArn", "arn:aws:acm"], id="cert-not-arn"),
    pytest.param("dev", {"dbHost": "db.internal", "dbSecretArn": "arn:aws:secretsmanager:us-east-2:123456789012:secret:x"}, ["createDatabase", "choose one database"], id="both-db-modes"),
    pytest.param("dev", {"createDatabase": False}, ["no database configured", "createDatabase"], id="no-db-mode"),
    pytest.param("prod", {"dbSecretArn": None}, ["alunos-api:dbSecretArn", "needs both"], id="existing-db-no-secret"),
    pytest.param("prod", {"dbSecurityGroupId": None}, ["alunos-api:dbAllowIngressFromService: true needs", "dbSecurityGroupId"], id="db-ingress-without-group"),
    pytest.param("dev", {"dbAllowIngressFromService": True}, ["alunos-api:dbAllowIngressFromService", "a database the stack creates admits the service anyway"], id="db-ingress-own-rds"),
    pytest.param("prod", {"existingPublicSubnetIds": ["subnet-0a1b2c3d4e5f60001"]}, ["existingPublicSubnetIds", "at least 2"], id="one-alb-subnet"),
    pytest.param("prod", {"existingPrivateSubnetIds": []}, ["production tasks must run in private subnets"], id="prod-public-tasks"),
    # A new VPC or an existing one, never a mix: the other mode's keys used to be silently ignored.
    pytest.param("dev", {"existingPrivateSubnetIds": ["subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012"]}, ["alunos-api:existingPrivateSubnetIds", "alunos-api:existingVpcId is empty"], id="subnets-without-vpc"),
    pytest.param("prod", {"natGateways": "OnePerAz"}, ["alunos-api:natGateways: 'OnePerAz' only shapes a new VPC", "alunos-api:existingVpcId reuses vpc-", "natGateways unset"], id="nat-with-existing-vpc"),
    pytest.param("prod", {"natGateways": "Single"}, ["alunos-api:natGateways: 'Single' only shapes a new VPC"], id="nat-default-with-existing-vpc"),
    pytest.param("prod", {"vpcCidr": "not-a-cidr"}, ["alunos-api:vpcCidr: 'not-a-cidr' only shapes a new VPC"], id="cidr-with-existing-vpc"),
    pytest.param("prod", {"availabilityZones": 3}, ["alunos-api:availabilityZones: 3 only shapes a new VPC"], id="azs-with-existing-vpc"),
    pytest.param("dev", {"natGateways": None}, ["alunos-api:natGateways not set", "a new VPC", "one of None, Single, OnePerAz"], id="new-vpc-without-nat"),
    pytest.param("dev", {"vpcCidr": None, "availabilityZones": None}, ["alunos-api:vpcCidr, alunos-api:availabilityZones not set", "/16 to /22", "(2..6)"], id="new-vpc-without-cidr-azs"),
    pytest.param("dev", {"vpcCidr": "8.8.0.0/16"}, ["alunos-api:vpcCidr", "RFC 1918"], id="public-cidr"),
    # Each AZ gets an eighth of the VPC and the load balancer a quarter of that: /27 at least.
    pytest.param("dev", {"vpcCidr": "10.0.0.0/23"}, ["alunos-api:vpcCidr", "/16 to /22"], id="vpc-too-small"),
    # RDS upgrades minor versions itself: a pinned minor would later ask it to downgrade.
    pytest.param("dev", {"dbEngineVersion": "16.3"}, ["alunos-api:dbEngineVersion: '16.3' is not valid", "a major version such as 16"], id="db-minor-pinned"),
    pytest.param("dev", {"containerPort": 80}, ["alunos-api:containerPort", "from 1024 to 65535"], id="privileged-port"),
    pytest.param("dev", {"logRetentionDays": 10}, ["alunos-api:logRetentionDays", "14"], id="retention"),
    pytest.param("prod", {"sslPolicy": "ELBSecurityPolicy-2016-08"}, ["alunos-api:sslPolicy", "TLS13"], id="old-tls"),
    pytest.param("prod", {"forceDeleteRepository": True}, ["forceDeleteRepository", "not allowed in production"], id="prod-force-delete"),
    pytest.param("dev", {"availabilityZones": 1}, ["alunos-api:availabilityZones", "from 2 to 6"], id="one-az"),
    pytest.param("dev", {"rollbackImage": "repo:latest"}, ["alunos-api:rollbackImage", "@sha256"], id="rollback-by-tag"),
    pytest.param("dev", {"legacyTags": ["app"]}, ["alunos-api:legacyTags", "KEY=VALUE"], id="legacy-tag"),
    pytest.param("dev", {"aws:defaultTags": {"tags": {"project": "alunos-api"}}}, ["aws:defaultTags", "environment, managed-by"], id="default-tags"),
    pytest.param("dev", {"aws:defaultTags": {"tags": {"project": "p", "environment": "prod", "managed-by": "pulumi"}}}, ["environment is 'prod'", "'dev'"], id="tag-env-mismatch"),
    pytest.param("dev", {"aws:region": None}, ["aws:region is not set"], id="no-region"),
    pytest.param("dev", {"autoscalingMinCount": 0}, ["alunos-api:autoscalingMinCount", ">= 1"], id="scale-min-zero"),
    pytest.param("prod", {"autoscalingMinCount": 1}, ["alunos-api:autoscalingMinCount", "at least 2 in production"], id="prod-scale-min-one"),
    pytest.param("dev", {"autoscalingMinCount": 2, "autoscalingMaxCount": 1, "desiredCount": 2}, ["alunos-api:autoscalingMaxCount", "from 2 to 100"], id="scale-max-below-min"),
    pytest.param("dev", {"desiredCount": 3}, ["alunos-api:desiredCount", "within autoscalingMinCount..autoscalingMaxCount (1..2)"], id="desired-above-max"),
    pytest.param("prod", {"autoscalingMinCount": 3}, ["alunos-api:desiredCount", "(3..6)"], id="desired-below-min"),
    pytest.param("dev", {"autoscalingCpuPercent": 95}, ["alunos-api:autoscalingCpuPercent", "from 10 to 90"], id="cpu-target"),
    pytest.param("dev", {"autoscalingRequestsPerTarget": 0}, ["alunos-api:autoscalingRequestsPerTarget", "from 1 to"], id="requests-target"),
    pytest.param("dev", {"spotPercent": 120}, ["alunos-api:spotPercent", "from 0 to 100"], id="spot-percent"),
    pytest.param("dev", {"onDemandBase": 5}, ["alunos-api:onDemandBase", "from 0 to 2"], id="base-above-max"),
    pytest.param("prod", {"spotPercent": 50, "onDemandBase": 1}, ["alunos-api:onDemandBase", "at least 2 in production when spotPercent > 0"], id="prod-spot-without-base"),
    pytest.param("dev", {"alarmTopicArn": "alunos-alarms"}, ["alunos-api:alarmTopicArn", "arn:aws:sns"], id="topic-not-arn"),
    pytest.param("dev", {"alarmTopicArn": "arn:aws:sqs:us-east-2:123456789012:alarms"}, ["alunos-api:alarmTopicArn", "sns"], id="topic-not-sns"),
    pytest.param("dev", {"alarm5xxPercent": 0}, ["alunos-api:alarm5xxPercent", "from 1 to 100"], id="5xx-percent"),
    pytest.param("prod", {"wafRateLimit": 5}, ["alunos-api:wafRateLimit", "from 10 to 2000000000"], id="waf-rate"),
    pytest.param("prod", {"wafLogRetentionDays": 10}, ["alunos-api:wafLogRetentionDays", "14"], id="waf-log-retention"),
    pytest.param("prod", {"albAccessLogDays": 0}, ["alunos-api:albAccessLogDays", "from 1 to 3650"], id="access-log-days"),
    pytest.param("prod", {"albAccessLogs": "yes"}, ["alunos-api:albAccessLogs", "type boolean"], id="access-logs-type"),
    pytest.param("dev", {"enableExecuteCommand": "yes"}, ["alunos-api:enableExecuteCommand", "type boolean"], id="exec-type"),
    # Caught by the stack file loader, as the Pulumi CLI would: types and unknown keys.
    pytest.param("dev", {"desiredCount": "two"}, ["alunos-api:desiredCount", "type integer"], id="type"),
    pytest.param("dev", {"desiredCont": 2}, ["alunos-api:desiredCont is not a key", "desiredCount"], id="typo"),
]  # fmt: skip


@pytest.mark.parametrize(("stack", "overrides", "fragments"), BAD_CONFIG)
def test_bad_config_is_refused_with_the_key_and_what_is_allowed(
    stack_plan: Callable[..., PlanView], stack: str, overrides: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(UsageProblem) as raised:
        stack_plan(stack, overrides)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message
    assert "Traceback" not in message


def test_cli_exits_2_with_a_one_line_message(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], stack_plan: Callable[..., PlanView]
) -> None:
    with pytest.raises(UsageProblem):
        stack_plan("dev", {"cpu": 300})
    project = tmp_path / "project-dev"
    code = main(["plan", "--stack", "dev", "--repo", str(project)])
    captured = capsys.readouterr()
    assert code == 2
    assert "alunos-api:cpu: 300 is not valid" in captured.err
    assert "Traceback" not in captured.err


def test_unknown_stack_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "prdo"]) == 2
    assert "unknown stack 'prdo'" in capsys.readouterr().err


def test_valid_variations_plan(stack_plan: Callable[..., PlanView]) -> None:
    one_per_az = stack_plan("dev", {"natGateways": "OnePerAz", "availabilityZones": 3})
    vpc = one_per_az.one("awsx:ec2:Vpc")
    assert [s["type"] for s in vpc["subnetSpecs"]] == ["Public", "Private", "Isolated"]
    service = one_per_az.one("aws:ecs/service:Service")
    assert service["networkConfiguration"]["assignPublicIp"] is False
    assert len(service["networkConfiguration"]["subnets"]) == 3

    https = stack_plan(
        "dev",
        {"https": True, "certificateArn": "arn:aws:acm:us-east-2:123456789012:certificate/abc"},
    )
    listeners = {r.inputs["port"]: r.inputs for r in https.of_type("aws:lb/listener:Listener")}
    assert listeners[80]["defaultActions"][0]["type"] == "redirect"
    assert listeners[443]["certificateArn"].endswith("certificate/abc")


def test_existing_database_without_managed_security_group(
    stack_plan: Callable[..., PlanView],
) -> None:
    view = stack_plan("prod", {"dbSecurityGroupId": None, "dbAllowIngressFromService": None})
    egress = view.one(
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "alunos-prod-out-db"
    )
    assert egress["fromPort"] == egress["toPort"] == 5432
    names = {
        r.name for r in view.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    }
    assert "alunos-prod-db-in" not in names  # we don't touch a group we weren't given
    assert "aws:rds/instance:Instance" not in view.types()


def test_the_program_refuses_a_stack_named_prod_without_the_flag() -> None:
    """`pulumi up -s prod` run by hand, without the CLI: the program asks the same predicate as
    the CLI, so a prod stack without `production: true` is refused before any resource."""
    import pulumi

    from infra import settings
    from infra.validation import InvalidConfig

    config = {"aws:region": "us-east-2", "alunos-api:production": "false"}
    pulumi.runtime.set_all_config(config)
    try:
        with pytest.raises(
            InvalidConfig, match=r"alunos-api:production is false, but a stack named prod"
        ):
            settings.load("alunos-api", "prod")
    finally:
        pulumi.runtime.set_all_config({})
