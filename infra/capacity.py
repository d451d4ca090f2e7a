"""EC2 capacity for the service: an Auto Scaling group of ECS-optimized instances behind an ECS
capacity provider, and (capacity hybrid) the base service that runs on it.

The `capacity` config key picks where the tasks run:
- fargate: on Fargate only (infra/service.py's strategy: on-demand and Spot shares);
- ec2: every task on this group's instances, billed per instance-hour and EBS GB-month;
- hybrid: steady load on EC2, bursts on Fargate. ECS cannot mix an Auto Scaling group capacity
  provider with FARGATE/FARGATE_SPOT in one service's strategy ("a capacity provider strategy may
  contain ... either Auto Scaling group capacity providers or Fargate capacity providers", API
  reference CapacityProviderStrategyItem), so two services run the same task definition behind
  the same target group: `BaseService` keeps ec2BaseCount tasks on EC2, and the autoscaled
  service runs 0..N on Fargate.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html

The instances:
- the current ECS-optimized Amazon Linux 2023 AMI, read at every preview/update from its public
  SSM parameter for the instance type's architecture (a new AMI makes a new launch template
  version; instances launched afterwards use it):
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/retrieve-ecs-optimized_AMI.html
- in the tasks' private subnets, without a public IP, in a security group with no ingress at all
  (awsvpc tasks have their own interfaces and the service's security group);
- IMDSv2 only, with the default hop limit of 1: the ECS agent runs with host networking, and
  ECS_AWSVPC_BLOCK_IMDS keeps the tasks away from the instance's metadata (and its role):
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-agent-config.html
- an encrypted gp3 root volume of the AMI's 30 GiB;
- an instance role allowed what the ECS agent does with it and nothing else (`agent_policy`):
  register in this cluster, poll for work and report tasks. AWS's managed
  AmazonEC2ContainerServiceforEC2Role, which AWS offers "as a guide when creating a custom
  policy" (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/instance_IAM_role.html),
  also pulls any ECR image, writes any log group and creates clusters: here the tasks' image
  pulls and logs use their execution role (the agent pulls with it when the task has one,
  amazon-ecs-agent agent/engine/docker_task_engine.go setRegistryCredentials, and hands it to
  the awslogs driver, agent/api/task/task.go ApplyExecutionRoleLogsAuth);
Managed scaling keeps the group at 100 % of what the tasks need; managed termination protection
keeps an instance running tasks from being scaled in (it needs scale-in protection on the group
and managed scaling); managed draining moves tasks off an instance before it goes:
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AutoScalingGroupProvider.html
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.service import release_guards
from infra.tags import tags

FARGATE_ONLY = "fargate"
EC2_ONLY = "ec2"
HYBRID = "hybrid"
MODES = (FARGATE_ONLY, EC2_ONLY, HYBRID)

X86_64 = "x86_64"
ARM64 = "arm64"
AMI_PARAMETERS = {
    X86_64: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    ARM64: "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
}
# The task definition's runtimePlatform (infra/service.py): the image is built for x86_64, so
# the instances must be too.
TASK_ARCHITECTURE = X86_64
# An instance type: family (letters, a generation digit, attribute letters) . size.
# https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html
_INSTANCE_TYPE = re.compile(r"^(?P<family>[a-z]+\d+[a-z-]*)\.(?P<size>[a-z0-9]+)$")
# "g: AWS Graviton processors" among the attribute letters after the generation (t4g, m7g,
# c6gn, r8gd...); a1 is the first Graviton. GPU families start with g (g5, g4dn): the letter
# counts only after the generation digit.
_GRAVITON = re.compile(r"^(?:a1|[a-z]+\d+[a-z]*g[a-z]*)$")


# What ECS can place on an instance type, by type: vCPUs and memory (EC2 instance types guide,
# https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html and co.html), and the network
# interfaces it attaches, the primary one included (the ENILimit of amazon-vpc-cni-k8s'
# pkg/vpc/vpc_ip_resource_limit.go, generated from EC2's DescribeInstanceTypes). In awsvpc mode
# "each task ... receives its own elastic network interface ... and the primary network
# interface counts as one": without ENI trunking (an account setting this stack does not turn
# on), a type with N interfaces holds N - 1 tasks
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-eni.html).
# A type not listed is taken to hold one task.
@dataclass(frozen=True)
class InstanceSize:
    vcpus: int
    memory_mib: int
    interfaces: int


_GENERAL = {"large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32)}
_COMPUTE = {"large": (2, 4), "xlarge": (4, 8), "2xlarge": (8, 16)}
_INTERFACES = {"large": 3, "xlarge": 4, "2xlarge": 4}
INSTANCE_SIZES: dict[str, InstanceSize] = {
    **{
        f"{family}.{size}": InstanceSize(vcpus, int(gib * 1024), interfaces)
        for family in ("t3", "t3a")
        for size, (vcpus, gib, interfaces) in {
            "nano": (2, 0.5, 2),
            "micro": (2, 1, 2),
            "small": (2, 2, 3 if family == "t3" else 2),
            "medium": (2, 4, 3),
            "large": (2, 8, 3),
            "xlarge": (4, 16, 4),
            "2xlarge": (8, 32, 4),
        }.items()
    },
    **{
        f"{family}.{size}": InstanceSize(vcpus, gib * 1024, _INTERFACES[size])
        for families, table in ((("m5", "m6i", "m7i"), _GENERAL), (("c5", "c6i", "c7i"), _COMPUTE))
        for family in families
        for size, (vcpus, gib) in table.items()
    },
}
CPU_UNITS_PER_VCPU = 1024
"""What the agent registers per vCPU (a task's cpu is in the same units)."""
REGISTERED_MEMORY_SHARE = 0.9
"""Of an instance's memory, what the agent is taken to register for tasks: less than installed
("platform memory overhead and memory occupied by the system kernel": AWS's m4.large example
registers 7,985 of 8,192 MiB, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/memory-management.html).
Taking less than that only makes the group's ceiling higher, never too low."""

ROOT_DEVICE = "/dev/xvda"
ROOT_VOLUME_GIB = 30

# What the ECS agent calls with the instance role, by what the Service Authorization Reference
# lets each be scoped to
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html):
# - the cluster (resource type cluster*, no ecs:cluster key: the resource is the cluster):
#   RegisterContainerInstance, DeregisterContainerInstance and the three Submit* state reports
#   (SubmitAttachmentStateChanges: the awsvpc tasks' interfaces);
# - nothing: DiscoverPollEndpoint has no resource type; Poll and StartTelemetrySession, in the
#   managed policy, are in no row of the reference's ECS actions table (as iann0036/iam-dataset
#   aws/iam_definition.json mirrors it), so no resource can be named for them.
# Left out of the managed policy's v10: ecs:CreateCluster (the cluster is the stack's);
# ecs:UpdateContainerInstancesState (the agent drains itself only on a Spot interruption with
# ECS_ENABLE_SPOT_INSTANCE_DRAINING, agent/app/agent.go; these instances are on-demand and ECS's
# managed draining drains them); ec2:DescribeTags and ecs:TagResource with ecs:CreateAction
# (only with ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM or ECS_CONTAINER_INSTANCE_TAGS, unset
# here); ecs:ListTagsForResource (the task metadata endpoint's tags, which the app never asks).
AGENT_CLUSTER_ACTIONS = (
    "ecs:RegisterContainerInstance",
    "ecs:DeregisterContainerInstance",
    "ecs:SubmitAttachmentStateChanges",
    "ecs:SubmitContainerStateChange",
    "ecs:SubmitTaskStateChange",
)
AGENT_SESSION_ACTIONS = ("ecs:DiscoverPollEndpoint", "ecs:Poll", "ecs:StartTelemetrySession")


