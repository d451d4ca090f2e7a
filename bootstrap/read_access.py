"""What every CI role may read: what `pulumi preview` reads of the stacks' resources (the
provider's refresh of each resource type the program declares), the data sources the program
calls (infra/existing.py, infra/image.py, infra/capacity.py's AMI parameter), and what the
automation reads after a deploy (automation/deploy/verify.py, rollback.py). Shared by the
deploy roles and the read-only preview role; nothing here changes anything, and no secret value
is readable (secretsmanager:DescribeSecret only, never GetSecretValue).

Most of these actions name no resource, or are list calls that must be allowed on every
resource of the type (the reference's "List" and "Read" actions without a resource type); the
metadata they show is the account's inventory, not its data.
"""

from __future__ import annotations

from collections.abc import Sequence

from bootstrap.iam import (
    Account,
    Document,
    Statement,
    document,
    public_parameter,
    route53,
    s3,
    statement,
)
from bootstrap.settings import NAME_PREFIX, Stack

DESCRIBE = (
    # Every EC2 and ELB read is a Describe call: VPCs, subnets, route tables, gateways,
    # addresses, security groups and their rules; load balancers, listeners, target groups,
    # target health (verify), attributes and tags.
    "ec2:Describe*",
    "elasticloadbalancing:Describe*",
    "ecs:DescribeClusters",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:DescribeCapacityProviders",
    "ecs:ListTagsForResource",
    "ecr:GetAuthorizationToken",
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:ListImages",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:ListTagsForResource",
    "logs:ListTagsLogGroup",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListTagsForResource",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:ListTagsForResource",
    "application-autoscaling:DescribeScheduledActions",
    # The capacity's Auto Scaling group: its refresh reads the group, its load balancers,
    # traffic sources and warm pool, all Describe calls on no resource type.
    "autoscaling:Describe*",
    "wafv2:GetWebACL",
    "wafv2:GetWebACLForResource",
    "wafv2:GetLoggingConfiguration",
    "wafv2:ListTagsForResource",
    "rds:DescribeDBInstances",
    "rds:DescribeDBSubnetGroups",
    "rds:ListTagsForResource",
    "acm:DescribeCertificate",
    "acm:GetCertificate",
    "acm:ListCertificates",
    "acm:ListTagsForCertificate",
    "sns:ListTopics",
    "route53:GetChange",
)


def read(stacks: Sequence[Stack], account_id: str) -> Document:
    """Read access to every stack in `stacks` (the preview role previews them all)."""
    regions = sorted({stack.region for stack in stacks})
    accounts = [Account(account_id, region) for region in regions]
    statements: list[Statement] = [
        statement("DescribeStackResources", DESCRIBE, "*"),
        statement(
            "ReadServiceRoles",
            [
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
            ],
            accounts[0].iam(f"role/{NAME_PREFIX}*"),
        ),
        statement(
            "ReadInstanceProfiles",
            ["iam:GetInstanceProfile", "iam:ListInstanceProfileTags"],
            accounts[0].iam(f"instance-profile/{NAME_PREFIX}*"),
        ),
        statement(
            "ReadDatabaseSchedules",
            ["scheduler:GetSchedule"],
            [account.arn("scheduler", f"schedule/default/{NAME_PREFIX}*") for account in accounts],
        ),
        # infra/capacity.py: the ECS-optimized AMI, AWS's public parameter; its ARN names no
        # account, as GetParameters shows it in
        # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/retrieve-ecs-optimized_AMI.html.
        statement(
            "ReadEcsOptimizedAmi",
            ["ssm:GetParameter", "ssm:GetParameters"],
            [public_parameter(region, "aws/service/ecs/*") for region in regions],
        ),
        statement(
            "ReadAccessLogBuckets",
            [
                "s3:ListBucket",
                "s3:GetBucket*",
                "s3:GetAccelerateConfiguration",
                "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:GetReplicationConfiguration",
            ],
            s3(f"{NAME_PREFIX}*-alb-logs-*"),
        ),
        # infra/existing.py: the secrets the config names (the existing database's, those ECS
        # injects at start) are looked up, never read, and the keys that encrypt them described.
        statement(
            "DescribeKeys",
            ["kms:DescribeKey"],
            [account.arn("kms", "key/*") for account in accounts],
        ),
    ]
    secrets = sorted({arn for stack in stacks for arn in stack.secret_arns})
    if secrets:
        statements.append(
            statement(
                "DescribeSecrets",
                ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"],
                secrets,
            )
        )
    topics = sorted({stack.alarm_topic_arn for stack in stacks if stack.alarm_topic_arn})
    if topics:
        statements.append(statement("ReadAlarmTopics", ["sns:GetTopicAttributes"], topics))
    zones = sorted({stack.hosted_zone_id for stack in stacks if stack.hosted_zone_id})
    if zones:
        statements.append(
            statement(
                "ReadHostedZones",
                ["route53:GetHostedZone", "route53:ListResourceRecordSets"],
                [route53(f"hostedzone/{zone}") for zone in zones],
            )
        )
    return document(statements)
