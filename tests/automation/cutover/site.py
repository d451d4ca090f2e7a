"""A Route 53 site on the moto server for the cutover tests: a hosted zone whose name serves the
legacy deployment, an ALB and its alarms; and clocks that move only when a run sleeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.awsrequest import AWSResponse

from tests.automation.conftest import REGION, unique

ROOT = Path(__file__).resolve().parents[3]


Run = Callable[..., tuple[int, dict[str, Any]]]
"""The `run` fixture: a cutover run's exit code and JSON report."""


@dataclass
class Errors:
    """What the runs wrote on stderr, the last run's last."""

    text: str = ""


@dataclass
class FakeTime:
    """Monotonic and wall clocks that move only when the run sleeps; `on_sleep` lets a test
    act in the middle of a wait (an alarm going off during a bake)."""

    seconds: float = 0.0
    start: datetime = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    on_sleep: list[Callable[[float], None]] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds
        for hook in self.on_sleep:
            hook(self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass
class Site:
    """A hosted zone whose name serves the legacy deployment, an ALB, and its two alarms."""

    aws: boto3.Session
    legacy: str = "A"
    """A (Elastic IPs), CNAME, or ALIAS: an alias A to the legacy deployment's own ALB."""
    ttl: int = 300
    addresses: int = 1
    """How many Elastic IPs an A record answers with."""
    zone_id: str = ""
    record: str = ""
    alb_dns: str = ""
    alb_zone: str = ""
    address: str = ""
    """The (first) Elastic IP of an A record."""
    legacy_target: dict[str, Any] = field(default_factory=dict)
    """The AliasTarget of an ALIAS record."""
    alarms: tuple[str, str] = ("", "")
    domain: str = ""
    """The zone's domain (default: a unique one); the record is alunos.<domain>."""

    def __post_init__(self) -> None:
        domain = self.domain or f"{unique('example')}.com"
        r53 = self.route53
        self.zone_id = r53.create_hosted_zone(Name=domain, CallerReference=unique("ref"))[
            "HostedZone"
        ]["Id"].removeprefix("/hostedzone/")
        self.record = f"alunos.{domain}"
        ec2 = self.aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{z}"
            )["Subnet"]["SubnetId"]
            for i, z in ((1, "a"), (2, "b"))
        ]
        record: dict[str, Any] = {"Name": self.record, "Type": self.legacy}
        if self.legacy == "ALIAS":  # the legacy deployment's own load balancer
            legacy = self._load_balancer("legacy", subnets)
            self.legacy_target = {
                "HostedZoneId": legacy["CanonicalHostedZoneId"],
                "DNSName": legacy["DNSName"],
                "EvaluateTargetHealth": True,  # the team's choice, carried over as it is
            }
            record.update(Type="A", AliasTarget=self.legacy_target)
        else:
            if self.legacy == "A":
                values = [
                    ec2.allocate_address(Domain="vpc")["PublicIp"] for _ in range(self.addresses)
                ]
                self.address = values[0]
            else:
                values = [f"legacy-lb.{domain}"]
            record.update(TTL=self.ttl, ResourceRecords=[{"Value": v} for v in values])
        r53.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": record}]},
        )
        balancer = self._load_balancer("alb", subnets)
        self.alb_dns, self.alb_zone = balancer["DNSName"], balancer["CanonicalHostedZoneId"]
        cloudwatch = self.aws.client("cloudwatch")
        self.alarms = (unique("http-5xx"), unique("unhealthy"))
        for name in self.alarms:
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/ApplicationELB",
                MetricName="HTTPCode_Target_5XX_Count",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanThreshold",
            )
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")

    def _load_balancer(self, prefix: str, subnets: list[str]) -> dict[str, Any]:
        balancer: dict[str, Any] = self.aws.client("elbv2").create_load_balancer(
            Name=unique(prefix)[:32], Subnets=subnets, Type="application"
        )["LoadBalancers"][0]
        return balancer

    @property
    def route53(self) -> Any:
        return self.aws.client("route53")

    def records(self) -> dict[str, dict[str, Any]]:
        """The name's records by set identifier ("plain" for a plain one)."""
        found = self.route53.list_resource_record_sets(
            HostedZoneId=self.zone_id, StartRecordName=self.record
        )["ResourceRecordSets"]
        return {
            r.get("SetIdentifier", "plain"): r
            for r in found
            if r["Name"] == self.record + "." and r["Type"] in ("A", "CNAME")
        }

    def weights(self) -> dict[str, int | None]:
        return {key: r.get("Weight") for key, r in self.records().items()}

    def alarm(self, index: int, state: str) -> None:
        self.aws.client("cloudwatch").set_alarm_state(
            AlarmName=self.alarms[index], StateValue=state, StateReason=f"test: {state}"
        )

    def flags(self) -> list[str]:
        return [
            "--zone-id",
            self.zone_id,
            "--record",
            self.record,
            "--alb-dns-name",
            self.alb_dns,
            "--alb-zone-id",
            self.alb_zone,
            "--alarm",
            self.alarms[0],
            "--alarm",
            self.alarms[1],
        ]


