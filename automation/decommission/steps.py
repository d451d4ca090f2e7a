"""The steps of a decommission, each safe to run again: it reads the current state before acting,
and what state cannot show is recorded in tags on the instance (`progress`).

A step's `describe()` says what it will do (the plan); `run()` does it and says what it did.
AWS errors propagate (the runner turns them into the instance's `failed` reason); `StepFailed`
is for a step that finds something it must not touch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from automation.decommission.aws import Aws, Waits
from automation.decommission.progress import (
    BACKUP,
    BACKUP_DATE,
    PREFIX,
    SOURCE_INSTANCE,
    STACK,
    STEP,
    STOPPED_AT,
    format_time,
)
from automation.decommission.selection import Instance
from automation.decommission.survey import Address, Backup, Group, Protection, TargetMembership
from automation.deploy.aws_errors import error_code


class StepFailed(Exception):
    """A step found the world not as it must be to go on (the message says what and why)."""


@dataclass(slots=True)
class Context:
    aws: Aws
    waits: Waits
    instance: Instance
    stack: str
    say: Callable[[str], None]
    backup: str | None = None
    stopped_at: datetime | None = None

    @property
    def iid(self) -> str:
        return self.instance.instance_id

    def tag(self, **tags: str) -> None:
        self.aws.ec2.create_tags(
            Resources=[self.iid], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )


class Step(ABC):
    name: ClassVar[str]
    progress: ClassVar[str | None] = None
    """The `step` tag recorded once the step is done (None: nothing to record)."""

    @abstractmethod
    def describe(self) -> str:
        """What the step will do, for the plan."""

    @abstractmethod
    def run(self, ctx: Context) -> str:
        """Do it (or find it already done); what was done, for the report."""


@dataclass(frozen=True, slots=True)
class ResetProgress(Step):
    """The instance was started again after we stopped it: what we recorded no longer holds."""

    name: ClassVar[str] = "reset-progress"
    stopped_at: str

    def describe(self) -> str:
        return (
            f"forget the progress recorded before it was started again (stop at "
            f"{self.stopped_at}): a new backup, and the retention counts from the new stop"
        )

    def run(self, ctx: Context) -> str:
        ctx.aws.ec2.delete_tags(
            Resources=[ctx.iid], Tags=[{"Key": STEP}, {"Key": STOPPED_AT}, {"Key": BACKUP}]
        )
        return f"forgot the progress recorded before its restart (stop at {self.stopped_at})"


@dataclass(frozen=True, slots=True)
class RemoveProtection(Step):
    name: ClassVar[str] = "remove-protection"
    progress: ClassVar[str | None] = "protection-removed"
    protection: Protection

    def describe(self) -> str:
        return f"remove {' and '.join(self.protection.names())} (--force-protected)"

    def run(self, ctx: Context) -> str:
        if self.protection.termination:
            ctx.aws.ec2.modify_instance_attribute(
                InstanceId=ctx.iid, DisableApiTermination={"Value": False}
            )
        if self.protection.stop:
            ctx.aws.ec2.modify_instance_attribute(
                InstanceId=ctx.iid, DisableApiStop={"Value": False}
            )
        return f"removed {' and '.join(self.protection.names())} (--force-protected)"


@dataclass(frozen=True, slots=True)
class DeregisterTarget(Step):
    name: ClassVar[str] = "deregister"
    progress: ClassVar[str | None] = "deregistered"
    membership: TargetMembership

    def describe(self) -> str:
        if self.membership.state == "draining":
            return f"wait until it has drained from {self.membership.label}"
        return f"deregister from {self.membership.label} and wait until it has drained"

    def run(self, ctx: Context) -> str:
        elbv2, arn = ctx.aws.elbv2, self.membership.target_group_arn
        target = dict(self.membership.target)
        if self.membership.state != "draining":
            try:
                elbv2.deregister_targets(TargetGroupArn=arn, Targets=[target])
            except ClientError as error:
                if error_code(error) != "InvalidTarget":  # already gone: nothing to undo
                    raise
        attributes = elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        timeout = _number(attributes, "deregistration_delay.timeout_seconds", default=300)
        ctx.say(f"{ctx.iid}: draining from {self.membership.label} (up to {timeout:.0f} s)")
        elbv2.get_waiter("target_deregistered").wait(
            TargetGroupArn=arn, Targets=[target], WaiterConfig=ctx.waits.draining(timeout)
        )
        return f"deregistered from {self.membership.label}; drained"


@dataclass(frozen=True, slots=True)
class DeregisterFromClassic(Step):
    name: ClassVar[str] = "deregister"
    progress: ClassVar[str | None] = "deregistered"
    load_balancer: str

    def describe(self) -> str:
        return f"deregister from classic load balancer {self.load_balancer} and wait until drained"

    def run(self, ctx: Context) -> str:
        elb, member = ctx.aws.elb, [{"InstanceId": ctx.iid}]
        elb.deregister_instances_from_load_balancer(
            LoadBalancerName=self.load_balancer, Instances=member
        )
        attributes = elb.describe_load_balancer_attributes(LoadBalancerName=self.load_balancer)
        draining = attributes.get("LoadBalancerAttributes", {}).get("ConnectionDraining", {})
        timeout = float(draining.get("Timeout", 300)) if draining.get("Enabled") else 0.0
        ctx.say(f"{ctx.iid}: draining from {self.load_balancer} (up to {timeout:.0f} s)")
        elb.get_waiter("instance_deregistered").wait(
            LoadBalancerName=self.load_balancer,
            Instances=member,
            WaiterConfig=ctx.waits.draining(timeout),
        )
        return f"deregistered from classic load balancer {self.load_balancer}; drained"


@dataclass(frozen=True, slots=True)
class DetachFromGroup(Step):
    """Leave the Auto Scaling group without being replaced: detach with a lower desired capacity.

    The group is not scaled down around the instance: scaling in would terminate it at once,
    before its backup and retention. When the group held only selected instances and the last
    one leaves, MinSize and MaxSize go to 0 so that nothing (a scaling policy, a scheduled
    action) launches a legacy instance again; the empty group is left for its owner to delete.
    """

    name: ClassVar[str] = "detach"
    progress: ClassVar[str | None] = "detached"
    group: Group
    only_selected: bool

    def describe(self) -> str:
        group = self.group
        text = f"detach from Auto Scaling group {group.name} with its desired capacity lowered"
        if group.desired - 1 < group.min_size:
            text += f" (its MinSize {group.min_size} lowered to {max(0, group.desired - 1)})"
        if self.only_selected:
            text += "; the group holds only selected instances: scaled to zero once the last leaves"
        return text

    def run(self, ctx: Context) -> str:
        asg = ctx.aws.autoscaling
        found = asg.describe_auto_scaling_instances(InstanceIds=[ctx.iid])["AutoScalingInstances"]
        if not found:
            return f"already out of Auto Scaling group {self.group.name}"
        name = found[0]["AutoScalingGroupName"]
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if not group:
            return f"Auto Scaling group {name} is gone"
        minimum, desired = int(group[0]["MinSize"]), int(group[0]["DesiredCapacity"])
        notes = []
        if desired - 1 < minimum:
            lowered = max(0, desired - 1)
            asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=lowered)
            notes.append(f"lowered its MinSize from {minimum} to {lowered}")
        asg.detach_instances(
            InstanceIds=[ctx.iid], AutoScalingGroupName=name, ShouldDecrementDesiredCapacity=True
        )
        self._wait_detached(ctx)
        remaining = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        if self.only_selected and remaining and not remaining[0].get("Instances"):
            asg.update_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0
            )
            notes.append("it held only selected instances: scaled to zero (MinSize=MaxSize=0)")
        return f"detached from Auto Scaling group {name} (desired capacity lowered)" + "".join(
            f"; {note}" for note in notes
        )

    def _wait_detached(self, ctx: Context) -> None:
        polling = ctx.waits.polling
        stop_at = polling.clock() + ctx.waits.detach_seconds
        while True:
            found = ctx.aws.autoscaling.describe_auto_scaling_instances(InstanceIds=[ctx.iid])
            members = found.get("AutoScalingInstances", [])
            if not members:
                return
            if polling.clock() >= stop_at:
                state = members[0].get("LifecycleState")
                raise StepFailed(
                    f"still {state} in Auto Scaling group {self.group.name} after "
                    f"{ctx.waits.detach_seconds} s (a lifecycle hook waiting?); run again to resume"
                )
            polling.wait_until(stop_at)


@dataclass(frozen=True, slots=True)
class TakeBackup(Step):
    """An AMI without reboot (it holds a snapshot of every EBS volume and how to launch it again),
    tagged with the instance id and the date, its snapshots tagged alike; waited on until usable."""

    name: ClassVar[str] = "backup"
    progress: ClassVar[str | None] = "backed-up"
    existing: Backup | None

    def describe(self) -> str:
        if self.existing is not None:
            backup = self.existing
            return f"wait for its backup {backup.image_id} ({backup.state}) to be usable"
        return "back it up: an AMI (no reboot) of all its volumes, tagged with its id and the date"

    def run(self, ctx: Context) -> str:
        ec2 = ctx.aws.ec2
        if self.existing is not None:
            image_id = self.existing.image_id
        else:
            now = ctx.waits.now()
            label = ctx.instance.name or ctx.iid
            tags = {
                "Name": f"{label} decommission backup"[:255],
                SOURCE_INSTANCE: ctx.iid,
                BACKUP_DATE: now.strftime("%Y-%m-%d"),
                STACK: ctx.stack,
            }
            image_id = ec2.create_image(
                InstanceId=ctx.iid,
                Name=f"alunos-api-decommission-{ctx.iid}-{now.strftime('%Y%m%dT%H%M%SZ')}",
                Description=f"Backup of {label} ({ctx.iid}) taken before decommissioning it",
                NoReboot=True,
                TagSpecifications=[{"ResourceType": "image", "Tags": _tag_list(tags)}],
            )["ImageId"]
            ctx.tag(**{BACKUP: image_id})  # recorded at once: a crash now resumes the wait
        ctx.say(f"{ctx.iid}: waiting for backup {image_id} to be available")
        ec2.get_waiter("image_available").wait(
            ImageIds=[image_id], WaiterConfig=ctx.waits.config(ctx.waits.image_seconds)
        )
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        snapshots = [
            m["Ebs"]["SnapshotId"]
            for m in image.get("BlockDeviceMappings") or []
            if m.get("Ebs", {}).get("SnapshotId")
        ]
        if snapshots:
            image_tags = {t["Key"]: t["Value"] for t in image.get("Tags") or []}
            ours = {k: v for k, v in image_tags.items() if k.startswith(PREFIX) or k == "Name"}
            ec2.create_tags(Resources=snapshots, Tags=_tag_list(ours))
        ctx.tag(**{BACKUP: image_id})
        ctx.backup = image_id
        return f"backed up as {image_id} ({len(snapshots)} snapshot(s)), available"


@dataclass(frozen=True, slots=True)
class Stop(Step):
    name: ClassVar[str] = "stop"
    progress: ClassVar[str | None] = "stopped"
    already_stopped: bool

    def describe(self) -> str:
        if self.already_stopped:
            return "already stopped: record the stop time (the retention counts from now)"
        return "stop it (the retention counts from the stop)"

    def run(self, ctx: Context) -> str:
        if not self.already_stopped:
            ctx.aws.ec2.stop_instances(InstanceIds=[ctx.iid])
        ctx.aws.ec2.get_waiter("instance_stopped").wait(
            InstanceIds=[ctx.iid], WaiterConfig=ctx.waits.config(ctx.waits.state_seconds)
        )
        ctx.stopped_at = ctx.waits.now()
        ctx.tag(**{STOPPED_AT: format_time(ctx.stopped_at)})
        verb = "found stopped" if self.already_stopped else "stopped"
        return f"{verb}; stop time recorded: {format_time(ctx.stopped_at)}"


@dataclass(frozen=True, slots=True)
class ReleaseAddress(Step):
    name: ClassVar[str] = "release-address"
    progress: ClassVar[str | None] = "address-released"
    address: Address

    def describe(self) -> str:
        address = self.address
        return f"disassociate and release Elastic IP {address.public_ip} ({address.allocation_id})"

    def run(self, ctx: Context) -> str:
        ec2, allocation = ctx.aws.ec2, self.address.allocation_id
        try:
            found = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"]
        except ClientError as error:
            if error_code(error) == "InvalidAllocationID.NotFound":
                return f"Elastic IP {self.address.public_ip} ({allocation}) already released"
            raise
        if not found:
            return f"Elastic IP {self.address.public_ip} ({allocation}) already released"
        owner = found[0].get("InstanceId")
        if owner and owner != ctx.iid:  # moved to another instance meanwhile: not ours any more
            raise StepFailed(
                f"Elastic IP {self.address.public_ip} ({allocation}) is now associated with "
                f"{owner}: left alone"
            )
        if found[0].get("AssociationId"):
            ec2.disassociate_address(AssociationId=found[0]["AssociationId"])
        ec2.release_address(AllocationId=allocation)
        return f"disassociated and released Elastic IP {self.address.public_ip} ({allocation})"


@dataclass(frozen=True, slots=True)
class Terminate(Step):
    name: ClassVar[str] = "terminate"
    why: str

    def describe(self) -> str:
        return f"terminate it ({self.why})"

    def run(self, ctx: Context) -> str:
        ctx.aws.ec2.terminate_instances(InstanceIds=[ctx.iid])
        ctx.aws.ec2.get_waiter("instance_terminated").wait(
            InstanceIds=[ctx.iid], WaiterConfig=ctx.waits.config(ctx.waits.state_seconds)
        )
        return f"terminated ({self.why})"


def _number(attributes: list[dict[str, Any]], key: str, *, default: float) -> float:
    for attribute in attributes:
        if attribute.get("Key") == key:
            try:
                return float(attribute.get("Value", default))
            except (TypeError, ValueError):
                return default
    return default


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]
