"""The CI roles can do what the main program declares: for every resource type the stacks plan
(their committed configurations and the variants a config change brings: EC2 capacity, hybrid,
a canary, blue/green, a stack that sleeps), the deploy role of that stack may create it and
every role may read it back (what `pulumi preview` refreshes).

Two features once reached `main` without their permissions, so a real `pulumi up` would have
failed with AccessDenied: a type missing from the maps below fails here first, and whoever
adds the type names the calls it needs (Service Authorization Reference, list_<service>.html).
"""

from __future__ import annotations

import pytest

from automation.offline import mocks
from automation.offline.engine import Plan
from bootstrap import deploy_access
from infra import resource_types as types
from tests.bootstrap.conftest import VARIANTS
from tests.bootstrap.evaluate import allowed_actions, missing
from tests.bootstrap.test_policies import policies

CREATE: dict[str, tuple[str, ...]] = {
    types.VPC: ("ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateRouteTable"),
    types.SECURITY_GROUP: ("ec2:CreateSecurityGroup",),
    types.INGRESS_RULE: ("ec2:AuthorizeSecurityGroupIngress",),
    types.EGRESS_RULE: ("ec2:AuthorizeSecurityGroupEgress",),
    types.LOAD_BALANCER: ("elasticloadbalancing:CreateLoadBalancer",),
    types.TARGET_GROUP: ("elasticloadbalancing:CreateTargetGroup",),
    types.LISTENER: ("elasticloadbalancing:CreateListener",),
    types.LISTENER_RULE: ("elasticloadbalancing:CreateRule",),
    types.WEB_ACL: ("wafv2:CreateWebACL",),
    types.WEB_ACL_ASSOCIATION: ("wafv2:AssociateWebACL", "elasticloadbalancing:SetWebAcl"),
    types.WEB_ACL_LOGGING: ("wafv2:PutLoggingConfiguration", "logs:CreateLogDelivery"),
    types.LOG_RESOURCE_POLICY: ("logs:PutResourcePolicy",),
    types.BUCKET: ("s3:CreateBucket",),
    types.BUCKET_POLICY: ("s3:PutBucketPolicy",),
    types.BUCKET_PUBLIC_ACCESS_BLOCK: ("s3:PutBucketPublicAccessBlock",),
    types.BUCKET_OWNERSHIP: ("s3:PutBucketOwnershipControls",),
    types.BUCKET_ENCRYPTION: ("s3:PutEncryptionConfiguration",),
    types.BUCKET_LIFECYCLE: ("s3:PutLifecycleConfiguration",),
    types.CERTIFICATE: ("acm:RequestCertificate",),
    # Creates nothing: waits until the certificate is issued.
    types.CERTIFICATE_VALIDATION: ("acm:DescribeCertificate",),
    types.DNS_RECORD: ("route53:ChangeResourceRecordSets",),
    types.REPOSITORY: ("ecr:CreateRepository",),
    types.LIFECYCLE_POLICY: ("ecr:PutLifecyclePolicy",),
    types.IMAGE: ("ecr:GetAuthorizationToken", "ecr:InitiateLayerUpload", "ecr:PutImage"),
    types.CLUSTER: ("ecs:CreateCluster",),
    types.CAPACITY_PROVIDERS: ("ecs:PutClusterCapacityProviders",),
    types.SERVICE: ("ecs:CreateService", "iam:PassRole"),
    types.TASK_DEFINITION: ("ecs:RegisterTaskDefinition", "iam:PassRole"),
    types.LOG_GROUP: ("logs:CreateLogGroup",),
    types.ROLE: ("iam:CreateRole",),
    types.ROLE_POLICY: ("iam:PutRolePolicy",),
    types.SCALABLE_TARGET: ("application-autoscaling:RegisterScalableTarget",),
    types.SCALING_POLICY: ("application-autoscaling:PutScalingPolicy",),
    types.METRIC_ALARM: ("cloudwatch:PutMetricAlarm",),
    types.RDS_INSTANCE: ("rds:CreateDBInstance",),
    types.RDS_SUBNET_GROUP: ("rds:CreateDBSubnetGroup",),
    # pulumi-random draws bytes where the program runs: no AWS call.
    types.RANDOM_ID: (),
    types.LAUNCH_TEMPLATE: ("ec2:CreateLaunchTemplate",),
    # A group with a launch template is checked for running instances from it, with its role.
    types.AUTOSCALING_GROUP: (
        "autoscaling:CreateAutoScalingGroup",
        "ec2:RunInstances",
        "iam:PassRole",
    ),
    types.ECS_CAPACITY_PROVIDER: ("ecs:CreateCapacityProvider",),
    types.INSTANCE_PROFILE: ("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"),
    types.SCHEDULED_ACTION: ("application-autoscaling:PutScheduledAction",),
    types.SCHEDULE: ("scheduler:CreateSchedule", "iam:PassRole"),
}
"""Resource type -> the calls the deploy role must be allowed to create it."""

