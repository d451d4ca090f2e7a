"""The S3 bucket the load balancer writes its access logs to.

What ELB requires of it (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html):
the bucket in the load balancer's region; SSE-S3 as its only server-side encryption (ELB cannot
write with KMS keys); a bucket policy letting Elastic Load Balancing put objects under
`<prefix>/AWSLogs/<account>/`. In regions that existed before August 2022, us-east-2 among them,
that policy names the region's ELB account (033677994240 for us-east-2), which
aws.elb.get_service_account looks up; newer regions use the logdelivery.elasticloadbalancing
service principal instead. ELB writes a test object when logging is turned on, so the load
balancer must come after the policy (`bucket_name` carries that dependency).

Besides: no public access, objects owned by the bucket owner (ACLs off), TLS only, logs expired
after a number of days.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags

# S3 bucket names: 3 to 63 lower-case letters, digits, dots and hyphens.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Account ids are 12 digits: what a bucket name needs room for.
_ACCOUNT_DIGITS = 12


@dataclass
class AccessLogBucketArgs:
    region: str
    """The load balancer's region: the bucket must be in it."""
    expiration_days: int
    """Days a log object is kept."""
    prefix: str = "alb"
    """Where under the bucket the load balancer writes (ELB adds AWSLogs/<account>/...)."""


class AccessLogBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    bucket_name: pulumi.Output[str]
    """The bucket's name once its policy is in place: what the load balancer logs to."""

    def __init__(
        self, name: str, args: AccessLogBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(name, args)
        super().__init__("alunos-api:infra:AccessLogBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output().account_id
        elb = aws.elb.get_service_account_output(region=args.region)

        # Named, not auto-named: the account and region make it unique across AWS and tell an
        # operator (or Athena) where it is.
        self.bucket = aws.s3.Bucket(
            f"{name}-alb-logs",
            bucket=pulumi.Output.concat(name, "-alb-logs-", account, "-", args.region),
            force_destroy=False,
            tags=tags(f"{name}-alb-logs"),
            opts=child,
        )
        # Its name, known in a preview already (its id is not): a policy check can follow it.
        bucket = self.bucket.bucket
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-alb-logs-ownership",
            bucket=bucket,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-alb-logs-private",
            bucket=bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-alb-logs-sse",
            bucket=bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child,
        )
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-alb-logs-expiry",
            bucket=bucket,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(
                        prefix=f"{args.prefix}/"
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.expiration_days
                    ),
                )
            ],
            opts=child,
        )
        self.policy = aws.s3.BucketPolicy(
            f"{name}-alb-logs-policy",
            bucket=bucket,
            policy=pulumi.Output.all(self.bucket.arn, account, elb.arn).apply(
                lambda values: access_log_policy(values[0], args.prefix, values[1], values[2])
            ),
            # One after the other: S3 may refuse a policy written while the public access block
            # is (OperationAborted, pulumi/pulumi-aws#1570, terraform-provider-aws#7628).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
        self.bucket_name = self.policy.bucket
        self.register_outputs({"bucketName": self.bucket_name})


def access_log_policy(bucket_arn: str, prefix: str, account: str, elb_account_arn: str) -> str:
    """ELB's account may put log objects under the prefix, for this account only; nothing
    reaches the bucket without TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ElbAccessLogs",
                    "Effect": "Allow",
                    "Principal": {"AWS": elb_account_arn},
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket_arn}/{prefix}/AWSLogs/{account}/*",
                },
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
        sort_keys=True,
    )


def _validate(name: str, args: AccessLogBucketArgs) -> None:
    v.ACCESS_LOG_DAYS.check("expiration_days", args.expiration_days)
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", args.prefix) or "AWSLogs" in args.prefix:
        raise v.fail("prefix", args.prefix, "lower-case letters, digits and inner hyphens")
    longest = f"{name}-alb-logs-{'0' * _ACCOUNT_DIGITS}-{args.region}"
    if not _BUCKET_NAME.match(longest):
        raise v.fail(
            "name",
            name,
            f"lower-case letters, digits and hyphens, short enough for the bucket name {longest!r} "
            "(at most 63 characters)",
        )
