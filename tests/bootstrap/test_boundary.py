"""The permissions boundary of each stack's roles: the deploy role creates roles and writes their
policies only with it, can take it off no role and change no CI policy; it grants nothing on IAM
nor another stack's resources; and it allows every permission the program gives its roles, in
every variant the stacks plan (so the boundary never breaks a deploy)."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import pytest

from automation.offline.engine import Plan
from tests.bootstrap.conftest import VARIANTS
from tests.bootstrap.evaluate import allowed_actions, allows, missing
from tests.bootstrap.test_policies import policies

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
CREATES_OR_GRANTS = ("iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary")
BOUNDED = (*CREATES_OR_GRANTS, "iam:AttachRolePolicy")


MOCK_ARN_WITHOUT_NAMES = ("listener/app/", "listener-rule/app/")
"""The mock engine's listener and rule ARNs carry no load balancer name (the real ones do:
listener/app/<lb name>/<lb id>/<id>): those are checked by action only."""


def _boundaries(bootstrapped: Plan) -> dict[str, dict[str, Any]]:
    return {
        name.removeprefix("boundary-"): doc
        for name, doc in policies(bootstrapped).items()
        if name.startswith("boundary-")
    }


def _statements(bootstrapped: Plan, stack: str) -> list[dict[str, Any]]:
    return [
        stmt
        for name, doc in policies(bootstrapped).items()
        if name.startswith(f"deploy-{stack}-")
        for stmt in doc["Statement"]
    ]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_deploy_role_creates_and_grants_roles_only_with_the_boundary(
    self_managed: Plan, stack: str
) -> None:
    boundary = self_managed.outputs[f"{stack}RoleBoundaryArn"]
    assert boundary == f"arn:aws:iam::123456789012:policy/ci-alunos-api-boundary-{stack}"
    statements = _statements(self_managed, stack)
    granting = [
        s
        for s in statements
        if s["Effect"] == "Allow" and set(CREATES_OR_GRANTS) & set(_listed(s["Action"]))
    ]
    assert granting
    for stmt in granting:
        assert stmt["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": boundary}}, stmt
    (guard,) = [s for s in statements if s["Sid"] == "OnlyRolesWithTheBoundary"]
    assert guard["Effect"] == "Deny"
    assert set(guard["Action"]) == set(BOUNDED)
    assert guard["Resource"] == "arn:aws:iam::123456789012:role/*"
    assert guard["Condition"] == {"ArnNotEquals": {"iam:PermissionsBoundary": boundary}}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_boundary_stays_on_and_stays_as_written(self_managed: Plan, stack: str) -> None:
    statements = _statements(self_managed, stack)
    boundary = self_managed.outputs[f"{stack}RoleBoundaryArn"]
    denies = [s for s in statements if s["Effect"] == "Deny" and "Condition" not in s]
    for action in (
        "iam:DeleteRolePermissionsBoundary",
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicy",
    ):
        target = (
            boundary if "Policy" in action else f"arn:aws:iam::123456789012:role/alunos-{stack}-x"
        )
        assert any(
            action in s["Action"] and any(fnmatchcase(target, r) for r in _listed(s["Resource"]))
            for s in denies
        ), f"deploy-{stack} is not denied {action} on {target}"
    edits = ["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicyVersion"]
    assert missing(edits, allowed_actions([{"Statement": statements}])) == edits


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_boundary_grants_no_iam_and_nothing_of_the_other_stack(
    self_managed: Plan, stack: str
) -> None:
    doc = _boundaries(self_managed)[stack]
    actions = allowed_actions([doc])
    assert all(stmt["Effect"] == "Allow" for stmt in doc["Statement"])
    assert not [a for a in actions if a.split(":")[0] in {"iam", "sts", "organizations"}]
    assert not [a for a in actions if a.endswith(":*") or a == "*"]
    other = "prod" if stack == "dev" else "dev"
    assert f"alunos-{other}" not in json.dumps(doc)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_role_the_program_creates_stays_within_its_boundary(
    plans: dict[str, Plan], self_managed: Plan, variant: str
) -> None:
    stack = VARIANTS[variant][0]
    boundary = _boundaries(self_managed)[stack]
    plan = plans[variant]
    checked = 0
    for resource in plan.of_type(ROLE_POLICY):
        for stmt in json.loads(resource.inputs["policy"])["Statement"]:
            for action in _listed(stmt["Action"]):
                for arn in _listed(stmt["Resource"]):
                    checked += 1
                    if any(shape in arn for shape in MOCK_ARN_WITHOUT_NAMES):
                        assert not missing([action], allowed_actions([boundary])), action
                        continue
                    assert allows([boundary], action, arn), (
                        f"{variant}: {resource.name} is given {action} on {arn}, "
                        f"which the boundary of {stack} does not allow"
                    )
    assert checked
    # The capacity instances' role holds its own policy (checked above with the others): the
    # program attaches no managed policy the boundary would have to admit.
    assert not plan.of_type(ATTACHMENT), variant


def test_a_role_policy_outside_the_boundary_is_caught(self_managed: Plan) -> None:
    boundary = _boundaries(self_managed)["dev"]
    assert not allows([boundary], "iam:CreateRole", "arn:aws:iam::123456789012:role/alunos-dev-x")
    assert not allows(
        [boundary],
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:us-east-2:123456789012:secret:alunos-api/prod/db-Ab12Cd",
    )
    assert not allows(
        [boundary], "logs:PutLogEvents", "arn:aws:logs:us-east-2:123456789012:log-group:/ecs/x:*"
    )
