"""What the migrate workflow's role may do besides deploying: move the API's name
(`automation cutover`: automation/cutover/zone.py, bake.py) and retire the legacy EC2 instances
(`automation decommission`: automation/decommission/survey.py, steps.py, gates.py, traffic.py).
README's "The migration" and "Decommissioning the EC2 instances" list these permissions.

The instances are scoped by the stack's `legacyTags` (every tag must match) and
`legacyInstanceIds`; the backups (AMIs and their snapshots) the decommission creates only with
its own tags (`alunos-api:decommission:*` and Name). The legacy load balancers, target groups
and Auto Scaling groups are the EC2 deployment's, named and tagged by nobody here: those few
deregistration and detach actions cannot be scoped further and say so.
"""

from __future__ import annotations

from bootstrap.deploy_access import account_of
from bootstrap.iam import Document, Statement, document, route53, statement
from bootstrap.settings import Stack

DECOMMISSION_TAG_KEYS = ["alunos-api:decommission:*", "Name"]
"""The tag keys the decommission writes (automation/decommission/progress.py)."""


def migration(stack: Stack, account_id: str) -> Document:
    account = account_of(stack, account_id)
    statements: list[Statement] = []
    if stack.hosted_zone_id and stack.domain_name:
        statements.append(
            statement(
                "CutoverRecords",
                ["route53:ChangeResourceRecordSets"],
                route53(f"hostedzone/{stack.hosted_zone_id}"),
                {
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                            stack.domain_name,
                            f"_cutover.{stack.domain_name}",
                        ]
                    }
                },
            )
        )
    # The decommission's traffic gate reads the legacy load balancers' and instances' metrics.
    statements.append(
        statement(
            "LegacyReads",
            ["cloudwatch:GetMetricStatistics", "autoscaling:Describe*"],
            "*",
        )
    )
    instances = account.ec2("instance")
    legacy: list[Statement] = []
    instance_actions = [
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:CreateImage",
        "ec2:StopInstances",
        "ec2:TerminateInstances",
        "ec2:ModifyInstanceAttribute",
    ]
    if stack.legacy_tags:
        legacy.append(
            statement(
                "LegacyInstancesByTag",
                instance_actions,
                instances,
                {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in stack.legacy_tags.items()}},
            )
        )
        # Their Elastic IPs are released just before termination: tag them like the instances.
        legacy.append(
            statement(
                "LegacyAddressesByTag",
                ["ec2:DisassociateAddress", "ec2:ReleaseAddress"],
                account.ec2("elastic-ip"),
                {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in stack.legacy_tags.items()}},
            )
        )
    if stack.legacy_instance_ids:
        legacy.append(
            statement(
                "LegacyInstancesById",
                instance_actions,
                [account.arn("ec2", f"instance/{iid}") for iid in stack.legacy_instance_ids],
            )
        )
    if not legacy:
        return document(statements)
    statements += legacy
    statements += [
        statement(
            "DecommissionBackups",
            ["ec2:CreateImage", "ec2:CreateTags"],
            account.ec2_unowned("image", "snapshot"),
            {"ForAllValues:StringLike": {"aws:TagKeys": DECOMMISSION_TAG_KEYS}},
        ),
        # The legacy load balancers and Auto Scaling groups are the EC2 deployment's: no name or
        # tag of theirs is known here.
        statement(
            "LegacyLoadBalancers",
            [
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
            ],
            [
                account.arn("elasticloadbalancing", "targetgroup/*/*"),
                account.arn("elasticloadbalancing", "loadbalancer/*"),
            ],
        ),
        statement(
            "LegacyAutoScalingGroups",
            ["autoscaling:DetachInstances", "autoscaling:UpdateAutoScalingGroup"],
            account.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),
        ),
    ]
    return document(statements)
