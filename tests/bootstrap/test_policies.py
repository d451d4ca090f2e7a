"""Every permission policy the bootstrap declares, linted by parliament and held to its scope."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automation.offline.engine import Plan
from bootstrap.iam import size
from tests.bootstrap.conftest import IAM_POLICY
from tests.bootstrap.lint import findings

ALLOWED: dict[str, tuple[str, ...]] = {
    # The read policy's describe/list calls run on every resource of their type: the preview
    # refreshes each stack's resources, whose EC2/ACM ids are not known before they exist. A
    # boundary (named boundary-<stack>) bounds the ECS agent's Poll and StartTelemetrySession on
    # "*", as AmazonEC2ContainerServiceforEC2Role grants them: a boundary scoped to container
    # instances would deny the agent wherever IAM evaluates them without a resource.
    "RESOURCE_STAR": ("read", "boundary"),
    # The stack's own access-log bucket needs a bucket policy (ELB's log delivery); with it the
    # role could grant itself its own stack's logs, nothing more.
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION": ("edge",),
}
"""Finding -> the policy kinds where it is allowed, for the reason given."""

NLB_FORMATS = ("/net/", "/gwy/")
"""ELB's reference lists network and gateway load balancers' ARNs beside the application
ones for listener actions; the stack has application load balancers only."""


def policies(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.name: json.loads(r.inputs["policy"]) for r in plan.of_type(IAM_POLICY)}


def _covered(doc: dict[str, Any], action: str, required: str) -> bool:
    """Another statement allows `action` on the resource type `required` names (tag-on-create
    splits one call's resources over statements: the new one by request tags, the existing
    ones it names by resource tags)."""
    kind = required.split(":", 5)[5].split("/")[0]
    for stmt in doc["Statement"]:
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        if action in stmt["Action"] and any(
            r.split(":", 5)[5].split("/")[0] == kind for r in resources
        ):
            return True
    return False


@pytest.mark.parametrize("backend", ["false", "true"])
def test_every_policy_passes_parliament(bootstrap: Any, backend: str) -> None:
    found = policies(bootstrap(selfManagedBackend=backend))
    # The roles' policies (17 with the backend, 14 without) and a permissions boundary per stack.
    assert len(found) == (19 if backend == "true" else 16)
    for name, doc in found.items():
        kind = "boundary" if name.startswith("boundary-") else name.rsplit("-", 1)[1]
        allowed = {issue for issue, where in ALLOWED.items() if kind in where}
        problems = findings(doc, allowed=allowed | {"RESOURCE_MISMATCH"})
        assert not problems, f"{name}: {problems}"
        for detail in _mismatch_details(doc):
            action, required = detail["action"], detail["required_format"]
            assert any(m in required for m in NLB_FORMATS) or _covered(doc, action, required), (
                f"{name}: no statement allows {action} on {required}"
            )


def _mismatch_details(doc: dict[str, Any]) -> list[dict[str, str]]:
    from tests.bootstrap.lint import parliament

    policy = parliament.analyze_policy_string(
        json.dumps(doc), include_community_auditors=False, ignore_private_auditors=True
    )
    return [d for f in policy.findings if f.issue == "RESOURCE_MISMATCH" for d in f.detail]


def test_a_broken_policy_is_caught() -> None:
    """The linter is live: an unknown action and a resource of the wrong type are findings."""
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ecs:CreateServce"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["ecr:PutImage"], "Resource": "arn:aws:s3:::x"},
        ],
    }
    issues = {f.split(":")[0] for f in findings(doc)}
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues
    assert _mismatch_details(doc)
    assert not _covered(doc, "ecr:PutImage", "arn:*:ecr:*:*:repository/*")


def test_policies_fit_iam_quotas(self_managed: Plan) -> None:
    """6,144 characters per managed policy, 10 managed policies per role."""
    for name, doc in policies(self_managed).items():
        assert size(doc) <= 6144, name
    per_role: dict[str, int] = {}
    for name in policies(self_managed):
        role = name.rsplit("-", 1)[0]
        per_role[role] = per_role.get(role, 0) + 1
    assert per_role
    assert max(per_role.values()) <= 10


def test_a_deploy_role_reaches_only_its_own_stack(self_managed: Plan) -> None:
    found = policies(self_managed)
    for own, other in (("dev", "prod"), ("prod", "dev")):
        for name, doc in found.items():
            if not name.startswith(f"deploy-{own}-") or name.endswith("-read"):
                continue
            text = json.dumps(doc)
            assert f"alunos-{other}" not in text, name
            assert f'"environment": "{other}"' not in text, name
            assert f"/{other}.json" not in text, name


PASSED_ROLES = {
    "PassTaskRolesToEcs": ("", "ecs-tasks.amazonaws.com"),
    # ECS itself gets only the stack's infrastructure role (a canary's traffic).
    "PassInfrastructureRoleToEcs": ("ecs-infra-", "ecs.amazonaws.com"),
    # The capacity instances' role, to EC2 (their instance profile).
    "PassInstanceRoleToEc2": ("instance-", "ec2.amazonaws.com"),
    # The role that stops and starts the database, to EventBridge Scheduler.
    "PassSchedulerRole": ("db-scheduler-", "scheduler.amazonaws.com"),
}
"""A PassRole statement -> the stack's roles it passes (name after the prefix) and to whom."""


def test_pass_role_only_to_its_service_and_only_the_stacks_roles(self_managed: Plan) -> None:
    seen = set()
    for name, doc in policies(self_managed).items():
        for stmt in doc["Statement"]:
            if "iam:PassRole" not in stmt["Action"]:
                continue
            stack = name.split("-")[1]
            assert stmt["Action"] == ["iam:PassRole"]
            role, service = PASSED_ROLES[stmt["Sid"]]
            seen.add(stmt["Sid"])
            assert stmt["Resource"] == f"arn:aws:iam::123456789012:role/alunos-{stack}-{role}*"
            assert stmt["Condition"] == {"StringEquals": {"iam:PassedToService": service}}
    assert seen == set(PASSED_ROLES)


def test_the_preview_role_cannot_change_anything(self_managed: Plan) -> None:
    writes = ("Create", "Delete", "Put", "Update", "Modify", "Register", "Tag", "Untag", "Pass")
    preview = {n: d for n, d in policies(self_managed).items() if n.startswith("preview-")}
    assert set(preview) == {"preview-read", "preview-state"}
    for name, doc in preview.items():
        for stmt in doc["Statement"]:
            for action in stmt["Action"]:
                verb = action.split(":")[1]
                assert not verb.startswith(writes), f"{name}: {action}"
                assert action not in {"kms:Encrypt", "kms:GenerateDataKey", "s3:PutObject"}
            assert "secretsmanager:GetSecretValue" not in stmt["Action"]


def test_migration_only_for_the_environment_that_runs_it(self_managed: Plan) -> None:
    names = set(policies(self_managed))
    assert "deploy-prod-migration" in names
    assert "deploy-dev-migration" not in names
