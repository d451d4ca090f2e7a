"""Stack configuration, read once, typed and validated before any resource exists.

Defaults live in Pulumi.yaml (the Pulumi CLI applies them; the offline plan does the same), so
this module has none of its own: a key missing here means the program and Pulumi.yaml disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

import pulumi

from infra import capacity
from infra import validation as v
from infra.network import (
    ExistingVpcArgs,
    NetworkArgs,
    NewVpcArgs,
    addresses_for_tasks,
    task_subnet_blocks,
    tasks_public,
)
from infra.rollout import STRATEGY_KEY, Rollout
from infra.schedule import Schedule, parse_schedule
from infra.service import HEALTH_CHECK_COMMAND, PROGRAM_VARIABLES
from infra.validation import InvalidConfig
from policy.rules import ProductionFlagMissing, is_production, plain_secret

REQUIRED_DEFAULT_TAGS = ("project", "environment", "managed-by")
POLICY_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:policy/[\w+=,.@/-]{1,512}")
"""An IAM managed policy's ARN (path and name: IAM's word characters and `+=,.@-`,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html)."""


@dataclass(frozen=True)
class Release:
    version: str
    image_tag: str
    revision: str
    created: str
    rollback_image: str


@dataclass(frozen=True)
class AppSettings:
    """What runs in the tasks: this repository's app, another build context, or a prebuilt
    image; how it is checked; what it is given beyond the program's own variables."""

    image: v.ImageReference | None
    """A prebuilt image to run by digest instead of building (None: build `context`)."""
    registry_secret_arn: str
    """Credentials ECS pulls `image` with from a private registry other than ECR ("": none)."""
    context: str
    dockerfile: str
    """The Dockerfile (default: <context>/Dockerfile)."""
    health_check_path: str
    """The load balancer's check of each task."""
    container_health_check: tuple[str, ...] | None
    """ECS's command (CMD ... or CMD-SHELL ...); None: no container health check."""
    environment: dict[str, str]
    secrets: dict[str, str]
    """Variable name -> ECS valueFrom (a Secrets Manager secret's ARN[:json-key::])."""

    @property
    def startup_secrets(self) -> dict[str, str]:
        """The secrets ECS reads at start, by ARN (without ECS's :json-key:... suffix), each
        with the config key that names it."""
        found = {v.secret_value_from(name, ref): "appSecrets" for name, ref in self.secrets.items()}
        if self.registry_secret_arn:
            found[self.registry_secret_arn] = "imageRegistrySecretArn"
        return dict(sorted(found.items()))


@dataclass(frozen=True)
class RegistrySettings:
    keep_release_images: int
    untagged_image_days: int
    force_delete: bool


@dataclass(frozen=True)
class LoadBalancerSettings:
    certificate_arn: str
    """A certificate of the team's ("": none given)."""
    domain_name: str
    """The service's own name ("": none, the ALB's name over HTTP or the certificate's)."""
    hosted_zone_id: str
    """The Route 53 zone of domain_name ("": not in Route 53)."""
    ssl_policy: str
    deregistration_delay: int
    health_check_interval: int
    healthy_threshold: int
    access_logs: bool
    """Every request logged to an S3 bucket of the stack's."""
    access_log_days: int
    """Days the bucket keeps an access log object."""

    @property
    def creates_certificate(self) -> bool:
        """A domain in a zone of the account, without a certificate: ACM issues one."""
        return bool(self.domain_name and self.hosted_zone_id and not self.certificate_arn)

    @property
    def https(self) -> bool:
        return bool(self.certificate_arn) or self.creates_certificate


@dataclass(frozen=True)
class ServiceSettings:
    cpu: int
    memory: int
    desired_count: int
    container_port: int
    log_retention_days: int
    container_insights: str
    health_check_grace_period: int
    stop_timeout: int
    execute_command: bool


@dataclass(frozen=True)
class CapacitySettings:
    mode: str
    """fargate, ec2 or hybrid (infra/capacity.py)."""
    spot_percent: int
    on_demand_base: int
    instance_type: str
    """The Auto Scaling group's instances (ec2, hybrid)."""
    base_count: int
    """hybrid: the steady tasks of the base service on EC2."""

    @property
    def uses_ec2(self) -> bool:
        return self.mode != capacity.FARGATE_ONLY


@dataclass(frozen=True)
class AutoscalingSettings:
    min_count: int
    max_count: int
    cpu_percent: int
    requests_per_target: int


@dataclass(frozen=True)
class AlarmSettings:
    topic_arn: str
    http_5xx_percent: int


@dataclass(frozen=True)
class WafSettings:
    enabled: bool
    rate_limit: int
    log_retention_days: int


@dataclass(frozen=True)
class DatabaseSettings:
    mode: Literal["existing", "rds"]
    host: str
    port: int
    name: str
    secret_arn: str
    security_group_id: str
    allow_ingress_from_service: bool
    """Whether the stack adds the rule admitting the service to the existing database's security
    group (someone else's group: an explicit choice, never a side effect)."""
    instance_class: str
    allocated_storage: int
    engine_version: str
    multi_az: bool
    backup_retention_days: int


