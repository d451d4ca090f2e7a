"""Each component on its own, under the mock engine: properties and argument validation."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from typing import Any

import pytest

from automation.offline import mocks
from infra import resource_types as types
from infra.alarms import Alarms, AlarmsArgs, alarm_names
from infra.autoscaling import Autoscaling, AutoscalingArgs
from infra.certificate import Certificate, CertificateArgs
from infra.database import Database, DatabaseArgs, DatabaseConnection
from infra.image import Image, ImageArgs
from infra.load_balancer import LoadBalancer, LoadBalancerArgs
from infra.network import ExistingVpcArgs, Network, NetworkArgs, NewVpcArgs, tasks_public
from infra.registry import Registry, RegistryArgs
from infra.service import HEALTH_CHECK_COMMAND, Service, ServiceArgs, capacity_strategy
from infra.validation import InvalidConfig
from infra.waf import Waf, WafArgs
from tests.infra.conftest import PlanView, configured_rollout, run_component

DIGEST = "sha256:" + "a" * 64
REPO = "123456789012.dkr.ecr.us-east-2.amazonaws.com/alunos"

# Every component's arguments as the stack config would give them; tests vary them with
# dataclasses.replace (type-checked field by field).
REGISTRY = RegistryArgs(keep_release_images=30, untagged_image_days=7, force_delete=False)
IMAGE = ImageArgs(
    repository_url=REPO,
    repository_name="alunos",
    registry_id="123456789012",
    version="1.0.0",
    stamped_tag="1.0.0",
    revision="unknown",
    created="",
    rollback_image="",
    context="app",
    dockerfile="app/Dockerfile",
    prebuilt=None,
)
LOAD_BALANCER = LoadBalancerArgs(
    vpc_id="vpc-1",
    subnet_ids=["subnet-1", "subnet-2"],
    container_port=8000,
    certificate_arn=None,
    domain_name="",
    ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
    health_check_interval=10,
    healthy_threshold=2,
    deregistration_delay=15,
    deletion_protection=False,
    health_check_path="/health",
)
DATABASE = DatabaseArgs(
    vpc_id="vpc-1",
    subnet_ids=["subnet-1", "subnet-2"],
    name="alunos",
    port=5432,
    instance_class="db.t4g.micro",
    allocated_storage=20,
    engine_version="16",
    multi_az=False,
    backup_retention_days=7,
    production=False,
)
SERVICE = ServiceArgs(
    vpc_id="vpc-1",
    subnet_ids=["subnet-1", "subnet-2"],
    assign_public_ip=False,
    image_ref=f"{REPO}@{DIGEST}",
    repository_arn="arn:aws:ecr:us-east-2:123456789012:repository/alunos",
    target_group_arn="arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/t/1",
    load_balancer_security_group_id="sg-alb",
    database=DatabaseConnection(
        host="db.internal",
        port=5432,
        name="alunos",
        secret_arn="arn:aws:secretsmanager:us-east-2:123456789012:secret:db-AbCdEf",
        security_group_id="sg-db",
    ),
    region="us-east-2",
    version="1.2.3",
    cpu=256,
    memory=512,
    desired_count=1,
    spot_percent=0,
    on_demand_base=0,
    execute_command=False,
    container_port=8000,
    log_retention_days=14,
    container_insights="disabled",
    health_check_grace_period=30,
    stop_timeout=30,
    rollout=configured_rollout(),
    health_check_command=tuple(HEALTH_CHECK_COMMAND),
    environment={},
    secrets={},
    registry_secret_arn=None,
    ec2_only=False,
    scale_from_zero=False,
)
AUTOSCALING = AutoscalingArgs(
    cluster_name="c",
    service_name="s",
    load_balancer_arn_suffix="app/lb/1",
    target_group_arn_suffix="targetgroup/tg/2",
    min_count=1,
    max_count=4,
    cpu_percent=60,
    requests_per_target=1000,
    scale_from_zero=False,
)
ALARMS = AlarmsArgs(
    load_balancer_arn_suffix="app/lb/1",
    target_group_arn_suffix="targetgroup/tg/2",
    cluster_name="c",
    service_name="s",
    topic_arn="",
    http_5xx_percent=5,
)
ALB_ARN = "arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/app/lb/1"
WAF = WafArgs(load_balancer_arn=ALB_ARN, rate_limit=2000, log_retention_days=30)


def test_registry_is_immutable_scanned_encrypted_with_lifecycle() -> None:
    view = run_component(lambda: Registry("r", replace(REGISTRY, keep_release_images=5)))
    repo = view.one("aws:ecr/repository:Repository", "r-repo")
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"] == [{"encryptionType": "AES256"}]
    assert repo["forceDelete"] is False
    rules = json.loads(view.one("aws:ecr/lifecyclePolicy:LifecyclePolicy")["policy"])["rules"]
    untagged, *dev_builds, releases = sorted(rules, key=lambda rule: rule["rulePriority"])
    assert untagged["selection"]["tagStatus"] == "untagged"
    assert untagged["selection"]["countType"] == "sinceImagePushed"
    # Which tags each rule takes: tests/infra/test_registry_lifecycle.py.
    assert [rule["selection"]["tagPatternList"] for rule in dev_builds] == [
        ["*dev*"],
        ["*.dirty.*"],
    ]
    # ECR requires the `any` rule to have the highest priority number.
    assert releases["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 5,
    }


def test_two_registries_do_not_collide() -> None:
    def build() -> None:
        Registry("a", REGISTRY)
        Registry("b", REGISTRY)

    view = run_component(build)
    names = [r.name for r in view.of_type("aws:ecr/repository:Repository")]
    assert sorted(names) == ["a-repo", "b-repo"]


def test_image_is_built_for_amd64_with_version_args_and_pushed_by_digest() -> None:
    def build() -> Image:
        return Image(
            "img",
            replace(
                IMAGE,
                version="1.4.3-dev.3",
                stamped_tag="1.4.3-dev.3.gabc1234",
                revision="abc1234" * 5 + "abcde",
                created="2026-11-21T10:00:00Z",
            ),
        )

    view = run_component(build)
    image = view.one("docker:index/image:Image", "img-image")
    assert image["build"]["platform"] == "linux/amd64"
    assert image["build"]["args"] == {
        "APP_VERSION": "1.4.3-dev.3",
        "APP_REVISION": "abc1234" * 5 + "abcde",
        "APP_CREATED": "2026-11-21T10:00:00Z",
    }
    assert image["imageName"] == f"{REPO}:1.4.3-dev.3.gabc1234"
    assert image["registry"] == "[secret]"  # the ECR token never shows in a plan


def test_rollback_image_reuses_the_digest_without_building() -> None:
    refs: list[object] = []

    def build() -> None:
        image = Image(
            "img",
            replace(IMAGE, version="1.4.2", stamped_tag="1.4.2", rollback_image=f"{REPO}@{DIGEST}"),
        )
        image.ref.apply(refs.append)

    view = run_component(build)
    assert "docker:index/image:Image" not in view.types()
    assert refs == [f"{REPO}@{DIGEST}"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (replace(IMAGE, stamped_tag="1.0.0+build"), "tag: '1.0.0+build' is not valid"),
        (replace(IMAGE, rollback_image=f"{REPO}:1.4.2"), "rollback_image"),
    ],
)
def test_image_argument_validation(args: ImageArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment.replace("+", r"\+")):
        Image("img", args)


def test_http_only_load_balancer_forwards_on_80_and_opens_nothing_else() -> None:
    view = run_component(lambda: LoadBalancer("lb", LOAD_BALANCER))
    listener = view.one("aws:lb/listener:Listener")
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert listener["defaultActions"][0]["type"] == "forward"
    rules = view.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert [(r.inputs["fromPort"], r.inputs["cidrIpv4"]) for r in rules] == [(80, "0.0.0.0/0")]
    alb = view.one("aws:lb/loadBalancer:LoadBalancer")
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["internal"] is False
    group = view.one("aws:lb/targetGroup:TargetGroup")
    assert group["healthCheck"]["timeout"] < group["healthCheck"]["interval"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        # The tasks run as non-root: below 1024 they could not listen where the ALB forwards.
        (
            replace(LOAD_BALANCER, container_port=80),
            "container_port: 80 is not valid; allowed: an integer from 1024",
        ),
        (replace(LOAD_BALANCER, health_check_interval=2), "health_check_interval"),
        (replace(LOAD_BALANCER, healthy_threshold=1), "healthy_threshold"),
        (
            replace(
                LOAD_BALANCER, certificate_arn="arn:aws:iam::123456789012:server-certificate/x"
            ),
            "certificate_arn",
        ),
        (
            replace(
                LOAD_BALANCER,
                certificate_arn="arn:aws:acm:us-east-2:123456789012:certificate/x",
                ssl_policy="ELBSecurityPolicy-2016-08",
            ),
            "ssl_policy",
        ),
    ],
)
def test_load_balancer_argument_validation(args: LoadBalancerArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        LoadBalancer("lb", args)


def test_a_certificate_for_the_domain_validated_in_its_zone() -> None:
    view = run_component(
        lambda: Certificate("alunos-prod", CertificateArgs("alunos.example.com", "Z0123456789ABC"))
    )
    certificate = view.one(types.CERTIFICATE)
    assert certificate["domainName"] == "alunos.example.com"
    assert certificate["validationMethod"] == "DNS"
    # The record ACM asks for (the mock answers as ACM does: _<token>.<domain> CNAME).
    record = view.one(types.DNS_RECORD)
    assert record["zoneId"] == "Z0123456789ABC"
    assert record["type"] == "CNAME"
    assert record["name"].endswith(".alunos.example.com.")
    assert record["records"][0].endswith(".acm-validations.aws.")
    validation = view.one(types.CERTIFICATE_VALIDATION)
    assert validation["certificateArn"].startswith("arn:aws:acm:us-east-2:")
    assert validation["validationRecordFqdns"] == [record["name"].rstrip(".")]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (CertificateArgs("alunos.example.com.", "Z01"), "domain_name"),
        (CertificateArgs("Alunos.Example.com", "Z01"), "domain_name"),
        (CertificateArgs("alunos.example.com", "z01"), "hosted_zone_id"),
    ],
)
def test_certificate_argument_validation(args: CertificateArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        Certificate("c", args)


def test_https_on_the_domain_serves_its_certificate_and_redirects_80() -> None:
    arn = "arn:aws:acm:us-east-2:123456789012:certificate/x"
    args = replace(LOAD_BALANCER, certificate_arn=arn, domain_name="alunos.example.com")
    view = run_component(lambda: LoadBalancer("lb", args))
    https = view.one(types.LISTENER, "lb-https")
    assert (https["port"], https["certificateArn"]) == (443, arn)
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    redirect = view.one(types.LISTENER, "lb-http")["defaultActions"][0]
    assert (redirect["type"], redirect["redirect"]["port"]) == ("redirect", "443")


def test_a_domain_without_a_certificate_is_refused() -> None:
    with pytest.raises(InvalidConfig, match="certificate_arn"):
        LoadBalancer("lb", replace(LOAD_BALANCER, domain_name="alunos.example.com"))


def test_load_balancer_name_must_fit_aws_limits() -> None:
    with pytest.raises(InvalidConfig, match="at most 20 characters"):
        LoadBalancer("alunos-a-very-long-stack-name", LOAD_BALANCER)


EXISTING_VPC = ExistingVpcArgs(
    vpc_id="vpc-0123456789abcdef0",
    public_subnet_ids=["subnet-0000000a", "subnet-0000000b"],
    private_subnet_ids=["subnet-0000000c", "subnet-0000000d"],
)
NEW_VPC = NewVpcArgs(availability_zones=2, cidr_block="10.0.0.0/16", nat_gateways="Single")


def _placement(args: ExistingVpcArgs) -> tuple[PlanView, dict[str, object]]:
    seen: dict[str, object] = {}

    def build() -> None:
        network = Network("net", args)
        seen["public"] = network.tasks_public
        network.task_subnet_ids.apply(lambda ids: seen.setdefault("tasks", ids))

    return run_component(build), seen


def test_existing_network_creates_nothing_and_places_tasks_privately() -> None:
    view, seen = _placement(EXISTING_VPC)
    assert [r.type for r in view.plan.resources] == ["alunos-api:infra:Network"]
    assert seen == {"public": False, "tasks": ["subnet-0000000c", "subnet-0000000d"]}


def test_existing_network_without_private_subnets_places_tasks_publicly() -> None:
    _, seen = _placement(replace(EXISTING_VPC, private_subnet_ids=[]))
    assert seen == {"public": True, "tasks": ["subnet-0000000a", "subnet-0000000b"]}


@pytest.mark.parametrize(
    ("args", "public"),
    [
        (NEW_VPC, False),
        (replace(NEW_VPC, nat_gateways="None"), True),
        (EXISTING_VPC, False),
        (replace(EXISTING_VPC, private_subnet_ids=[]), True),
    ],
)
def test_one_rule_decides_whether_tasks_are_public(args: NetworkArgs, public: bool) -> None:
    assert tasks_public(args) is public


def test_each_network_mode_takes_only_its_own_fields() -> None:
    # The old single NetworkArgs took both sets: subnet ids given without a VPC id planned a new
    # VPC and dropped them; a NAT strategy or CIDR given with an existing VPC went unchecked.
    assert {f.name for f in fields(NewVpcArgs)} == {
        "availability_zones",
        "cidr_block",
        "nat_gateways",
    }
    assert {f.name for f in fields(ExistingVpcArgs)} == {
        "vpc_id",
        "public_subnet_ids",
        "private_subnet_ids",
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (replace(NEW_VPC, nat_gateways="none"), "nat_gateways"),
        (replace(NEW_VPC, cidr_block="not-a-cidr"), "cidr_block: 'not-a-cidr' is not valid"),
        (replace(NEW_VPC, availability_zones=1), "availability_zones: 1 is not valid"),
        (replace(EXISTING_VPC, public_subnet_ids=[]), "public_subnet_ids"),
        (replace(EXISTING_VPC, vpc_id="default"), "vpc_id: 'default' is not valid"),
    ],
)
def test_network_validation(args: NetworkArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        Network("n", args)


@pytest.mark.parametrize("production", [True, False])
def test_database_is_private_encrypted_with_managed_password(production: bool) -> None:
    view = run_component(lambda: Database("db", replace(DATABASE, production=production)))
    instance = view.one("aws:rds/instance:Instance")
    assert instance["manageMasterUserPassword"] is True
    assert "password" not in instance
    assert instance["publiclyAccessible"] is False
    assert instance["storageEncrypted"] is True
    assert instance["backupRetentionPeriod"] == 7
    assert instance["deletionProtection"] is production
    # Deleted or replaced, every instance leaves a final snapshot and its automated backups.
    assert instance["skipFinalSnapshot"] is False
    assert re.fullmatch(r"db-final-[0-9a-f]{8}", instance["finalSnapshotIdentifier"])
    assert instance["deleteAutomatedBackups"] is False
    # Major upgrades allowed (the plan diff flags them); dev applies changes at once,
    # production in its maintenance window.
    assert instance["allowMajorVersionUpgrade"] is True
    assert instance["applyImmediately"] is (not production)
    protected = [r.protect for r in view.of_type("aws:rds/instance:Instance")]
    assert protected == [production]
    group = view.one("aws:ec2/securityGroup:SecurityGroup")
    assert "ingress" not in group  # only the service adds its own rule


def _final_snapshot(view: PlanView) -> str:
    return str(view.one(types.RDS_INSTANCE)["finalSnapshotIdentifier"])


def test_every_new_instance_gets_a_final_snapshot_name_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RDS keeps final snapshots and refuses a second one of a name (DBSnapshotAlreadyExists):
    dev destroyed, created again and destroyed again must not reuse its first snapshot's name."""
    first = run_component(lambda: Database("db", DATABASE))
    suffix = first.resource(types.RANDOM_ID, "db-final-snapshot")
    # Drawn again with every replacement (its keepers), and gone with the database component.
    assert suffix.inputs["keepers"] == {
        "engine": "postgres",
        "dbName": "alunos",
        "username": "alunos",
        "storageEncrypted": "true",
    }
    assert suffix.parent == first.resource("alunos-api:infra:Database").urn
    # A recreate draws new random bytes (offline: other bytes from the mock, as a new creation).
    drawn = mocks.RESOURCES[types.RANDOM_ID]

    def redrawn(new: Any) -> Any:
        resource_id, outputs = drawn(new)
        return resource_id, {**outputs, "hex": "0badcafe"}

    monkeypatch.setitem(mocks.RESOURCES, types.RANDOM_ID, redrawn)
    recreated = run_component(lambda: Database("db", DATABASE))
    assert _final_snapshot(recreated) == "db-final-0badcafe" != _final_snapshot(first)
    # A replacement by a change of dbName, too (offline, the bytes follow the keepers).
    monkeypatch.setitem(mocks.RESOURCES, types.RANDOM_ID, drawn)
    renamed = run_component(lambda: Database("db", replace(DATABASE, name="alunos2")))
    assert _final_snapshot(renamed) not in (_final_snapshot(first), "db-final-0badcafe")


