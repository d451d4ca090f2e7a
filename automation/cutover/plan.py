"""What a cutover run does, decided from the records as read: a list of steps.

A step is a change batch, a wait for resolvers to forget an old TTL, or a bake. The steps are
decided once, from the records and the time; each batch is built from the records as the run
last saw them (`batch`): as read at its start, then as its own batches left them
(`records.after`). Never from a read in between: a revert or a "baked" built on a fresh read
would carry on from whatever someone else just wrote (undo their rollback, or mark weights as
baked that never were), while one built on what the run wrote carries DELETEs that Route 53
rejects once someone else has changed the name. A dry run builds the same batches on the same
simulation, so what a reviewer reads is what `--execute` sends. Every decision looks only at
Route 53 and the clock: a run interrupted anywhere resumes on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from automation.cutover import records
from automation.cutover.records import Change, Layout, LoadBalancer, Phase, State, Weights


class Kind(StrEnum):
    LOWER_TTL = "lower-ttl"
    WAIT_TTL = "wait-ttl"
    SPLIT = "split"
    WEIGHTS = "weights"
    BAKE = "bake"
    BAKED = "baked"
    FINISH = "finish"
    REVERT = "revert"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Step:
    kind: Kind
    summary: str
    weights: Weights
    """The weights once the step is done."""
    seconds: float = 0.0
    """How long a wait or a bake lasts."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "summary": self.summary,
            "weights": {"legacy": self.weights.legacy, "fargate": self.weights.fargate},
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]
    before: Weights
    """The weights before this run: where a breached bake goes back to."""
    nothing_to_do: str = ""
    """Why the run has nothing to do (exit 0)."""
    refused: str = ""
    """Why the run may not go ahead (exit 1)."""

    @property
    def raises_share(self) -> bool:
        """Whether the run sends more traffic to the new service (then it must be healthy)."""
        return any(s.weights.percent > self.before.percent for s in self.steps)


def _stale(current: Layout, target: LoadBalancer) -> bool:
    return current.fargate is not None and not current.fargate.points_at(target.dns_name)


def _move_summary(current: Layout, weights: Weights, target: LoadBalancer) -> str:
    summary = f"set {current.name} to {weights} ({weights.percent} % to Fargate)"
    if _stale(current, target):
        summary += f"; point `fargate` at {target.dns_name}"
    return summary


def plan_move(
    current: Layout, percent: int, target: LoadBalancer, *, now: datetime, bake_seconds: float
) -> Plan:
    """Steps that bring the new service's share of answers to `percent`."""
    wanted = Weights.at(percent)
    before = current.weights
    state = current.trusted_state
    if current.phase is Phase.FINISHED:
        if percent != 100:
            return Plan(
                (),
                before,
                refused=f"{current.name} has no legacy record any more (--finish removed it): "
                "to send traffic back to EC2, recreate it by hand, in one change batch with "
                f"`{records.FARGATE}` at weight 0 (docs/cutover.md, going back after --finish)",
            )
        if _stale(current, target):
            step = Step(Kind.WEIGHTS, _move_summary(current, wanted, target), wanted)
            return Plan((step,), before)
        return Plan((), before, nothing_to_do="the cutover is finished")

    steps: list[Step] = []
    if current.phase is Phase.PLAIN:
        if percent == 0:
            if state is not None and state.ttl_lowered is not None and not _held(state):
                # A run may be waiting out the TTL to split the name: rewriting the state makes
                # its split fail (its DELETE of the state no longer matches) instead of going on.
                summary = "record that every answer stays with EC2 (stops a run waiting to move)"
                return Plan((Step(Kind.HOLD, summary, before),), before)
            return Plan((), before, nothing_to_do="every answer already goes to EC2")
        ttl = current.plain.ttl
        if ttl is not None and ttl > records.MOVING_TTL:
            steps.append(
                Step(
                    Kind.LOWER_TTL,
                    f"lower the TTL of {current.name} from {ttl} s to {records.MOVING_TTL} s",
                    before,
                )
            )
            steps.append(
                Step(
                    Kind.WAIT_TTL,
                    f"wait {ttl} s for resolvers to forget answers cached with the old TTL",
                    before,
                    seconds=float(ttl),
                )
            )
        elif state is not None and state.ttl_lowered is not None and state.old_ttl:
            left = state.old_ttl - (now - state.ttl_lowered).total_seconds()
            if left > 0:
                steps.append(
                    Step(
                        Kind.WAIT_TTL,
                        f"wait {left:.0f} s more for resolvers to forget answers cached with "
                        f"the old TTL ({state.old_ttl} s, lowered at "
                        f"{state.ttl_lowered:%Y-%m-%d %H:%M:%S}Z)",
                        before,
                        seconds=left,
                    )
                )
        steps.append(
            Step(
                Kind.SPLIT,
                f"make {current.name} a weighted pair: {wanted} ({percent} % to Fargate)",
                wanted,
            )
        )
    elif before != wanted or _stale(current, target):
        steps.append(Step(Kind.WEIGHTS, _move_summary(current, wanted, target), wanted))
    elif percent == 0 or (state is not None and state.baked is not None):
        return Plan((), before, nothing_to_do=f"the weights are already {wanted}")
    # else: at these weights, but their bake never completed (interrupted): bake them now.

    if wanted.fargate > 0 and wanted.percent >= before.percent and bake_seconds > 0:
        steps.append(
            Step(
                Kind.BAKE,
                f"bake {bake_seconds:.0f} s: watch the new service's alarms, go back to "
                f"{before} on ALARM",
                wanted,
                seconds=bake_seconds,
            )
        )
        steps.append(Step(Kind.BAKED, "record that these weights baked", wanted))
    return Plan(tuple(steps), before)