@dataclass(frozen=True)
class LegacySettings:
    tags: dict[str, str]
    instance_ids: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    region: str
    production: bool
    default_tags: dict[str, str]
    release: Release
    app: AppSettings
    network: NetworkArgs
    """The network's own argument types: every field is a config key, and `tasks_public` of
    infra.network decides from them alone."""
    registry: RegistrySettings
    load_balancer: LoadBalancerSettings
    service: ServiceSettings
    capacity: CapacitySettings
    autoscaling: AutoscalingSettings
    alarms: AlarmSettings
    rollout: Rollout
    """How a release reaches the tasks (deploymentStrategy and its parameters)."""
    waf: WafSettings
    database: DatabaseSettings
    legacy: LegacySettings
    schedule: Schedule | None
    """Working hours outside which the service (and the stack's own database) sleep."""
    role_boundary_arn: str
    """The permissions boundary every role gets (rolePermissionsBoundaryArn), or empty."""


class _Reader:
    """Typed access to one config namespace; errors name the fully qualified key."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.config = pulumi.Config(namespace)

    def _raw(self, key: str) -> str:
        value = self.config.get(key)
        if value is None:
            raise InvalidConfig(
                f"{self.namespace}:{key} is not set and has no default; declare it in Pulumi.yaml "
                f"or set it with `pulumi config set {key} <value>`."
            )
        return value

    def string(self, key: str) -> str:
        return self._raw(key).strip()

    def integer(self, key: str) -> int:
        raw = self._raw(key)
        try:
            return int(raw)
        except ValueError:
            raise v.fail(f"{self.namespace}:{key}", raw, "an integer") from None

    def boolean(self, key: str) -> bool:
        raw = self._raw(key).lower()
        if raw not in ("true", "false"):
            raise v.fail(f"{self.namespace}:{key}", raw, "true or false")
        return raw == "true"

    def strings(self, key: str) -> tuple[str, ...]:
        raw = self._raw(key)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise v.fail(f"{self.namespace}:{key}", raw, "a list of strings")
        return tuple(item.strip() for item in value)


def load(project: str | None = None, stack: str | None = None) -> Settings:
    """Read and validate the whole stack configuration."""
    project = project or pulumi.get_project()
    stack = stack or pulumi.get_stack()
    cfg = _Reader(project)
    key = lambda name: f"{project}:{name}"  # noqa: E731 - names keys in messages

    region = pulumi.Config("aws").get("region")
    if not region:
        raise InvalidConfig(
            "aws:region is not set; set it in Pulumi.<stack>.yaml (the EC2 deployment runs in "
            "us-east-2)."
        )
    try:
        production = is_production(stack, cfg.boolean("production"), key("production"))
    except ProductionFlagMissing as problem:
        raise InvalidConfig(str(problem)) from None
    default_tags = _default_tags(stack)

    release = Release(
        version=cfg.string("version"),
        image_tag=cfg.string("imageTag"),
        revision=cfg.string("revision"),
        created=cfg.string("created"),
        rollback_image=cfg.string("rollbackImage"),
    )
    if not release.version:
        raise v.fail(key("version"), release.version, "a SemVer version such as 1.4.2")
    if release.image_tag:
        v.docker_tag(key("imageTag"), release.image_tag)
    if release.rollback_image:
        v.digest_reference(key("rollbackImage"), release.rollback_image)
    app = _app(cfg, key, region)
    if app.image is not None and release.rollback_image:
        raise InvalidConfig(
            f"{key('rollbackImage')} is set but {key('image')} runs a prebuilt image: "
            "`automation rollback` redeploys only images this program built; to go back, set "
            "image to the earlier digest. Allowed: rollbackImage empty with image."
        )

    network = _network(cfg, key, production)
    registry = RegistrySettings(
        keep_release_images=cfg.integer("keepReleaseImages"),
        untagged_image_days=cfg.integer("untaggedImageDays"),
        force_delete=cfg.boolean("forceDeleteRepository"),
    )
    v.IMAGES_KEPT.check(key("keepReleaseImages"), registry.keep_release_images)
    v.UNTAGGED_IMAGE_DAYS.check(key("untaggedImageDays"), registry.untagged_image_days)
    if production and registry.force_delete:
        raise InvalidConfig(
            f"{key('forceDeleteRepository')}: true is not allowed in production (it would let "
            "`pulumi destroy` delete every released image); allowed: false."
        )

    load_balancer = _load_balancer(cfg, key)
    mode = cfg.string("capacity")
    v.one_of(key("capacity"), mode, capacity.MODES)
    service = _service(cfg, key, production, mode)
    autoscaling = _autoscaling(cfg, key, production, service.desired_count, mode)
    capacity_settings = _capacity(
        cfg, key, production, autoscaling.max_count, mode, service, network
    )
    if isinstance(network, NewVpcArgs):
        zones = task_zones(network)
        instances = ec2_instances(
            autoscaling, capacity_settings, service.cpu, service.memory, zones
        )
        _check_task_subnets(key, network, task_addresses(autoscaling, capacity_settings, instances))
    alarms = _alarms(cfg, key)
    rollout = Rollout.from_config(cfg.string, cfg.integer)
    rollout.validate(key)
    _alarm_sees_the_first_shift(rollout, alarms, key)
    if rollout.shifts_traffic and mode == capacity.HYBRID:
        raise v.fail(
            key("deploymentStrategy"),
            rollout.strategy,
            "rolling with capacity hybrid (ECS shifts one service's traffic to a second target "
            "group; the base service's tasks would stay in the first, out of traffic)",
        )
    waf = WafSettings(
        enabled=cfg.boolean("wafEnabled"),
        rate_limit=cfg.integer("wafRateLimit"),
        log_retention_days=cfg.integer("wafLogRetentionDays"),
    )
    v.WAF_RATE_LIMIT.check(key("wafRateLimit"), waf.rate_limit)
    v.one_of(key("wafLogRetentionDays"), waf.log_retention_days, v.LOG_RETENTION_DAYS)
    database = _database(cfg, key)
    legacy = _legacy(cfg, key)
    schedule = _schedule(cfg, key, production, mode)
    role_boundary_arn = cfg.string("rolePermissionsBoundaryArn")
    if role_boundary_arn and not POLICY_ARN.fullmatch(role_boundary_arn):
        raise v.fail(
            key("rolePermissionsBoundaryArn"),
            role_boundary_arn,
            "empty, or an IAM policy ARN such as "
            "arn:aws:iam::111122223333:policy/ci-alunos-api-boundary-dev (the bootstrap's "
            "<stack>RoleBoundaryArn output)",
        )
    if (
        database.mode == "rds"
        and isinstance(network, ExistingVpcArgs)
        and not network.private_subnet_ids
    ):
        raise InvalidConfig(
            f"{key('createDatabase')}: a new database in an existing VPC needs "
            f"{key('existingPrivateSubnetIds')} (>= 2 private subnets): RDS is never placed in "
            "public subnets."
        )

    return Settings(
        project=project,
        stack=stack,
        region=region,
        production=production,
        default_tags=default_tags,
        release=release,
        app=app,
        network=network,
        registry=registry,
        load_balancer=load_balancer,
        service=service,
        capacity=capacity_settings,
        autoscaling=autoscaling,
        alarms=alarms,
        rollout=rollout,
        waf=waf,
        database=database,
        legacy=legacy,
        schedule=schedule,
        role_boundary_arn=role_boundary_arn,
    )


def _default_tags(stack: str) -> dict[str, str]:
    """Common tags come from the aws provider's defaultTags, so they reach awsx's children too."""
    raw: Any = pulumi.Config("aws").get_object("defaultTags") or {}
    tags = raw.get("tags") if isinstance(raw, dict) else None
    if not isinstance(tags, dict):
        tags = {}
    missing = [name for name in REQUIRED_DEFAULT_TAGS if not tags.get(name)]
    if missing:
        raise InvalidConfig(
            "aws:defaultTags: tags " + ", ".join(missing) + " are missing; every resource must "
            "carry " + ", ".join(REQUIRED_DEFAULT_TAGS) + " (set them under aws:defaultTags.tags "
            "in Pulumi.<stack>.yaml)."
        )
    if tags["environment"] != stack:
        raise InvalidConfig(
            f"aws:defaultTags: tag environment is {tags['environment']!r} but the stack is "
            f"{stack!r}; allowed: {stack!r}."
        )
    return {str(name): str(value) for name, value in tags.items()}


def _network(cfg: _Reader, key: Any, production: bool) -> NetworkArgs:
    """A new VPC or an existing one, never a mix: the keys of the other mode must stay unset,
    since the network would silently ignore them."""
    vpc_id = cfg.string("existingVpcId")
    # Pulumi.yaml leaves these unset (0 or ""): a new VPC needs each, an existing one none.
    new_vpc_keys: dict[str, int | str] = {
        "natGateways": cfg.string("natGateways"),
        "vpcCidr": cfg.string("vpcCidr"),
        "availabilityZones": cfg.integer("availabilityZones"),
    }
    network: NetworkArgs
    if vpc_id:
        for name, value in new_vpc_keys.items():
            if value:
                raise InvalidConfig(
                    f"{key(name)}: {value!r} only shapes a new VPC, but {key('existingVpcId')} "
                    f"reuses {vpc_id}; allowed: {name} unset with existingVpcId, or no "
                    "existingVpcId (and no existing subnet ids) to create a VPC."
                )
        network = _existing_vpc(cfg, key, vpc_id)
    else:
        network = _new_vpc(cfg, key, new_vpc_keys)
    if production and tasks_public(network):
        raise InvalidConfig(
            f"{key('natGateways')}/{key('existingPrivateSubnetIds')}: production tasks must run "
            "in private subnets without public IPs; allowed: natGateways Single or OnePerAz (or "
            "existingPrivateSubnetIds when reusing a VPC)."
        )
    return network


def _existing_vpc(cfg: _Reader, key: Any, vpc_id: str) -> ExistingVpcArgs:
    v.aws_id(key("existingVpcId"), vpc_id, "vpc")
    network = ExistingVpcArgs(
        vpc_id=vpc_id,
        public_subnet_ids=cfg.strings("existingPublicSubnetIds"),
        private_subnet_ids=cfg.strings("existingPrivateSubnetIds"),
    )
    if len(network.public_subnet_ids) < 2:
        raise v.fail(
            key("existingPublicSubnetIds"),
            list(network.public_subnet_ids),
            "at least 2 public subnets of existingVpcId in different AZs (the ALB needs 2)",
        )
    for subnet in (*network.public_subnet_ids, *network.private_subnet_ids):
        v.aws_id(key("existingPublicSubnetIds/existingPrivateSubnetIds"), subnet, "subnet")
    if network.private_subnet_ids and len(network.private_subnet_ids) < 2:
        raise v.fail(
            key("existingPrivateSubnetIds"),
            list(network.private_subnet_ids),
            "none, or at least 2 private subnets in different AZs",
        )
    return network


def _new_vpc(cfg: _Reader, key: Any, new_vpc_keys: dict[str, int | str]) -> NewVpcArgs:
    if cfg.strings("existingPublicSubnetIds") or cfg.strings("existingPrivateSubnetIds"):
        raise InvalidConfig(
            f"{key('existingPublicSubnetIds')}/{key('existingPrivateSubnetIds')} are set but "
            f"{key('existingVpcId')} is empty; set existingVpcId to reuse a VPC, or remove "
            "the subnet ids to create a new VPC."
        )
    unset = [key(name) for name, value in new_vpc_keys.items() if not value]
    if unset:
        raise InvalidConfig(
            f"{', '.join(unset)} not set: a new VPC ({key('existingVpcId')} empty) needs "
            f"natGateways (one of {', '.join(v.NAT_STRATEGIES)}), vpcCidr (a private range "
            f"/{v.VPC_PREFIX_LENGTH.low} to /{v.VPC_PREFIX_LENGTH.high}) and availabilityZones "
            f"({v.AVAILABILITY_ZONES.low}..{v.AVAILABILITY_ZONES.high}); or set existingVpcId "
            "to reuse a VPC."
        )
    network = NewVpcArgs(
        availability_zones=cfg.integer("availabilityZones"),
        cidr_block=cfg.string("vpcCidr"),
        nat_gateways=cfg.string("natGateways"),
    )
    v.AVAILABILITY_ZONES.check(key("availabilityZones"), network.availability_zones)
    v.one_of(key("natGateways"), network.nat_gateways, v.NAT_STRATEGIES)
    v.private_cidr(key("vpcCidr"), network.cidr_block)
    return network


@dataclass(frozen=True)
class TaskAddresses:
    """The most addresses the tasks' subnets may have to give at once, and why."""

    count: int
    reason: str


