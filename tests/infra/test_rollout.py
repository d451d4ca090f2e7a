"""Release strategies under the mock engine: what each one adds to the stack, and what it
refuses."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from infra import outputs
from infra import resource_types as types
from infra.rollout import Rollout, TargetTiming, from_service_inputs, limits
from tests.infra.conftest import PlanView, configured_rollout, plan_failure


def _shift(view: PlanView) -> dict[str, object]:
    (balancer,) = view.one(types.SERVICE)["loadBalancers"]
    return balancer.get("advancedConfiguration") or {}


def test_dev_rolls_out_with_no_second_target_group(dev: PlanView) -> None:
    assert dev.one(types.SERVICE)["deploymentConfiguration"] == {"strategy": "ROLLING"}
    assert len(dev.of_type(types.TARGET_GROUP)) == 1
    assert dev.of_type(types.LISTENER_RULE) == []
    assert _shift(dev) == {}
    assert dev.outputs[outputs.DEPLOYMENT_STRATEGY] == "rolling"


def test_prod_releases_a_canary_through_two_target_groups(prod: PlanView) -> None:
    config = prod.one(types.SERVICE)["deploymentConfiguration"]
    assert config == {
        "strategy": "CANARY",
        "bakeTimeInMinutes": "10",
        "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": "10"},
    }
    main, alternate = (
        prod.resource(types.TARGET_GROUP, n) for n in ("alunos-prod-tg", "alunos-prod-tg2")
    )
    assert alternate.inputs["healthCheck"] == main.inputs["healthCheck"]
    assert alternate.inputs["deregistrationDelay"] == main.inputs["deregistrationDelay"]
    rules = {r.name: r for r in prod.of_type(types.LISTENER_RULE)}
    assert set(rules) == {"alunos-prod-production", "alunos-prod-test"}
    https = prod.resource(types.LISTENER, "alunos-prod-https")
    for rule in rules.values():
        # On the HTTPS listener (HTTP only redirects), forwarding to both groups, 100/0; ECS
        # moves the weights from then on, and `pulumi up` must not move them back.
        assert https.urn in rule.dependencies
        (forward,) = rule.inputs["actions"]
        weights = [g["weight"] for g in forward["forward"]["targetGroups"]]
        assert weights == [100, 0]
        assert rule.ignore_changes == ("actions[*].forward.targetGroups[*].weight",)
    test = rules["alunos-prod-test"].inputs
    assert test["priority"] < rules["alunos-prod-production"].inputs["priority"]
    assert test["conditions"][0]["httpHeader"]["httpHeaderName"] == "X-Alunos-Test-Traffic"
    shift = _shift(prod)
    assert set(shift) == {
        "alternateTargetGroupArn",
        "productionListenerRule",
        "testListenerRule",
        "roleArn",
    }
    assert prod.outputs[outputs.ALTERNATE_TARGET_GROUP_ARN] == shift["alternateTargetGroupArn"]


def test_the_infrastructure_role_reaches_only_this_services_rules_and_groups(
    prod: PlanView,
) -> None:
    role = prod.one(types.ROLE, "alunos-prod-ecs-infra")
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "ecs.amazonaws.com"}
    policy = json.loads(prod.one(types.ROLE_POLICY, "alunos-prod-ecs-infra")["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert set(by_sid) == {
        "ELBReadOperations",
        "TargetGroupOperations",
        "ALBModifyListeners",
        "ALBModifyRules",
    }
    groups = by_sid["TargetGroupOperations"]["Resource"]
    assert len(groups) == 2
    assert all(":targetgroup/alunos-prod-tg" in arn for arn in groups)
    rules = by_sid["ALBModifyRules"]["Resource"]
    assert len(rules) == 2
    assert all(":listener-rule/app/" in arn for arn in rules)
    assert ":listener/app/" in by_sid["ALBModifyListeners"]["Resource"]
    # Only the reads, which have no resource type, are on "*".
    assert [s["Sid"] for s in policy["Statement"] if s["Resource"] == "*"] == ["ELBReadOperations"]


def test_the_canary_is_rolled_back_by_alarms_that_watch_both_groups(prod: PlanView) -> None:
    service = prod.one(types.SERVICE)
    assert service["alarms"]["rollback"] is True
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    unhealthy = prod.one(types.METRIC_ALARM, "alunos-prod-unhealthy")
    groups = {
        q["metric"]["dimensions"]["TargetGroup"]
        for q in unhealthy["metricQueries"]
        if "metric" in q
    }
    assert groups == {
        prod.outputs[outputs.TARGET_GROUP_ARN].split(":", 5)[5],
        prod.outputs[outputs.ALTERNATE_TARGET_GROUP_ARN].split(":", 5)[5],
    }
    (returned,) = [q for q in unhealthy["metricQueries"] if q.get("returnData")]
    assert returned["expression"] == "MAX([FILL(main, 0), FILL(alternate, 0)])"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"deploymentStrategy": "linear", "linearStepPercent": 25, "linearStepMinutes": 3},
            {
                "strategy": "LINEAR",
                "bakeTimeInMinutes": "10",
                "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": "3"},
            },
        ),
        (
            {"deploymentStrategy": "blue_green", "deploymentBakeMinutes": 0},
            {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": "0"},
        ),
    ],
)
def test_linear_and_blue_green_on_dev_use_the_http_listener(
    stack_plan: Callable[..., PlanView], overrides: dict[str, object], expected: dict[str, object]
) -> None:
    view = stack_plan("dev", overrides)
    assert view.one(types.SERVICE)["deploymentConfiguration"] == expected
    http = view.resource(types.LISTENER, "alunos-dev-http")
    assert all(http.urn in r.dependencies for r in view.of_type(types.LISTENER_RULE))
    assert len(view.of_type(types.LISTENER_RULE)) == 2


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"deploymentStrategy": "gradual"}, "deploymentStrategy: 'gradual' is not valid"),
        ({"deploymentStrategy": "canary", "canaryPercent": 0}, "canaryPercent: 0 is not valid"),
        ({"deploymentStrategy": "linear", "linearStepPercent": 2}, "linearStepPercent: 2"),
        ({"deploymentBakeMinutes": 1441}, "deploymentBakeMinutes: 1441 is not valid"),
        # A canary (or a linear step) no bigger than the 5xx alarm's threshold cannot trip it.
        (
            {"deploymentStrategy": "canary", "canaryPercent": 5},
            "alunos-api:canaryPercent: canary sends 5% of requests to the new tasks first, but "
            "alunos-api:alarm5xxPercent is 5%",
        ),
        (
            {"deploymentStrategy": "linear", "linearStepPercent": 4, "alarm5xxPercent": 10},
            "allowed: linearStepPercent above alarm5xxPercent (11..100), or alarm5xxPercent "
            "below 4.",
        ),
        (
            {"deploymentStrategy": "blue_green", "alarm5xxPercent": 100},
            "allowed: alarm5xxPercent below 100.",
        ),
    ],
)
def test_out_of_range_settings_fail_the_plan(
    stack_plan: Callable[..., PlanView], overrides: dict[str, object], expected: str
) -> None:
    assert expected in plan_failure(stack_plan, "dev", overrides)


def test_rollout_times_at_prod_settings_next_to_rolling() -> None:
    prod_timing = TargetTiming(
        health_check_interval=10, healthy_threshold=2, deregistration_delay=15
    )
    assert configured_rollout("dev").seconds(prod_timing) == 60 + 20 + 15
    canary = configured_rollout("prod")
    assert canary.strategy == "canary"
    assert canary.seconds(prod_timing) == 95 + 20 * 60
    linear = configured_rollout(strategy="linear", linear_step_percent=30, linear_step_minutes=5)
    assert linear.linear_steps == 4  # 30, 60, 90, 100: AWS waits between steps, not after
    assert linear.traffic_minutes == 3 * 5 + 10
    assert configured_rollout(strategy="blue_green", bake_minutes=0).traffic_minutes == 0


def test_the_rollout_reads_back_from_the_service_inputs(prod: PlanView, dev: PlanView) -> None:
    # The service carries its own strategy's parameters only: a canary's linear ones read 0.
    expected = configured_rollout("prod", linear_step_percent=0, linear_step_minutes=0)
    assert from_service_inputs(prod.one(types.SERVICE)) == expected
    assert from_service_inputs(dev.one(types.SERVICE)).strategy == "rolling"


def test_the_rollout_has_no_defaults_of_its_own() -> None:
    """Pulumi.yaml holds the defaults (issue 19.3): a Rollout cannot be made without them."""
    with pytest.raises(TypeError):
        Rollout()  # type: ignore[call-arg]
    assert set(limits()) == set(configured_rollout().numbers)


def test_a_canary_above_the_alarm_threshold_plans(stack_plan: Callable[..., PlanView]) -> None:
    view = stack_plan("dev", {"deploymentStrategy": "canary", "canaryPercent": 6})
    config = view.one(types.SERVICE)["deploymentConfiguration"]
    assert config["canaryConfiguration"]["canaryPercent"] == 6.0
