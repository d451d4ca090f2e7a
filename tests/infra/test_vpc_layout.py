"""New VPC layouts: the program hands awsx explicit subnet blocks (infra/network.py), so every
layout the settings accept fits; what cannot fit (a VPC too small for the load balancer's
subnets, more AZs than the region has) is refused before any resource, naming the numbers."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from automation.errors import UsageProblem
from infra import validation as v
from infra.network import NewVpcArgs, subnet_layout
from infra.resource_types import VPC
from infra.settings import AutoscalingSettings, CapacitySettings, ec2_instances, task_addresses
from tests.infra.conftest import PlanView

# An ALB needs subnets of /27 or larger with 8 free addresses (Elastic Load Balancing guide,
# "Subnets for your load balancer"); a subnet is at most /16 and at least /28 (VPC guide,
# "Subnet sizing").
SMALLEST_SUBNET = {"Public": 27, "Private": 28, "Isolated": 28}


def networks(cidr: str, zones: int) -> dict[str, list[ipaddress.IPv4Network]]:
    layout = subnet_layout(NewVpcArgs(zones, cidr, "OnePerAz"))
    return {tier: [ipaddress.IPv4Network(n) for n in nets] for tier, nets in layout.items()}


def test_every_accepted_layout_is_disjoint_inside_the_vpc_and_big_enough() -> None:
    for prefix in range(v.VPC_PREFIX_LENGTH.low, v.VPC_PREFIX_LENGTH.high + 1):
        vpc = ipaddress.IPv4Network(f"10.0.0.0/{prefix}")
        for zones in range(v.AVAILABILITY_ZONES.low, v.AVAILABILITY_ZONES.high + 1):
            tiers = networks(str(vpc), zones)
            every = [net for nets in tiers.values() for net in nets]
            assert all(net.subnet_of(vpc) for net in every)
            assert not any(a.overlaps(b) for i, a in enumerate(every) for b in every[i + 1 :])
            for tier, nets in tiers.items():
                assert len(nets) == zones
                assert all(net.prefixlen <= SMALLEST_SUBNET[tier] for net in nets), (vpc, tier)


def test_the_dev_layout() -> None:
    tiers = networks("10.0.0.0/16", 2)
    assert [str(n) for n in tiers["Public"]] == ["10.0.16.0/21", "10.0.48.0/21"]
    assert [str(n) for n in tiers["Isolated"]] == ["10.0.24.0/22", "10.0.56.0/22"]


BAD_LAYOUTS = [
    # A /23 or smaller VPC leaves the load balancer's subnets under /27.
    pytest.param({"vpcCidr": "10.0.0.0/24"}, ["alunos-api:vpcCidr", "a prefix from /16 to /22"],
                 id="cidr-too-small"),
    # The mock region has 3 zones (us-east-2's a, b, c); awsx would fail with its own message.
    pytest.param({"availabilityZones": 4},
                 ["alunos-api:availabilityZones: 4 but us-east-2 has 3 available "
                  "(us-east-2a, us-east-2b, us-east-2c); allowed: 2..3 in us-east-2"],
                 id="more-azs-than-the-region"),
    # Two public /27s (tasks without NAT share them with the load balancer): 2 x (32 - 5 - 8)
    # addresses for up to 200 task interfaces while a deployment runs old and new side by side.
    pytest.param({"vpcCidr": "10.0.0.0/22", "autoscalingMaxCount": 100},
                 ["alunos-api:vpcCidr: 10.0.0.0/22 in 2 AZs gives the tasks 2 public subnets of "
                  "/27, 38 usable addresses (AWS reserves 5 a subnet, the load balancer keeps 8), "
                  "but 200 may be needed (2 x (autoscalingMaxCount 100) tasks during a "
                  "deployment); allowed: a larger vpcCidr"],
                 id="task-subnets-too-small"),
    # With NAT the tasks get the private half of each AZ's slot: two /26s, 118 addresses.
    pytest.param({"vpcCidr": "10.0.0.0/22", "natGateways": "Single", "autoscalingMaxCount": 60},
                 ["2 private subnets of /26, 118 usable addresses (AWS reserves 5 a subnet), "
                  "but 120 may be needed"],
                 id="private-task-subnets-too-small"),
    # EC2 capacity: each instance takes an address of the tasks' subnets too.
    pytest.param({"vpcCidr": "10.0.0.0/22", "natGateways": "Single", "autoscalingMaxCount": 40,
                  "capacity": "ec2", "spotPercent": 0, "schedule": None},
                 ["118 usable addresses", "but 120 may be needed (2 x (autoscalingMaxCount 40) "
                  "tasks during a deployment + 40 EC2 instances)"],
                 id="instances-take-addresses"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "fragments"), BAD_LAYOUTS)
def test_the_stack_config_is_refused_before_any_resource(
    stack_plan: Callable[..., PlanView], overrides: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(UsageProblem) as raised:
        stack_plan("dev", overrides)
    message = str(raised.value)
    assert all(fragment in message for fragment in fragments), message
    assert "Traceback" not in message


def test_three_azs_with_nat_per_az_plan_with_explicit_blocks(
    stack_plan: Callable[..., PlanView],
) -> None:
    """What awsx's own Auto layout could not do (5-6 AZs with NAT overlapped) never reaches it."""
    vpc = stack_plan("dev", {"natGateways": "OnePerAz", "availabilityZones": 3}).one(VPC)
    blocks = [block for spec in vpc["subnetSpecs"] for block in spec["cidrBlocks"]]
    assert len(blocks) == 9
    assert len(set(blocks)) == 9