def test_service_container_is_read_only_non_privileged_and_logs_to_its_group() -> None:
    view = run_component(lambda: Service("svc", replace(SERVICE, stop_timeout=45)))
    container = view.container()
    assert container["image"].endswith(DIGEST)
    assert container["readonlyRootFilesystem"] is True
    assert container["privileged"] is False
    assert container["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp"}]
    assert container["stopTimeout"] == 45
    assert container["healthCheck"]["command"][0] == "CMD"
    assert container["healthCheck"]["command"] == ["CMD", "python", "-m", "app.healthcheck"]
    assert container["logConfiguration"]["options"] == {
        "awslogs-group": "/ecs/svc",
        "awslogs-region": "us-east-2",
        "awslogs-stream-prefix": "app",
    }
    task = view.one("aws:ecs/taskDefinition:TaskDefinition")
    assert (task["cpu"], task["memory"]) == ("256", "512")
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "X86_64",
    }
    db_in = view.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "svc-db-in")
    assert db_in["securityGroupId"] == "sg-db"
    assert db_in["fromPort"] == 5432
    egress = view.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert sorted((r.inputs["fromPort"], r.inputs["securityGroupId"]) for r in egress) == sorted(
        [(8000, "sg-alb"), (443, _sg(view)), (5432, _sg(view))]
    )


