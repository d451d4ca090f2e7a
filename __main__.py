"""The alunos-api stack: settings -> components -> exports."""

from collections.abc import Callable

import pulumi
import pulumi_aws as aws

from infra import capacity as capacity_modes
from infra import existing, outputs, settings
from infra.access_logs import AccessLogBucket, AccessLogBucketArgs
from infra.alarms import Alarms, AlarmsArgs
from infra.autoscaling import Autoscaling, AutoscalingArgs
from infra.capacity import BaseService, BaseServiceArgs, Ec2Capacity, Ec2CapacityArgs
from infra.certificate import Certificate, CertificateArgs
from infra.database import Database, DatabaseArgs, DatabaseConnection
from infra.deployment_strategy import DeploymentStrategy, DeploymentStrategyArgs
from infra.image import Image, ImageArgs
from infra.load_balancer import AccessLogs, LoadBalancer, LoadBalancerArgs
from infra.network import Network, NewVpcArgs
from infra.registry import Registry, RegistryArgs
from infra.role_boundary import bound_every_role
from infra.rollout import TargetTiming
from infra.schedule import Sleep, SleepArgs
from infra.service import CONTAINER_NAME, Service, ServiceArgs
from infra.waf import APP_MAX_BODY_BYTES, Waf, WafArgs

cfg = settings.load()
name = f"alunos-{cfg.stack}"
if cfg.role_boundary_arn:
    bound_every_role(cfg.role_boundary_arn)  # CI's deploy roles create roles only with it
# Everything the config names but the stack does not manage, looked up before anything else.
resolved = existing.resolve(cfg)
app = cfg.app
# The secrets ECS injects at start exist, and the execution role may use their KMS keys.
startup_secret_keys = sorted(
    {
        key_arn
        for arn, key in app.startup_secrets.items()
        if (key_arn := existing.secret_key(arn, f"{cfg.project}:{key}"))
    }
)

# A new VPC or an existing one: settings builds the network's own argument type. A new one takes
# the region's first availabilityZones zones: a region with fewer fails the preview here.
if isinstance(cfg.network, NewVpcArgs):
    settings.check_zones(cfg, aws.get_availability_zones(state="available").names)
network = Network(name, cfg.network)

registry = Registry(
    name,
    RegistryArgs(
        keep_release_images=cfg.registry.keep_release_images,
        untagged_image_days=cfg.registry.untagged_image_days,
        force_delete=cfg.registry.force_delete,
    ),
)

image = Image(
    name,
    ImageArgs(
        repository_url=registry.repository.repository_url,
        repository_name=registry.repository_name,
        registry_id=registry.repository.registry_id,
        version=cfg.release.version,
        stamped_tag=cfg.release.image_tag,
        revision=cfg.release.revision,
        created=cfg.release.created,
        rollback_image=cfg.release.rollback_image,
        context=app.context,
        dockerfile=app.dockerfile,
        prebuilt=app.image,
    ),
)
# The repository the tasks pull from: the stack's, a prebuilt image's in ECR, or none (another
# registry). The stack's repository stays in every case (see infra/image.py).
pull_repository: pulumi.Input[str] | None = registry.repository.arn
if app.image is not None:
    pull_repository = app.image.ecr.arn if app.image.ecr else None

lb = cfg.load_balancer
# A certificate of the team's: its ARN once the certificate is read and checked (existing.py).
certificate_arn: pulumi.Input[str] | None = resolved.certificate_arn
if lb.creates_certificate:
    certificate_arn = Certificate(name, CertificateArgs(lb.domain_name, lb.hosted_zone_id)).arn

access_logs = None
if lb.access_logs:
    log_bucket = AccessLogBucket(
        name, AccessLogBucketArgs(region=cfg.region, expiration_days=lb.access_log_days)
    )
    # The bucket's name comes from its policy: the load balancer waits for ELB's permission.
    access_logs = AccessLogs(bucket=log_bucket.bucket_name, prefix="alb")

load_balancer_args = LoadBalancerArgs(
    vpc_id=network.vpc_id,
    subnet_ids=network.public_subnet_ids,
    container_port=cfg.service.container_port,
    health_check_path=app.health_check_path,
    certificate_arn=certificate_arn,
    domain_name=lb.domain_name,
    ssl_policy=lb.ssl_policy,
    health_check_interval=lb.health_check_interval,
    healthy_threshold=lb.healthy_threshold,
    deregistration_delay=lb.deregistration_delay,
    deletion_protection=cfg.production,
    access_logs=access_logs,
)
load_balancer = LoadBalancer(name, load_balancer_args)
target_timing = TargetTiming(
    lb.health_check_interval, lb.healthy_threshold, lb.deregistration_delay
)

# Canary, linear and blue/green: ECS moves traffic between two target groups with the listener
# rules of the listener that serves production (HTTPS, or HTTP without a certificate).
traffic_shift = None
if cfg.rollout.shifts_traffic:
    traffic_shift = DeploymentStrategy(
        name,
        DeploymentStrategyArgs(
            vpc_id=network.vpc_id,
            load_balancer=load_balancer_args,
            listener=load_balancer.https_listener or load_balancer.http_listener,
            target_group=load_balancer.target_group,
        ),
    )