def task_zones(network: NetworkArgs) -> int:
    """The Availability Zones the tasks spread over: a new VPC's, or one per task subnet of an
    existing VPC (its ids may share a zone: a higher count only raises the ceiling)."""
    if isinstance(network, NewVpcArgs):
        return network.availability_zones
    return len(network.private_subnet_ids or network.public_subnet_ids)


def ec2_tasks(autoscaling: AutoscalingSettings, capacity_settings: CapacitySettings) -> int:
    """The most tasks on the EC2 capacity: hybrid's base service, or every task with ec2."""
    if capacity_settings.mode == capacity.HYBRID:
        return capacity_settings.base_count
    return autoscaling.max_count


def ec2_instances(
    autoscaling: AutoscalingSettings,
    capacity_settings: CapacitySettings,
    task_cpu: int,
    task_memory: int,
    zones: int,
) -> int:
    """The Auto Scaling group's maximum (infra/capacity.py `release_instances`), 0 on Fargate:
    the tasks on EC2 (hybrid's base service, or every task with capacity ec2), twice over."""
    if capacity_settings.mode == capacity.FARGATE_ONLY:
        return 0
    tasks = ec2_tasks(autoscaling, capacity_settings)
    per_instance = capacity.tasks_per_instance(
        capacity_settings.instance_type, task_cpu, task_memory
    )
    return capacity.release_instances(tasks, per_instance, zones)


