"""The Fargate service: cluster, logs, IAM roles, task definition, security group and service.

The container is this repository's app by default, or any image that serves HTTP on the container
port (a team's own Go build, say): its health checks, extra plain variables and the secrets ECS
injects are arguments, and the execution role may read exactly those secrets and pull exactly
that image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.database import DatabaseConnection
from infra.rollout import ECS_STRATEGY, Rollout, TargetTiming
from infra.tags import tags

CONTAINER_NAME = "app"
# The image's non-root user and group (app/Dockerfile creates them with these ids). Numeric, so
# ECS needs no /etc/passwd lookup and a rebuilt image cannot silently switch the task to root.
CONTAINER_USER = "10001:10001"
# A read-only root filesystem: the app gets a writable, task-scoped /tmp and nothing else. ECS
# creates the volume root-owned 0755 unless the image declares `VOLUME /tmp` (then it copies the
# image's /tmp, mode 1777): the Dockerfile does, so the non-root user can write there.
TMP_VOLUME = "tmp"
FARGATE = "FARGATE"
FARGATE_SPOT = "FARGATE_SPOT"
# The channels an ECS Exec session opens. AWS grants these on "*" only (no resource-level
# permissions for ssmmessages), so the statement exists only while ECS Exec is on.
EXEC_ACTIONS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]
# This repository's app: the slim image has no curl, so /health is probed with the interpreter
# the app already runs on (the default of the containerHealthCheck config key).
HEALTH_CHECK_COMMAND = ["CMD", "python", "-m", "app.healthcheck"]
# The variables the program sets itself (container_definitions): the app's port and version and
# where its database is. Extra variables and secrets may not reuse these names.
PROGRAM_VARIABLES = ("PORT", "APP_VERSION", "HOST", "DBPORT", "DBNAME", "DB_AUTH_ARN")


@dataclass
class ServiceArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the service's security group."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Subnets the tasks run in (private where the network has NAT)."""
    assign_public_ip: bool
    """Only for networks without NAT: tasks then need a public IP to reach ECR and logs."""
    image_ref: pulumi.Input[str]
    """Image by digest (repo@sha256:...)."""
    repository_arn: pulumi.Input[str] | None
    """The ECR repository the execution role may pull from (and nothing else); None for an
    image in another registry (no ECR permission at all)."""
    target_group_arn: pulumi.Input[str]
    """Target group the tasks register in."""
    load_balancer_security_group_id: pulumi.Input[str]
    """The only source admitted by the service's security group."""
    database: DatabaseConnection
    """Where the database is; its secret is the only one the task role may read."""
    region: str
    """Region of the log group (awslogs driver)."""
    version: str
    """Release version: APP_VERSION and a tag on deploy-scoped resources."""
    cpu: int
    """Fargate CPU units."""
    memory: int
    """Fargate memory (MiB), a size Fargate offers for `cpu`."""
    desired_count: int
    """Tasks at creation (>= 1); afterwards the autoscaler owns the count and `pulumi up` ignores
    it."""
    spot_percent: int
    """Percent of the tasks above `on_demand_base` on Fargate Spot (0 = all on-demand)."""
    on_demand_base: int
    """Tasks always on on-demand Fargate, before any Spot share."""
    execute_command: bool
    """ECS Exec: ssmmessages permissions for the task role, a writable root filesystem (AWS does
    not support ECS Exec with a read-only one) and an init process reaping the agent's children."""
    container_port: int
    """PORT the app listens on."""
    log_retention_days: int
    """CloudWatch Logs retention."""
    container_insights: str
    """disabled, enabled or enhanced."""
    health_check_grace_period: int
    """Seconds ECS ignores the load balancer's checks after a task starts."""
    stop_timeout: int
    """Seconds between SIGTERM and SIGKILL (the app drains in-flight requests)."""
    rollout: Rollout
    """The deployment strategy (infra/rollout.py): rolling, or one where ECS shifts traffic."""
    health_check_command: Sequence[str] | None
    """The container health check (ECS's command: CMD ... or CMD-SHELL ...); None: none, ECS
    then judges a task by the load balancer's checks alone."""
    environment: Mapping[str, str]
    """Extra plain variables, after the program's own (PROGRAM_VARIABLES, never overridden)."""
    secrets: Mapping[str, str]
    """Variable name -> Secrets Manager `valueFrom` (ARN[:json-key:version-stage:version-id]):
    ECS reads them with the execution role when a task starts."""
    registry_secret_arn: str | None
    """A Secrets Manager secret ({"username", "password"}) ECS pulls the image with, from a
    private registry other than ECR (repositoryCredentials)."""
    ec2_only: bool
    """capacity ec2: this service's tasks run on `ec2_capacity_provider` instead of Fargate."""
    scale_from_zero: bool
    """capacity hybrid: the base service serves, so this one may run no task."""
    listeners: Sequence[pulumi.Resource] = field(default_factory=list)
    """Listeners that must exist before ECS attaches the target group."""
    deployment_alarms: Sequence[aws.cloudwatch.MetricAlarm] = ()
    """CloudWatch alarms that roll a deployment back when they fire during it. ECS watches them
    by name from the first deployment on, so the service waits for them (created, or replaced
    under a new name) before it is created or updated."""
    secret_key_arn: str | None = None
    """The customer managed KMS key encrypting the database secret (None: AWS managed): the task
    role, which reads the secret, may decrypt with it, through Secrets Manager only."""
    execution_secret_key_arns: Sequence[str] = ()
    """Customer managed KMS keys encrypting those secrets: the execution role may decrypt with
    them, through Secrets Manager only."""
    ec2_capacity_provider: pulumi.Input[str] | None = None
    """An EC2 capacity provider of the cluster (infra/capacity.py); None: Fargate only. With
    one, the task definition is compatible with EC2 and FARGATE alike."""
    traffic_shift: aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs | None = None
    """For a strategy that shifts traffic: the alternate target group, the listener rules and
    the role ECS moves them with (infra/deployment_strategy.py)."""
    traffic_shift_ready: Sequence[pulumi.Resource] = ()
    """What must exist before ECS first shifts traffic (the rules, the role's policy)."""
    target_timing: TargetTiming | None = None
    """The load balancer's timing, for the provider's wait on a long rollout."""