db = cfg.database
database: Database | None = None
if db.mode == "rds":
    database = Database(
        name,
        DatabaseArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.database_subnet_ids,
            name=db.name,
            port=db.port,
            instance_class=db.instance_class,
            allocated_storage=db.allocated_storage,
            engine_version=db.engine_version,
            multi_az=db.multi_az,
            backup_retention_days=db.backup_retention_days,
            production=cfg.production,
        ),
    )
    connection = database.connection
else:
    connection = DatabaseConnection(
        host=db.host,
        port=db.port,
        name=db.name,
        secret_arn=db.secret_arn,
        security_group_id=db.security_group_id or None,
        admit_service=db.allow_ingress_from_service,
    )

# The alarms come first: the service names its deployment alarms, and ECS watches them from its
# first deployment. The service and cluster names they watch (CPU, memory) are filled in once the
# service exists, so only those two alarms wait for it.
cluster_name: pulumi.Output[str]
cluster_arn: pulumi.Output[str]
service_name: pulumi.Output[str]
set_cluster_name: Callable[[pulumi.Output[str]], None]
set_cluster_arn: Callable[[pulumi.Output[str]], None]
set_service_name: Callable[[pulumi.Output[str]], None]
cluster_name, set_cluster_name = pulumi.deferred_output()
cluster_arn, set_cluster_arn = pulumi.deferred_output()
service_name, set_service_name = pulumi.deferred_output()
alarms = Alarms(
    name,
    AlarmsArgs(
        load_balancer_arn_suffix=load_balancer.load_balancer.arn_suffix,
        target_group_arn_suffix=load_balancer.target_group.arn_suffix,
        cluster_name=cluster_name,
        service_name=service_name,
        topic_arn=cfg.alarms.topic_arn,
        http_5xx_percent=cfg.alarms.http_5xx_percent,
        alternate_target_group_arn_suffix=traffic_shift.alternate_target_group.arn_suffix
        if traffic_shift
        else None,
    ),
)

# EC2 capacity (capacity ec2 or hybrid): its instances join the cluster by name, and their role
# may register in that cluster only; it exists only with the service component, hence the
# deferred name and ARN (set below).
capacity = cfg.capacity
ec2_capacity = None
if capacity.uses_ec2:
    ec2_capacity = Ec2Capacity(
        name,
        Ec2CapacityArgs(
            cluster_name=cluster_name,
            cluster_arn=cluster_arn,
            vpc_id=network.vpc_id,
            subnet_ids=network.task_subnet_ids,
            instance_type=capacity.instance_type,
            tasks=settings.ec2_tasks(cfg.autoscaling, capacity),
            task_cpu=cfg.service.cpu,
            task_memory=cfg.service.memory,
            # The tasks' subnets, one per AZ (an existing VPC's ids may share one: more room).
            zones=settings.task_zones(cfg.network),
        ),
    )

service = Service(
    name,
    ServiceArgs(
        vpc_id=network.vpc_id,
        subnet_ids=network.task_subnet_ids,
        assign_public_ip=network.tasks_public,
        image_ref=image.ref,
        repository_arn=pull_repository,
        target_group_arn=load_balancer.target_group.arn,
        load_balancer_security_group_id=load_balancer.security_group.id,
        listeners=load_balancer.listeners,
        database=connection,
        region=cfg.region,
        version=cfg.release.version,
        cpu=cfg.service.cpu,
        memory=cfg.service.memory,
        desired_count=cfg.service.desired_count,
        container_port=cfg.service.container_port,
        log_retention_days=cfg.service.log_retention_days,
        container_insights=cfg.service.container_insights,
        health_check_grace_period=cfg.service.health_check_grace_period,
        stop_timeout=cfg.service.stop_timeout,
        spot_percent=cfg.capacity.spot_percent,
        on_demand_base=cfg.capacity.on_demand_base,
        execute_command=cfg.service.execute_command,
        deployment_alarms=[alarms.http_5xx, alarms.unhealthy_targets],
        secret_key_arn=resolved.secret_key_arn,
        health_check_command=app.container_health_check,
        environment=app.environment,
        secrets=app.secrets,
        registry_secret_arn=app.registry_secret_arn or None,
        execution_secret_key_arns=startup_secret_keys,
        ec2_capacity_provider=ec2_capacity.provider.name if ec2_capacity else None,
        ec2_only=capacity.mode == capacity_modes.EC2_ONLY,
        scale_from_zero=capacity.mode == capacity_modes.HYBRID,
        rollout=cfg.rollout,
        traffic_shift=traffic_shift.advanced_configuration() if traffic_shift else None,
        traffic_shift_ready=traffic_shift.ready if traffic_shift else (),
        target_timing=target_timing,
    ),
)
set_cluster_name(service.cluster.name)
set_cluster_arn(service.cluster.arn)
set_service_name(service.service.name)