def agent_policy(cluster_arn: str) -> str:
    """The instance role's one policy: the agent's calls, in this cluster where IAM can say so."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "RegisterAndReportInThisCluster",
                    "Effect": "Allow",
                    "Action": list(AGENT_CLUSTER_ACTIONS),
                    "Resource": cluster_arn,
                },
                {
                    "Sid": "AgentSessionsNoResourceToName",
                    "Effect": "Allow",
                    "Action": list(AGENT_SESSION_ACTIONS),
                    "Resource": "*",
                },
            ],
        }
    )


def tasks_per_instance(instance_type: str, cpu: int, memory: int) -> int:
    """How many tasks of `cpu` units and `memory` MiB one instance holds: the fewest its
    interfaces (one per task besides the primary), its CPU units and its memory allow; 1 for a
    type not in INSTANCE_SIZES; 0 when a task does not fit at all."""
    size = INSTANCE_SIZES.get(instance_type)
    if size is None:
        return 1
    return min(
        size.interfaces - 1,
        size.vcpus * CPU_UNITS_PER_VCPU // cpu,
        int(size.memory_mib * REGISTERED_MEMORY_SHARE) // memory,
    )


def check_task_fits(key: str, instance_type: str, cpu: int, memory: int) -> None:
    if tasks_per_instance(instance_type, cpu, memory) >= 1:
        return
    size = INSTANCE_SIZES[instance_type]
    raise v.fail(
        key,
        instance_type,
        f"a type that holds one task of {cpu} CPU units and {memory} MiB ({instance_type} "
        f"registers about {int(size.memory_mib * REGISTERED_MEMORY_SHARE)} MiB and "
        f"{size.vcpus * CPU_UNITS_PER_VCPU} CPU units for tasks), e.g. t3.medium",
    )


def release_instances(tasks: int, per_instance: int, zones: int) -> int:
    """The Auto Scaling group's ceiling: room for every task twice, since a release keeps the
    old tasks until the new ones are healthy (ROLLING at minimum 100 %, maximum 200 %) and
    canary, linear and blue/green start a whole second set. ECS spreads a service's tasks across
    Availability Zones first ("the task placement strategy is spread using the
    attribute:ecs.availability-zone",
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-strategies.html),
    so each zone holds its share on instances of its own. A ceiling only: managed scaling at
    100 % launches what the tasks need (the cost estimate prices the steady state)."""
    released = 2 * tasks
    zones = max(1, min(zones, released))
    return zones * math.ceil(math.ceil(released / zones) / max(1, per_instance))


def fewest_autoscaled_tasks(mode: str) -> int:
    """The autoscaled service may run no task only in hybrid, where the base service serves."""
    return 0 if mode == HYBRID else v.TASKS.low


def architecture(instance_type: str) -> str:
    family = instance_type.split(".", 1)[0]
    return ARM64 if _GRAVITON.match(family) else X86_64


def check_instance_type(key: str, instance_type: str) -> None:
    if not _INSTANCE_TYPE.match(instance_type):
        raise v.fail(key, instance_type, "an EC2 instance type such as t3.small or m6i.large")
    if architecture(instance_type) != TASK_ARCHITECTURE:
        raise v.fail(
            key,
            instance_type,
            f"an {TASK_ARCHITECTURE} type (the tasks run an {TASK_ARCHITECTURE} image; "
            f"{instance_type} is a Graviton, {ARM64}, type), e.g. t3.small or m6i.large",
        )


@dataclass
class Ec2CapacityArgs:
    cluster_name: pulumi.Input[str]
    """The cluster the instances join (ECS_CLUSTER)."""
    cluster_arn: pulumi.Input[str]
    """The same cluster: the only one the instance role may register in."""
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets with a NAT route (the settings refuse public ones)."""
    instance_type: str
    """An x86_64 type (check_instance_type) that holds a task (check_task_fits)."""
    tasks: int
    """The most tasks on EC2 at steady state (autoscalingMaxCount with capacity ec2, hybrid's
    ec2BaseCount): the group's ceiling makes room for twice as many (release_instances)."""
    task_cpu: int
    task_memory: int
    zones: int
    """Availability Zones of `subnet_ids`."""