def stack_repo(path: Path, extra: dict[str, Any] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    config = {"aws:region": REGION, **(extra or {})}
    (path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    return path


# --- Route 53's DELETE rule, which moto does not keep ------------------------------------------


def _comparable(record_set: dict[str, Any]) -> dict[str, Any]:
    """What Route 53 compares when a DELETE names a record: everything, spelling aside."""
    alias = record_set.get("AliasTarget")
    values = record_set.get("ResourceRecords")
    return {
        "Name": record_set["Name"].lower().rstrip("."),
        "Type": record_set["Type"],
        "SetIdentifier": record_set.get("SetIdentifier"),
        "Weight": record_set.get("Weight"),
        "TTL": record_set.get("TTL"),
        "Values": None if values is None else sorted(v["Value"] for v in values),
        "Alias": None
        if alias is None
        else (
            alias["HostedZoneId"],
            alias["DNSName"].lower().rstrip("."),
            bool(alias["EvaluateTargetHealth"]),
        ),
    }


def strict_deletes(aws: boto3.Session) -> None:
    """Make `aws`'s Route 53 clients (those made from now on) keep Route 53's rule for DELETE:
    "To delete a resource record set, you must specify all the same values that you specified
    when you created it" (API reference, ChangeResourceRecordSets), else the whole batch fails
    with InvalidChangeBatch. moto 5 accepts a DELETE whose values match ANY earlier CREATE or
    UPSERT of that name and type, and then deletes the current record (its `has_insert_or_update`
    looks at the change journal), so a stale DELETE, the guard the cutover relies on, passes.
    The records are read through a session of its own, without this hook."""
    reader = boto3.Session(region_name=aws.region_name).client("route53")

    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["strict_deletes"] = (params["HostedZoneId"], params["ChangeBatch"]["Changes"])

    def check(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        zone, changes = context.pop("strict_deletes", ("", []))
        for change in changes:
            if change["Action"] != "DELETE":
                continue
            wanted = _comparable(change["ResourceRecordSet"])
            found = reader.list_resource_record_sets(
                HostedZoneId=zone, StartRecordName=change["ResourceRecordSet"]["Name"]
            )["ResourceRecordSets"]
            same = [
                c
                for c in map(_comparable, found)
                if (c["Name"], c["Type"], c["SetIdentifier"])
                == (wanted["Name"], wanted["Type"], wanted["SetIdentifier"])
            ]
            if same != [wanted]:
                how = (
                    "the values provided do not match the current values"
                    if same
                    else "it was not found"
                )
                message = (
                    f"Tried to delete resource record set [name='{wanted['Name']}.', "
                    f"type='{wanted['Type']}'] but {how}"
                )
                error = {"Code": "InvalidChangeBatch", "Message": message}
                return AWSResponse("https://route53", 400, {}, None), {"Error": error}
        return None

    aws.events.register("before-parameter-build.route53.ChangeResourceRecordSets", keep)
    aws.events.register("before-call.route53.ChangeResourceRecordSets", check)