service_names = [service.service.name]
if ec2_capacity is not None and capacity.mode == capacity_modes.HYBRID:
    base = BaseService(
        name,
        BaseServiceArgs(
            cluster_arn=service.cluster.arn,
            task_definition_arn=service.task_definition.arn,
            capacity_provider=ec2_capacity.provider.name,
            count=capacity.base_count,
            subnet_ids=network.task_subnet_ids,
            security_group_id=service.security_group.id,
            target_group_arn=load_balancer.target_group.arn,
            container_name=CONTAINER_NAME,
            container_port=cfg.service.container_port,
            health_check_grace_period=cfg.service.health_check_grace_period,
            version=cfg.release.version,
            deployment_alarm_names=[alarms.http_5xx.name, alarms.unhealthy_targets.name],
            depends_on=service.task_dependencies,
        ),
    )
    service_names.insert(0, base.service.name)

autoscaling = Autoscaling(
    name,
    AutoscalingArgs(
        cluster_name=service.cluster.name,
        service_name=service.service.name,
        load_balancer_arn_suffix=load_balancer.load_balancer.arn_suffix,
        target_group_arn_suffix=load_balancer.target_group.arn_suffix,
        alternate_target_group_arn_suffix=traffic_shift.alternate_target_group.arn_suffix
        if traffic_shift
        else None,
        min_count=cfg.autoscaling.min_count,
        max_count=cfg.autoscaling.max_count,
        cpu_percent=cfg.autoscaling.cpu_percent,
        requests_per_target=cfg.autoscaling.requests_per_target,
        scale_from_zero=capacity.mode == capacity_modes.HYBRID,
    ),
)

if cfg.schedule is not None:
    Sleep(
        name,
        SleepArgs(
            schedule=cfg.schedule,
            scalable_target=autoscaling.target,
            min_count=cfg.autoscaling.min_count,
            max_count=cfg.autoscaling.max_count,
            database_arn=database.instance.arn if database else None,
            database_identifier=database.instance.identifier if database else None,
        ),
    )

if cfg.waf.enabled:
    Waf(
        name,
        WafArgs(
            load_balancer_arn=load_balancer.load_balancer.arn,
            rate_limit=cfg.waf.rate_limit,
            max_body_bytes=APP_MAX_BODY_BYTES,
            log_retention_days=cfg.waf.log_retention_days,
        ),
    )

pulumi.export(outputs.SERVICE_URL, load_balancer.url)
pulumi.export(outputs.ALB_DNS_NAME, load_balancer.load_balancer.dns_name)
pulumi.export(outputs.IMAGE_REF, image.ref)
pulumi.export(outputs.VERSION, cfg.release.version)
pulumi.export(outputs.CLUSTER_NAME, service.cluster.name)
pulumi.export(outputs.SERVICE_NAME, service.service.name)
# Every service behind the target group (hybrid: the EC2 base service, then the autoscaled one):
# what the deploy check, rollback and the decommission gates wait on.
pulumi.export(outputs.SERVICE_NAMES, service_names)
pulumi.export(outputs.CAPACITY, capacity.mode)
pulumi.export(outputs.TARGET_GROUP_ARN, load_balancer.target_group.arn)
pulumi.export(outputs.LOG_GROUP_NAME, service.log_group.name)
pulumi.export(outputs.REPOSITORY_URL, registry.repository.repository_url)
# What the deploy check asks (automation/deploy/verify.py): the app's health path, and whether
# the tasks run a build of this program (whose /version reports the stamped version) or not.
pulumi.export(outputs.HEALTH_CHECK_PATH, app.health_check_path)
pulumi.export(outputs.IMAGE_SOURCE, outputs.PREBUILT if app.image else outputs.BUILT)
pulumi.export(outputs.REGION, cfg.region)
# How a release rolls out, for the deploy check: it follows a canary until its bake ends, and
# looks for the tasks in whichever target group ECS left them in.
pulumi.export(outputs.DEPLOYMENT_STRATEGY, cfg.rollout.strategy)
pulumi.export(outputs.ROLLOUT_SECONDS, cfg.rollout.seconds(target_timing))
if traffic_shift:
    pulumi.export(outputs.ALTERNATE_TARGET_GROUP_ARN, traffic_shift.alternate_target_group.arn)
pulumi.export(outputs.ALB_ZONE_ID, load_balancer.load_balancer.zone_id)
# The group a database's owners admit when the stack does not add that rule itself.
pulumi.export(outputs.SERVICE_SECURITY_GROUP_ID, service.security_group.id)
# The alarms that judge the new service (the cutover's bake watches them): taken from the alarm
# resources, so the output exists only once they do.
pulumi.export(outputs.ALARM_NAMES, [alarms.http_5xx.name, alarms.unhealthy_targets.name])
if lb.domain_name:
    pulumi.export(outputs.DOMAIN_NAME, lb.domain_name)
if lb.hosted_zone_id:
    pulumi.export(outputs.HOSTED_ZONE_ID, lb.hosted_zone_id)
