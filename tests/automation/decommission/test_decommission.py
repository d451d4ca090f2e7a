"""Decommissioning a legacy fleet on the moto server: plan, two phases, re-runs, refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from automation.decommission.command import Request, run
from automation.decommission.plan import Options, Status
from automation.decommission.report import Report
from infra import outputs as names
from tests.automation.conftest import FakeService, unique
from tests.automation.decommission.legacy_fleet import (
    ApiCalls,
    Clock,
    Fleet,
    fail_call,
    fast_environment,
    healthy_gates,
    new_session,
    project,
    slow_draining,
    watch_releases,
)

PREFIX = "alunos-api:decommission:"


@dataclass
class Legacy:
    """The fleet of one test: the instances by role, and how to run the decommission on it."""

    aws: boto3.Session
    fleet: Fleet
    repo: Path
    gates: dict[str, str]
    clock: Clock = field(default_factory=Clock)
    ids: dict[str, str] = field(default_factory=dict)
    said: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.calls = ApiCalls.on(self.aws)
        self.draining = slow_draining(self.aws)
        self.releases = watch_releases(self.aws)

    def run(self, *, execute: bool = False, **options: Any) -> Report:
        """One run; afterwards `calls` holds the AWS calls it made."""
        self.calls.clear()
        request = Request(
            stack="dev",
            repo=self.repo,
            execute=execute,
            options=Options(**options),
            gate_flags=self.gates,
        )
        return run(request, fast_environment(self.aws, self.clock, said=self.said))


def by_id(report: Report) -> dict[str, Any]:
    return {item.instance_id: item for item in report.instances}


def steps(item: Any) -> list[str]:
    return [action.step for action in item.actions]


@pytest.fixture
def aws(moto_endpoint: str) -> boto3.Session:
    return new_session()


@pytest.fixture
def legacy(aws: boto3.Session, service: FakeService, tmp_path: Path) -> Legacy:
    fleet = Fleet(aws)
    return Legacy(
        aws,
        fleet,
        project(tmp_path / "repo", legacy_tags=fleet.selector_tags),
        healthy_gates(aws, service),
    )


@pytest.fixture
def fleet_of_every_kind(legacy: Legacy) -> Legacy:
    """web: an instance target with an Elastic IP; api: an ip target; two Auto Scaling members;
    a protected instance; one tagged DoNotDecommission; and prod's instance in web's group."""
    fleet, ids = legacy.fleet, legacy.ids
    ids["web"] = fleet.instance("web-1")
    ids["eip"] = fleet.elastic_ip(ids["web"])
    ids["tg"] = fleet.target_group("instance")
    fleet.register(ids["tg"], ids["web"])
    ids["prod"] = fleet.instance("web-prod", environment=unique("prod"))
    fleet.register(ids["tg"], ids["prod"])
    ids["api"] = fleet.instance("api-1")
    ids["ip_tg"] = fleet.target_group("ip")
    fleet.register(ids["ip_tg"], fleet.private_ip(ids["api"]))
    ids["group"], members = fleet.auto_scaling_group(2, min_size=2)
    ids["member1"], ids["member2"] = members
    ids["protected"] = fleet.instance("protected-1")
    fleet.protect(ids["protected"], termination=True)
    ids["kept"] = fleet.instance("kept-1", extra={"DoNotDecommission": "ask Ana first"})
    return legacy


def test_the_dry_run_plans_every_instance_and_changes_nothing(fleet_of_every_kind):
    legacy = fleet_of_every_kind
    ids = legacy.ids
    report = legacy.run()
    items = by_id(report)

    assert legacy.calls.changes() == []
    assert ids["prod"] not in items  # another environment: never even reported
    assert set(items) == {ids[k] for k in ("web", "api", "member1", "member2", "protected", "kept")}
    assert steps(items[ids["web"]]) == ["deregister", "backup", "stop"]
    assert "Elastic IP" in items[ids["web"]].reason
    assert "kept until then" in items[ids["web"]].reason
    assert steps(items[ids["api"]]) == ["deregister", "backup", "stop"]
    detach = items[ids["member1"]].actions[0]
    assert detach.step == "detach"
    assert "MinSize 2 lowered to 1" in detach.detail
    assert "scaled to zero once the last leaves" in detach.detail
    for key in ("web", "api", "member1", "member2"):
        assert items[ids[key]].status is Status.PLANNED
        assert not any(action.done for action in items[ids[key]].actions)
    assert items[ids["protected"]].status is Status.REFUSED
    assert "--force-protected" in items[ids["protected"]].reason
    assert items[ids["kept"]].status is Status.SKIPPED
    assert "DoNotDecommission" in items[ids["kept"]].reason
    assert report.gates is not None
    assert report.gates.ok
    assert report.exit_code == 1  # the protected instance is refused
    for key in ("web", "api", "member1", "member2", "protected", "kept", "prod"):
        assert legacy.fleet.state(ids[key]) == "running"


def test_execute_stops_then_a_later_run_terminates_after_the_retention(fleet_of_every_kind):
    legacy = fleet_of_every_kind
    fleet, ids = legacy.fleet, legacy.ids
    stopping = ("web", "api", "member1", "member2")

    first = by_id(legacy.run(execute=True))

    for key in stopping:
        item = first[ids[key]]
        assert item.status is Status.DONE, item.reason
        assert all(action.done for action in item.actions)
        assert fleet.state(ids[key]) == "stopped"
        tags = fleet.tags(ids[key])
        assert tags[PREFIX + "step"] == "stopped"
        assert tags[PREFIX + "stopped-at"] == legacy.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        [image] = fleet.backups(ids[key])
        assert tags[PREFIX + "backup"] == image["ImageId"]
        image_tags = {t["Key"]: t["Value"] for t in image["Tags"]}
        assert image_tags[PREFIX + "date"] == legacy.clock.now().strftime("%Y-%m-%d")
        assert all(t[PREFIX + "instance-id"] == ids[key] for t in fleet.snapshot_tags(image))
    # Out of traffic, drained (the waiter saw "draining" twice), prod's target still served.
    assert fleet.targets(ids["tg"]) == {ids["prod"]: "healthy"}
    assert legacy.draining[f"{ids['web']}:8080"] == 2
    assert fleet.targets(ids["ip_tg"]) == {}
    # The group lost its members without replacing them, and cannot launch legacy ones again.
    assert fleet.group(ids["group"]) == {"min": 0, "max": 0, "desired": 0, "members": []}
    assert "lowered its MinSize from 2 to 1" in first[ids["member1"]].actions[0].detail
    assert "scaled to zero" in first[ids["member2"]].actions[0].detail
    # The Elastic IP stays with the stopped instance until it is terminated.
    assert fleet.address(ids["eip"])["InstanceId"] == ids["web"]
    # Refused, kept and foreign instances are untouched.
    assert first[ids["protected"]].status is Status.REFUSED
    for key in ("protected", "kept", "prod"):
        assert fleet.state(ids[key]) == "running"
        assert not [k for k in fleet.tags(ids[key]) if k.startswith(PREFIX)]
    assert fleet.protection(ids["protected"]) == (True, False)

    # A second run the same day: nothing new.
    legacy.clock.advance(days=6)
    second = by_id(legacy.run(execute=True))
    assert legacy.calls.changes() == []
    for key in stopping:
        assert second[ids[key]].status is Status.SKIPPED
        assert "retained until" in second[ids[key]].reason
        assert len(fleet.backups(ids[key])) == 1

    # Once the retention has passed: addresses released (disassociated first), terminated.
    legacy.clock.advance(days=1, seconds=1)
    third = by_id(legacy.run(execute=True))
    for key in stopping:
        assert third[ids[key]].status is Status.DONE, third[ids[key]].reason
        assert fleet.state(ids[key]) == "terminated"
    assert steps(third[ids["web"]]) == ["release-address", "terminate"]
    assert legacy.releases == [(ids["eip"], False)]
    assert fleet.address(ids["eip"]) is None
    assert fleet.state(ids["prod"]) == "running"
    assert fleet.targets(ids["tg"]) == {ids["prod"]: "healthy"}

    fourth = by_id(legacy.run(execute=True))
    assert legacy.calls.changes() == []
    assert fourth[ids["web"]].status is Status.SKIPPED
    assert fourth[ids["web"]].reason == "already terminated: nothing to do"


def test_force_protected_removes_the_protection_and_says_so(legacy):
    fleet = legacy.fleet
    guarded = fleet.instance("guarded")
    fleet.protect(guarded, termination=True, stop=True)

    refused = by_id(legacy.run(execute=True))[guarded]
    assert refused.status is Status.REFUSED
    assert "termination protection" in refused.reason
    assert "stop protection" in refused.reason
    assert fleet.protection(guarded) == (True, True)
    assert fleet.state(guarded) == "running"

    forced = by_id(legacy.run(execute=True, force_protected=True, terminate_now=True))[guarded]
    assert forced.status is Status.DONE, forced.reason
    assert forced.actions[0].step == "remove-protection"
    assert "removed termination protection" in forced.actions[0].detail
    assert "stop protection" in forced.actions[0].detail
    assert fleet.state(guarded) == "terminated"


def test_terminate_now_does_both_phases_in_one_run(legacy):
    fleet = legacy.fleet
    web = fleet.instance("web")
    allocation = fleet.elastic_ip(web)
    report = legacy.run(execute=True, terminate_now=True)
    item = by_id(report)[web]
    assert item.status is Status.DONE
    assert steps(item) == ["backup", "stop", "release-address", "terminate"]
    assert legacy.releases == [(allocation, False)]
    assert fleet.address(allocation) is None
    assert fleet.state(web) == "terminated"
    assert len(fleet.backups(web)) == 1
    assert report.exit_code == 0


def test_a_classic_load_balancer_member_is_deregistered_and_drained(legacy):
    fleet = legacy.fleet
    old = fleet.instance("old")
    balancer = fleet.classic_load_balancer(old)
    item = by_id(legacy.run(execute=True))[old]
    assert item.status is Status.DONE, item.reason
    assert item.actions[0].detail == f"deregistered from classic load balancer {balancer}; drained"
    assert fleet.classic_members(balancer) == []
    assert legacy.draining[old] == 3  # two "deregistration in progress", then OutOfService


def test_an_ip_target_in_another_vpc_with_the_same_address_is_not_ours(legacy, aws):
    fleet = legacy.fleet
    api = fleet.instance("api")
    ours = fleet.target_group("ip")
    fleet.register(ours, fleet.private_ip(api))
    elsewhere = fleet.target_group(
        "ip", vpc_id=aws.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    )
    fleet.register(elsewhere, fleet.private_ip(api))

    item = by_id(legacy.run(execute=True))[api]
    assert [a.step for a in item.actions].count("deregister") == 1
    assert fleet.targets(ours) == {}
    assert fleet.targets(elsewhere) == {fleet.private_ip(api): "healthy"}


def test_a_cloud_error_fails_that_instance_only_and_the_next_run_resumes(legacy):
    fleet = legacy.fleet
    first, second = fleet.instance("one"), fleet.instance("two")
    denied = {"on": True}
    fail_call(
        legacy.aws,
        "StopInstances",
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
        when=lambda params: denied["on"] and params["InstanceIds"] == [second],
    )

    report = legacy.run(execute=True)
    items = by_id(report)
    assert report.exit_code == 1
    assert items[first].status is Status.DONE
    assert items[second].status is Status.FAILED
    assert items[second].reason == (
        "stop failed: UnauthorizedOperation: You are not authorized to perform this operation."
    )
    assert steps(items[second]) == ["backup"]  # what was done before it failed
    assert fleet.state(second) == "running"
    assert fleet.tags(second)[PREFIX + "step"] == "backed-up"

    denied["on"] = False
    resumed = by_id(legacy.run(execute=True))[second]
    assert resumed.status is Status.DONE
    assert steps(resumed) == ["stop"]  # the backup is not taken twice
    assert legacy.calls.count("CreateImage") == 0
    assert fleet.state(second) == "stopped"


def test_an_instance_started_again_after_its_stop_starts_over(legacy):
    fleet = legacy.fleet
    web = fleet.instance("web")
    legacy.run(execute=True)
    fleet.ec2.start_instances(InstanceIds=[web])  # someone needed it back
    legacy.clock.advance(days=10)

    item = by_id(legacy.run(execute=True))[web]
    assert steps(item) == ["reset-progress", "backup", "stop"]
    assert item.status is Status.DONE
    assert fleet.state(web) == "stopped"  # not terminated: the retention counts from this stop
    assert fleet.tags(web)[PREFIX + "stopped-at"] == legacy.clock.now().strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert len(fleet.backups(web)) == 2


def test_gates_failing_refuse_and_change_nothing(legacy, service):
    fleet = legacy.fleet
    web = fleet.instance("web")
    before = fleet.tags(web)
    service.version = "1.4.1"  # the old version still answers: the deploy did not take

    report = legacy.run(execute=True)
    item = by_id(report)[web]
    assert report.exit_code == 1
    assert not report.proceed
    assert item.status is Status.REFUSED
    assert item.reason.startswith("the gates failed: nothing was changed")
    assert not any(action.done for action in item.actions)
    assert "reports version '1.4.1', expected '1.4.2'" in report.problem()
    assert legacy.calls.changes() == []
    assert fleet.state(web) == "running"
    assert fleet.tags(web) == before


def test_an_unknown_instance_id_is_reported_with_the_found_ones(legacy):
    fleet = legacy.fleet
    web = fleet.instance("web")
    ghost = "i-0123456789abcdef0"
    request = Request(
        stack="dev",
        repo=legacy.repo,
        instance_ids=(web, ghost),
        gate_flags=legacy.gates,
    )
    report = run(request, fast_environment(legacy.aws, legacy.clock))
    items = by_id(report)
    assert items[web].status is Status.PLANNED
    assert items[web].selected_by == ("id",)  # flags replace the config's tags
    assert items[ghost].status is Status.SKIPPED
    assert "no such instance" in items[ghost].reason


def test_gate_identifiers_come_from_the_stack_outputs(legacy):
    from tests.automation.fakes import FakeStack, outputs_for

    web = legacy.fleet.instance("web")
    stack = FakeStack(stack_outputs=outputs_for(legacy.gates))
    request = Request(stack="dev", repo=legacy.repo, gate_flags={})
    env = fast_environment(legacy.aws, legacy.clock, open_stack=lambda: stack)
    report = run(request, env)
    assert report.gates is not None
    assert report.gates.ok
    assert by_id(report)[web].status is Status.PLANNED


def test_a_flag_overrides_a_stack_output(legacy, refused_url):
    from tests.automation.fakes import FakeStack, outputs_for

    legacy.fleet.instance("web")
    stack = FakeStack(stack_outputs=outputs_for(legacy.gates))
    request = Request(stack="dev", repo=legacy.repo, gate_flags={names.SERVICE_URL: refused_url})
    report = run(request, fast_environment(legacy.aws, legacy.clock, open_stack=lambda: stack))
    assert report.gates is not None
    assert {c.name for c in report.gates.failures()} == {"health", "version"}


def test_a_failing_region_wide_scan_stops_the_run_before_any_change(legacy):
    from automation.errors import AutomationError

    web = legacy.fleet.instance("web")
    fail_call(
        legacy.aws,
        "DescribeLoadBalancers",
        "AccessDenied",
        "User is not authorized to perform: elasticloadbalancing:DescribeLoadBalancers",
    )
    with pytest.raises(AutomationError) as raised:
        legacy.run(execute=True)
    assert str(raised.value) == (
        "listing classic load balancers failed: AccessDenied: User is not authorized to perform: "
        "elasticloadbalancing:DescribeLoadBalancers; nothing was changed"
    )
    assert raised.value.exit_code == 1
    assert legacy.calls.changes() == []
    assert legacy.fleet.state(web) == "running"


def test_the_alternate_target_group_and_the_health_path_come_from_the_stack_outputs(
    legacy, aws, service
):
    """The gates read what verification reads: the second target group of a strategy that
    shifts traffic (the tasks sit in it after an odd number of releases), the app's own health
    path."""
    from tests.automation.conftest import make_target_group
    from tests.automation.fakes import FakeStack, outputs_for

    web = legacy.fleet.instance("web")
    service.health_path = "/healthz"
    outputs = {
        **legacy.gates,
        names.TARGET_GROUP_ARN: make_target_group(aws),  # empty: the alternate one serves
        names.ALTERNATE_TARGET_GROUP_ARN: legacy.gates[names.TARGET_GROUP_ARN],
        names.HEALTH_CHECK_PATH: "/healthz",
    }
    stack = FakeStack(stack_outputs=outputs_for(outputs))
    request = Request(stack="dev", repo=legacy.repo, gate_flags={})
    report = run(request, fast_environment(legacy.aws, legacy.clock, open_stack=lambda: stack))
    assert report.gates is not None
    assert report.gates.ok, report.gates.to_json()
    assert by_id(report)[web].status is Status.PLANNED


def hybrid_stack(legacy: Legacy, aws: boto3.Session, base_running: bool) -> Any:
    """Capacity hybrid: the EC2 base service and the Fargate one, idle at 0 between bursts
    (its scalable target allows 0..4 tasks), both listed in serviceNames."""
    from tests.automation.fakes import FakeStack, outputs_for

    cluster, fargate = legacy.gates[names.CLUSTER_NAME], legacy.gates[names.SERVICE_NAME]
    ecs = aws.client("ecs")
    ecs.update_service(cluster=cluster, service=fargate, desiredCount=0)
    family = ecs.describe_services(cluster=cluster, services=[fargate])["services"][0][
        "taskDefinition"
    ]
    base = unique("base")
    ecs.create_service(cluster=cluster, serviceName=base, taskDefinition=family, desiredCount=2)
    if base_running:
        ecs.update_service(cluster=cluster, service=base, desiredCount=2)
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{cluster}/{fargate}",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=0,
        MaxCapacity=4,
    )
    outputs = {**legacy.gates, names.SERVICE_NAMES: [base, fargate]}
    return FakeStack(stack_outputs=outputs_for(outputs))


def test_a_hybrid_stack_whose_fargate_service_idles_at_zero_passes_the_gates(legacy, aws):
    web = legacy.fleet.instance("web")
    stack = hybrid_stack(legacy, aws, base_running=True)
    request = Request(stack="dev", repo=legacy.repo, gate_flags={})
    report = run(request, fast_environment(legacy.aws, legacy.clock, open_stack=lambda: stack))
    assert report.gates is not None
    steady = [c for c in report.gates.checks if c.name == "ecs-service-steady"]
    assert len(steady) == 2
    assert report.gates.ok, report.gates.to_json()
    assert by_id(report)[web].status is Status.PLANNED


def test_a_hybrid_stack_with_no_service_serving_is_refused(legacy, aws):
    legacy.fleet.instance("web")
    stack = hybrid_stack(legacy, aws, base_running=False)
    request = Request(stack="dev", repo=legacy.repo, gate_flags={})
    report = run(request, fast_environment(legacy.aws, legacy.clock, open_stack=lambda: stack))
    assert report.gates is not None
    assert not report.gates.ok
    base = report.gates.checks[0]
    assert (base.name, base.ok) == ("ecs-service-steady", False), report.gates.to_json()
    assert "0 of 2 tasks running" in base.detail
