"""Decommission with a domain: refused while the name still sends users to EC2, allowed once the
legacy record has had weight 0 long enough and the instances went quiet (moto, real cutover runs)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from automation.cli import Environment, main
from automation.cutover.bake import Clock as BakeClock
from automation.cutover.command import CutoverTiming
from infra import outputs as names
from tests.automation.conftest import DOMAIN, FakeService, unique
from tests.automation.cutover.site import FakeTime, Site
from tests.automation.decommission.legacy_fleet import (
    Clock,
    Fleet,
    cli_environment,
    fail_call,
    healthy_gates,
    new_session,
    project,
)


@pytest.fixture
def aws(moto_endpoint: str) -> boto3.Session:
    return new_session()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def site(aws: boto3.Session) -> Site:
    """The name the TLS service's certificate names, in a zone of its own (Route 53 allows
    several zones of one domain)."""
    return Site(aws, domain=DOMAIN.split(".", 1)[1])


@pytest.fixture
def repo(tmp_path: Path, aws: boto3.Session, site: Site) -> Path:
    fleet = Fleet(aws)
    path = project(tmp_path / "repo", legacy_tags=fleet.selector_tags)
    fleet.instance("web-1")
    return path


@pytest.fixture
def instance(repo: Path, aws: boto3.Session) -> str:
    found = aws.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": ["web-1"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )
    return str(found["Reservations"][-1]["Instances"][0]["InstanceId"])


@pytest.fixture
def cutover_time(clock: Clock) -> FakeTime:
    """The cutover runs an hour before the decommission clock: its moves happened in the past."""
    return FakeTime(start=clock.moment - timedelta(hours=1))


@pytest.fixture
def env(aws: boto3.Session, clock: Clock, cutover_time: FakeTime) -> Environment:
    timing = CutoverTiming(
        clock=BakeClock(15, cutover_time.sleep, cutover_time.monotonic),
        now=cutover_time.now,
        route53_wait_delay=0,
    )
    return replace(cli_environment(aws, clock), cutover_timing=timing)


def gate_flags(aws: boto3.Session, service: FakeService, site: Site) -> list[str]:
    gates = healthy_gates(aws, service)
    return [
        "--cluster", gates[names.CLUSTER_NAME],
        "--service", gates[names.SERVICE_NAME],
        "--target-group-arn", gates[names.TARGET_GROUP_ARN],
        "--url", f"https://{DOMAIN}",
        "--expected-version", gates[names.VERSION],
        "--alb-dns-name", service.url.removeprefix("https://"),
        "--zone-id", site.zone_id,
        "--record", site.record,
    ]  # fmt: skip


def period_starts(now: datetime, hours: int = 2) -> list[datetime]:
    """The 5-minute periods of the `hours` before `now`, as EC2 basic monitoring stamps them."""
    end = datetime.fromtimestamp(now.timestamp() - now.timestamp() % 300, UTC)
    return [end - timedelta(seconds=300 * k) for k in range(1, hours * 12 + 1)]


def network_in(aws: boto3.Session, instance: str, now: datetime, per_period: float) -> None:
    """Basic monitoring as EC2 publishes it: one NetworkIn point per 5-minute period."""
    put_points(
        aws,
        "AWS/EC2",
        "NetworkIn",
        [{"Name": "InstanceId", "Value": instance}],
        [(at, per_period) for at in period_starts(now)],
        unit="Bytes",
    )


def put_points(
    aws: boto3.Session,
    namespace: str,
    metric: str,
    dimensions: list[dict[str, str]],
    points: list[tuple[datetime, float]],
    unit: str = "Count",
) -> None:
    aws.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": dimensions,
                "Timestamp": at,
                "Value": value,
                "Unit": unit,
            }
            for at, value in points
        ],
    )


def decommission(env: Environment, repo: Path, flags: list[str], capsys: Any) -> tuple[int, Any]:
    code = main(["decommission", "--stack", "dev", "--repo", str(repo), *flags, "--json"], env)
    captured = capsys.readouterr()
    assert captured.out, captured.err
    return code, json.loads(captured.out)


def cutover(env: Environment, repo: Path, site: Site, capsys: Any, *args: str) -> int:
    argv = ["cutover", "--stack", "dev", "--repo", str(repo), *site.flags(), *args]
    code = main(argv, env)
    capsys.readouterr()  # its report is not the decommission's
    return code


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["gates"]["checks"]}


def test_refused_while_users_reach_ec2_then_allowed(
    aws, repo, site, instance, tls_service, env, clock, cutover_time, capsys
):
    flags = gate_flags(aws, tls_service, site)
    network_in(aws, instance, clock.moment, 2_000)

    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    assert not checks(report)["legacy-record"]["ok"]
    assert "still answers only with EC2" in checks(report)["legacy-record"]["detail"]
    assert checks(report)["health"]["ok"], checks(report)["health"]  # the ALB, TLS for the domain

    assert cutover(env, repo, site, capsys, "--to", "50", "--execute") == 0
    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    assert "still sends 50 % to EC2" in checks(report)["legacy-record"]["detail"]
    assert all(i["status"] == "refused" for i in report["instances"])

    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0
    code, report = decommission(env, repo, flags, capsys)
    assert code == 0, report["gates"]
    assert checks(report)["legacy-record"]["ok"]
    assert checks(report)["legacy-traffic"]["ok"]
    assert "2000 NetworkIn bytes" in checks(report)["legacy-traffic"]["detail"]
    assert [i["status"] for i in report["instances"]] == ["planned"]


def test_weight_zero_must_have_lasted_and_the_instances_gone_quiet(
    aws, repo, site, instance, tls_service, env, clock, cutover_time, capsys
):
    flags = gate_flags(aws, tls_service, site)
    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0
    since = cutover_time.start + timedelta(seconds=300)  # after the TTL wait
    clock.moment = since + timedelta(seconds=100)
    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    assert "for 100 s only" in checks(report)["legacy-record"]["detail"]

    # Complete data lags 10 minutes: the first 5-minute period after the change is judged then.
    clock.moment = since + timedelta(seconds=1500)
    network_in(aws, instance, clock.moment, 5_000_000)
    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    assert checks(report)["legacy-record"]["ok"]
    detail = checks(report)["legacy-traffic"]["detail"]
    assert f"{instance}: 5000000 NetworkIn bytes (at most 262144)" in detail


def test_no_metrics_yet_is_not_a_pass(aws, repo, site, instance, tls_service, env, capsys):
    flags = gate_flags(aws, tls_service, site)
    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0
    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    assert "no NetworkIn bytes data" in checks(report)["legacy-traffic"]["detail"]


def test_a_finished_cutover_must_also_have_been_quiet_long_enough(
    aws, repo, site, instance, tls_service, env, clock, cutover_time, capsys
):
    """`--finish` right after the bake removes the legacy record minutes after its weight went
    to 0: the record being gone is not yet `--quiet-for` seconds of weight 0."""
    flags = [*gate_flags(aws, tls_service, site), "--quiet-for", "1200"]
    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0
    assert cutover(env, repo, site, capsys, "--finish", "--execute") == 0
    assert "legacy" not in site.records()
    since = cutover_time.start + timedelta(seconds=300)  # after the TTL wait
    clock.moment = cutover_time.now() + timedelta(seconds=60)
    held = (clock.moment - since).total_seconds()
    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    detail = checks(report)["legacy-record"]["detail"]
    assert f"the legacy weight has been 0 for {held:.0f} s only" in detail, detail
    assert "1200 s are needed" in detail

    clock.moment = since + timedelta(seconds=1200)
    code, report = decommission(env, repo, flags, capsys)
    assert checks(report)["legacy-record"]["ok"], checks(report)["legacy-record"]
    assert "since" in checks(report)["legacy-record"]["detail"]


def at(moment: datetime, now: datetime) -> str:
    """A time to run again after, as people read it: the date only when it is another day's
    (these tests run at any hour, the ones near midnight included)."""
    same_day = moment.date() == now.date()
    return f"{moment:%H:%M}Z" if same_day else f"{moment:%Y-%m-%d %H:%M}Z"


def complete_window(now: datetime) -> tuple[datetime, datetime]:
    """The 5-minute period whose data is complete at `now`: it ended 10 minutes ago or more."""
    end = period_starts(now - timedelta(seconds=600), hours=1)[0] + timedelta(seconds=300)
    return end - timedelta(seconds=300), end


def test_a_fresh_point_is_not_a_complete_window(
    aws, repo, site, instance, tls_service, env, clock, capsys
):
    """EC2 publishes NetworkIn per 5 minutes, late: a point stamped two minutes ago is not a
    judged period, and the report says when the next one is complete."""
    flags = gate_flags(aws, tls_service, site)
    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0
    dimensions = [{"Name": "InstanceId", "Value": instance}]
    put_points(
        aws, "AWS/EC2", "NetworkIn", dimensions, [(clock.moment - timedelta(seconds=120), 10)]
    )
    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    start, end = complete_window(clock.moment)
    detail = checks(report)["legacy-traffic"]["detail"]
    assert detail == (
        f"{instance}: no NetworkIn bytes data for {start:%H:%M}–{end:%H:%M}Z yet (EC2 publishes "
        "a point every 5 minutes, up to 10 minutes late): run again after "
        f"{at(end + timedelta(seconds=900), clock.moment)}"
    )


def test_traffic_from_before_the_legacy_weight_went_to_0_is_not_judged(
    aws, repo, site, instance, tls_service, env, clock, cutover_time, capsys
):
    flags = gate_flags(aws, tls_service, site)
    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0
    since = cutover_time.start + timedelta(seconds=300)  # after the TTL wait
    clock.moment = since + timedelta(seconds=600)
    network_in(aws, instance, clock.moment, 100)
    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    assert checks(report)["legacy-record"]["ok"]
    detail = checks(report)["legacy-traffic"]["detail"]
    _, end = complete_window(clock.moment)
    ready = complete_window(since + timedelta(seconds=300 + 600 + 299))[1] + timedelta(seconds=600)
    assert detail.startswith(
        f"not enough data yet: the legacy weight went to 0 at {since:%H:%M:%S}Z"
    )
    assert f"complete data ends at {end:%H:%M}Z" in detail
    assert detail.endswith(f"run again after {at(ready, clock.moment)}")

    clock.moment = ready
    code, report = decommission(env, repo, flags, capsys)
    assert code == 0, report["gates"]
    assert f"{instance}: 100 NetworkIn bytes over" in checks(report)["legacy-traffic"]["detail"]


def test_no_request_count_point_means_no_request_flowed(
    aws, repo, site, instance, tls_service, env, clock, capsys
):
    """A load balancer reports RequestCount only while requests flow: once traffic has left
    there is no point at all, and that is the pass, not a lack of evidence."""
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    described = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    vpc = described["VpcId"]
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")
    balancer = elbv2.create_load_balancer(
        Name=unique("legacy-alb")[:32],
        Subnets=[described["SubnetId"], other["Subnet"]["SubnetId"]],
        Type="application",
    )["LoadBalancers"][0]
    group = elbv2.create_target_group(
        Name=unique("legacy-tg")[:32], Protocol="HTTP", Port=8080, VpcId=vpc
    )["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
    )
    elbv2.register_targets(
        TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": instance, "Port": 8080}]
    )
    flags = gate_flags(aws, tls_service, site)
    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0

    code, report = decommission(env, repo, flags, capsys)
    assert code == 0, report["gates"]
    detail = checks(report)["legacy-traffic"]["detail"]
    name = group["TargetGroupName"]
    assert detail.startswith(f"{instance}: 0 {name} requests (no data point: none flowed) over ")

    dimensions = [
        {"Name": "TargetGroup", "Value": group["TargetGroupArn"].split(":")[-1]},
        {"Name": "LoadBalancer", "Value": balancer["LoadBalancerArn"].split(":loadbalancer/")[1]},
    ]
    minutes = [clock.moment - timedelta(minutes=m) for m in range(1, 121)]
    put_points(aws, "AWS/ApplicationELB", "RequestCount", dimensions, [(m, 3) for m in minutes])
    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    assert (
        checks(report)["legacy-traffic"]["detail"] == f"{instance}: 15 {name} requests (at most 5)"
    )


def test_an_elastic_ip_the_legacy_record_names_is_kept_until_the_cutover_finishes(
    aws, repo, site, instance, tls_service, env, clock, capsys
):
    """At weight 0 the `legacy` record still answers when `fargate` is unhealthy: releasing the
    address it names could send users to someone else's server. Stopping keeps the address."""
    ec2 = aws.client("ec2")
    allocation = ec2.describe_addresses(PublicIps=[site.address])["Addresses"][0]["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=instance)
    network_in(aws, instance, clock.moment, 100)
    flags = [*gate_flags(aws, tls_service, site), "--terminate-now", "--execute"]
    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0

    code, report = decommission(env, repo, flags, capsys)
    assert code == 0, report
    [item] = report["instances"]
    assert [a["step"] for a in item["actions"]] == ["backup", "stop"]
    assert item["state"] == "stopped"
    assert item["reason"].endswith(
        f"not terminated, nor its Elastic IPs released, while {site.record}. A {site.address} "
        "(TTL 60 s) [legacy, weight 0] names it: run `automation cutover --finish` first"
    )
    assert ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["InstanceId"] == (
        instance
    )

    code, report = decommission(env, repo, flags, capsys)
    assert code == 1
    assert report["instances"][0]["status"] == "refused"
    assert "names it: run `automation cutover --finish` first" in report["instances"][0]["reason"]

    assert cutover(env, repo, site, capsys, "--finish", "--execute") == 0
    code, report = decommission(env, repo, flags, capsys)
    assert code == 0, report
    assert [a["step"] for a in report["instances"][0]["actions"]] == [
        "release-address",
        "terminate",
    ]
    assert (
        ec2.describe_addresses(Filters=[{"Name": "allocation-id", "Values": [allocation]}])[
            "Addresses"
        ]
        == []
    )


def test_a_named_public_ip_that_a_stop_gives_back_refuses_the_stop(
    aws, repo, site, tls_service, env, clock, capsys
):
    """An address from Amazon's pool goes back when the instance stops: the name would dangle."""
    ec2 = aws.client("ec2")
    fleet = Fleet(aws)
    running = ec2.run_instances(
        ImageId=fleet.image_id,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": fleet.subnet_id, "AssociatePublicIpAddress": True}
        ],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-2"}]}
        ],
    )["Instances"][0]
    described = fleet.describe(running["InstanceId"])
    public_ip = described["PublicIpAddress"]
    site.route53.change_resource_record_sets(
        HostedZoneId=site.zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": site.record,
                        "Type": "A",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": site.address}, {"Value": public_ip}],
                    },
                }
            ]
        },
    )
    flags = [*gate_flags(aws, tls_service, site), "--instance-id", running["InstanceId"]]
    assert cutover(env, repo, site, capsys, "--to", "100", "--execute") == 0
    network_in(aws, running["InstanceId"], clock.moment, 100)
    code, report = decommission(env, repo, [*flags, "--execute"], capsys)
    assert code == 1
    [item] = report["instances"]
    assert item["status"] == "refused"
    assert item["reason"] == (
        f"its public IP {public_ip} goes back to AWS when it stops (it is no Elastic IP), and "
        f"{site.record}. A {site.address}, {public_ip} (TTL 60 s) [legacy, weight 0] names it: "
        "run `automation cutover --finish` first"
    )
    assert fleet.state(running["InstanceId"]) == "running"