def task_addresses(
    autoscaling: AutoscalingSettings, capacity_settings: CapacitySettings, instances: int
) -> TaskAddresses:
    """Every awsvpc task has a network interface (an address) of its own, and a deployment
    starts the new tasks beside the old (200 %: infra/service.py's release_guards; blue/green,
    canary and linear start a full new set too), for each service of the task definition
    (hybrid: the base service's ec2BaseCount as well). EC2 capacity's instances take one address
    each besides (their own interface), up to the Auto Scaling group's maximum (`instances`)."""
    mode = capacity_settings.mode
    base = capacity_settings.base_count if mode == capacity.HYBRID else 0
    tasks = f"autoscalingMaxCount {autoscaling.max_count}" + (
        f" + ec2BaseCount {base}" if base else ""
    )
    reason = f"2 x ({tasks}) tasks during a deployment"
    if instances:
        reason += f" + {instances} EC2 instances"
    return TaskAddresses(2 * (autoscaling.max_count + base) + instances, reason)


def _check_task_subnets(key: Any, network: NewVpcArgs, needed: TaskAddresses) -> None:
    blocks = task_subnet_blocks(network)
    public = tasks_public(network)
    room = addresses_for_tasks(blocks, shared_with_load_balancer=public)
    if room < needed.count:
        raise InvalidConfig(
            f"{key('vpcCidr')}: {network.cidr_block} in {network.availability_zones} AZs gives "
            f"the tasks {len(blocks)} {'public' if public else 'private'} subnets of "
            f"/{blocks[0].split('/')[1]}, {room} usable addresses (AWS reserves 5 a subnet"
            f"{', the load balancer keeps 8' if public else ''}), but {needed.count} may be "
            f"needed ({needed.reason}); allowed: a larger vpcCidr, natGateways Single or OnePerAz "
            "(the tasks in the larger private subnets), more availabilityZones, or a lower "
            "autoscalingMaxCount."
        )