class Ec2Capacity(pulumi.ComponentResource):
    """Instances for ECS tasks, scaled by ECS through a capacity provider."""

    role: aws.iam.Role
    security_group: aws.ec2.SecurityGroup
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group
    provider: aws.ecs.CapacityProvider

    def __init__(
        self, name: str, args: Ec2CapacityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_instance_type("instance_type", args.instance_type)
        check_task_fits("instance_type", args.instance_type, args.task_cpu, args.task_memory)
        v.TASKS.check("tasks", args.tasks)
        if args.zones < 1:
            raise v.fail("zones", args.zones, "an integer >= 1")
        self.max_instances = release_instances(
            args.tasks,
            tasks_per_instance(args.instance_type, args.task_cpu, args.task_memory),
            args.zones,
        )
        super().__init__("alunos-api:infra:Ec2Capacity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-instance",
            description=f"{name}: the ECS agent on the capacity instances",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags(f"{name}-instance"),
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-instance-agent",
            role=self.role.id,
            policy=pulumi.Output.from_input(args.cluster_arn).apply(agent_policy),
            opts=child,
        )
        self.profile = aws.iam.InstanceProfile(
            f"{name}-instance", role=self.role.name, tags=tags(f"{name}-instance"), opts=child
        )
        # No ingress: nothing connects to the instances (tasks have their own interfaces).
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-instances-sg",
            description=f"{name}: ECS capacity instances, no ingress",
            vpc_id=args.vpc_id,
            tags=tags(f"{name}-instances-sg"),
            opts=child,
        )
        self.egress = aws.vpc.SecurityGroupEgressRule(
            f"{name}-instances-out-https",
            security_group_id=self.security_group.id,
            cidr_ipv4="0.0.0.0/0",
            description="ECS agent to the ECS, ECR and CloudWatch endpoints",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            opts=child,
        )
        image_id = aws.ssm.get_parameter_output(
            name=AMI_PARAMETERS[architecture(args.instance_type)]
        ).value
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-instances",
            description=f"{name}: ECS-optimized Amazon Linux 2023",
            image_id=image_id,
            instance_type=args.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=self.profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=ROOT_VOLUME_GIB,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    associate_public_ip_address="false",
                    security_groups=[self.security_group.id],
                )
            ],
            user_data=pulumi.Output.from_input(args.cluster_name).apply(user_data),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type="instance", tags=tags(f"{name}-instance")
                )
            ],
            tags=tags(f"{name}-instances"),
            opts=child,
        )
        self.group = aws.autoscaling.Group(
            f"{name}-instances",
            min_size=0,
            max_size=self.max_instances,
            vpc_zone_identifiers=args.subnet_ids,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=self.launch_template.id,
                version=self.launch_template.latest_version.apply(str),
            ),
            # Managed termination protection needs it on the group and every instance.
            protect_from_scale_in=True,
            tags=[
                aws.autoscaling.GroupTagArgs(
                    key="AmazonECSManaged", value="true", propagate_at_launch=True
                ),
                aws.autoscaling.GroupTagArgs(
                    key="Name", value=f"{name}-instance", propagate_at_launch=True
                ),
            ],
            # ECS's managed scaling owns the desired capacity. An instance's agent registers
            # at boot: the role's policy exists first.
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    ignore_changes=["desiredCapacity"], depends_on=[self.role_policy]
                ),
            ),
        )
        self.provider = aws.ecs.CapacityProvider(
            f"{name}-ec2",
            auto_scaling_group_provider=aws.ecs.CapacityProviderAutoScalingGroupProviderArgs(
                auto_scaling_group_arn=self.group.arn,
                managed_termination_protection="ENABLED",
                managed_draining="ENABLED",
                managed_scaling=aws.ecs.CapacityProviderAutoScalingGroupProviderManagedScalingArgs(
                    status="ENABLED", target_capacity=100
                ),
            ),
            tags=tags(f"{name}-ec2"),
            opts=child,
        )
        self.register_outputs(
            {"capacityProvider": self.provider.name, "autoScalingGroup": self.group.name}
        )