READ: dict[str, tuple[str, ...]] = {
    types.VPC: ("ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeRouteTables"),
    types.SECURITY_GROUP: ("ec2:DescribeSecurityGroups",),
    types.INGRESS_RULE: ("ec2:DescribeSecurityGroupRules",),
    types.EGRESS_RULE: ("ec2:DescribeSecurityGroupRules",),
    types.LOAD_BALANCER: ("elasticloadbalancing:DescribeLoadBalancers",),
    types.TARGET_GROUP: ("elasticloadbalancing:DescribeTargetGroups",),
    types.LISTENER: ("elasticloadbalancing:DescribeListeners",),
    types.LISTENER_RULE: ("elasticloadbalancing:DescribeRules",),
    types.WEB_ACL: ("wafv2:GetWebACL",),
    types.WEB_ACL_ASSOCIATION: ("wafv2:GetWebACLForResource",),
    types.WEB_ACL_LOGGING: ("wafv2:GetLoggingConfiguration",),
    types.LOG_RESOURCE_POLICY: ("logs:DescribeResourcePolicies",),
    types.BUCKET: ("s3:ListBucket",),
    types.BUCKET_POLICY: ("s3:GetBucketPolicy",),
    types.BUCKET_PUBLIC_ACCESS_BLOCK: ("s3:GetBucketPublicAccessBlock",),
    types.BUCKET_OWNERSHIP: ("s3:GetBucketOwnershipControls",),
    types.BUCKET_ENCRYPTION: ("s3:GetEncryptionConfiguration",),
    types.BUCKET_LIFECYCLE: ("s3:GetLifecycleConfiguration",),
    types.CERTIFICATE: ("acm:DescribeCertificate",),
    types.CERTIFICATE_VALIDATION: ("acm:DescribeCertificate",),
    types.DNS_RECORD: ("route53:ListResourceRecordSets",),
    types.REPOSITORY: ("ecr:DescribeRepositories",),
    types.LIFECYCLE_POLICY: ("ecr:GetLifecyclePolicy",),
    types.IMAGE: ("ecr:GetAuthorizationToken", "ecr:DescribeImages"),
    types.CLUSTER: ("ecs:DescribeClusters",),
    types.CAPACITY_PROVIDERS: ("ecs:DescribeClusters",),
    types.SERVICE: ("ecs:DescribeServices",),
    types.TASK_DEFINITION: ("ecs:DescribeTaskDefinition",),
    types.LOG_GROUP: ("logs:DescribeLogGroups",),
    types.ROLE: ("iam:GetRole",),
    types.ROLE_POLICY: ("iam:GetRolePolicy",),
    types.SCALABLE_TARGET: ("application-autoscaling:DescribeScalableTargets",),
    types.SCALING_POLICY: ("application-autoscaling:DescribeScalingPolicies",),
    types.METRIC_ALARM: ("cloudwatch:DescribeAlarms",),
    types.RDS_INSTANCE: ("rds:DescribeDBInstances",),
    types.RDS_SUBNET_GROUP: ("rds:DescribeDBSubnetGroups",),
    types.RANDOM_ID: (),
    # The template takes the ECS-optimized AMI from its public SSM parameter at every preview.
    types.LAUNCH_TEMPLATE: (
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ssm:GetParameter",
    ),
    types.AUTOSCALING_GROUP: ("autoscaling:DescribeAutoScalingGroups",),
    types.ECS_CAPACITY_PROVIDER: ("ecs:DescribeCapacityProviders",),
    types.INSTANCE_PROFILE: ("iam:GetInstanceProfile",),
    types.SCHEDULED_ACTION: ("application-autoscaling:DescribeScheduledActions",),
    types.SCHEDULE: ("scheduler:GetSchedule",),
}
"""Resource type -> what refreshing it reads (the preview role's, and every deploy role's)."""

