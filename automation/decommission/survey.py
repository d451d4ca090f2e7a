"""What still refers to each selected instance, read before anything changes.

Load balancers are scanned once for the whole selection (every target group and classic load
balancer in the region): an instance target counts by its id, an ip target by one of the
instance's private addresses in the target group's own VPC. A failing region-wide scan stops the
run before any change (we cannot prove an instance is out of traffic otherwise); a failing
per-instance read fails only that instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automation.decommission.aws import Aws, chunks
from automation.decommission.progress import SOURCE_INSTANCE, parse_time
from automation.decommission.selection import Instance
from automation.deploy.aws_errors import aws_call, describe, error_code

AUTO_SCALING_IDS_PER_CALL = 50
GROUP_NAMES_PER_CALL = 100
FILTER_VALUES_PER_CALL = 200
REGISTRATION_KEYS = ("Id", "Port", "AvailabilityZone")
USABLE_IMAGE_STATES = frozenset({"pending", "available"})


@dataclass(frozen=True, slots=True)
class TargetMembership:
    target_group_arn: str
    target_group_name: str
    target: Mapping[str, Any]
    """`Id`, `Port` (and `AvailabilityZone`) exactly as registered: deregistering needs them."""
    state: str

    @property
    def label(self) -> str:
        where = f"{self.target['Id']}:{self.target.get('Port')}"
        return f"target group {self.target_group_name} ({where})"


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    min_size: int
    max_size: int
    desired: int
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class Address:
    allocation_id: str
    public_ip: str
    association_id: str | None


@dataclass(frozen=True, slots=True)
class Backup:
    image_id: str
    state: str
    created: datetime | None


@dataclass(frozen=True, slots=True)
class Protection:
    termination: bool = False
    stop: bool = False

    def names(self) -> list[str]:
        return [
            name
            for name, on in (
                ("termination protection (DisableApiTermination)", self.termination),
                ("stop protection (DisableApiStop)", self.stop),
            )
            if on
        ]


@dataclass(frozen=True, slots=True)
class Survey:
    target_groups: tuple[TargetMembership, ...] = ()
    load_balancers: tuple[str, ...] = ()
    group: Group | None = None
    addresses: tuple[Address, ...] = ()
    protection: Protection = Protection()
    backup: Backup | None = None


@dataclass(frozen=True, slots=True)
class SurveyFailure:
    reason: str


def survey(aws: Aws, instances: Sequence[Instance]) -> dict[str, Survey | SurveyFailure]:
    """What refers to each instance; raises only when a region-wide scan fails."""
    if not instances:
        return {}
    ids = [i.instance_id for i in instances]
    targets = _scan("listing target groups and their targets", _target_groups, aws, instances)
    balancers = _scan("listing classic load balancers", _classic_balancers, aws, ids)
    groups = _scan("reading Auto Scaling membership", _groups, aws, ids)
    addresses = _scan("listing Elastic IP addresses", _addresses, aws, ids)
    backups = _scan("listing backup images", _backups, aws, instances)
    found: dict[str, Survey | SurveyFailure] = {}
    for instance in instances:
        iid = instance.instance_id
        try:
            protection = _protection(aws.ec2, iid)
        except (ClientError, BotoCoreError) as error:
            found[iid] = SurveyFailure(describe(error, "reading its protection attributes"))
            continue
        found[iid] = Survey(
            target_groups=tuple(targets.get(iid, ())),
            load_balancers=tuple(balancers.get(iid, ())),
            group=groups.get(iid),
            addresses=tuple(addresses.get(iid, ())),
            protection=protection,
            backup=backups.get(iid),
        )
    return found


def _scan(doing: str, scan: Any, *args: Any) -> Any:
    with aws_call(doing, then="; nothing was changed"):
        return scan(*args)


def _target_groups(aws: Aws, instances: Sequence[Instance]) -> dict[str, list[TargetMembership]]:
    by_id = {i.instance_id for i in instances}
    by_ip = {(i.vpc_id, ip): i.instance_id for i in instances for ip in i.private_ips}
    found: dict[str, list[TargetMembership]] = {}
    for page in aws.elbv2.get_paginator("describe_target_groups").paginate():
        for group in page.get("TargetGroups", []):
            kind = group.get("TargetType", "instance")
            if kind not in ("instance", "ip"):
                continue  # lambda and alb targets are never EC2 instances
            try:
                health = aws.elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
            except ClientError as error:
                if error_code(error) == "TargetGroupNotFound":
                    continue  # deleted while we looked
                raise
            for described in health.get("TargetHealthDescriptions", []):
                target = described.get("Target", {})
                if kind == "instance":
                    owner = target.get("Id") if target.get("Id") in by_id else None
                else:
                    owner = by_ip.get((group.get("VpcId"), target.get("Id")))
                if owner is None:
                    continue
                registered = {k: target[k] for k in REGISTRATION_KEYS if k in target}
                found.setdefault(owner, []).append(
                    TargetMembership(
                        group["TargetGroupArn"],
                        group.get("TargetGroupName", group["TargetGroupArn"]),
                        registered,
                        described.get("TargetHealth", {}).get("State", "unknown"),
                    )
                )
    return found


def _classic_balancers(aws: Aws, ids: Sequence[str]) -> dict[str, list[str]]:
    wanted = set(ids)
    found: dict[str, list[str]] = {}
    for page in aws.elb.get_paginator("describe_load_balancers").paginate():
        for balancer in page.get("LoadBalancerDescriptions", []):
            for member in balancer.get("Instances") or []:
                if member.get("InstanceId") in wanted:
                    found.setdefault(member["InstanceId"], []).append(balancer["LoadBalancerName"])
    return found


def _groups(aws: Aws, ids: Sequence[str]) -> dict[str, Group]:
    membership: dict[str, str] = {}
    paginator = aws.autoscaling.get_paginator("describe_auto_scaling_instances")
    for chunk in chunks(ids, AUTO_SCALING_IDS_PER_CALL):
        for page in paginator.paginate(InstanceIds=list(chunk)):
            for member in page.get("AutoScalingInstances", []):
                membership[member["InstanceId"]] = member["AutoScalingGroupName"]
    groups: dict[str, Group] = {}
    names = sorted(set(membership.values()))
    paginator = aws.autoscaling.get_paginator("describe_auto_scaling_groups")
    for chunk in chunks(names, GROUP_NAMES_PER_CALL):
        for page in paginator.paginate(AutoScalingGroupNames=list(chunk)):
            for group in page.get("AutoScalingGroups", []):
                groups[group["AutoScalingGroupName"]] = Group(
                    name=group["AutoScalingGroupName"],
                    min_size=int(group.get("MinSize", 0)),
                    max_size=int(group.get("MaxSize", 0)),
                    desired=int(group.get("DesiredCapacity", 0)),
                    members=frozenset(i["InstanceId"] for i in group.get("Instances") or []),
                )
    return {iid: groups[name] for iid, name in membership.items() if name in groups}


def _addresses(aws: Aws, ids: Sequence[str]) -> dict[str, list[Address]]:
    found: dict[str, list[Address]] = {}
    for chunk in chunks(ids, FILTER_VALUES_PER_CALL):
        described = aws.ec2.describe_addresses(
            Filters=[{"Name": "instance-id", "Values": list(chunk)}]
        )
        for address in described.get("Addresses", []):
            owner = address.get("InstanceId")
            if owner in ids and address.get("AllocationId"):
                found.setdefault(owner, []).append(
                    Address(
                        address["AllocationId"],
                        address.get("PublicIp", ""),
                        address.get("AssociationId") or None,
                    )
                )
    return found


def _backups(aws: Aws, instances: Sequence[Instance]) -> dict[str, Backup]:
    """Each instance's usable backup: an image of ours, tagged with its id, taken since its last
    start (an image from before a restart would miss what the instance wrote since)."""
    by_id = {i.instance_id: i for i in instances}
    candidates: dict[str, list[Backup]] = {}
    paginator = aws.ec2.get_paginator("describe_images")
    for chunk in chunks(list(by_id), FILTER_VALUES_PER_CALL):
        pages = paginator.paginate(
            Owners=["self"], Filters=[{"Name": f"tag:{SOURCE_INSTANCE}", "Values": list(chunk)}]
        )
        for page in pages:
            for image in page.get("Images", []):
                tags = {t["Key"]: t.get("Value", "") for t in image.get("Tags") or []}
                owner = by_id.get(tags.get(SOURCE_INSTANCE, ""))
                if owner is None or image.get("State") not in USABLE_IMAGE_STATES:
                    continue
                created = parse_time(image.get("CreationDate"))
                if owner.launch_time and created and created < owner.launch_time:
                    continue
                candidates.setdefault(owner.instance_id, []).append(
                    Backup(image["ImageId"], image["State"], created)
                )
    chosen = {}
    for iid, found in candidates.items():
        recorded = by_id[iid].progress.backup
        chosen[iid] = next(
            (b for b in found if b.image_id == recorded),
            max(found, key=_preference),
        )
    return chosen


def _preference(backup: Backup) -> tuple[bool, float]:
    """Available before pending, then the newest."""
    return backup.state == "available", backup.created.timestamp() if backup.created else 0.0


def _protection(ec2: Any, instance_id: str) -> Protection:
    termination = ec2.describe_instance_attribute(
        InstanceId=instance_id, Attribute="disableApiTermination"
    )
    stop = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiStop")
    return Protection(
        termination=bool(termination.get("DisableApiTermination", {}).get("Value")),
        stop=bool(stop.get("DisableApiStop", {}).get("Value")),
    )