def check_zones(settings: Settings, available: Sequence[str]) -> None:
    """A new VPC spans the region's first availabilityZones zones (awsx's getDefaultAzs): refuse,
    with the numbers, a count the region does not have. `available`: the region's zones in the
    `available` state (aws.get_availability_zones), read by the program at preview."""
    network = settings.network
    if isinstance(network, NewVpcArgs) and network.availability_zones > len(available):
        raise InvalidConfig(
            f"{settings.project}:availabilityZones: {network.availability_zones} but "
            f"{settings.region} has {len(available)} available ({', '.join(available) or 'none'}); "
            f"allowed: {v.AVAILABILITY_ZONES.low}..{len(available)} in {settings.region}."
        )


def _load_balancer(cfg: _Reader, key: Any) -> LoadBalancerSettings:
    settings = LoadBalancerSettings(
        certificate_arn=cfg.string("certificateArn"),
        domain_name=cfg.string("domainName").lower().rstrip("."),
        hosted_zone_id=cfg.string("hostedZoneId"),
        ssl_policy=cfg.string("sslPolicy"),
        deregistration_delay=cfg.integer("deregistrationDelay"),
        health_check_interval=cfg.integer("healthCheckInterval"),
        healthy_threshold=cfg.integer("healthyThreshold"),
        access_logs=cfg.boolean("albAccessLogs"),
        access_log_days=cfg.integer("albAccessLogDays"),
    )
    v.ACCESS_LOG_DAYS.check(key("albAccessLogDays"), settings.access_log_days)
    if settings.certificate_arn:
        v.arn(key("certificateArn"), settings.certificate_arn, "acm")
    if settings.domain_name:
        v.domain_name(key("domainName"), settings.domain_name)
    if settings.hosted_zone_id:
        v.hosted_zone_id(key("hostedZoneId"), settings.hosted_zone_id)
        if not settings.domain_name:
            raise InvalidConfig(
                f"{key('hostedZoneId')} is set but {key('domainName')} is empty: the zone is where "
                "the service's own name lives; set domainName (e.g. alunos.example.com) too."
            )
    if settings.domain_name and not settings.https:
        raise InvalidConfig(
            f"{key('domainName')}: {settings.domain_name} needs a certificate: set "
            f"{key('hostedZoneId')} (ACM issues one, validated in that Route 53 zone) or "
            f"{key('certificateArn')} (a certificate of yours that names it)."
        )
    if cfg.boolean("https") and not settings.https:
        raise InvalidConfig(
            f"{key('https')}: true but there is no certificate: set {key('domainName')} and "
            f"{key('hostedZoneId')} (ACM issues one) or {key('certificateArn')} "
            "(arn:aws:acm:REGION:ACCOUNT:certificate/ID)."
        )
    v.one_of(key("sslPolicy"), settings.ssl_policy, v.MODERN_SSL_POLICIES)
    v.DEREGISTRATION_DELAY.check(key("deregistrationDelay"), settings.deregistration_delay)
    v.HEALTH_CHECK_INTERVAL.check(key("healthCheckInterval"), settings.health_check_interval)
    v.HEALTH_CHECK_THRESHOLD.check(key("healthyThreshold"), settings.healthy_threshold)
    return settings


def _service(cfg: _Reader, key: Any, production: bool, mode: str) -> ServiceSettings:
    settings = ServiceSettings(
        cpu=cfg.integer("cpu"),
        memory=cfg.integer("memory"),
        desired_count=cfg.integer("desiredCount"),
        container_port=cfg.integer("containerPort"),
        log_retention_days=cfg.integer("logRetentionDays"),
        container_insights=cfg.string("containerInsights"),
        health_check_grace_period=cfg.integer("healthCheckGracePeriod"),
        stop_timeout=cfg.integer("stopTimeout"),
        execute_command=cfg.boolean("enableExecuteCommand"),
    )
    v.fargate_size(key("cpu"), settings.cpu, key("memory"), settings.memory)
    fewest = capacity.fewest_autoscaled_tasks(mode)
    if settings.desired_count < fewest:
        raise v.fail(key("desiredCount"), settings.desired_count, f"an integer >= {fewest}")
    if production and mode != capacity.HYBRID and settings.desired_count < 2:
        raise v.fail(
            key("desiredCount"),
            settings.desired_count,
            "at least 2 in production (one task per AZ survives an AZ or task failure)",
        )
    v.CONTAINER_PORT.check(key("containerPort"), settings.container_port)
    v.one_of(key("logRetentionDays"), settings.log_retention_days, v.LOG_RETENTION_DAYS)
    v.one_of(key("containerInsights"), settings.container_insights, v.CONTAINER_INSIGHTS)
    v.HEALTH_CHECK_GRACE_PERIOD.check(
        key("healthCheckGracePeriod"), settings.health_check_grace_period
    )
    v.STOP_TIMEOUT.check(key("stopTimeout"), settings.stop_timeout)
    return settings