READ_BY_ID: dict[str, tuple[str, ...]] = {
    # infra/existing.py reads the team's certificate by its ARN (Certificate.get): the provider's
    # read is DescribeCertificate, then its tags (terraform-provider-aws internal/service/acm/
    # certificate.go, resourceCertificateRead, tagged by ARN).
    types.CERTIFICATE: ("acm:DescribeCertificate", "acm:ListTagsForCertificate"),
}
"""Resource type -> the calls of a read of something the stacks do not manage (at preview too)."""


def _planned_types(plan: Plan) -> set[str]:
    """Every resource type but the program's own components."""
    return {r.type for r in plan.resources if not r.type.startswith("alunos-api:")}


def test_every_declared_type_is_mapped() -> None:
    """A new resource type makes the maps name its calls (types.DECLARED is kept equal to what
    the stacks plan by tests/automation/insights/test_resource_types.py)."""
    assert set(CREATE) == set(types.DECLARED)
    assert set(READ) == set(types.DECLARED)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_deploy_role_creates_and_the_preview_role_reads_every_planned_type(
    plans: dict[str, Plan], self_managed: Plan, variant: str
) -> None:
    stack = VARIANTS[variant][0]
    found = policies(self_managed)
    deploy = allowed_actions(
        doc for name, doc in found.items() if name.startswith(f"deploy-{stack}-")
    )
    preview = allowed_actions(doc for name, doc in found.items() if name.startswith("preview-"))
    planned = _planned_types(plans[variant])
    unmapped = sorted(planned - set(CREATE) - set(READ))
    assert not unmapped, f"{variant} plans {unmapped}: name their calls in CREATE and READ"
    for kind in sorted(planned):
        lacking = missing(CREATE[kind], deploy)
        assert not lacking, f"deploy-{stack} cannot create {kind} ({variant}): {lacking}"
        lacking = missing(READ[kind], preview)
        assert not lacking, f"the preview role cannot read {kind} ({variant}): {lacking}"


def test_every_role_may_read_what_the_program_reads_by_id(self_managed: Plan) -> None:
    """Reads do not show in a plan: the offline engine's READS table lists them instead."""
    assert set(READ_BY_ID) == set(mocks.READS)
    found = policies(self_managed)
    for role in ("preview-", "deploy-dev-", "deploy-prod-"):
        allowed = allowed_actions(doc for name, doc in found.items() if name.startswith(role))
        for kind, calls in READ_BY_ID.items():
            lacking = missing(calls, allowed)
            assert not lacking, f"{role}* cannot read a {kind} by id: {lacking}"


def test_the_variants_plan_the_new_features(plans: dict[str, Plan]) -> None:
    """The variants above still reach the EC2 capacity, the schedule and the canary."""
    assert types.AUTOSCALING_GROUP in _planned_types(plans["dev-ec2"])
    assert types.ECS_CAPACITY_PROVIDER in _planned_types(plans["prod-hybrid"])
    assert types.SCHEDULE in _planned_types(plans["dev"])
    assert types.LISTENER_RULE in _planned_types(plans["prod"])
    assert types.LISTENER_RULE in _planned_types(plans["dev-blue-green"])


def test_no_managed_policy_may_be_attached(self_managed: Plan) -> None:
    """The capacity instances' role holds its own policy (infra/capacity.py): no deploy role
    attaches a managed policy, and only the one earlier programs attached may be detached."""
    found = policies(self_managed)
    allowed = allowed_actions(found.values())
    assert missing(["iam:AttachRolePolicy"], allowed) == ["iam:AttachRolePolicy"]
    detaching = [
        (name, stmt)
        for name, doc in found.items()
        for stmt in doc["Statement"]
        if stmt["Effect"] == "Allow" and "iam:DetachRolePolicy" in stmt["Action"]
    ]
    assert {name for name, _ in detaching} == {"deploy-dev-capacity", "deploy-prod-capacity"}
    for name, stmt in detaching:
        assert stmt["Action"] == ["iam:DetachRolePolicy"], name
        policy = {"ArnEquals": {"iam:PolicyARN": deploy_access.ECS_INSTANCE_POLICY}}
        assert stmt["Condition"] == policy, name


def test_a_missing_permission_is_caught() -> None:
    allowed = ["ec2:Describe*", "autoscaling:UpdateAutoScalingGroup"]
    assert missing(["ec2:DescribeLaunchTemplates"], allowed) == []
    assert missing(["autoscaling:CreateAutoScalingGroup"], allowed) == [
        "autoscaling:CreateAutoScalingGroup"
    ]