class Service(pulumi.ComponentResource):
    cluster: aws.ecs.Cluster
    log_group: aws.cloudwatch.LogGroup
    execution_role: aws.iam.Role
    task_role: aws.iam.Role
    security_group: aws.ec2.SecurityGroup
    task_definition: aws.ecs.TaskDefinition
    service: aws.ecs.Service

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("alunos-api:infra:Service", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        db = args.database

        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[
                aws.ecs.ClusterSettingArgs(name="containerInsights", value=args.container_insights)
            ],
            tags=tags(f"{name}-cluster"),
            opts=child,
        )
        strategy = capacity_strategy(args.spot_percent, args.on_demand_base)
        if args.ec2_only:
            strategy = [{"capacity_provider": args.ec2_capacity_provider, "base": 0, "weight": 1}]
        ec2 = [args.ec2_capacity_provider] if args.ec2_capacity_provider is not None else []
        # FARGATE and FARGATE_SPOT exist in every account but must be associated with the
        # cluster before a service may use them; the cluster default serves one-off tasks.
        self.capacity_providers = aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity",
            cluster_name=self.cluster.name,
            capacity_providers=[FARGATE, FARGATE_SPOT, *ec2],
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(**item)
                for item in strategy
            ],
            opts=child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/ecs/{name}",
            retention_in_days=args.log_retention_days,
            tags=tags(f"{name}-logs"),
            opts=child,
        )
        account = self.cluster.arn.apply(lambda arn: arn.split(":")[4])
        trust = account.apply(lambda acct: _ecs_tasks_trust_policy(args.region, acct))

        self.execution_role = aws.iam.Role(
            f"{name}-execution",
            description=f"{name}: pull this image, write these logs"
            + (", read the app's start-up secrets" if _execution_secrets(args) else ""),
            assume_role_policy=trust,
            tags=tags(f"{name}-execution"),
            opts=child,
        )
        self.execution_policy = aws.iam.RolePolicy(
            f"{name}-execution",
            role=self.execution_role.id,
            policy=pulumi.Output.all(args.repository_arn, self.log_group.arn).apply(
                lambda arns: execution_policy(
                    arns[0],
                    arns[1],
                    secret_arns=_execution_secrets(args),
                    secret_key_arns=args.execution_secret_key_arns,
                    region=args.region,
                )
            ),
            opts=child,
        )
        # The app reads the database secret itself, at its first connection and again when the
        # database refuses it (a rotation: ECS injects secrets only at task start). With ECS
        # Exec on, the agent in the container also opens its session channels with this role.
        self.task_role = aws.iam.Role(
            f"{name}-task",
            description=f"{name}: identity of the app's containers (the database secret"
            + (", ECS Exec channels)" if args.execute_command else ")"),
            assume_role_policy=trust,
            tags=tags(f"{name}-task"),
            opts=child,
        )
        self.secret_policy = aws.iam.RolePolicy(
            f"{name}-task-db-secret",
            role=self.task_role.id,
            policy=pulumi.Output.from_input(db.secret_arn).apply(
                lambda arn: read_secret_policy(arn, secret_key_arn=args.secret_key_arn)
            ),
            opts=child,
        )
        self.exec_policy: aws.iam.RolePolicy | None = None
        if args.execute_command:
            self.exec_policy = aws.iam.RolePolicy(
                f"{name}-task-exec",
                role=self.task_role.id,
                policy=execute_command_policy(),
                opts=child,
            )

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-tasks-sg",
            description=f"{name}: tasks, reachable only from the load balancer",
            vpc_id=args.vpc_id,
            tags=tags(f"{name}-tasks-sg"),
            opts=child,
        )
        self.rules = self._security_rules(name, args, child)

        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=name,
            cpu=str(args.cpu),
            memory=str(args.memory),
            network_mode="awsvpc",
            requires_compatibilities=["EC2", "FARGATE"] if ec2 else ["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
            container_definitions=pulumi.Output.all(
                args.image_ref, self.log_group.name, db.host, db.secret_arn
            ).apply(
                lambda values: json.dumps(
                    container_definitions(
                        image=values[0],
                        log_group=values[1],
                        db_host=values[2],
                        db_secret_arn=values[3],
                        args=args,
                    )
                )
            ),
            tags=tags(f"{name}-task", {"version": args.version}),
            opts=child,
        )

        # What must exist before a task of this task definition starts (any service's).
        self.task_dependencies = self._task_dependencies(args)
        self.service = aws.ecs.Service(
            f"{name}-service",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=args.desired_count,
            # A capacity provider strategy instead of launch_type FARGATE (the two conflict):
            # Spot and on-demand shares change in place, with a new deployment.
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(**item) for item in strategy
            ],
            # The provider updates a strategy only with this set (older versions replace the
            # service instead, newer ones refuse). It also rolls ECS Exec on/off in the tasks.
            force_new_deployment=True,
            enable_execute_command=args.execute_command,
            # A platform version is Fargate's only (tasks on EC2 take none).
            platform_version=None if args.ec2_only else "LATEST",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids,
                security_groups=[self.security_group.id],
                assign_public_ip=args.assign_public_ip,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn,
                    container_name=CONTAINER_NAME,
                    container_port=args.container_port,
                    advanced_configuration=args.traffic_shift,
                )
            ],
            deployment_configuration=deployment_configuration(args.rollout),
            **release_guards(
                [alarm.name for alarm in args.deployment_alarms], args.health_check_grace_period
            ),
            tags=tags(f"{name}-service", {"version": args.version}),
            opts=pulumi.ResourceOptions(
                parent=self,
                # Before ECS starts a task: the listeners (ECS attaches the target group only
                # to a group a load balancer uses), the roles' policies (the task reads the
                # database secret at its start), the capacity providers, the security group
                # rules (a task must be reachable and reach ECR, logs and the database from its
                # first second) and the deployment alarms.
                depends_on=[*self.task_dependencies, *args.traffic_shift_ready],
                # The pulumi-aws pattern for a service under Application Auto Scaling: desiredCount
                # seeds the service at creation; afterwards `pulumi up` leaves the autoscaler's
                # count alone instead of resetting it (scaling prod in with every deploy).
                ignore_changes=["desiredCount"],
                custom_timeouts=_rollout_timeouts(args.rollout, args.target_timing),
            ),
        )
        self.register_outputs(
            {
                "clusterName": self.cluster.name,
                "serviceName": self.service.name,
                "logGroupName": self.log_group.name,
                "securityGroupId": self.security_group.id,
            }
        )

    def _task_dependencies(self, args: ServiceArgs) -> list[pulumi.Resource]:
        """What must exist before a task of this task definition starts (any service's)."""
        return [
            *args.listeners,
            self.execution_policy,
            self.secret_policy,
            self.capacity_providers,
            *self.rules,
            *args.deployment_alarms,
        ] + ([self.exec_policy] if self.exec_policy else [])

    def _security_rules(
        self, name: str, args: ServiceArgs, child: pulumi.ResourceOptions
    ) -> list[pulumi.CustomResource]:
        """Least privilege both ways: the ALB reaches only the container port; tasks reach
        only HTTPS (ECR, logs, secrets) and the database port."""
        db = args.database
        port = args.container_port
        # A new container port is a new rule created before the service's rolling deployment
        # and the old one deleted at the end of the update (Pulumi deletes what it replaced
        # last), not the old rule modified in place under the running tasks: the provider
        # updates fromPort/toPort in place (ModifySecurityGroupRules), which would cut the load
        # balancer off the old tasks before the new ones serve.
        moves_with_port = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(replace_on_changes=["fromPort", "toPort"])
        )
        rules: list[pulumi.CustomResource] = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-alb",
                security_group_id=self.security_group.id,
                referenced_security_group_id=args.load_balancer_security_group_id,
                description="load balancer to the container port",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=moves_with_port,
            ),
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-alb-out",
                security_group_id=args.load_balancer_security_group_id,
                referenced_security_group_id=self.security_group.id,
                description="load balancer to the container port of the tasks",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=moves_with_port,
            ),
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-https",
                security_group_id=self.security_group.id,
                cidr_ipv4="0.0.0.0/0",
                description="tasks to AWS APIs (ECR, CloudWatch Logs, Secrets Manager)",
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                opts=child,
            ),
        ]
        if db.security_group_id is not None:
            rules += [
                aws.vpc.SecurityGroupEgressRule(
                    f"{name}-out-db",
                    security_group_id=self.security_group.id,
                    referenced_security_group_id=db.security_group_id,
                    description="tasks to PostgreSQL",
                    ip_protocol="tcp",
                    from_port=db.port,
                    to_port=db.port,
                    opts=child,
                )
            ]
            if db.admit_service:
                rules.append(
                    aws.vpc.SecurityGroupIngressRule(
                        f"{name}-db-in",
                        security_group_id=db.security_group_id,
                        referenced_security_group_id=self.security_group.id,
                        description=f"{name} tasks to PostgreSQL",
                        ip_protocol="tcp",
                        from_port=db.port,
                        to_port=db.port,
                        opts=child,
                    )
                )
        else:
            # An existing database whose security group we don't manage: only its port.
            rules.append(
                aws.vpc.SecurityGroupEgressRule(
                    f"{name}-out-db",
                    security_group_id=self.security_group.id,
                    cidr_ipv4="0.0.0.0/0",
                    description="tasks to PostgreSQL (existing database)",
                    ip_protocol="tcp",
                    from_port=db.port,
                    to_port=db.port,
                    opts=child,
                )
            )
        return rules


