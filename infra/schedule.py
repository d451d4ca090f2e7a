"""A stack that sleeps outside working hours: the `schedule` config key.

Two schedulers, one set of hours:
- Application Auto Scaling scheduled actions set the service's scalable target to 0..0 at the
  stop time and back to its min..max at the start (in the schedule's IANA time zone). The
  autoscaler then owns the count within those bounds as always.
- The stack's own RDS instance stops and starts through EventBridge Scheduler's universal target
  for the RDS API (arn:aws:scheduler:::aws-sdk:rds:stopDBInstance / startDBInstance), with a role
  that may do exactly that to exactly that instance. A database the stack does not own (dbHost)
  is never touched.
RDS starts an instance stopped for 7 days by itself; a weekend is shorter, so it stays stopped.

The database starts DATABASE_LEAD_MINUTES before the tasks: AWS warns that "starting a DB
instance requires instance recovery and can take from minutes to hours"
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_StopInstance.html). Should it still
be late, the app does not depend on it to start: it serves /health at once, answers 503 on the
data routes and connects in the background until the database answers (app/__main__.py;
tests/app/test_process.py starts it against a database that comes up late).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags

DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# The universal target ARNs: arn:aws:scheduler:::aws-sdk:<service>:<apiAction>
# https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html
RDS_STOP = "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance"
RDS_START = "arn:aws:scheduler:::aws-sdk:rds:startDBInstance"
DATABASE_LEAD_MINUTES = 20
"""How long before the tasks wake the stack's database is started (the module says why)."""
SCHEDULE_FORMS = (
    "DAYS HH:MM-HH:MM TIME_ZONE, e.g. MON-FRI 08:00-20:00 America/Sao_Paulo (days: a range or a "
    "comma list of SUN..SAT; start before stop on the same day; an IANA time zone)"
)
_FORM = re.compile(
    r"^(?P<days>[A-Z]{3}(?:-[A-Z]{3}|(?:,[A-Z]{3})*))\s+"
    r"(?P<start>\d{2}):(?P<start_min>\d{2})-(?P<stop>\d{2}):(?P<stop_min>\d{2})\s+(?P<zone>\S+)$"
)


@dataclass(frozen=True)
class Schedule:
    """Working hours: `days` (cron day-of-week), from `start` to `stop` (hour, minute), in
    `timezone`."""

    days: str
    start: tuple[int, int]
    stop: tuple[int, int]
    timezone: str

    @property
    def day_count(self) -> int:
        if "-" in self.days:
            first, last = (DAYS.index(day) for day in self.days.split("-"))
            return last - first + 1
        return len(self.days.split(","))

    @property
    def hours_per_week(self) -> float:
        minutes = (self.stop[0] * 60 + self.stop[1]) - (self.start[0] * 60 + self.start[1])
        return self.day_count * minutes / 60

    @property
    def database_start(self) -> tuple[int, int]:
        """When the stack's database starts: DATABASE_LEAD_MINUTES before the tasks, the same
        day (parse_schedule refuses a start too early for that)."""
        hours, minutes = divmod(self.start[0] * 60 + self.start[1] - DATABASE_LEAD_MINUTES, 60)
        return hours, minutes

    def cron(self, at: tuple[int, int]) -> str:
        """cron(minutes hours day-of-month month day-of-week year), the form both Application
        Auto Scaling and EventBridge Scheduler take (day-of-month ? when day-of-week is set).
        https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based"""
        return f"cron({at[1]} {at[0]} ? * {self.days} *)"

    def __str__(self) -> str:
        return (
            f"{self.days} {self.start[0]:02d}:{self.start[1]:02d}-"
            f"{self.stop[0]:02d}:{self.stop[1]:02d} {self.timezone}"
        )


