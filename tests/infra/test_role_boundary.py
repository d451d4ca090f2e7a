"""Every role the stack creates carries the bootstrap's permissions boundary when the stack names
one (CI's deploy roles may create roles only with it), and none when it does not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from automation.errors import UsageProblem
from infra import resource_types as types
from tests.infra.conftest import PlanView

BOUNDARY = "arn:aws:iam::111122223333:policy/ci-alunos-api-boundary-dev"

EVERY_ROLE = {
    # capacity ec2: the instances' role; a canary: ECS's infrastructure role; dev's schedule:
    # the scheduler's role; every stack: the execution and task roles.
    "dev": {"capacity": "ec2", "natGateways": "Single", "spotPercent": 0},
    "prod": {},
}


@pytest.mark.parametrize("stack", sorted(EVERY_ROLE))
def test_every_role_carries_the_boundary(stack_plan: Callable[..., PlanView], stack: str) -> None:
    plan = stack_plan(stack, {**EVERY_ROLE[stack], "rolePermissionsBoundaryArn": BOUNDARY})
    roles = plan.of_type(types.ROLE)
    assert len(roles) >= 3
    assert {role.name: role.inputs.get("permissionsBoundary") for role in roles} == {
        role.name: BOUNDARY for role in roles
    }


def test_without_a_boundary_no_role_gets_one(stack_plan: Callable[..., PlanView]) -> None:
    roles = stack_plan("dev").of_type(types.ROLE)
    assert roles
    assert all(not role.inputs.get("permissionsBoundary") for role in roles)


def test_a_boundary_that_is_not_a_policy_arn_is_refused(
    stack_plan: Callable[..., PlanView],
) -> None:
    with pytest.raises(UsageProblem, match="alunos-api:rolePermissionsBoundaryArn"):
        stack_plan("dev", {"rolePermissionsBoundaryArn": "ci-alunos-api-boundary-dev"})