def _autoscaling(
    cfg: _Reader, key: Any, production: bool, desired_count: int, mode: str
) -> AutoscalingSettings:
    settings = AutoscalingSettings(
        min_count=cfg.integer("autoscalingMinCount"),
        max_count=cfg.integer("autoscalingMaxCount"),
        cpu_percent=cfg.integer("autoscalingCpuPercent"),
        requests_per_target=cfg.integer("autoscalingRequestsPerTarget"),
    )
    fewest = capacity.fewest_autoscaled_tasks(mode)
    if settings.min_count < fewest:
        raise v.fail(
            key("autoscalingMinCount"),
            settings.min_count,
            f"an integer >= {fewest}" + (" (0 only with capacity hybrid)" if fewest else ""),
        )
    if production and mode != capacity.HYBRID and settings.min_count < 2:
        raise v.fail(
            key("autoscalingMinCount"),
            settings.min_count,
            "at least 2 in production (the autoscaler must never leave one task in one AZ)",
        )
    v.in_range(key("autoscalingMaxCount"), settings.max_count, settings.min_count, v.TASKS.high)
    if not settings.min_count <= desired_count <= settings.max_count:
        raise v.fail(
            key("desiredCount"),
            desired_count,
            f"a count within autoscalingMinCount..autoscalingMaxCount "
            f"({settings.min_count}..{settings.max_count})",
        )
    v.AUTOSCALING_CPU_PERCENT.check(key("autoscalingCpuPercent"), settings.cpu_percent)
    v.REQUESTS_PER_TARGET.check(key("autoscalingRequestsPerTarget"), settings.requests_per_target)
    return settings


def _capacity(
    cfg: _Reader,
    key: Any,
    production: bool,
    max_count: int,
    mode: str,
    service: ServiceSettings,
    network: NetworkArgs,
) -> CapacitySettings:
    settings = CapacitySettings(
        mode=mode,
        spot_percent=cfg.integer("spotPercent"),
        on_demand_base=cfg.integer("onDemandBase"),
        instance_type=cfg.string("ec2InstanceType"),
        base_count=cfg.integer("ec2BaseCount"),
    )
    if settings.uses_ec2:
        _ec2_capacity(settings, key, production, network, service)
    v.SPOT_PERCENT.check(key("spotPercent"), settings.spot_percent)
    v.in_range(key("onDemandBase"), settings.on_demand_base, 0, max_count)
    if production and settings.spot_percent and settings.on_demand_base < 2:
        raise v.fail(
            key("onDemandBase"),
            settings.on_demand_base,
            "at least 2 in production when spotPercent > 0 (a Spot reclaim must never take "
            "the last on-demand tasks); or spotPercent: 0",
        )
    return settings


def _ec2_capacity(
    settings: CapacitySettings,
    key: Any,
    production: bool,
    network: NetworkArgs,
    service: ServiceSettings,
) -> None:
    """What EC2 capacity needs beyond Fargate's keys (infra/capacity.py says why)."""
    if tasks_public(network):
        raise InvalidConfig(
            f"{key('capacity')}: {settings.mode} runs tasks on EC2 instances, where awsvpc tasks "
            "get no public IP and reach ECR, logs and Secrets Manager only through a NAT; "
            f"allowed: {key('natGateways')} Single or OnePerAz (or existingPrivateSubnetIds), or "
            "capacity fargate."
        )
    capacity.check_instance_type(key("ec2InstanceType"), settings.instance_type)
    capacity.check_task_fits(
        key("ec2InstanceType"), settings.instance_type, service.cpu, service.memory
    )
    if settings.mode == capacity.EC2_ONLY and settings.spot_percent:
        raise v.fail(
            key("spotPercent"),
            settings.spot_percent,
            "0 with capacity ec2 (every task runs on the Auto Scaling group; Fargate Spot "
            "applies to the Fargate service of capacity hybrid)",
        )
    if settings.mode == capacity.HYBRID:
        low = 2 if production else 1
        v.in_range(key("ec2BaseCount"), settings.base_count, low, v.TASKS.high)