def _ecs_tasks_trust_policy(region: str, account: str) -> str:
    """Only ECS tasks of this account and region may assume the role (confused deputy guard)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{region}:{account}:*"},
                        "StringEquals": {"aws:SourceAccount": account},
                    },
                }
            ],
        }
    )


def execution_policy(
    repository_arn: str | None,
    log_group_arn: str,
    *,
    secret_arns: Sequence[str] = (),
    secret_key_arns: Sequence[str] = (),
    region: str = "",
) -> str:
    """What ECS itself needs to start a task: nothing beyond these resources, except
    ecr:GetAuthorizationToken, which AWS only grants on '*' (and only when the image is in ECR).
    The secrets are those ECS injects at start (the app's, the registry's credentials), not the
    database's, which the app reads itself with the task role. Both are the execution role's:
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/private-auth.html"""
    statements: list[dict[str, Any]] = []
    if repository_arn is not None:
        statements += [
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
             "Resource": "*"},
            {
                "Sid": "PullImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                ],
                "Resource": repository_arn,
            },
        ]  # fmt: skip
    statements.append(
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        }
    )
    if secret_arns:
        statements.append(
            {
                "Sid": "ReadStartupSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sorted(set(secret_arns)),
            }
        )
    if secret_key_arns:
        statements.append(
            {
                "Sid": "DecryptStartupSecrets",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": sorted(set(secret_key_arns)),
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def _execution_secrets(args: ServiceArgs) -> list[str]:
    """The secret ARNs ECS reads at start: the app's (without ECS's :json-key:... suffix, which
    IAM does not know) and the registry credentials."""
    arns = [v.secret_value_from(f"secrets[{n}]", ref) for n, ref in args.secrets.items()]
    return sorted(set(arns + ([args.registry_secret_arn] if args.registry_secret_arn else [])))


def read_secret_policy(secret_arn: str, *, secret_key_arn: str | None = None) -> str:
    """The app's only AWS call: GetSecretValue on the database secret (any version stage: it
    reads AWSPENDING during a rotation). A secret encrypted with a customer managed KMS key also
    needs kms:Decrypt on that key, only when Secrets Manager in the secret's region asks (the
    AWS managed aws/secretsmanager key, which RDS-managed secrets use, needs no grant):
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html"""
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadDatabaseSecret", "Effect": "Allow",
         "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn},
    ]  # fmt: skip
    if secret_key_arn:
        region = secret_arn.split(":")[3]
        statements.append(
            {
                "Sid": "DecryptDatabaseSecret",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": secret_key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def capacity_strategy(spot_percent: int, on_demand_base: int) -> list[dict[str, Any]]:
    """ECS places `on_demand_base` tasks on FARGATE, then splits the rest by weight. Weights are
    the percentages reduced (75/25 -> 3/1); a provider with no share and no base is left out."""
    on_demand = 100 - spot_percent
    divisor = math.gcd(on_demand, spot_percent) or 1
    strategy: list[dict[str, Any]] = []
    if on_demand or on_demand_base:
        strategy.append(
            {"capacity_provider": FARGATE, "base": on_demand_base, "weight": on_demand // divisor}
        )
    if spot_percent:
        strategy.append({"capacity_provider": FARGATE_SPOT, "weight": spot_percent // divisor})
    return strategy


def execute_command_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "EcsExecChannels", "Effect": "Allow", "Action": EXEC_ACTIONS,
                 "Resource": "*"},
            ],
        }
    )  # fmt: skip


def container_definitions(
    *, image: str, log_group: str, db_host: str, db_secret_arn: str, args: ServiceArgs
) -> list[dict[str, Any]]:
    """The app's container. It gets the database secret's ARN, not its value: the app reads the
    secret itself (task role), so it follows a rotation and the password is in no environment.
    An image that needs the credentials in variables gets them as ECS secrets (`args.secrets`),
    injected at start."""
    db = args.database
    program = dict(
        zip(
            PROGRAM_VARIABLES,
            (str(args.container_port), args.version, db_host, str(db.port), db.name, db_secret_arn),
            strict=True,
        )
    )
    environment = {**program, **{k: args.environment[k] for k in sorted(args.environment)}}
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "portMappings": [{"name": "http", "containerPort": args.container_port, "protocol": "tcp"}],
        "environment": [{"name": k, "value": value} for k, value in environment.items()],
        "user": CONTAINER_USER,
        # AWS: "the SSM agent requires that the container file system can be written to ...
        # making the root file system read-only ... isn't supported" with ECS Exec.
        "readonlyRootFilesystem": not args.execute_command,
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": "/tmp"}],  # noqa: S108
        "privileged": False,
        "linuxParameters": {
            # Fargate lets a task drop every capability (it may add only SYS_PTRACE).
            "capabilities": {"drop": ["ALL"]},
            # AWS recommends an init process with ECS Exec: it reaps the exited children of
            # the agent's sessions. Without ECS Exec the app is PID 1 and handles SIGTERM.
            "initProcessEnabled": args.execute_command,
        },
        "stopTimeout": args.stop_timeout,
        **_health_check(args.health_check_command),
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": args.region,
                "awslogs-stream-prefix": CONTAINER_NAME,
            },
        },
    }
    if args.secrets:
        container["secrets"] = [
            {"name": name, "valueFrom": args.secrets[name]} for name in sorted(args.secrets)
        ]
    if args.registry_secret_arn:
        container["repositoryCredentials"] = {"credentialsParameter": args.registry_secret_arn}
    return [container]


class ReleaseGuards(TypedDict):
    deployment_circuit_breaker: aws.ecs.ServiceDeploymentCircuitBreakerArgs
    alarms: aws.ecs.ServiceAlarmsArgs | None
    deployment_minimum_healthy_percent: int
    deployment_maximum_percent: int
    health_check_grace_period_seconds: int
    wait_for_steady_state: bool
    enable_ecs_managed_tags: bool
    propagate_tags: str


def release_guards(alarm_names: Sequence[pulumi.Input[str]], grace_period: int) -> ReleaseGuards:
    """What stops a bad release and takes it back, the same for every service of the task
    definition (this one and capacity hybrid's base service, infra/capacity.py): the circuit
    breaker, the deployment alarms, new tasks beside the old (min 100 %, max 200 %), the
    grace period, and `pulumi up` waiting for a steady service."""
    return ReleaseGuards(
        deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
            enable=True, rollback=True
        ),
        alarms=aws.ecs.ServiceAlarmsArgs(alarm_names=list(alarm_names), enable=True, rollback=True)
        if alarm_names
        else None,
        deployment_minimum_healthy_percent=100,
        deployment_maximum_percent=200,
        health_check_grace_period_seconds=grace_period,
        wait_for_steady_state=True,
        enable_ecs_managed_tags=True,
        propagate_tags="SERVICE",
    )


def deployment_configuration(rollout: Rollout) -> aws.ecs.ServiceDeploymentConfigurationArgs:
    """ECS's strategy block. The provider takes the minutes as strings (pulumi_aws
    ecs/_inputs.py ServiceDeploymentConfigurationArgs: bake_time_in_minutes is a str)."""
    strategy = ECS_STRATEGY[rollout.strategy]
    if not rollout.shifts_traffic:
        return aws.ecs.ServiceDeploymentConfigurationArgs(strategy=strategy)
    return aws.ecs.ServiceDeploymentConfigurationArgs(
        strategy=strategy,
        bake_time_in_minutes=str(rollout.bake_minutes),
        canary_configuration=aws.ecs.ServiceDeploymentConfigurationCanaryConfigurationArgs(
            canary_percent=float(rollout.canary_percent),
            canary_bake_time_in_minutes=str(rollout.canary_minutes),
        )
        if strategy == "CANARY"
        else None,
        linear_configuration=aws.ecs.ServiceDeploymentConfigurationLinearConfigurationArgs(
            step_percent=float(rollout.linear_step_percent),
            step_bake_time_in_minutes=str(rollout.linear_step_minutes),
        )
        if strategy == "LINEAR"
        else None,
    )


# The provider waits for a steady service (wait_for_steady_state) at most 20 minutes by default
# (terraform-provider-aws website/docs/r/ecs_service.html.markdown, "Timeouts"): a canary's
# interval and bake may be longer, so its wait is the rollout plus that margin.
_PROVIDER_WAIT_MINUTES = 20


def _rollout_timeouts(
    rollout: Rollout, timing: TargetTiming | None
) -> pulumi.CustomTimeouts | None:
    if not rollout.shifts_traffic:
        return None
    minutes = math.ceil(rollout.seconds(timing) / 60) + _PROVIDER_WAIT_MINUTES
    return pulumi.CustomTimeouts(create=f"{minutes}m", update=f"{minutes}m")


def _health_check(command: Sequence[str] | None) -> dict[str, Any]:
    if command is None:
        return {}
    return {
        "healthCheck": {
            "command": list(command),
            "interval": 15,
            "timeout": 5,
            "retries": 3,
            # bench/cold_start.py at 0.25 vCPU: slowest start 2.2 s (first one adopting a
            # 1M-row table), x3 for a slower vCPU and the network, rounded up (0..300 s).
            "startPeriod": 10,
        }
    }


def _validate(args: ServiceArgs) -> None:
    v.fargate_size("cpu", args.cpu, "memory", args.memory)
    fewest = 0 if args.scale_from_zero else v.TASKS.low
    if args.desired_count < fewest:
        raise v.fail("desired_count", args.desired_count, f"an integer >= {fewest}")
    if args.ec2_only and args.ec2_capacity_provider is None:
        raise v.fail("ec2_only", True, "true only with an ec2_capacity_provider")
    v.CONTAINER_PORT.check("container_port", args.container_port)
    v.one_of("log_retention_days", args.log_retention_days, v.LOG_RETENTION_DAYS)
    v.one_of("container_insights", args.container_insights, v.CONTAINER_INSIGHTS)
    v.HEALTH_CHECK_GRACE_PERIOD.check("health_check_grace_period", args.health_check_grace_period)
    v.STOP_TIMEOUT.check("stop_timeout", args.stop_timeout)
    v.DATABASE_PORT.check("database.port", args.database.port)
    v.SPOT_PERCENT.check("spot_percent", args.spot_percent)
    v.in_range("on_demand_base", args.on_demand_base, 0, v.TASKS.high)
    if args.health_check_command is not None and (
        len(args.health_check_command) < 2
        or args.health_check_command[0] not in ("CMD", "CMD-SHELL")
    ):
        raise v.fail("health_check_command", args.health_check_command, v.HEALTH_CHECK_FORMS)
    taken = set(PROGRAM_VARIABLES)
    for field_name, names in (("environment", args.environment), ("secrets", args.secrets)):
        for variable in names:
            v.variable_name(field_name, variable)
            if variable in taken:
                raise v.fail(
                    field_name,
                    variable,
                    "a name neither the program sets (" + ", ".join(PROGRAM_VARIABLES) + ") "
                    "nor given twice",
                )
            taken.add(variable)
    args.rollout.validate()
    if args.rollout.shifts_traffic and args.traffic_shift is None:
        raise v.fail(
            "traffic_shift",
            None,
            f"the alternate target group, listener rules and role for {args.rollout.strategy} "
            "(infra/deployment_strategy.py)",
        )
    if args.rollout.shifts_traffic and not args.deployment_alarms:
        raise v.fail(
            "deployment_alarms",
            [],
            f"the alarms that roll a {args.rollout.strategy} release back (5xx rate, unhealthy "
            "targets)",
        )
    _execution_secrets(args)  # each valueFrom well formed
    if args.registry_secret_arn:
        v.secret_arn("registry_secret_arn", args.registry_secret_arn)