def parse_schedule(key: str, text: str) -> Schedule:
    match = _FORM.match(text.strip())
    if match is None:
        raise v.fail(key, text, SCHEDULE_FORMS)
    days = match["days"]
    names = re.split(r"[-,]", days)
    if any(name not in DAYS for name in names) or (
        "-" in days and DAYS.index(names[0]) >= DAYS.index(names[1])
    ):
        raise v.fail(key, text, SCHEDULE_FORMS)
    start = (int(match["start"]), int(match["start_min"]))
    stop = (int(match["stop"]), int(match["stop_min"]))
    if not all(h < 24 and m < 60 for h, m in (start, stop)) or start >= stop:
        raise v.fail(key, text, SCHEDULE_FORMS)
    try:
        ZoneInfo(match["zone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise v.fail(key, text, SCHEDULE_FORMS) from None
    if start[0] * 60 + start[1] < DATABASE_LEAD_MINUTES:
        raise v.fail(
            key,
            text,
            f"a start at 00:{DATABASE_LEAD_MINUTES:02d} or later (the stack's database starts "
            f"{DATABASE_LEAD_MINUTES} minutes before the tasks, on the same days)",
        )
    return Schedule(days=days, start=start, stop=stop, timezone=match["zone"])


@dataclass
class SleepArgs:
    schedule: Schedule
    scalable_target: aws.appautoscaling.Target
    """The service's task count target: 0..0 outside hours, min_count..max_count inside."""
    min_count: int
    max_count: int
    database_arn: pulumi.Input[str] | None = None
    """The stack's own RDS instance, stopped and started on the same hours (None: not ours)."""
    database_identifier: pulumi.Input[str] | None = None


class Sleep(pulumi.ComponentResource):
    """The service at 0 tasks, and the stack's database stopped, outside working hours."""

    def __init__(
        self, name: str, args: SleepArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("alunos-api:infra:Sleep", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        schedule = args.schedule
        target = args.scalable_target
        self.actions = [
            aws.appautoscaling.ScheduledAction(
                f"{name}-{role}",
                name=f"{name}-{role}",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                schedule=schedule.cron(at),
                timezone=schedule.timezone,
                scalable_target_action=aws.appautoscaling.ScheduledActionScalableTargetActionArgs(
                    min_capacity=low, max_capacity=high
                ),
                opts=child,
            )
            for role, at, low, high in (
                ("wake", schedule.start, args.min_count, args.max_count),
                ("sleep", schedule.stop, 0, 0),
            )
        ]
        self.database_schedules: list[aws.scheduler.Schedule] = []
        if args.database_arn is not None and args.database_identifier is not None:
            self.database_schedules = self._database(
                name, args.database_arn, args.database_identifier, schedule, child
            )
        self.register_outputs({"schedule": str(schedule)})

    def _database(
        self,
        name: str,
        database_arn: pulumi.Input[str],
        identifier: pulumi.Input[str],
        schedule: Schedule,
        child: pulumi.ResourceOptions,
    ) -> list[aws.scheduler.Schedule]:
        account = aws.get_caller_identity_output().account_id.apply(lambda a: a or "")
        role = aws.iam.Role(
            f"{name}-db-scheduler",
            description=f"{name}: EventBridge Scheduler stops and starts this stack's database",
            assume_role_policy=account.apply(scheduler_trust_policy),
            tags=tags(f"{name}-db-scheduler"),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-db-scheduler",
            role=role.id,
            policy=pulumi.Output.from_input(database_arn).apply(stop_start_policy),
            opts=child,
        )
        return [
            aws.scheduler.Schedule(
                f"{name}-db-{role_name}",
                schedule_expression=schedule.cron(at),
                schedule_expression_timezone=schedule.timezone,
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                target=aws.scheduler.ScheduleTargetArgs(
                    arn=arn,
                    role_arn=role.arn,
                    input=pulumi.Output.from_input(identifier).apply(
                        lambda identifier: json.dumps({"DbInstanceIdentifier": identifier})
                    ),
                ),
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=[policy])
                ),
            )
            for role_name, at, arn in (
                ("start", schedule.database_start, RDS_START),
                ("stop", schedule.stop, RDS_STOP),
            )
        ]


def scheduler_trust_policy(account: str) -> str:
    """EventBridge Scheduler may assume the role, for schedules of this account only (the
    confused-deputy guard the Scheduler guide recommends):
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role"""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "scheduler.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        }
    )


def stop_start_policy(database_arn: str) -> str:
    """rds:StopDBInstance and rds:StartDBInstance on the one instance (both take a db ARN:
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "StopStartTheStacksDatabase",
                    "Effect": "Allow",
                    "Action": ["rds:StopDBInstance", "rds:StartDBInstance"],
                    "Resource": database_arn,
                }
            ],
        }
    )