def _held(state: State) -> bool:
    """Whether `--to 0` was recorded since the TTL was lowered (then a hold is done)."""
    return (
        state.since is not None
        and state.ttl_lowered is not None
        and (state.since >= state.ttl_lowered)
    )


def plan_finish(current: Layout) -> Plan:
    """The end of the cutover: remove `legacy`, only from 100 % Fargate after a bake."""
    before = current.weights
    if current.phase is Phase.FINISHED:
        return Plan((), before, nothing_to_do="the cutover is already finished")
    if current.phase is Phase.PLAIN:
        return Plan((), before, refused="no traffic has moved yet: run --to first")
    if before != Weights(0, 100):
        return Plan(
            (),
            before,
            refused=f"the weights are {before}: --finish needs legacy 0 / fargate 100 "
            "(run --to 100 first)",
        )
    state = current.trusted_state
    if state is None or state.baked is None or state.since is None or state.baked < state.since:
        return Plan(
            (),
            before,
            refused="legacy 0 / fargate 100 has not baked yet: run --to 100 again to bake it",
        )
    assert current.legacy is not None
    step = Step(Kind.FINISH, f"remove the legacy record ({current.legacy.describe()})", before)
    return Plan((step,), before)


def revert_step(plan: Plan) -> Step:
    return Step(Kind.REVERT, f"go back to {plan.before} (the weights before this run)", plan.before)


def batch(step: Step, current: Layout, target: LoadBalancer, now: datetime) -> list[Change]:
    """The change batch for `step` from the records as the run last saw them ([] for waits)."""
    state = current.trusted_state
    if step.kind is Kind.HOLD:
        assert state is not None
        return records.remember(current, replace(state, since=now))
    if step.kind is Kind.LOWER_TTL:
        ttl = current.plain.ttl
        lowered = State(100, 0, since=state.since if state else None, ttl_lowered=now, old_ttl=ttl)
        return records.lower_ttl(current, lowered)
    if step.kind is Kind.SPLIT:
        fresh = State(step.weights.legacy, step.weights.fargate, since=now)
        return records.split(current, target, step.weights, fresh)
    if step.kind in (Kind.WEIGHTS, Kind.REVERT):
        if current.weights == step.weights and state is not None:
            fresh = state  # re-pointing `fargate` only: the weights hold since before
        else:
            fresh = State(step.weights.legacy, step.weights.fargate, since=now)
        if current.phase is Phase.FINISHED:
            fresh = replace(fresh, finished=fresh.finished or now, baked=fresh.baked or now)
        return records.reweigh(current, target, step.weights, fresh)
    if step.kind is Kind.BAKED:
        base = state or State(step.weights.legacy, step.weights.fargate, since=now)
        return records.remember(current, replace(base, baked=now))
    if step.kind is Kind.FINISH:
        assert state is not None
        return records.remove_legacy(current, replace(state, finished=now))
    return []


def simulate(
    plan: Plan, current: Layout, target: LoadBalancer, now: datetime
) -> list[tuple[Step, list[Change]]]:
    """Each step with the batch it would send, the clock moved on by the waits before it."""
    shown = []
    for step in plan.steps:
        changes = batch(step, current, target, now)
        shown.append((step, changes))
        current = records.after(current, changes)
        now += timedelta(seconds=step.seconds)
    return shown
