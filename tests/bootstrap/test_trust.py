"""Who may assume the CI roles: one exact GitHub subject each, GitHub's audience for STS."""

from __future__ import annotations

import json
from typing import Any

from automation.offline.engine import Plan
from bootstrap.settings import GITHUB_ISSUER
from tests.bootstrap.conftest import IAM_POLICY, OIDC_PROVIDER, REPOSITORY
from tests.bootstrap.lint import findings

ROLE = "aws:iam/role:Role"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{GITHUB_ISSUER}"
SUBJECTS = {
    "deploy-dev": f"repo:{REPOSITORY}:environment:dev",
    "deploy-prod": f"repo:{REPOSITORY}:environment:prod",
    "preview": f"repo:{REPOSITORY}:pull_request",
}


def trusts(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.name: json.loads(r.inputs["assumeRolePolicy"]) for r in plan.of_type(ROLE)}


def test_each_role_trusts_exactly_one_subject_with_sts_audience(self_managed: Plan) -> None:
    found = trusts(self_managed)
    assert set(found) == set(SUBJECTS)
    for role, doc in found.items():
        (stmt,) = doc["Statement"]
        assert stmt["Effect"] == "Allow"
        assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert stmt["Principal"] == {"Federated": PROVIDER}
        assert stmt["Condition"] == {
            "StringEquals": {
                f"{GITHUB_ISSUER}:aud": "sts.amazonaws.com",
                f"{GITHUB_ISSUER}:sub": SUBJECTS[role],
            }
        }, role
        assert "*" not in json.dumps(stmt["Condition"])
        assert "?" not in SUBJECTS[role]


def test_dev_never_trusts_prod_nor_prod_dev(self_managed: Plan) -> None:
    found = {role: json.dumps(doc) for role, doc in trusts(self_managed).items()}
    assert "environment:prod" not in found["deploy-dev"]
    assert "environment:dev" not in found["deploy-prod"]
    assert "environment:" not in found["preview"]


def test_trust_policies_lint_clean_but_for_what_parliament_cannot_know(self_managed: Plan) -> None:
    # parliament lints identity policies (a trust policy names a Principal, not a Resource),
    # and knows only a few federation sources, not an account's own OIDC provider.
    allowed = {"MALFORMED", "UNKNOWN_FEDERATION_SOURCE"}
    for role, doc in trusts(self_managed).items():
        assert not findings(doc, allowed=allowed), role


def test_session_lengths_cover_the_jobs(self_managed: Plan) -> None:
    sessions = {r.name: r.inputs["maxSessionDuration"] for r in self_managed.of_type(ROLE)}
    assert sessions == {"deploy-dev": 3600, "deploy-prod": 7200, "preview": 3600}


def test_an_existing_provider_is_referenced_not_created(bootstrap: Any) -> None:
    existing = f"arn:aws:iam::210987654321:oidc-provider/{GITHUB_ISSUER}"
    plan = bootstrap(githubOidcProviderArn=existing)
    assert not plan.of_type(OIDC_PROVIDER)
    assert plan.outputs["githubOidcProviderArn"] == existing
    for doc in trusts(plan).values():
        assert doc["Statement"][0]["Principal"] == {"Federated": existing}
    assert plan.of_type(IAM_POLICY)


def test_a_new_provider_is_github_for_sts_and_protected(self_managed: Plan) -> None:
    (provider,) = self_managed.of_type(OIDC_PROVIDER)
    assert provider.inputs["url"] == f"https://{GITHUB_ISSUER}"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert provider.protect