def _schedule(cfg: _Reader, key: Any, production: bool, mode: str) -> Schedule | None:
    text = cfg.string("schedule")
    if not text:
        return None
    schedule = parse_schedule(key("schedule"), text)
    if production:
        raise v.fail(key("schedule"), text, "empty in production (a production API never sleeps)")
    if mode == capacity.HYBRID:
        raise v.fail(
            key("schedule"),
            text,
            "empty with capacity hybrid (its base service keeps ec2BaseCount tasks); a schedule "
            "with capacity fargate or ec2",
        )
    return schedule


def _alarm_sees_the_first_shift(rollout: Rollout, alarms: AlarmSettings, key: Any) -> None:
    """The 5xx deployment alarm is a rate over all the load balancer's requests
    (infra/alarms.py, GreaterThanThreshold): new tasks taking p % of them and failing every one
    raise it to p % at most, so p must be above the threshold or the release never rolls back.
    Alarming per target group instead would need the target groups' own 5xx counts, which miss
    the load balancer's own 502/503/504 for a crashing task (HTTPCode_ELB_5XX_Count has only
    the LoadBalancer dimension): one alarm on the whole, and this rule, keep it simple."""
    shift = rollout.first_shift
    threshold = alarms.http_5xx_percent
    if shift is None or shift[1] > threshold:
        return
    name, percent = shift
    allowed = (
        f"{name} above alarm5xxPercent ({threshold + 1}..100), or alarm5xxPercent below {percent}"
        if name != STRATEGY_KEY
        else "alarm5xxPercent below 100"
    )
    raise InvalidConfig(
        f"{key(name)}: {rollout.strategy} sends {percent}% of requests to the new tasks first, "
        f"but {key('alarm5xxPercent')} is {threshold}%: the 5xx alarm is a rate over all the load "
        f"balancer's requests, so new tasks failing every request raise it to {percent}% at "
        f"most, never above the threshold, and the release is not rolled back; allowed: "
        f"{allowed}."
    )


def _alarms(cfg: _Reader, key: Any) -> AlarmSettings:
    settings = AlarmSettings(
        topic_arn=cfg.string("alarmTopicArn"), http_5xx_percent=cfg.integer("alarm5xxPercent")
    )
    if settings.topic_arn:
        v.arn(key("alarmTopicArn"), settings.topic_arn, "sns")
    v.ALARM_PERCENT.check(key("alarm5xxPercent"), settings.http_5xx_percent)
    return settings


def _database(cfg: _Reader, key: Any) -> DatabaseSettings:
    host = cfg.string("dbHost")
    secret_arn = cfg.string("dbSecretArn")
    create = cfg.boolean("createDatabase")
    existing = bool(host or secret_arn)
    if create and existing:
        raise InvalidConfig(
            f"{key('createDatabase')} is true and {key('dbHost')}/{key('dbSecretArn')} are set: "
            "choose one database: an existing one (dbHost + dbSecretArn) or a new RDS instance "
            "(createDatabase: true)."
        )
    if not create and not existing:
        raise InvalidConfig(
            "no database configured: set dbHost and dbSecretArn for an existing PostgreSQL, or "
            f"{key('createDatabase')}: true for a new RDS instance."
        )
    if existing and not (host and secret_arn):
        missing = key("dbSecretArn") if host else key("dbHost")
        raise InvalidConfig(
            f"{missing} is empty: an existing database needs both dbHost and dbSecretArn (a "
            "Secrets Manager secret holding username and password)."
        )
    if secret_arn:
        v.arn(key("dbSecretArn"), secret_arn, "secretsmanager")
    settings = DatabaseSettings(
        mode="rds" if create else "existing",
        host=host,
        port=cfg.integer("dbPort"),
        name=cfg.string("dbName"),
        secret_arn=secret_arn,
        security_group_id=cfg.string("dbSecurityGroupId"),
        allow_ingress_from_service=cfg.boolean("dbAllowIngressFromService"),
        instance_class=cfg.string("dbInstanceClass"),
        allocated_storage=cfg.integer("dbAllocatedStorage"),
        engine_version=cfg.string("dbEngineVersion"),
        multi_az=cfg.boolean("dbMultiAz"),
        backup_retention_days=cfg.integer("dbBackupRetentionDays"),
    )
    v.DATABASE_PORT.check(key("dbPort"), settings.port)
    if not settings.name.isidentifier():
        raise v.fail(key("dbName"), settings.name, "a PostgreSQL identifier (letters, digits, _)")
    if settings.security_group_id:
        v.aws_id(key("dbSecurityGroupId"), settings.security_group_id, "sg")
    if settings.allow_ingress_from_service and not (
        settings.mode == "existing" and settings.security_group_id
    ):
        raise InvalidConfig(
            f"{key('dbAllowIngressFromService')}: true needs an existing database's security "
            f"group ({key('dbSecurityGroupId')}) to add the rule to; a database the stack creates "
            "admits the service anyway. Allowed: false, or set dbSecurityGroupId."
        )
    if create:
        if not settings.instance_class.startswith("db."):
            raise v.fail(key("dbInstanceClass"), settings.instance_class, "an RDS class, db.*")
        if not settings.engine_version.isdigit():
            raise v.fail(
                key("dbEngineVersion"),
                settings.engine_version,
                "a major version such as 16: RDS applies minor upgrades itself, after which a "
                "pinned minor version would ask it to downgrade",
            )
        v.DB_ALLOCATED_STORAGE.check(key("dbAllocatedStorage"), settings.allocated_storage)
        v.DB_BACKUP_RETENTION_DAYS.check(
            key("dbBackupRetentionDays"), settings.backup_retention_days
        )
    return settings


