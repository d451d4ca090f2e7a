"""The self-managed backend: a versioned, encrypted, private, TLS-only bucket and the stacks'
secrets keys; and what the outputs hand to GitHub."""

from __future__ import annotations

import json
from typing import Any

from automation.offline.engine import Plan
from tests.bootstrap.conftest import KMS_KEY


def one(plan: Plan, type_: str) -> dict[str, Any]:
    (found,) = plan.of_type(type_)
    return found.inputs


def test_bucket_is_versioned_encrypted_private_and_protected(self_managed: Plan) -> None:
    (bucket,) = self_managed.of_type("aws:s3/bucket:Bucket")
    assert bucket.protect
    assert bucket.inputs["forceDestroy"] is False
    name = bucket.inputs["bucket"]
    assert name == "alunos-api-pulumi-state-123456789012-us-east-2"
    versioning = one(self_managed, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    (rule,) = one(
        self_managed,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms"}
    block = one(self_managed, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        block[key] is True
        for key in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    ownership = one(self_managed, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_bucket_refuses_plain_http(self_managed: Plan) -> None:
    policy = json.loads(one(self_managed, "aws:s3/bucketPolicy:BucketPolicy")["policy"])
    (stmt,) = policy["Statement"]
    name = "alunos-api-pulumi-state-123456789012-us-east-2"
    assert stmt["Effect"] == "Deny"
    assert stmt["Action"] == ["s3:*"]
    assert stmt["Principal"] == "*"
    assert stmt["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_one_rotating_key_per_stack(self_managed: Plan) -> None:
    keys = {r.name: r for r in self_managed.of_type(KMS_KEY)}
    assert set(keys) == {"state-dev-secrets", "state-prod-secrets"}
    for key in keys.values():
        assert key.inputs["enableKeyRotation"] is True
        assert key.protect
    aliases = sorted(r.inputs["name"] for r in self_managed.of_type("aws:kms/alias:Alias"))
    assert aliases == ["alias/alunos-api-dev", "alias/alunos-api-prod"]


def test_outputs_are_what_github_and_stack_init_need(self_managed: Plan) -> None:
    assert self_managed.outputs == {
        "githubOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
        "devDeployRoleArn": "arn:aws:iam::123456789012:role/ci-alunos-api-deploy-dev",
        "prodDeployRoleArn": "arn:aws:iam::123456789012:role/ci-alunos-api-deploy-prod",
        "devRoleBoundaryArn": "arn:aws:iam::123456789012:policy/ci-alunos-api-boundary-dev",
        "prodRoleBoundaryArn": "arn:aws:iam::123456789012:policy/ci-alunos-api-boundary-prod",
        "previewRoleArn": "arn:aws:iam::123456789012:role/ci-alunos-api-preview",
        "backendUrl": "s3://alunos-api-pulumi-state-123456789012-us-east-2",
        "devSecretsProvider": "awskms://alias/alunos-api-dev?region=us-east-2",
        "prodSecretsProvider": "awskms://alias/alunos-api-prod?region=us-east-2",
    }


def test_a_named_bucket_and_no_backend_at_all(bootstrap: Any) -> None:
    named = bootstrap(selfManagedBackend="true", stateBucketName="acme-pulumi-state")
    assert named.outputs["backendUrl"] == "s3://acme-pulumi-state"
    cloud = bootstrap()
    assert not cloud.of_type("aws:s3/bucket:Bucket")
    assert not cloud.of_type(KMS_KEY)
    assert "backendUrl" not in cloud.outputs
