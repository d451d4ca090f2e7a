"""Following a canary to its verdict. moto has no ListServiceDeployments, so the ECS side is a
local fake that answers with the shapes of botocore's ecs model (ServiceDeploymentBrief,
ServiceDeployment, ServiceRevisionSummary)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from automation.deploy.rollout import check_rollout, follow_rollout, progress_line
from automation.deploy.verify import Polling, VerifyTiming
from infra import outputs as names


def _brief(arn: str, day: int) -> dict[str, Any]:
    return {"serviceDeploymentArn": arn, "createdAt": datetime(2025, 1, day, tzinfo=UTC)}


class FakeEcs:
    """Serves one deployment (plus older, finished ones) whose state moves on each read. The
    list comes `page_size` at a time with a nextToken, in no particular order, as AWS documents
    none."""

    def __init__(
        self,
        states: list[dict[str, Any]],
        briefs: list[dict[str, Any]] | None = None,
        page_size: int = 20,
    ) -> None:
        self.states = states
        self.briefs = briefs or [_brief("old", 1), _brief("new", 2)]
        self.page_size = page_size
        self.reads = 0
        self.pages = 0

    def list_service_deployments(
        self, *, cluster: str, service: str, maxResults: int = 20, nextToken: str = "0"
    ) -> dict[str, Any]:
        assert (cluster, service) == ("alunos-prod-cluster", "alunos-prod-service")
        assert 1 <= maxResults <= 100
        self.pages += 1
        start = int(nextToken)
        end = start + min(maxResults, self.page_size)
        page: dict[str, Any] = {"serviceDeployments": self.briefs[start:end]}
        if end < len(self.briefs):
            page["nextToken"] = str(end)
        return page

    def describe_service_deployments(self, *, serviceDeploymentArns: list[str]) -> dict[str, Any]:
        assert serviceDeploymentArns == ["new"]
        state = self.states[min(self.reads, len(self.states) - 1)]
        self.reads += 1
        return {"serviceDeployments": [state]}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _state(status: str, stage: str, weight: float | None = None, **extra: Any) -> dict[str, Any]:
    revision: dict[str, Any] = {"requestedTaskCount": 2, "runningTaskCount": 2}
    if weight is not None:
        revision["requestedProductionTrafficWeight"] = weight
    return {"status": status, "lifecycleStage": stage, "targetServiceRevision": revision, **extra}


CANARY = [
    _state("IN_PROGRESS", "SCALE_UP", 0.0),
    _state("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 10.0),
    _state("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 10.0),
    _state("IN_PROGRESS", "BAKE_TIME", 100.0),
    _state("SUCCESSFUL", "CLEAN_UP", 100.0),
]


def _polling(clock: Clock) -> Polling:
    return Polling(interval_seconds=30, sleep=clock.sleep, clock=lambda: clock.now)


def test_a_canary_is_followed_through_its_bake_and_each_step_reported() -> None:
    clock = Clock()
    said: list[str] = []
    result = check_rollout(
        FakeEcs(CANARY),
        "alunos-prod-cluster",
        "alunos-prod-service",
        deadline_seconds=3600,
        polling=_polling(clock),
        say=said.append,
    )
    assert result.ok
    assert result.name == "ecs-rollout"
    # One line per change, not per poll.
    assert said == [
        "  rollout: IN_PROGRESS SCALE_UP: 0% of production traffic on the new tasks, 2/2 new tasks running",
        "  rollout: IN_PROGRESS PRODUCTION_TRAFFIC_SHIFT: 10% of production traffic on the new tasks, 2/2 new tasks running",
        "  rollout: IN_PROGRESS BAKE_TIME: 100% of production traffic on the new tasks, 2/2 new tasks running",
        "  rollout: SUCCESSFUL CLEAN_UP: 100% of production traffic on the new tasks, 2/2 new tasks running",
    ]
    assert clock.now == 4 * 30


def test_an_alarm_rollback_fails_the_check_with_ecs_reason() -> None:
    states = [
        _state("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 10.0),
        _state(
            "ROLLBACK_SUCCESSFUL",
            "CLEAN_UP",
            0.0,
            statusReason="CloudWatch alarm alunos-prod-http-5xx-rate is in ALARM",
        ),
    ]
    result = check_rollout(
        FakeEcs(states),
        "alunos-prod-cluster",
        "alunos-prod-service",
        deadline_seconds=3600,
        polling=_polling(Clock()),
    )
    assert not result.ok
    assert result.detail == (
        "release did not finish (ROLLBACK_SUCCESSFUL): "
        "CloudWatch alarm alunos-prod-http-5xx-rate is in ALARM"
    )


def test_a_release_past_its_deadline_fails_saying_where_it_stood() -> None:
    clock = Clock()
    result = check_rollout(
        FakeEcs([_state("IN_PROGRESS", "BAKE_TIME", 100.0)]),
        "alunos-prod-cluster",
        "alunos-prod-service",
        deadline_seconds=90,
        polling=_polling(clock),
    )
    assert not result.ok
    assert result.detail.startswith("release still in progress after 90 s: IN_PROGRESS BAKE_TIME")
    assert clock.now == 90


class Session:
    def __init__(self, ecs: FakeEcs) -> None:
        self.ecs = ecs

    def client(self, name: str) -> FakeEcs:
        assert name == "ecs"
        return self.ecs


def test_only_strategies_that_shift_traffic_are_followed() -> None:
    clock = Clock()
    timing = VerifyTiming(polling=_polling(clock))
    stack = {
        names.CLUSTER_NAME: "alunos-prod-cluster",
        names.SERVICE_NAME: "alunos-prod-service",
        names.ROLLOUT_SECONDS: 1295,
    }
    ecs = FakeEcs(CANARY)
    said: list[str] = []
    for strategy in (None, "rolling"):
        outputs = {**stack, names.DEPLOYMENT_STRATEGY: strategy}
        assert follow_rollout(outputs, Session(ecs), timing, said.append) is None  # type: ignore[arg-type]
    assert ecs.reads == 0
    outputs = {**stack, names.DEPLOYMENT_STRATEGY: "canary"}
    result = follow_rollout(outputs, Session(ecs), timing, said.append)  # type: ignore[arg-type]
    assert result is not None
    assert result.ok
    assert said[0] == "following the canary release (about 22 min)"
    # --skip-verify follows nothing either.
    assert follow_rollout(outputs, Session(ecs), None, said.append) is None  # type: ignore[arg-type]


def test_progress_line_without_traffic_weights() -> None:
    assert progress_line({"status": "PENDING"}) == "PENDING"


class FakeElb:
    """The canary's two groups after a release: the tasks are in the alternate one."""

    def describe_target_health(self, *, TargetGroupArn: str) -> dict[str, Any]:
        healthy = {"Target": {"Id": "10.0.1.5", "Port": 8000}, "TargetHealth": {"State": "healthy"}}
        return {"TargetHealthDescriptions": [healthy] if TargetGroupArn == "tg2" else []}


def test_targets_are_found_in_whichever_group_ecs_left_them() -> None:
    from automation.deploy.verify import check_targets_healthy

    assert check_targets_healthy(FakeElb(), ["tg", "tg2"]).ok
    assert not check_targets_healthy(FakeElb(), "tg").ok


def test_the_newest_deployment_is_found_on_any_page_in_any_order() -> None:
    """ListServiceDeployments pages (nextToken) and documents no order: the newest by createdAt
    is on the second page here, between older ones."""
    briefs = [_brief("old-3", 3), _brief("old-1", 1), _brief("new", 9), _brief("old-2", 2)]
    ecs = FakeEcs(CANARY[-1:], briefs=briefs, page_size=2)
    result = check_rollout(
        ecs,
        "alunos-prod-cluster",
        "alunos-prod-service",
        deadline_seconds=60,
        polling=_polling(Clock()),
    )
    assert result.ok, result.detail
    assert ecs.pages == 2