def _legacy(cfg: _Reader, key: Any) -> LegacySettings:
    tags: dict[str, str] = {}
    for item in cfg.strings("legacyTags"):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise v.fail(key("legacyTags"), item, "KEY=VALUE strings")
        tags[name] = value
    instance_ids = cfg.strings("legacyInstanceIds")
    for instance_id in instance_ids:
        v.aws_id(key("legacyInstanceIds"), instance_id, "i")
    return LegacySettings(tags=tags, instance_ids=instance_ids)


def _app(cfg: _Reader, key: Any, region: str) -> AppSettings:
    image_text = cfg.string("image")
    image = v.image_reference(key("image"), image_text) if image_text else None
    context = cfg.string("appContext")
    dockerfile_key = cfg.string("appDockerfile")
    dockerfile = dockerfile_key or f"{context.rstrip('/')}/Dockerfile"
    registry_secret = cfg.string("imageRegistrySecretArn")
    if image is not None:
        # Build keys would be silently ignored: refuse them, as the network does the other mode's.
        for name, value, default in (
            ("appContext", context, "app"),
            ("appDockerfile", dockerfile_key, ""),
        ):
            if value != default:
                raise InvalidConfig(
                    f"{key(name)}: {value!r} shapes a build, but {key('image')} runs the prebuilt "
                    f"{image.text}; allowed: {name} unset with image, or no image to build."
                )
    else:
        for name, path in (("appContext", context), ("appDockerfile", dockerfile)):
            if not path or PurePath(path).is_absolute():
                raise v.fail(key(name), path, "a path relative to the project directory")
    if registry_secret:
        v.secret_arn(key("imageRegistrySecretArn"), registry_secret)
        if image is None or image.ecr is not None:
            raise InvalidConfig(
                f"{key('imageRegistrySecretArn')} is set but "
                + (f"{key('image')} is in ECR" if image else f"{key('image')} is empty")
                + ": ECS pulls from ECR with the execution role's IAM permissions; allowed: "
                "imageRegistrySecretArn only with an image in another private registry."
            )
    path = cfg.string("healthCheckPath")
    v.health_check_path(key("healthCheckPath"), path)
    check = v.container_health_check(
        key("containerHealthCheck"), cfg.string("containerHealthCheck")
    )
    if check == tuple(HEALTH_CHECK_COMMAND) and (image is not None or context != "app"):
        pulumi.log.warn(
            f"{key('containerHealthCheck')} is still this repository's `CMD python -m "
            "app.healthcheck`: an image without it fails the check and ECS replaces its tasks; "
            "set the image's own command, or none."
        )
    environment = _variables(cfg, key, "appEnvironment", set(PROGRAM_VARIABLES))
    for name, value in environment.items():
        problem = plain_secret(name, value)
        if problem:
            raise InvalidConfig(
                f"{key('appEnvironment')}: {name} {problem}; allowed: plain settings only, a "
                f"credential goes in {key('appSecrets')} (NAME=<Secrets Manager secret ARN>"
                "[:JSON_KEY::]), which ECS injects at start."
            )
    secrets = _variables(cfg, key, "appSecrets", set(PROGRAM_VARIABLES) | set(environment))
    named = [(f"{key('appSecrets')}: {name}", ref) for name, ref in secrets.items()]
    if registry_secret:
        named.append((key("imageRegistrySecretArn"), registry_secret))
    for label, value_from in named:
        v.secret_value_from(label, value_from)
        secret_region = v.secret_region(value_from)
        if secret_region != region:
            raise InvalidConfig(
                f"{label} names a secret in {secret_region}; allowed: a secret in {region}, the "
                "stack's region (the program looks each one up before deploying)."
            )
    return AppSettings(
        image=image,
        registry_secret_arn=registry_secret,
        context=context,
        dockerfile=dockerfile,
        health_check_path=path,
        container_health_check=check,
        environment=environment,
        secrets=secrets,
    )


def _variables(cfg: _Reader, key: Any, name: str, taken: set[str]) -> dict[str, str]:
    """NAME=value items (Pulumi config has no map type) as a dict: valid names, none twice,
    none of `taken` (the program's own variables, the other list's)."""
    variables: dict[str, str] = {}
    for item in cfg.strings(name):
        variable, sep, value = item.partition("=")
        if not sep:
            raise v.fail(key(name), item, "NAME=VALUE strings")
        v.variable_name(key(name), variable)
        if variable in taken or variable in variables:
            raise v.fail(
                key(name),
                variable,
                "a name set once, and not one the program sets ("
                + ", ".join(PROGRAM_VARIABLES)
                + ") nor one of the other list (appEnvironment, appSecrets)",
            )
        variables[variable] = value
    return variables
