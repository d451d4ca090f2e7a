"""Trust policies: who may assume each CI role. Only GitHub Actions jobs of this repository, each
role for exactly one OIDC subject, with the audience the official action asks for.

GitHub sets `sub` to `repo:OWNER/REPO:environment:NAME` for a job that names an environment and
to `repo:OWNER/REPO:pull_request` for a pull request's job
(https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect#example-subject-claims),
and aws-actions/configure-aws-credentials asks for the audience `sts.amazonaws.com`
(https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services).
IAM checks both through the condition keys `token.actions.githubusercontent.com:aud` and
`:sub` (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html#idp_oidc_Create_GitHub).
StringEquals, never StringLike: one exact subject per role, so the dev role's subject can never
match a prod job's token, nor a branch's, nor another repository's.
"""

from __future__ import annotations

from bootstrap.iam import Document, document, statement
from bootstrap.settings import GITHUB_AUDIENCE, GITHUB_ISSUER

PULL_REQUEST = "pull_request"


def environment_subject(repository: str, environment: str) -> str:
    return f"repo:{repository}:environment:{environment}"


def pull_request_subject(repository: str) -> str:
    return f"repo:{repository}:{PULL_REQUEST}"


def github_trust(provider_arn: str, subject: str) -> Document:
    """Jobs whose token carries exactly `subject` (and GitHub's audience for STS) may assume."""
    found = statement(
        "GitHubActionsOidc",
        ["sts:AssumeRoleWithWebIdentity"],
        "*",
        {
            "StringEquals": {
                f"{GITHUB_ISSUER}:aud": GITHUB_AUDIENCE,
                f"{GITHUB_ISSUER}:sub": subject,
            }
        },
    )
    # A trust policy names a principal instead of resources.
    del found["Resource"]
    found["Principal"] = {"Federated": provider_arn}
    found["Action"] = "sts:AssumeRoleWithWebIdentity"
    return document([found])
