"""The permissions boundary of one stack's IAM roles: the most any role the stack creates may
ever do, whatever policy its deploy role writes into it.

A deploy role creates the stack's roles and writes their policies (iam:CreateRole,
iam:PutRolePolicy, iam:AttachRolePolicy on `role/alunos-<stack>-*`). Without a boundary it could
write an administrator's policy into one and pass it to a task, or trust itself and assume it.
So it may do so only with this boundary on the role (`iam:PermissionsBoundary`), may never take
a boundary off, nor change a CI policy (deploy_access.service), as IAM's guide delegates role
creation (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html,
"Delegating responsibility to others using permissions boundaries"). A role's effective
permissions are what both its policies and its boundary allow.

The roles the main program creates, and what they do (infra/):
- the task definition's execution role (service.py): pull the image, write the stack's logs,
  read the secrets ECS injects at start and decrypt them through Secrets Manager;
- its task role (service.py): read the database secret (and decrypt it), ECS Exec's channels;
- the ECS infrastructure role of a canary, linear or blue/green service (deployment_strategy.py):
  read the load balancer, move the stack's targets, listener and rules;
- the EC2 capacity's instance role (capacity.py, AmazonEC2ContainerServiceforEC2Role): the ECS
  agent on the stack's cluster, image pulls, logs;
- the schedule's role (schedule.py): stop and start the stack's database.
Service Auto Scaling uses its service-linked role, which takes no boundary.
tests/bootstrap/test_boundary.py checks every policy those roles are given, in every variant the
stacks plan, against this document.
"""

from __future__ import annotations

from bootstrap.iam import Account, Document, document, statement
from bootstrap.settings import CI_ROLE_PREFIX, Stack

EXEC_CHANNELS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]
ECS_AGENT = [
    "ecs:RegisterContainerInstance",
    "ecs:DeregisterContainerInstance",
    "ecs:Submit*",
    "ecs:UpdateContainerInstancesState",
    "ecs:TagResource",
]
"""What the ECS agent calls on its cluster and container instance
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/instance_IAM_role.html)."""


def name(stack: Stack) -> str:
    """Outside every stack's `alunos-<stack>-` prefix, like the CI roles' own policies."""
    return f"{CI_ROLE_PREFIX}boundary-{stack.name}"


def arn(stack: Stack, account: Account) -> str:
    return account.iam(f"policy/{name(stack)}")


def boundary(stack: Stack, account: Account) -> Document:
    prefix = stack.prefix
    secrets = list(stack.secret_arns)
    if not stack.db_secret_arn:
        # The stack's own RDS instance keeps its password in a secret RDS names `rds!db-<id>`.
        secrets.append(account.arn("secretsmanager", "secret:rds!db-*"))
    statements = [
        statement("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        # The stack's repository, or a prebuilt image's, in any account's ECR (`image`).
        statement(
            "PullImages",
            ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "arn:aws:ecr:*:*:repository/*",
        ),
        statement(
            "WriteTheStacksLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            account.arn("logs", f"log-group:/ecs/{prefix}:*"),
        ),
        statement("ReadTheStacksSecrets", ["secretsmanager:GetSecretValue"], sorted(secrets)),
        statement(
            "DecryptThroughSecretsManager",
            ["kms:Decrypt"],
            f"arn:aws:kms:{stack.region}:*:key/*",
            {"StringEquals": {"kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"}},
        ),
        # No resource in the reference for these channels.
        statement("EcsExecChannels", EXEC_CHANNELS, "*"),
        # The ECS infrastructure role: its Describe calls name no resource in the reference.
        statement(
            "ReadLoadBalancing",
            [
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            "*",
        ),
        statement(
            "ShiftTheStacksTraffic",
            [
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyRule",
            ],
            [
                account.arn("elasticloadbalancing", f"targetgroup/{prefix}-*/*"),
                account.arn("elasticloadbalancing", f"listener/app/{prefix}-*/*/*"),
                account.arn("elasticloadbalancing", f"listener-rule/app/{prefix}-*/*/*/*"),
            ],
        ),
        statement(
            "StopAndStartTheStacksDatabase",
            ["rds:StopDBInstance", "rds:StartDBInstance"],
            account.arn("rds", f"db:{prefix}-*"),
        ),
        statement(
            "EcsAgentOnTheStacksCluster",
            ECS_AGENT,
            [
                account.arn("ecs", f"cluster/{prefix}-*"),
                account.arn("ecs", f"container-instance/{prefix}-*/*"),
            ],
        ),
        # The agent finds its endpoint, polls it, opens its telemetry session and reads its
        # instance's tags: DiscoverPollEndpoint has no resource type in the Service Authorization
        # Reference, and Poll and StartTelemetrySession (in AmazonEC2ContainerServiceforEC2Role on
        # "*") are in no row of its ECS table, so no ARN can be named for them
        # (infra/capacity.py's agent_policy grants them on "*" too).
        statement(
            "EcsAgentSession",
            [
                "ecs:DiscoverPollEndpoint",
                "ecs:Poll",
                "ecs:StartTelemetrySession",
                "ec2:DescribeTags",
            ],
            "*",
        ),
    ]
    return document(statements)
