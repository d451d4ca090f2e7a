"""What a config change would replace on a deployed stack, and in which order things are created:
the program keeps existing subnets and the target group where they are, and the service waits
for what its tasks need."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace

import pytest

from infra import resource_types as types
from infra.database import Database
from infra.load_balancer import TARGET_GROUP_PORT
from infra.network import NewVpcArgs, subnet_layout
from infra.validation import InvalidConfig
from tests.infra.conftest import PlanView
from tests.infra.test_components import DATABASE


def cidrs(view: PlanView) -> dict[str, list[str]]:
    """Each subnet tier's CIDR blocks (AZ order), as the plan hands them to awsx."""
    specs = view.one(types.VPC)["subnetSpecs"]
    return {spec["type"]: spec["cidrBlocks"] for spec in specs}


def test_adding_nat_or_an_az_renumbers_no_existing_subnet(
    dev: PlanView, stack_plan: Callable[..., PlanView]
) -> None:
    before = cidrs(dev)  # no NAT, 2 AZs: public and isolated subnets only
    assert set(before) == {"Public", "Isolated"}
    single = cidrs(stack_plan("dev", {"natGateways": "Single"}))
    assert (single["Public"], single["Isolated"]) == (before["Public"], before["Isolated"])
    assert len(single["Private"]) == 2
    wider = cidrs(stack_plan("dev", {"natGateways": "OnePerAz", "availabilityZones": 3}))
    for tier, blocks in single.items():
        assert wider[tier][:2] == blocks  # the third AZ only adds its own
    every = [ipaddress.IPv4Network(block) for blocks in wider.values() for block in blocks]
    vpc = ipaddress.IPv4Network(dev.one(types.VPC)["cidrBlock"])
    assert all(block.subnet_of(vpc) for block in every)
    assert not any(a.overlaps(b) for i, a in enumerate(every) for b in every[i + 1 :])


@pytest.mark.parametrize(("cidr", "public_prefix"), [("10.0.0.0/16", 21), ("10.8.0.0/22", 27)])
def test_each_az_owns_a_fixed_eighth_of_the_vpc(cidr: str, public_prefix: int) -> None:
    layout = subnet_layout(NewVpcArgs(availability_zones=6, cidr_block=cidr, nat_gateways="None"))
    vpc = ipaddress.IPv4Network(cidr)
    slots = list(vpc.subnets(prefixlen_diff=3))[:6]  # 8 slots, 2 spare
    for tier, blocks in layout.items():
        assert len(blocks) == 6
        for slot, block in zip(slots, blocks, strict=True):
            assert ipaddress.IPv4Network(block).subnet_of(slot), (tier, block)
    # The smallest VPC still gives the load balancer the /27 subnets it needs.
    assert {ipaddress.IPv4Network(b).prefixlen for b in layout["Public"]} == {public_prefix}


def test_a_container_port_change_is_a_rolling_deployment_into_the_same_target_group(
    dev: PlanView, stack_plan: Callable[..., PlanView]
) -> None:
    moved = stack_plan("dev", {"containerPort": 9000})
    assert moved.one(types.TARGET_GROUP) == dev.one(types.TARGET_GROUP)
    assert dev.one(types.TARGET_GROUP)["port"] == TARGET_GROUP_PORT
    assert moved.one(types.TARGET_GROUP)["healthCheck"]["port"] == "traffic-port"
    (balancer,) = moved.one(types.SERVICE)["loadBalancers"]
    assert balancer["containerPort"] == 9000
    # The rules that carry the port are replaced (created first, the old ones deleted at the end
    # of the update), never modified under the running tasks.
    for type_, name in ((types.INGRESS_RULE, "in-alb"), (types.EGRESS_RULE, "alb-out")):
        rule = moved.resource(type_, f"alunos-dev-{name}")
        assert rule.inputs["fromPort"] == rule.inputs["toPort"] == 9000
        assert set(rule.replace_on_changes) == {"fromPort", "toPort"}


def test_the_service_waits_for_its_security_group_rules_and_deployment_alarms(
    dev: PlanView, prod: PlanView
) -> None:
    for view in (dev, prod):
        prefix = f"alunos-{view.plan.stack}-"
        service = view.resource(types.SERVICE)
        rules = [
            rule
            for type_ in (types.INGRESS_RULE, types.EGRESS_RULE)
            for rule in view.of_type(type_)
            if rule.parent == service.parent  # the service component's, not the load balancer's
        ]
        assert {rule.name.removeprefix(prefix) for rule in rules} == {
            "in-alb",  # load balancer -> tasks, on the tasks' group
            "alb-out",  # the same, on the load balancer's group
            "out-https",  # tasks -> ECR, logs, secrets
            "out-db",  # tasks -> database
            "db-in",  # the same, on the database's group
        }
        assert {rule.urn for rule in rules} <= set(service.dependencies)
        alarms = {a.name.removeprefix(prefix): a for a in view.of_type(types.METRIC_ALARM)}
        deployment = [alarms["http-5xx"], alarms["unhealthy"]]
        assert {alarm.urn for alarm in deployment} <= set(service.dependencies)
        assert [a.inputs["name"] for a in deployment] == service.inputs["alarms"]["alarmNames"]
        # No cycle: the deployment alarms watch the load balancer only; the CPU and memory
        # alarms, which name the service, come after it.
        for alarm in deployment:
            assert service.urn not in alarm.dependencies
        for role in ("cpu-high", "memory-high"):
            assert service.urn in alarms[role].dependencies


@pytest.mark.parametrize(
    ("name", "engine_version", "fragment"),
    [
        ("db", "16.3", "engine_version: '16.3' is not valid; allowed: a major version"),
        ("db_1", "16", "it names the database's final snapshot"),
    ],
)
def test_database_refuses_what_would_break_later(
    name: str, engine_version: str, fragment: str
) -> None:
    with pytest.raises(InvalidConfig, match=fragment):
        Database(name, replace(DATABASE, engine_version=engine_version))
