"""New VPC layouts awsx (or the region) would refuse are refused by the settings first, naming the
numbers: awsx's Auto subnet allocation (pulumi-awsx awsx/ec2/subnetDistributorNew.ts) computed
as awsx computes it, and the region's available zones read by the program."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from automation.errors import UsageProblem
from infra import validation as v
from infra.resource_types import VPC
from tests.infra.conftest import PlanView

NAT = v.subnet_tiers(nat=True)
NO_NAT = v.subnet_tiers(nat=False)


def layout(cidr: str, zones: int, tiers: tuple[tuple[str, int], ...]) -> list[str]:
    return [str(subnet.network) for subnet in v.awsx_auto_layout(cidr, zones, tiers)[1]]


def test_next_subnet_is_awsx_next_netmask() -> None:
    """awsx's own cases (subnetDistributorNew.test.ts, "nextNetmask")."""
    after = v.next_subnet
    assert str(after(ipaddress.IPv4Network("10.0.0.0/16"), 17)) == "10.1.0.0/17"
    assert str(after(ipaddress.IPv4Network("10.0.0.0/17"), 16)) == "10.1.0.0/16"
    # A /20 after a /24 skips to the next /20 boundary.
    assert str(after(ipaddress.IPv4Network("10.0.0.0/24"), 20)) == "10.0.16.0/20"


def test_the_layouts_the_stacks_use() -> None:
    # dev: 10.0.0.0/16 over 2 AZs, no NAT: each AZ a /17, public then isolated.
    assert layout("10.0.0.0/16", 2, NO_NAT) == [
        "10.0.0.0/24", "10.0.1.0/24", "10.0.128.0/24", "10.0.129.0/24"]  # fmt: skip
    # With NAT the /20 private subnet is aligned, and the isolated one follows it.
    assert layout("10.0.0.0/16", 2, NAT) == [
        "10.0.0.0/24", "10.0.16.0/20", "10.0.32.0/24",
        "10.0.128.0/24", "10.0.144.0/20", "10.0.160.0/24"]  # fmt: skip
    # 3 AZs take a quarter each (2**ceil(log2(3)) blocks); the fourth stays free.
    assert layout("10.0.0.0/16", 3, NAT)[-3:] == ["10.0.128.0/24", "10.0.144.0/20", "10.0.160.0/24"]
    for zones in (2, 3, 4):
        assert v.vpc_layout_problem("10.0.0.0/16", zones, NAT) is None
    for zones in range(2, 7):
        assert v.vpc_layout_problem("10.0.0.0/16", zones, NO_NAT) is None


@pytest.mark.parametrize(
    ("cidr", "zones", "tiers", "fragments"),
    [
        # 5-6 AZs with NAT: each AZ a /19, but public /24 + aligned private /20 + isolated /24
        # reach 8,448 addresses: awsx's "subnets overlap" error. No /16 (AWS's largest) fits.
        ("10.0.0.0/16", 5, NAT, ["each a /19 (8,192 addresses)", "span 8,448 once aligned",
                                 "AZ 1's isolated 10.0.32.0/24 would overlap AZ 2's public "
                                 "10.0.32.0/24", "at most 4 AZs with 10.0.0.0/16",
                                 "no VPC up to /16 (the largest AWS allows) fits 5 AZs"]),
        ("10.0.0.0/16", 6, NAT, ["at most 4 AZs", "fits 6 AZs"]),
        # Too small: awsx's "Subnets are too large for VPC".
        ("10.0.0.0/24", 2, NO_NAT, ["each a /25 (128 addresses), fewer than its subnets "
                                    "(public /24, isolated /24) need: 512",
                                    "a larger VPC for 2 AZs, 10.0.0.0/22 or more"]),
        ("10.0.0.0/18", 2, NAT, ["would overlap", "a larger VPC for 2 AZs, 10.0.0.0/17 or more"]),
        ("172.16.4.0/22", 3, NO_NAT, ["at most 2 AZs with 172.16.4.0/22",
                                      "172.16.0.0/21 or more"]),
    ],
)  # fmt: skip
def test_layouts_awsx_refuses(
    cidr: str, zones: int, tiers: tuple[tuple[str, int], ...], fragments: list[str]
) -> None:
    with pytest.raises(v.InvalidConfig) as raised:
        v.vpc_layout("key", cidr, zones, tiers)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_every_accepted_layout_is_disjoint_and_inside_the_vpc() -> None:
    """What the check lets through, awsx lays out without overlap, inside the VPC."""
    for prefix in range(v.VPC_PREFIX_LENGTH.low, v.VPC_PREFIX_LENGTH.high + 1):
        vpc = ipaddress.IPv4Network(f"10.0.0.0/{prefix}")
        for zones in range(v.AVAILABILITY_ZONES.low, v.AVAILABILITY_ZONES.high + 1):
            for tiers in (NAT, NO_NAT):
                if v.vpc_layout_problem(str(vpc), zones, tiers) is not None:
                    continue
                nets = [ipaddress.IPv4Network(n) for n in layout(str(vpc), zones, tiers)]
                assert all(n.subnet_of(vpc) for n in nets)
                assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_the_program_gives_awsx_the_subnets_the_check_assumes(
    stack_plan: Callable[..., PlanView],
) -> None:
    vpc = stack_plan("dev", {"natGateways": "OnePerAz"}).one(VPC)
    assert vpc["subnetStrategy"] == "Auto"
    specs = [(spec["type"].lower(), spec["cidrMask"]) for spec in vpc["subnetSpecs"]]
    assert tuple(specs) == NAT
    dev = stack_plan("dev").one(VPC)
    assert tuple((s["type"].lower(), s["cidrMask"]) for s in dev["subnetSpecs"]) == NO_NAT


BAD_LAYOUTS = [
    pytest.param({"natGateways": "OnePerAz", "availabilityZones": 5},
                 ["alunos-api:vpcCidr with alunos-api:availabilityZones and alunos-api:natGateways",
                  "would overlap", "at most 4 AZs"], id="5-azs-nat"),
    pytest.param({"natGateways": "Single", "availabilityZones": 6}, ["at most 4 AZs"], id="6-azs-nat"),
    pytest.param({"vpcCidr": "10.0.0.0/24"}, ["fewer than its subnets", "10.0.0.0/22 or more"],
                 id="cidr-too-small"),
    # The mock region has 3 zones (us-east-2's a, b, c); awsx would fail with its own message.
    pytest.param({"availabilityZones": 4},
                 ["alunos-api:availabilityZones: 4 but us-east-2 has 3 available "
                  "(us-east-2a, us-east-2b, us-east-2c); allowed: 2..3 in us-east-2"],
                 id="more-azs-than-the-region"),
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
