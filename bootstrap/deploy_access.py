"""What a deploy role may change: one main stack's resources, and nothing of another stack's.

Each statement is scoped the tightest way its service allows, checked per action against the
Service Authorization Reference (parliament's copy of it lints every document in
tests/bootstrap/):
- by name, where the ARN carries it: every resource of stack S is named `alunos-S-...`
  (ECS, ECR, CloudWatch Logs and alarms, IAM roles, load balancers, RDS, S3, WAF);
- by tag, where the ARN carries only an id (EC2, ACM): the stack's aws:defaultTags put
  `project` and `environment` on every resource, at creation. A new resource must be requested
  with them (`aws:RequestTag/...`, EC2's tag-on-create with `ec2:CreateAction`), an existing
  one must carry them (`aws:ResourceTag/...`)
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html);
- by request, where the API has its own keys: ACM only for the stack's domain
  (`acm:DomainNames`), Route 53 only the records the stack writes
  (`route53:ChangeResourceRecordSetsNormalizedRecordNames`), iam:PassRole only to the service
  each role is for (`iam:PassedToService`: ECS tasks, ECS, EC2, EventBridge Scheduler), no
  managed policy attached (only the one earlier programs attached may be detached:
  `iam:PolicyARN`), roles created and given policies only with the stack's permissions boundary
  (`iam:PermissionsBoundary`: boundary.py), service-linked roles only for the services the stack
  uses (`iam:AWSServiceName`).
A few actions have no resource to scope (`Resource: "*"` in the reference): each such statement
says so.
"""

from __future__ import annotations

from bootstrap import boundary
from bootstrap.iam import (
    Account,
    Conditions,
    Document,
    Statement,
    document,
    route53,
    s3,
    statement,
)
from bootstrap.settings import CI_ROLE_PREFIX, Stack


def request_tags(stack: Stack) -> Conditions:
    """The request creates the resource with the stack's tags."""
    return {"StringEquals": {f"aws:RequestTag/{k}": v for k, v in stack.tags.items()}}


def resource_tags(stack: Stack) -> Conditions:
    """The resource already carries the stack's tags."""
    return {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in stack.tags.items()}}


def account_of(stack: Stack, account_id: str) -> Account:
    return Account(account_id, stack.region)


# --- EC2: the VPC (dev's, awsx's children), the security groups and their rules -------------

# Each create action, and the type of the resource it creates: only that part of the request
# may be matched by the tags the request carries (CreateSubnet also names its VPC, which must be
# the stack's own, and Authorize* name an existing security group).
_EC2_CREATES = {
    "CreateVpc": "vpc",
    "CreateSubnet": "subnet",
    "CreateRouteTable": "route-table",
    "CreateInternetGateway": "internet-gateway",
    "CreateNatGateway": "natgateway",
    "AllocateAddress": "elastic-ip",
    "CreateSecurityGroup": "security-group",
    "AuthorizeSecurityGroupIngress": "security-group-rule",
    "AuthorizeSecurityGroupEgress": "security-group-rule",
    "CreateLaunchTemplate": "launch-template",
}
_EC2_OWNED_TYPES = (
    "vpc",
    "subnet",
    "route-table",
    "internet-gateway",
    "natgateway",
    "elastic-ip",
    "security-group",
    "security-group-rule",
    "launch-template",
)
_EC2_ON_OWNED = (
    # Creates, for the existing resources they name (the stack's VPC, subnet, address...).
    "CreateSubnet",
    "CreateRouteTable",
    "CreateNatGateway",
    "AttachInternetGateway",
    "AssociateRouteTable",
    "CreateRoute",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    # Updates and deletes.
    "ModifyVpcAttribute",
    "ModifySubnetAttribute",
    "ReplaceRoute",
    "DeleteRoute",
    "DisassociateRouteTable",
    "ReplaceRouteTableAssociation",
    "DetachInternetGateway",
    "DisassociateAddress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "DeleteVpc",
    "DeleteSubnet",
    "DeleteRouteTable",
    "DeleteInternetGateway",
    "DeleteNatGateway",
    "ReleaseAddress",
    "DeleteSecurityGroup",
    # The capacity's launch template: a new AMI or setting is a new version, made the default.
    "CreateLaunchTemplateVersion",
    "ModifyLaunchTemplate",
    "DeleteLaunchTemplate",
    "CreateTags",
    "DeleteTags",
)


