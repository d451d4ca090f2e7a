"""The VPC the service runs in: a new awsx VPC, or an existing one (where the database and the
legacy instances usually live: moving the app must not force moving them).

Two argument types, one per mode, each with only its own fields (as awsx has `Vpc` and
`DefaultVpc`): subnet ids cannot be handed to a new VPC, nor a NAT strategy to an existing one,
where either would be silently ignored."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_awsx as awsx

from infra import validation as v

# The subnet layout is computed here and handed to awsx as explicit CIDR blocks: awsx's own
# allocator sizes an AZ by the AZ count and packs the tiers one after the other, so adding an AZ
# or the private tier (NAT) would renumber existing subnets, and a subnet's cidr_block is
# ForceNew (a subnet holding the load balancer's or the database's interfaces cannot be deleted).
# Here each AZ owns one of 8 equal slots of the VPC (6 AZs at most), and each tier a fixed block
# of its AZ's slot, reserved even while the tier does not exist: public and isolated subnets keep
# their ranges whatever the NAT strategy and the AZ count.
AZ_SLOT_BITS = 3
TIER_BLOCKS = {
    # tier: (prefix bits added to the AZ slot, index of the block of that size)
    "Private": (1, 0),  # the first half: the tasks, when there is NAT
    "Public": (2, 2),  # the third quarter: load balancer and NAT gateways
    "Isolated": (3, 6),  # the seventh eighth: the database (the last eighth is spare)
}


@dataclass
class NewVpcArgs:
    """A VPC of the stack's own: public, private (when there is NAT) and isolated subnets."""

    availability_zones: int
    """AZs the VPC spans (2..6)."""
    cidr_block: str
    """IPv4 range of the VPC: an RFC 1918 range, /16 to /22 (validation.VPC_PREFIX_LENGTH)."""
    nat_gateways: str
    """None, Single or OnePerAz. None: no private subnets, tasks get public IPs."""


@dataclass
class ExistingVpcArgs:
    """A VPC someone else manages (the database's, the legacy instances'): nothing is created."""

    vpc_id: str
    """The VPC to join."""
    public_subnet_ids: Sequence[str]
    """Its public subnets, in 2+ AZs: the load balancer's."""
    private_subnet_ids: Sequence[str]
    """Its private subnets with a NAT route: the tasks' and the database's. Empty: the tasks run
    in the public ones, with public IPs."""


NetworkArgs = NewVpcArgs | ExistingVpcArgs

# Addresses of a subnet nobody can use: AWS reserves the first four and the last
# (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html). A load balancer needs 8
# free in each of its subnets to scale ("Subnets for your load balancer",
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#subnets-load-balancer).
AWS_RESERVED_ADDRESSES = 5
LOAD_BALANCER_ADDRESSES = 8


def tasks_public(args: NetworkArgs) -> bool:
    """Whether the tasks run in public subnets with public IPs: they need a route out (ECR, logs,
    secrets), and only a NAT gives private subnets one. The one place that decides it: the
    network places the tasks by it, the settings refuse it in production."""
    if isinstance(args, ExistingVpcArgs):
        return not args.private_subnet_ids
    return args.nat_gateways == "None"


class Network(pulumi.ComponentResource):
    """Subnet tiers: public (load balancer, NAT), private (tasks), isolated (database)."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[Sequence[str]]
    task_subnet_ids: pulumi.Output[Sequence[str]]
    database_subnet_ids: pulumi.Output[Sequence[str]]
    tasks_public: bool
    vpc: awsx.ec2.Vpc | None

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("alunos-api:infra:Network", name, None, opts)
        self.vpc = None
        self.tasks_public = tasks_public(args)
        if isinstance(args, ExistingVpcArgs):
            self.vpc_id = pulumi.Output.from_input(args.vpc_id)
            self.public_subnet_ids = pulumi.Output.from_input(list(args.public_subnet_ids))
            private = list(args.private_subnet_ids)
            self.task_subnet_ids = pulumi.Output.from_input(private or list(args.public_subnet_ids))
            self.database_subnet_ids = pulumi.Output.from_input(private)
        else:
            tier = awsx.ec2.SubnetType
            tiers = [(tier.PUBLIC, None), (tier.PRIVATE, None), (tier.ISOLATED, "db")]
            layout = subnet_layout(args)
            specs = [
                awsx.ec2.SubnetSpecArgs(type=kind, name=label, cidr_blocks=layout[kind.value])
                for kind, label in tiers
                if kind is not tier.PRIVATE or not self.tasks_public
            ]
            self.vpc = awsx.ec2.Vpc(
                f"{name}-vpc",
                cidr_block=args.cidr_block,
                number_of_availability_zones=args.availability_zones,
                nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(
                    strategy=awsx.ec2.NatGatewayStrategy(args.nat_gateways)
                ),
                # With every spec's cidr_blocks given, awsx uses them as they are ("Exact" would
                # also demand that the specs cover the whole VPC, spare blocks included).
                subnet_strategy=awsx.ec2.SubnetAllocationStrategy.AUTO,
                subnet_specs=specs,
                enable_dns_hostnames=True,
                enable_dns_support=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.vpc_id = self.vpc.vpc_id
            self.public_subnet_ids = self.vpc.public_subnet_ids
            self.task_subnet_ids = (
                self.vpc.public_subnet_ids if self.tasks_public else self.vpc.private_subnet_ids
            )
            self.database_subnet_ids = self.vpc.isolated_subnet_ids
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "taskSubnetIds": self.task_subnet_ids,
                "databaseSubnetIds": self.database_subnet_ids,
            }
        )


def subnet_layout(args: NewVpcArgs) -> dict[str, list[str]]:
    """Each tier's CIDR block in each AZ (AZ order), every tier included: a block depends only
    on the VPC range, the AZ's index and the tier (see TIER_BLOCKS)."""
    vpc = ipaddress.IPv4Network(args.cidr_block)
    slots = list(vpc.subnets(prefixlen_diff=AZ_SLOT_BITS))[: args.availability_zones]
    return {
        tier: [str(list(slot.subnets(prefixlen_diff=bits))[index]) for slot in slots]
        for tier, (bits, index) in TIER_BLOCKS.items()
    }


def task_subnet_blocks(args: NewVpcArgs) -> list[str]:
    """The CIDR blocks of the subnets the tasks run in (public without NAT, else private)."""
    return subnet_layout(args)["Public" if tasks_public(args) else "Private"]


def addresses_for_tasks(blocks: Sequence[str], shared_with_load_balancer: bool) -> int:
    """Addresses the tasks may take in subnets of these CIDR blocks: what AWS reserves aside,
    and the load balancer's 8 a subnet when the tasks run in its (public) subnets."""
    kept = AWS_RESERVED_ADDRESSES + (LOAD_BALANCER_ADDRESSES if shared_with_load_balancer else 0)
    return sum(ipaddress.IPv4Network(block).num_addresses - kept for block in blocks)


def _validate(args: NetworkArgs) -> None:
    """Each mode checks only its own fields: the other mode's cannot be passed at all."""
    if isinstance(args, ExistingVpcArgs):
        v.aws_id("vpc_id", args.vpc_id, "vpc")
        if len(args.public_subnet_ids) < 2:
            raise v.fail(
                "public_subnet_ids",
                list(args.public_subnet_ids),
                "at least 2 subnets in different AZs",
            )
    else:
        v.one_of("nat_gateways", args.nat_gateways, v.NAT_STRATEGIES)
        v.AVAILABILITY_ZONES.check("availability_zones", args.availability_zones)
        v.private_cidr("cidr_block", args.cidr_block)