def test_records_that_cannot_be_read_keep_the_elastic_ip(aws, repo, site, instance, env, capsys):
    """--skip-gates (a non-production stack) does not skip asking whether the name points here."""
    ec2 = aws.client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=instance)
    fail_call(
        aws, "ListResourceRecordSets", "AccessDenied", "not authorized: ListResourceRecordSets"
    )
    flags = ["--skip-gates", "--terminate-now", "--zone-id", site.zone_id, "--record", site.record]
    code, report = decommission(env, repo, flags, capsys)
    assert code == 0, report
    [item] = report["instances"]
    assert [a["step"] for a in item["actions"]] == ["backup", "stop"]
    assert item["reason"] == (
        f"stop; not terminated, nor its Elastic IPs released, while {site.record} may name it "
        f"(its records could not be read: listing the records of {site.record} failed: "
        "AccessDenied: not authorized: ListResourceRecordSets): run `automation cutover --finish` "
        "first"
    )


def test_a_time_to_run_again_names_its_day_when_it_is_another() -> None:
    """Near midnight the time to run again is tomorrow's: the date says so."""
    from automation.decommission.metrics import clock_time

    now = datetime(2026, 11, 30, 23, 50, tzinfo=UTC)
    assert clock_time(now + timedelta(seconds=30), now) == "23:51Z"
    assert clock_time(now + timedelta(minutes=15), now) == "2026-12-01 00:05Z"