def network(stack: Stack, account: Account) -> Document:
    statements: list[Statement] = []
    by_type: dict[str, list[str]] = {}
    for action, kind in _EC2_CREATES.items():
        by_type.setdefault(kind, []).append(f"ec2:{action}")
    for kind, actions in by_type.items():
        sid = "Ec2Create" + "".join(part.title() for part in kind.split("-"))
        statements.append(statement(sid, actions, account.ec2(kind), request_tags(stack)))
    statements += [
        statement(
            "Ec2TagOnCreate",
            ["ec2:CreateTags"],
            account.ec2(*_EC2_OWNED_TYPES),
            {"StringEquals": {"ec2:CreateAction": sorted(_EC2_CREATES)}},
        ),
        statement(
            "Ec2Owned",
            [f"ec2:{action}" for action in _EC2_ON_OWNED],
            account.ec2(*_EC2_OWNED_TYPES),
            resource_tags(stack),
        ),
        # A new security group may go in any VPC: prod's VPC is the EC2 deployment's, not the
        # stack's (the group itself must carry the stack's tags: Ec2CreateSecurityGroup).
        statement("Ec2SecurityGroupInAnyVpc", ["ec2:CreateSecurityGroup"], account.ec2("vpc")),
    ]
    if stack.foreign_security_group_id:
        # The database team's group (dbSecurityGroupId, dbAllowIngressFromService: true): the
        # stack adds, updates and removes its one ingress rule there, nothing else.
        statements.append(
            statement(
                "Ec2DatabaseGroupIngressRule",
                [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
                ],
                account.arn("ec2", f"security-group/{stack.foreign_security_group_id}"),
            )
        )
    return document(statements)


# --- The service: ECS, ECR, logs, its IAM roles, autoscaling, alarms -------------------------

SERVICE_LINKED_ROLES = (
    "autoscaling.amazonaws.com",
    "ecs.amazonaws.com",
    "ecs.application-autoscaling.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "rds.amazonaws.com",
    "wafv2.amazonaws.com",
)
"""Created by AWS on first use in an account, with the caller's permission."""


