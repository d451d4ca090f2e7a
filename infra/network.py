"""The VPC the service runs in: a new awsx VPC, or an existing one (where the database and the
legacy instances usually live: moving the app must not force moving them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_awsx as awsx

from infra import validation as v


@dataclass
class NetworkArgs:
    availability_zones: int = 2
    """AZs the new VPC spans (2..6)."""
    cidr_block: str = "10.0.0.0/16"
    """IPv4 range of the new VPC."""
    nat_gateways: str = "Single"
    """None, Single or OnePerAz. None: no private subnets, tasks get public IPs."""
    existing_vpc_id: str = ""
    """Reuse this VPC instead of creating one."""
    existing_public_subnet_ids: Sequence[str] = ()
    """Public subnets of the existing VPC (the load balancer's)."""
    existing_private_subnet_ids: Sequence[str] = ()
    """Private subnets of the existing VPC (tasks and database); empty = tasks in public ones."""


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
        if args.existing_vpc_id:
            self.tasks_public = not args.existing_private_subnet_ids
            self.vpc_id = pulumi.Output.from_input(args.existing_vpc_id)
            self.public_subnet_ids = pulumi.Output.from_input(list(args.existing_public_subnet_ids))
            private = list(args.existing_private_subnet_ids)
            self.task_subnet_ids = pulumi.Output.from_input(
                private or list(args.existing_public_subnet_ids)
            )
            self.database_subnet_ids = pulumi.Output.from_input(private)
        else:
            self.tasks_public = args.nat_gateways == "None"
            specs = [awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PUBLIC, cidr_mask=24)]
            if not self.tasks_public:
                specs.append(
                    awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PRIVATE, cidr_mask=20)
                )
            specs.append(
                awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.ISOLATED, name="db", cidr_mask=24)
            )
            self.vpc = awsx.ec2.Vpc(
                f"{name}-vpc",
                cidr_block=args.cidr_block,
                number_of_availability_zones=args.availability_zones,
                nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(
                    strategy=awsx.ec2.NatGatewayStrategy(args.nat_gateways)
                ),
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


def _validate(args: NetworkArgs) -> None:
    v.one_of("nat_gateways", args.nat_gateways, v.NAT_STRATEGIES)
    if args.existing_vpc_id:
        v.aws_id("existing_vpc_id", args.existing_vpc_id, "vpc")
        if len(args.existing_public_subnet_ids) < 2:
            raise v.fail(
                "existing_public_subnet_ids",
                list(args.existing_public_subnet_ids),
                "at least 2 subnets in different AZs",
            )
    else:
        v.AVAILABILITY_ZONES.check("availability_zones", args.availability_zones)
        v.private_cidr("cidr_block", args.cidr_block)