@pytest.mark.parametrize(
    "cidr",
    [
        "169.254.0.0/16",  # link-local: Python calls it private
        "127.0.0.0/16",  # loopback
        "0.0.0.0/16",  # "this network"
        "240.0.0.0/16",  # reserved
        "100.64.0.0/16",  # shared address space (carrier-grade NAT), not RFC 1918
        "8.8.0.0/16",  # public
        "172.32.0.0/16",  # just past 172.16.0.0/12
    ],
)
def test_a_vpc_range_outside_rfc_1918_is_refused(cidr: str) -> None:
    with pytest.raises(v.InvalidConfig) as raised:
        v.private_cidr("alunos-api:vpcCidr", cidr)
    assert str(raised.value) == (
        f"alunos-api:vpcCidr: {cidr!r} is not valid; allowed: a private IPv4 range inside "
        "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) with a prefix from /16 to /22."
    )


@pytest.mark.parametrize(
    "cidr", ["10.0.0.0/16", "172.16.0.0/16", "172.31.252.0/22", "192.168.0.0/22"]
)
def test_rfc_1918_ranges_are_accepted(cidr: str) -> None:
    v.private_cidr("alunos-api:vpcCidr", cidr)


def test_a_small_vpc_is_fine_for_few_tasks(stack_plan: Callable[..., PlanView]) -> None:
    """dev's 2 tasks at most fit two public /27s (38 addresses) with room to spare."""
    vpc = stack_plan("dev", {"vpcCidr": "10.0.0.0/22"}).one(VPC)
    assert vpc["cidrBlock"] == "10.0.0.0/22"


def test_hybrid_counts_both_services_and_the_instances() -> None:
    autoscaling = AutoscalingSettings(
        min_count=0, max_count=10, cpu_percent=60, requests_per_target=1000
    )
    hybrid = CapacitySettings(
        mode="hybrid", spot_percent=0, on_demand_base=0, instance_type="t3.small", base_count=3
    )
    # t3.small holds one 1 GiB task (2 GiB, 90 %); 3 tasks twice over 2 zones: 3 + 3 instances.
    instances = ec2_instances(autoscaling, hybrid, 512, 1024, zones=2)
    assert instances == 6
    needed = task_addresses(autoscaling, hybrid, instances)
    assert needed.count == 2 * (10 + 3) + 6
    assert needed.reason == (
        "2 x (autoscalingMaxCount 10 + ec2BaseCount 3) tasks during a deployment + 6 EC2 instances"
    )
    fargate = replace(hybrid, mode="fargate")
    assert ec2_instances(autoscaling, fargate, 512, 1024, zones=2) == 0
    assert task_addresses(autoscaling, fargate, 0).count == 20
