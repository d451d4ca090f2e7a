"""Carry out one instance's plan, step after step; a failure stops that instance only.

Each completed step is recorded on the instance (`alunos-api:decommission:step`), and every step
checks the current state before acting, so the next run resumes where this one stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from automation.decommission.plan import InstancePlan, Options, Status
from automation.decommission.progress import STEP, format_time
from automation.decommission.steps import Context, StepFailed, Stop, Terminate
from automation.deploy.aws_errors import describe


@dataclass(frozen=True, slots=True)
class Action:
    step: str
    detail: str
    done: bool

    def to_json(self) -> dict[str, str | bool]:
        return {"step": self.step, "detail": self.detail, "done": self.done}


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    reason: str
    actions: tuple[Action, ...]
    state: str


def planned_actions(plan: InstancePlan) -> tuple[Action, ...]:
    return tuple(Action(step.name, step.describe(), done=False) for step in plan.steps)


def execute(plan: InstancePlan, ctx: Context, options: Options) -> Outcome:
    iid, state = ctx.iid, plan.instance.state
    done: list[Action] = []
    for step in plan.steps:
        ctx.say(f"{iid}: {step.describe()}")
        try:
            detail = step.run(ctx)
            if step.progress is not None:
                ctx.tag(**{STEP: step.progress})
        except StepFailed as failure:
            return Outcome(Status.FAILED, f"{step.name} failed: {failure}", tuple(done), state)
        except (ClientError, BotoCoreError) as error:
            reason = describe(error, step.name)
            if isinstance(error, WaiterError):  # it gave up waiting: the next run waits again
                reason += "; run again to resume"
            return Outcome(Status.FAILED, reason, tuple(done), state)
        done.append(Action(step.name, detail, done=True))
        if isinstance(step, Stop):
            state = "stopped"
        elif isinstance(step, Terminate):
            state = "terminated"
    backup = ctx.backup or plan.backup
    kept = f"backup {backup}" if backup else "no backup recorded"
    if plan.terminates:
        return Outcome(Status.DONE, f"terminated; {kept}", tuple(done), state)
    if plan.held:
        return Outcome(Status.DONE, f"stopped, {kept}; {plan.held}", tuple(done), state)
    stopped_at = ctx.stopped_at or plan.stopped_at
    due = format_time(stopped_at + timedelta(days=options.retain_days)) if stopped_at else "?"
    return Outcome(
        Status.DONE,
        f"stopped, {kept}; terminate on a run after {due} (--retain-days "
        f"{options.retain_days}) or with --terminate-now",
        tuple(done),
        state,
    )
