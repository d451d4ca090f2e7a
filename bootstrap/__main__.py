"""The bootstrap program (run from bootstrap/: `pulumi up`); see docs/bootstrap.md.

The Pulumi CLI runs this file with bootstrap/ as its directory: the repository root goes on the
path first, so `bootstrap` imports as the same package the tests import.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pulumi
import pulumi_aws as aws

from bootstrap import settings as bootstrap_settings
from bootstrap.ci_roles import CiRoles
from bootstrap.state_backend import StateBackend

settings = bootstrap_settings.load()
account_id = aws.get_caller_identity_output().account_id
state = StateBackend("state", settings, account_id) if settings.self_managed_backend else None
roles = CiRoles("ci", settings, account_id, state)

# What goes into GitHub (docs/bootstrap.md): environment variables AWS_DEPLOY_ROLE_ARN of dev and
# prod, repository variables AWS_PREVIEW_ROLE_ARN and PULUMI_BACKEND_URL; and into each main
# stack's config, rolePermissionsBoundaryArn: the boundary its roles must carry.
pulumi.export("githubOidcProviderArn", roles.provider_arn)
for name, arn in roles.deploy_role_arns.items():
    pulumi.export(f"{name}DeployRoleArn", arn)
for name, arn in roles.boundary_arns.items():
    pulumi.export(f"{name}RoleBoundaryArn", arn)
pulumi.export("previewRoleArn", roles.preview_role_arn)
if state is not None:
    pulumi.export("backendUrl", state.bucket_name.apply(lambda bucket: f"s3://{bucket}"))
    for name, provider in state.secrets_providers.items():
        pulumi.export(f"{name}SecretsProvider", provider)
