"""A self-managed backend: the S3 bucket that holds the stacks' state, and one KMS key per
stack that encrypts its secrets (`awskms://alias/alunos-api-<stack>`).

The bucket is versioned (a bad write or delete of a state file is undone from its previous
version), encrypted with SSE-KMS under S3's AWS managed key (its key policy admits every principal
of the account that S3 authorizes, so the CI roles need no KMS permission for it), closed to
public access, owned by the bucket owner only (no ACLs), and refuses any request without TLS.
Both are protected: losing them loses every stack's state or secrets. The state layout file
(`.pulumi/meta.yaml`, version 1: project-scoped stacks) is written here: the CLI writes it at the
first login to an empty bucket (pulumi/pulumi pkg/backend/diy/meta.go, `ensurePulumiMeta`), and
the CI roles may only read it.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from bootstrap.iam import document, s3, statement
from bootstrap.settings import Settings
from bootstrap.state_access import META_KEY

KEY_ALIAS_PREFIX = "alias/alunos-api-"
STATE_LAYOUT = "version: 1\n"
"""meta.yaml as the CLI writes it for a new bucket (meta.go: `pulumiMeta{Version: 1}`, YAML)."""


def default_bucket_name(account_id: str, region: str) -> str:
    """Bucket names are global: the account and region make this one unique."""
    return f"alunos-api-pulumi-state-{account_id}-{region}"


def tls_only(bucket: str) -> dict[str, object]:
    """Deny everyone every request over plain HTTP (aws:SecureTransport false); a bucket policy
    names its principals."""
    deny = statement(
        "DenyInsecureTransport",
        ["s3:*"],
        [s3(bucket), s3(f"{bucket}/*")],
        {"Bool": {"aws:SecureTransport": "false"}},
        effect="Deny",
    )
    deny["Principal"] = "*"
    return document([deny])


class StateBackend(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    key_arns: dict[str, pulumi.Output[str]]
    """Stack name -> the ARN of the KMS key of its secrets."""
    secrets_providers: dict[str, str]
    """Stack name -> the `--secrets-provider` of `pulumi stack init`."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        account_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("alunos-api:bootstrap:StateBackend", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=True)
        bucket_name = (
            pulumi.Output.from_input(settings.state_bucket)
            if settings.state_bucket
            else pulumi.Output.from_input(account_id).apply(
                lambda account: default_bucket_name(account, settings.region)
            )
        )
        bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket=bucket_name, force_destroy=False, opts=child
        )
        inner = pulumi.ResourceOptions(parent=bucket)
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=inner,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"},
                    "bucket_key_enabled": True,
                }
            ],
            opts=inner,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=inner,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=inner,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.bucket.apply(lambda b: json.dumps(tls_only(b))),
            opts=inner,
        )
        aws.s3.BucketObjectv2(
            f"{name}-layout", bucket=bucket.id, key=META_KEY, content=STATE_LAYOUT, opts=inner
        )
        self.key_arns = {}
        self.secrets_providers = {}
        for stack in settings.stacks:
            key = aws.kms.Key(
                f"{name}-{stack.name}-secrets",
                description=f"Pulumi secrets of the alunos-api stack {stack.name}",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                opts=child,
            )
            alias = f"{KEY_ALIAS_PREFIX}{stack.name}"
            aws.kms.Alias(
                f"{name}-{stack.name}-secrets",
                name=alias,
                target_key_id=key.key_id,
                opts=pulumi.ResourceOptions(parent=key),
            )
            self.key_arns[stack.name] = key.arn
            self.secrets_providers[stack.name] = f"awskms://{alias}?region={settings.region}"
        self.bucket_name = bucket.bucket
        self.register_outputs({"bucketName": self.bucket_name})