def _sg(view: PlanView) -> str:
    rule = view.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "svc-in-alb")
    return str(rule["securityGroupId"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            replace(SERVICE, cpu=1024, memory=1024),
            "memory: 1024 MiB is not offered by Fargate with cpu=1024",
        ),
        (replace(SERVICE, desired_count=0), "desired_count"),
        (
            replace(SERVICE, container_port=80),
            "container_port: 80 is not valid; allowed: an integer from 1024",
        ),
        (replace(SERVICE, stop_timeout=300), "stop_timeout"),
        (replace(SERVICE, container_insights="on"), "container_insights"),
        (replace(SERVICE, spot_percent=101), "spot_percent"),
        (replace(SERVICE, on_demand_base=-1), "on_demand_base"),
    ],
)
def test_service_argument_validation(args: ServiceArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        Service("svc", args)


def test_service_without_deployment_alarms_has_no_alarms_block() -> None:
    view = run_component(lambda: Service("svc", SERVICE))
    service = view.one("aws:ecs/service:Service")
    assert "alarms" not in service
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["enableExecuteCommand"] is False
    policies = [r.name for r in view.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert policies == ["svc-execution", "svc-task-db-secret"]  # no ECS Exec channels


@pytest.mark.parametrize(
    ("spot_percent", "base", "expected"),
    [
        (0, 0, [{"capacity_provider": "FARGATE", "base": 0, "weight": 1}]),
        (0, 2, [{"capacity_provider": "FARGATE", "base": 2, "weight": 1}]),
        (100, 0, [{"capacity_provider": "FARGATE_SPOT", "weight": 1}]),
        (
            100,
            2,
            [
                {"capacity_provider": "FARGATE", "base": 2, "weight": 0},
                {"capacity_provider": "FARGATE_SPOT", "weight": 1},
            ],
        ),
        (
            50,
            2,
            [
                {"capacity_provider": "FARGATE", "base": 2, "weight": 1},
                {"capacity_provider": "FARGATE_SPOT", "weight": 1},
            ],
        ),
        (
            30,
            0,
            [
                {"capacity_provider": "FARGATE", "base": 0, "weight": 7},
                {"capacity_provider": "FARGATE_SPOT", "weight": 3},
            ],
        ),
    ],
)
def test_capacity_strategy(spot_percent: int, base: int, expected: list[dict[str, object]]) -> None:
    assert capacity_strategy(spot_percent, base) == expected


def test_autoscaling_component_wires_target_and_policies() -> None:
    args = replace(AUTOSCALING, min_count=2, max_count=3, scale_in_cooldown=600)
    view = run_component(lambda: Autoscaling("as", args))
    target = view.one("aws:appautoscaling/target:Target")
    assert target["resourceId"] == "service/c/s"
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 3)
    labels = {
        r.name: r.inputs["targetTrackingScalingPolicyConfiguration"]
        for r in view.of_type("aws:appautoscaling/policy:Policy")
    }
    requests = labels["as-scale-requests"]["predefinedMetricSpecification"]
    assert requests["resourceLabel"] == "app/lb/1/targetgroup/tg/2"
    assert labels["as-scale-cpu"]["scaleInCooldown"] == 600


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            replace(AUTOSCALING, min_count=0),
            "min_count: 0 is not valid; allowed: an integer >= 1",
        ),
        (
            replace(AUTOSCALING, min_count=3, max_count=2),
            "max_count: 2 is not valid; allowed: an integer from 3",
        ),
        (replace(AUTOSCALING, cpu_percent=5), "cpu_percent"),
        (replace(AUTOSCALING, scale_in_cooldown=-1), "scale_in_cooldown"),
    ],
)
def test_autoscaling_argument_validation(args: AutoscalingArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        Autoscaling("as", args)


def test_alarm_names_are_the_ones_the_service_is_given() -> None:
    args = replace(ALARMS, http_5xx_percent=10, min_5xx_count=20)
    view = run_component(lambda: Alarms("al", args))
    names = alarm_names("al")
    assert {r.inputs["name"] for r in view.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")} == {
        names.http_5xx,
        names.unhealthy_targets,
        names.cpu_high,
        names.memory_high,
    }
    assert names.deployment == ("al-http-5xx-rate", "al-unhealthy-targets")
    rate = view.one("aws:cloudwatch/metricAlarm:MetricAlarm", "al-http-5xx")
    assert rate["threshold"] == 10
    (returned,) = [q for q in rate["metricQueries"] if q.get("returnData")]
    assert returned["expression"].startswith("IF(errors >= 20, ")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (replace(ALARMS, topic_arn="arn:aws:sqs:us-east-2:123456789012:q"), "topic_arn"),
        (replace(ALARMS, http_5xx_percent=0), "http_5xx_percent"),
        (replace(ALARMS, memory_percent=101), "memory_percent"),
    ],
)
def test_alarms_argument_validation(args: AlarmsArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        Alarms("al", args)


def test_waf_rules_follow_the_configured_groups() -> None:
    args = replace(WAF, rate_limit=100, managed_rule_groups=["AWSManagedRulesCommonRuleSet"])
    view = run_component(lambda: Waf("fw", args))
    acl = view.one("aws:wafv2/webAcl:WebAcl")
    assert [(r["priority"], r["name"]) for r in acl["rules"]] == [
        (0, "rate-limit-per-ip"),
        (1, "AWSManagedRulesCommonRuleSet"),
    ]
    assert view.one("aws:wafv2/webAclAssociation:WebAclAssociation")["resourceArn"] == ALB_ARN


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (replace(WAF, rate_limit=9), "rate_limit: 9 is not valid; allowed: an integer from 10"),
        (replace(WAF, managed_rule_groups=[]), "at least one AWS managed rule group"),
        (replace(WAF, managed_rule_groups=["Common Rule Set"]), "managed_rule_groups"),
    ],
)
def test_waf_argument_validation(args: WafArgs, fragment: str) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        Waf("fw", args)