def user_data(cluster_name: str) -> str:
    """The agent's configuration (/etc/ecs/ecs.config), base64 as the launch template wants it."""
    script = "\n".join(
        [
            "#!/bin/bash",
            "cat <<'EOF' >> /etc/ecs/ecs.config",
            f"ECS_CLUSTER={cluster_name}",
            "ECS_AWSVPC_BLOCK_IMDS=true",
            "EOF",
            "",
        ]
    )
    return base64.b64encode(script.encode()).decode()


@dataclass
class BaseServiceArgs:
    """capacity hybrid: the steady tasks on EC2, as the autoscaled service is configured."""

    cluster_arn: pulumi.Input[str]
    task_definition_arn: pulumi.Input[str]
    capacity_provider: pulumi.Input[str]
    count: int
    """Tasks always running (ec2BaseCount); no autoscaler."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    security_group_id: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    container_name: str
    container_port: int
    health_check_grace_period: int
    version: str
    deployment_alarm_names: Sequence[pulumi.Input[str]] = ()
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    """What the autoscaled service waits for (listeners, policies, rules, alarms)."""


class BaseService(pulumi.ComponentResource):
    service: aws.ecs.Service

    def __init__(
        self, name: str, args: BaseServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        v.TASKS.check("count", args.count)
        super().__init__("alunos-api:infra:BaseService", name, None, opts)
        self.service = aws.ecs.Service(
            f"{name}-base-service",
            cluster=args.cluster_arn,
            task_definition=args.task_definition_arn,
            desired_count=args.count,
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(
                    capacity_provider=args.capacity_provider, base=0, weight=1
                )
            ],
            force_new_deployment=True,
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids,
                security_groups=[args.security_group_id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn,
                    container_name=args.container_name,
                    container_port=args.container_port,
                )
            ],
            **release_guards(args.deployment_alarm_names, args.health_check_grace_period),
            tags=tags(f"{name}-base-service", {"version": args.version}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"serviceName": self.service.name})
