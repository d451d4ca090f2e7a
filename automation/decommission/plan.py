"""Per instance: the steps it still needs and why, from what was observed and its progress tags.

Order: out of traffic (target groups, classic load balancers), out of its Auto Scaling group, a
backup, stopped. Termination is the second phase: a later run once `--retain-days` have passed
since the recorded stop (or at once with `--terminate-now`); its Elastic IPs are released just
before, so that a retained instance can still be started again exactly as it was (a released
address cannot be had back), and so that they are found by the instance they belong to. Neither
happens while the API's name still names one of its addresses (`dns`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from automation.decommission.dns import FINISH_FIRST, Naming
from automation.decommission.progress import KEEP_TAG, format_time
from automation.decommission.selection import Instance
from automation.decommission.steps import (
    DeregisterFromClassic,
    DeregisterTarget,
    DetachFromGroup,
    ReleaseAddress,
    RemoveProtection,
    ResetProgress,
    Step,
    Stop,
    TakeBackup,
    Terminate,
)
from automation.decommission.survey import Survey, SurveyFailure


class Status(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    SKIPPED = "skipped"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Options:
    terminate_now: bool = False
    retain_days: int = 7
    force_protected: bool = False


@dataclass(slots=True)
class InstancePlan:
    instance: Instance
    status: Status
    reason: str
    steps: list[Step] = field(default_factory=list)
    backup: str | None = None
    stopped_at: datetime | None = None
    terminates: bool = False
    held: str = ""
    """Why it is not terminated although due (its name still points at it), for the report."""


def plan_instance(
    instance: Instance,
    surveyed: Survey | SurveyFailure | None,
    options: Options,
    now: datetime,
    acting_on: Collection[str] = (),
    named: Naming | None = None,
) -> InstancePlan:
    """`acting_on`: the ids this run may act on (to tell when a group holds only those);
    `named`: the record of the API's name that still names one of its addresses."""

    def stays(status: Status, reason: str) -> InstancePlan:
        return InstancePlan(instance, status, reason)

    if instance.keep:
        return stays(Status.SKIPPED, f"tagged {KEEP_TAG}: never decommissioned")
    if instance.state == "terminated":
        return stays(Status.SKIPPED, "already terminated: nothing to do")
    if instance.state == "shutting-down":
        return stays(Status.SKIPPED, "already being terminated (shutting-down): nothing to do")
    if isinstance(surveyed, SurveyFailure):
        return stays(Status.FAILED, surveyed.reason)
    if surveyed is None:
        return stays(Status.FAILED, "internal error: the instance was not surveyed")
    if instance.state == "pending":
        return stays(Status.REFUSED, "it is starting (pending): run again once it is running")
    if instance.root_device_type == "instance-store":
        return stays(
            Status.REFUSED,
            "its root device is instance store: it can be neither stopped nor imaged; "
            "back up its data and terminate it by hand",
        )
    protections = surveyed.protection.names()
    if protections and not options.force_protected:
        return stays(
            Status.REFUSED,
            f"{' and '.join(protections)} is on: left as it is; pass --force-protected to "
            "remove the protection and decommission it",
        )

    if named is not None and named.lost_on_stop and instance.state != "stopped":
        return stays(
            Status.REFUSED,
            f"its public IP {', '.join(named.lost_on_stop)} goes back to AWS when it stops (it "
            f"is no Elastic IP), and {named.why}: {FINISH_FIRST}",
        )

    steps: list[Step] = []
    progress = instance.progress
    backup = surveyed.backup
    stopped_at = progress.stopped_at
    restarted = stopped_at is not None and (
        instance.state != "stopped"
        or (instance.launch_time is not None and stopped_at < instance.launch_time)
    )
    if restarted and stopped_at is not None:
        steps.append(ResetProgress(format_time(stopped_at)))
        backup, stopped_at = None, None
    if protections:
        steps.append(RemoveProtection(surveyed.protection))
    steps += [DeregisterTarget(m) for m in surveyed.target_groups]
    steps += [DeregisterFromClassic(name) for name in surveyed.load_balancers]
    if surveyed.group is not None:
        only_selected = surveyed.group.members <= set(acting_on)
        steps.append(DetachFromGroup(surveyed.group, only_selected))
    if backup is None or backup.state != "available" or progress.backup != backup.image_id:
        steps.append(TakeBackup(backup))
    if instance.state != "stopped" or stopped_at is None:
        steps.append(Stop(already_stopped=instance.state == "stopped"))
        stop_time = now
    else:
        stop_time = stopped_at
    due = stop_time + timedelta(days=options.retain_days)

    plan = InstancePlan(
        instance,
        Status.PLANNED,
        "",
        steps,
        backup=backup.image_id if backup else None,
        stopped_at=stopped_at,
    )
    if (options.terminate_now or due <= now) and named is not None:
        plan.held = (
            f"not terminated, nor its Elastic IPs released, while {named.why}: {FINISH_FIRST}"
        )
        plan.reason = f"stop; {plan.held}"
    elif options.terminate_now or due <= now:
        why = (
            "--terminate-now"
            if options.terminate_now
            else (f"stopped at {format_time(stop_time)}, retained {options.retain_days} day(s)")
        )
        steps += [ReleaseAddress(address) for address in surveyed.addresses]
        steps.append(Terminate(why))
        plan.terminates = True
        plan.reason = f"terminate ({why})"
    else:
        kept = ", ".join(a.public_ip for a in surveyed.addresses)
        plan.reason = (
            f"stop; terminate on a run after {format_time(due)} "
            f"(--retain-days {options.retain_days}) or with --terminate-now"
            + (f"; Elastic IP {kept} kept until then" if kept else "")
        )
    if not steps and plan.held:
        plan.status = Status.REFUSED
        plan.reason = f"stopped at {format_time(stop_time)} and backed up; {plan.held}"
    elif not steps:
        plan.status = Status.SKIPPED
        plan.reason = (
            f"stopped at {format_time(stop_time)} and backed up: retained until "
            f"{format_time(due)}; run again after that, or pass --terminate-now"
        )
    return plan
