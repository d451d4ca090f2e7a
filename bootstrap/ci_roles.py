"""The CI roles: GitHub's OIDC provider (or the account's existing one), a deploy role per
GitHub environment and the pull requests' read-only preview role, each with its managed
policies (documents from deploy_access, read_access, migration_access and state_access).

Managed policies rather than inline ones: each document stays under IAM's 6,144 characters per
managed policy, where inline policies share 10,240 per role; a role has at most 10 attached
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). The migrate
workflow runs in the prod environment, so its job gets prod's deploy role (the same OIDC subject
cannot choose between two roles): that role carries the migration policy too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

import pulumi
import pulumi_aws as aws

from bootstrap import boundary, deploy_access, migration_access, read_access, state_access, trust
from bootstrap.iam import Account, Document
from bootstrap.settings import (
    CI_ROLE_PREFIX,
    GITHUB_AUDIENCE,
    GITHUB_ISSUER,
    PREVIEW_SESSION_SECONDS,
    Settings,
    Stack,
)
from bootstrap.state_backend import StateBackend

Policies = dict[str, pulumi.Output[Document]]
"""A role's policy documents by name, resolved once the account id (and the backend) are known."""


class CiRoles(pulumi.ComponentResource):
    provider_arn: pulumi.Output[str]
    deploy_role_arns: dict[str, pulumi.Output[str]]
    boundary_arns: dict[str, pulumi.Output[str]]
    """Stack name -> the permissions boundary every role of that stack must carry."""
    preview_role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        settings: Settings,
        account_id: pulumi.Output[str],
        state: StateBackend | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("alunos-api:bootstrap:CiRoles", name, None, opts)
        if settings.oidc_provider_arn:
            self.provider_arn = pulumi.Output.from_input(settings.oidc_provider_arn)
        else:
            provider = aws.iam.OpenIdConnectProvider(
                "github",
                url=f"https://{GITHUB_ISSUER}",
                client_id_lists=[GITHUB_AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            self.provider_arn = provider.arn

        self.deploy_role_arns = {}
        self.boundary_arns = {}
        for stack in settings.stacks:
            self.boundary_arns[stack.name] = aws.iam.Policy(
                f"boundary-{stack.name}",
                name=boundary.name(stack),
                description=f"The most any role of the alunos-api stack {stack.name} may do",
                policy=account_id.apply(partial(_boundary_document, stack)),
                opts=pulumi.ResourceOptions(parent=self),
            ).arn
            policies = _deploy_policies(settings, stack, account_id, state)
            self.deploy_role_arns[stack.name] = self._role(
                f"deploy-{stack.name}",
                trust.environment_subject(settings.repository, stack.name),
                stack.environment.max_session_seconds,
                policies,
                f"Deploys the alunos-api stack {stack.name} from GitHub environment {stack.name}",
            )

        preview: Policies = {
            "read": account_id.apply(lambda account: read_access.read(settings.stacks, account))
        }
        if state is not None:
            names = [stack.name for stack in settings.stacks]
            preview["state"] = pulumi.Output.all(
                state.bucket_name, *(state.key_arns[n] for n in names)
            ).apply(
                lambda found: state_access.preview_state(
                    found[0], settings.stacks, dict(zip(names, found[1:], strict=True))
                )
            )
        self.preview_role_arn = self._role(
            "preview",
            trust.pull_request_subject(settings.repository),
            PREVIEW_SESSION_SECONDS,
            preview,
            "Previews the alunos-api stacks from pull requests: read only",
        )
        self.register_outputs(
            {
                "deployRoleArns": self.deploy_role_arns,
                "boundaryArns": self.boundary_arns,
                "previewRoleArn": self.preview_role_arn,
            }
        )

    def _role(
        self,
        name: str,
        subject: str,
        max_session_seconds: int,
        policies: Policies,
        description: str,
    ) -> pulumi.Output[str]:
        role = aws.iam.Role(
            name,
            name=f"{CI_ROLE_PREFIX}{name}",
            description=description,
            assume_role_policy=self.provider_arn.apply(
                lambda arn: json.dumps(trust.github_trust(arn, subject))
            ),
            max_session_duration=max_session_seconds,
            opts=pulumi.ResourceOptions(parent=self),
        )
        for kind, found in policies.items():
            policy = aws.iam.Policy(
                f"{name}-{kind}",
                name=f"{CI_ROLE_PREFIX}{name}-{kind}",
                policy=found.apply(json.dumps),
                opts=pulumi.ResourceOptions(parent=role),
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-{kind}",
                role=role.name,
                policy_arn=policy.arn,
                opts=pulumi.ResourceOptions(parent=role),
            )
        return role.arn


def _deploy_policies(
    settings: Settings, stack: Stack, account_id: pulumi.Output[str], state: StateBackend | None
) -> Policies:
    """The deploy role of `stack`: its stack's resources, every stack's reads, the migration
    for the environment that runs it, its own state and key."""
    policies: Policies = {
        kind: account_id.apply(partial(_deploy_document, build, stack))
        for kind, build in deploy_access.POLICIES.items()
    }
    policies["read"] = account_id.apply(partial(read_access.read, settings.stacks))
    if stack.environment.migrates:
        policies["migration"] = account_id.apply(partial(migration_access.migration, stack))
    if state is not None:
        policies["state"] = pulumi.Output.all(state.bucket_name, state.key_arns[stack.name]).apply(
            lambda found: state_access.deploy_state(found[0], stack, found[1])
        )
    return policies


def _deploy_document(
    build: Callable[[Stack, Account], Document], stack: Stack, account_id: str
) -> Document:
    return build(stack, deploy_access.account_of(stack, account_id))


def _boundary_document(stack: Stack, account_id: str) -> str:
    return json.dumps(boundary.boundary(stack, deploy_access.account_of(stack, account_id)))