def service(stack: Stack, account: Account) -> Document:
    prefix = stack.prefix
    roles = account.iam(f"role/{prefix}-*")
    boundary_arn = boundary.arn(stack, account)
    log_groups = [f"/ecs/{prefix}", f"aws-waf-logs-{prefix}"]
    return document(
        [
            statement(
                "EcsClusterAndService",
                [
                    "ecs:CreateCluster",
                    "ecs:UpdateCluster",
                    "ecs:UpdateClusterSettings",
                    "ecs:PutClusterCapacityProviders",
                    "ecs:DeleteCluster",
                    "ecs:CreateService",
                    "ecs:UpdateService",
                    "ecs:DeleteService",
                    "ecs:RegisterTaskDefinition",
                    "ecs:UpdateCapacityProvider",
                    "ecs:DeleteCapacityProvider",
                    "ecs:TagResource",
                    "ecs:UntagResource",
                ],
                [
                    account.arn("ecs", f"cluster/{prefix}-*"),
                    account.arn("ecs", f"capacity-provider/{prefix}-*"),
                    account.arn("ecs", f"service/{prefix}-*/{prefix}-*"),
                    account.arn("ecs", f"task-definition/{prefix}:*"),
                ],
            ),
            # The deploy check follows a canary, linear or blue/green release to its end
            # (automation/deploy/rollout.py): the service's deployments, listed on the service,
            # described by their ARNs (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment-permissions.html).
            statement(
                "FollowReleases",
                ["ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments"],
                [
                    account.arn("ecs", f"service/{prefix}-*/{prefix}-*"),
                    account.arn("ecs", f"service-deployment/{prefix}-*/{prefix}-*/*"),
                ],
            ),
            # No resource in the reference: task definitions are read and retired by ARN.
            statement(
                "EcsTaskDefinitionRevisions",
                ["ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition"],
                "*",
            ),
            statement(
                "PassTaskRolesToEcs",
                ["iam:PassRole"],
                roles,
                {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            ),
            # The infrastructure role of a canary, linear or blue/green service: ECS itself
            # assumes it (UpdateService's advancedConfiguration.roleArn), so it is passed to
            # ecs.amazonaws.com, not to the tasks.
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AmazonECSInfrastructureRolePolicyForLoadBalancers.html
            statement(
                "PassInfrastructureRoleToEcs",
                ["iam:PassRole"],
                account.iam(f"role/{prefix}-ecs-infra-*"),
                {"StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}},
            ),
            # The stack's roles: created, and given policies, only with the stack's permissions
            # boundary (bootstrap/boundary.py), which no deploy role may take off or change.
            statement(
                "ServiceRolesWithTheBoundary",
                ["iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"],
                roles,
                {"ArnEquals": {"iam:PermissionsBoundary": boundary_arn}},
            ),
            statement(
                "ServiceRoles",
                [
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:UpdateRole",
                    "iam:UpdateRoleDescription",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:ListRoleTags",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole",
                    "iam:GetRolePolicy",
                    "iam:DeleteRolePolicy",
                ],
                roles,
            ),
            # Whatever another statement allows: no role created or given permissions without
            # the boundary (a negated operator is true when the request names no boundary:
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
            statement(
                "OnlyRolesWithTheBoundary",
                [
                    "iam:CreateRole",
                    "iam:PutRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:PutRolePermissionsBoundary",
                ],
                account.iam("role/*"),
                {"ArnNotEquals": {"iam:PermissionsBoundary": boundary_arn}},
                effect="Deny",
            ),
            statement(
                "BoundariesStay",
                ["iam:DeleteRolePermissionsBoundary"],
                account.iam("role/*"),
                effect="Deny",
            ),
            # The boundaries and the CI roles' own policies (`ci-alunos-api-*`) stay as written.
            statement(
                "CiPoliciesStayAsWritten",
                [
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                ],
                account.iam(f"policy/{CI_ROLE_PREFIX}*"),
                effect="Deny",
            ),
            statement(
                "ServiceLinkedRoles",
                ["iam:CreateServiceLinkedRole"],
                account.iam("role/aws-service-role/*"),
                {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
            ),
            statement(
                "EcrRepository",
                [
                    "ecr:CreateRepository",
                    "ecr:DeleteRepository",
                    "ecr:PutImageScanningConfiguration",
                    "ecr:PutImageTagMutability",
                    "ecr:PutLifecyclePolicy",
                    "ecr:DeleteLifecyclePolicy",
                    "ecr:TagResource",
                    "ecr:UntagResource",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchDeleteImage",
                ],
                account.arn("ecr", f"repository/{prefix}-repo"),
            ),
            statement(
                "LogGroups",
                [
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy",
                    "logs:TagResource",
                    "logs:UntagResource",
                    "logs:TagLogGroup",
                    "logs:UntagLogGroup",
                ],
                [
                    account.arn("logs", f"log-group:{group}{suffix}")
                    for group in log_groups
                    for suffix in ("", ":*")
                ],
            ),
            # WAF's log delivery to CloudWatch Logs: account-level resource policies and
            # deliveries, which the reference scopes to no resource
            # (https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html).
            statement(
                "WafLogDelivery",
                [
                    "logs:PutResourcePolicy",
                    "logs:DeleteResourcePolicy",
                    "logs:CreateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:ListLogDeliveries",
                ],
                "*",
            ),
            statement(
                "Alarms",
                [
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:TagResource",
                    "cloudwatch:UntagResource",
                ],
                [
                    account.arn("cloudwatch", f"alarm:{prefix}-*"),
                    # Target tracking's own alarms, named after the scalable resource
                    # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/auto-scaling-IAM.html).
                    account.arn("cloudwatch", f"alarm:TargetTracking-service/{prefix}-*"),
                ],
            ),
            # Scalable targets are named by an id: scoped to ECS services' task counts.
            statement(
                "ServiceAutoScaling",
                [
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                    # schedule: the service's wake and sleep times.
                    "application-autoscaling:PutScheduledAction",
                    "application-autoscaling:DeleteScheduledAction",
                ],
                account.arn("application-autoscaling", "scalable-target/*"),
                {
                    "StringEquals": {
                        "application-autoscaling:service-namespace": "ecs",
                        "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
                    }
                },
            ),
            statement(
                "ServiceAutoScalingTags",
                ["application-autoscaling:TagResource", "application-autoscaling:UntagResource"],
                account.arn("application-autoscaling", "scalable-target/*"),
                request_tags(stack),
            ),
        ]
    )


# --- The edge: load balancer, WAF, certificate, DNS validation, access log bucket ------------


def edge(stack: Stack, account: Account) -> Document:
    prefix = stack.prefix
    load_balancers = account.arn("elasticloadbalancing", f"loadbalancer/app/{prefix}-*/*")
    statements = [
        statement(
            "LoadBalancer",
            [
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyListenerAttributes",
                # A canary's production and test listener rules.
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:AddListenerCertificates",
                "elasticloadbalancing:RemoveListenerCertificates",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
            ],
            [
                load_balancers,
                account.arn("elasticloadbalancing", f"targetgroup/{prefix}-*/*"),
                account.arn("elasticloadbalancing", f"listener/app/{prefix}-*/*/*"),
                account.arn("elasticloadbalancing", f"listener-rule/app/{prefix}-*/*/*/*"),
            ],
        ),
        statement(
            "WebAcl",
            [
                "wafv2:CreateWebACL",
                "wafv2:UpdateWebACL",
                "wafv2:DeleteWebACL",
                "wafv2:AssociateWebACL",
                "wafv2:DisassociateWebACL",
                "wafv2:PutLoggingConfiguration",
                "wafv2:DeleteLoggingConfiguration",
                "wafv2:TagResource",
                "wafv2:UntagResource",
            ],
            [
                account.arn("wafv2", f"regional/webacl/{prefix}-waf/*"),
                # The AWS managed rule groups the web ACL references.
                account.arn("wafv2", "regional/managedruleset/*/*"),
                load_balancers,
            ],
        ),
        # The reference gives SetWebAcl no resource: WAF calls it for AssociateWebACL.
        statement("WebAclOnLoadBalancer", ["elasticloadbalancing:SetWebAcl"], "*"),
        statement(
            "AccessLogBucket",
            [
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:ListBucket",
                "s3:GetBucket*",
                "s3:GetAccelerateConfiguration",
                "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:GetReplicationConfiguration",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
                "s3:PutBucketOwnershipControls",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketTagging",
            ],
            s3(f"{prefix}-alb-logs-*"),
        ),
    ]
    if stack.issues_certificate:
        statements += [
            # RequestCertificate names no resource: the request must be for the stack's domain
            # only, with its tags (https://docs.aws.amazon.com/acm/latest/userguide/security-iam.html).
            statement(
                "CertificateForTheDomain",
                ["acm:RequestCertificate"],
                "*",
                {
                    **request_tags(stack),
                    "ForAllValues:StringEquals": {"acm:DomainNames": [stack.domain_name]},
                },
            ),
            statement(
                "CertificateTagsOnRequest",
                ["acm:AddTagsToCertificate"],
                account.arn("acm", "certificate/*"),
                request_tags(stack),
            ),
            statement(
                "OwnedCertificates",
                [
                    "acm:DeleteCertificate",
                    "acm:AddTagsToCertificate",
                    "acm:RemoveTagsFromCertificate",
                    "acm:UpdateCertificateOptions",
                ],
                account.arn("acm", "certificate/*"),
                resource_tags(stack),
            ),
            statement(
                "CertificateValidationRecord",
                ["route53:ChangeResourceRecordSets"],
                route53(f"hostedzone/{stack.hosted_zone_id}"),
                {
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                            f"_*.{stack.domain_name}"
                        ]
                    }
                },
            ),
        ]
    return document(statements)


# --- The database, when the stack creates it ---------------------------------------------------


def data(stack: Stack, account: Account) -> Document:
    prefix = stack.prefix
    return document(
        [
            statement(
                "Database",
                [
                    "rds:CreateDBInstance",
                    "rds:ModifyDBInstance",
                    "rds:DeleteDBInstance",
                    "rds:CreateDBSnapshot",
                    "rds:CreateDBSubnetGroup",
                    "rds:ModifyDBSubnetGroup",
                    "rds:DeleteDBSubnetGroup",
                    "rds:AddTagsToResource",
                    "rds:RemoveTagsFromResource",
                ],
                [
                    account.arn("rds", f"db:{prefix}-*"),
                    account.arn("rds", f"subgrp:{prefix}-*"),
                    # The final snapshot a delete takes (named after the stack).
                    account.arn("rds", f"snapshot:{prefix}-*"),
                    # The engine's default parameter and option groups a new instance names.
                    account.arn("rds", "pg:default.*"),
                    account.arn("rds", "og:default:*"),
                ],
            ),
            # RDS keeps the master password in a secret it names `rds!db-<id>`, created with
            # the caller's permission (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html#rds-secrets-manager-permissions).
            statement(
                "DatabaseMasterSecret",
                [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:TagResource",
                    "secretsmanager:RotateSecret",
                ],
                account.arn("secretsmanager", "secret:rds!db-*"),
            ),
        ]
    )


# --- EC2 capacity (capacity ec2 | hybrid) and the schedule's database stop/start ---------------

ECS_INSTANCE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
"""The managed policy earlier versions of the program attached to the capacity instances' role.
The role now holds its own, narrower policy (infra/capacity.py, an inline policy the
ServiceRoles statement lets the deploy role put): an update of such a stack detaches this one,
and nothing may attach any."""

LAUNCHED_TYPES = ("instance", "volume", "network-interface", "subnet", "security-group")
"""What RunInstances names besides the launch template and the AMI."""


def capacity(stack: Stack, account: Account) -> Document:
    """The Auto Scaling group, its instance profile and the launch permission it is checked for;
    the capacity provider (the cluster statement updates and deletes it); the EventBridge
    Scheduler schedules that stop and start the stack's database."""
    prefix = stack.prefix
    instance_roles = account.iam(f"role/{prefix}-instance-*")
    from_a_template = {"ArnLike": {"ec2:LaunchTemplate": account.arn("ec2", "launch-template/*")}}
    return document(
        [
            # Autoscaling's group tags are its own (no aws:defaultTags): scoped by name. Delete
            # first drains the group: capacity 0 and scale-in protection off (terraform-provider-aws
            # internal/service/autoscaling/group.go, drainGroup).
            statement(
                "AutoScalingGroup",
                [
                    "autoscaling:CreateAutoScalingGroup",
                    "autoscaling:UpdateAutoScalingGroup",
                    "autoscaling:DeleteAutoScalingGroup",
                    "autoscaling:SetInstanceProtection",
                    "autoscaling:CreateOrUpdateTags",
                    "autoscaling:DeleteTags",
                ],
                account.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{prefix}-*"),
            ),
            # A group with a launch template is created and updated only if the caller may run
            # instances from it (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-launch-template-permissions.html):
            # from the stack's template only (its tags), and every other resource only through
            # a launch template.
            statement(
                "RunInstancesFromTheStacksTemplate",
                ["ec2:RunInstances"],
                account.ec2("launch-template"),
                resource_tags(stack),
            ),
            statement(
                "RunInstancesOnlyFromATemplate",
                ["ec2:RunInstances"],
                [*account.ec2(*LAUNCHED_TYPES), *account.ec2_unowned("image")],
                from_a_template,
            ),
            statement(
                "TagInstancesOnLaunch",
                ["ec2:CreateTags"],
                account.ec2("instance"),
                {"StringEquals": {"ec2:CreateAction": "RunInstances"}},
            ),
            statement(
                "PassInstanceRoleToEc2",
                ["iam:PassRole"],
                instance_roles,
                {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            ),
            statement(
                "InstanceProfile",
                [
                    "iam:CreateInstanceProfile",
                    "iam:DeleteInstanceProfile",
                    "iam:GetInstanceProfile",
                    "iam:AddRoleToInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:TagInstanceProfile",
                    "iam:UntagInstanceProfile",
                    "iam:ListInstanceProfileTags",
                ],
                account.iam(f"instance-profile/{prefix}-instance-*"),
            ),
            statement(
                "DetachTheFormerEcsInstancePolicy",
                ["iam:DetachRolePolicy"],
                instance_roles,
                {"ArnEquals": {"iam:PolicyARN": ECS_INSTANCE_POLICY}},
            ),
            # CreateCapacityProvider names no resource in the reference: only with the tags.
            statement(
                "CapacityProviderWithTheStacksTags",
                ["ecs:CreateCapacityProvider"],
                "*",
                request_tags(stack),
            ),
            # Schedules carry no tags; every one is in the default group, named after the stack.
            statement(
                "DatabaseSchedules",
                [
                    "scheduler:CreateSchedule",
                    "scheduler:UpdateSchedule",
                    "scheduler:DeleteSchedule",
                    "scheduler:GetSchedule",
                ],
                account.arn("scheduler", f"schedule/default/{prefix}-*"),
            ),
            statement(
                "PassSchedulerRole",
                ["iam:PassRole"],
                account.iam(f"role/{prefix}-db-scheduler-*"),
                {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            ),
        ]
    )


POLICIES = {
    "network": network,
    "service": service,
    "edge": edge,
    "data": data,
    "capacity": capacity,
}
"""A deploy role's permission policies by name: each under IAM's 6,144-character quota for a
managed policy (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)."""


def documents(stack: Stack, account_id: str) -> dict[str, Document]:
    account = account_of(stack, account_id)
    return {name: build(stack, account) for name, build in POLICIES.items()}
