"""What ECS needs on the load balancer to move traffic itself (canary, linear, blue/green):
an alternate target group, a production and a test listener rule, and the infrastructure role
ECS assumes to shift the rules' weights and register tasks.

AWS: "Application Load Balancer resources for blue/green, linear, and canary deployments"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html):
two target groups with the same settings, a production listener rule forwarding to both
(weights 100/0), optionally a test listener rule, and the role
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AmazonECSInfrastructureRolePolicyForLoadBalancers.html).
Both rules forward to both groups; ECS swaps which one is "blue" at every deployment, so the
rules' weights are ECS's from then on and `pulumi up` leaves them alone (`ignore_changes`, as
pulumi-awsx's albServiceRoute does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.load_balancer import TARGET_GROUP_PORT, LoadBalancerArgs, health_check
from infra.tags import tags

PRODUCTION_RULE_PRIORITY = 100
TEST_RULE_PRIORITY = 10
"""Lower numbers are evaluated first: a request carrying the test header never reaches the
production rule."""
TEST_HEADER = "X-Alunos-Test-Traffic"
TEST_HEADER_VALUE = "green"
"""Requests with `X-Alunos-Test-Traffic: green` reach the new tasks before any production
traffic does (ECS points the test rule at them first): how a release is tried by hand."""
# ECS moves these on every deployment; Pulumi must not move them back.
_ECS_OWNED = ["actions[*].forward.targetGroups[*].weight"]


@dataclass
class DeploymentStrategyArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the alternate target group (the main one's)."""
    load_balancer: LoadBalancerArgs
    """The main target group's settings: the alternate one checks tasks the same way."""
    listener: aws.lb.Listener
    """The listener that carries production traffic (HTTPS, or HTTP without a certificate)."""
    target_group: aws.lb.TargetGroup
    """The main target group (ECS's first "blue")."""


class DeploymentStrategy(pulumi.ComponentResource):
    alternate_target_group: aws.lb.TargetGroup
    production_rule: aws.lb.ListenerRule
    test_rule: aws.lb.ListenerRule
    role: aws.iam.Role
    policy: aws.iam.RolePolicy

    def __init__(
        self, name: str, args: DeploymentStrategyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("alunos-api:infra:DeploymentStrategy", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lb = args.load_balancer
        # `-tg2`: the main group is `-tg`; both names stay within ELB's 32 characters
        # (infra/load_balancer.py allows a 20-character component name plus autonaming).
        self.alternate_target_group = aws.lb.TargetGroup(
            f"{name}-tg2",
            target_type="ip",
            port=TARGET_GROUP_PORT,
            protocol="HTTP",
            vpc_id=args.vpc_id,
            deregistration_delay=lb.deregistration_delay,
            health_check=health_check(lb),
            tags=tags(f"{name}-tg2"),
            opts=child,
        )
        forward = [
            aws.lb.ListenerRuleActionArgs(
                type="forward",
                forward=aws.lb.ListenerRuleActionForwardArgs(
                    target_groups=[
                        aws.lb.ListenerRuleActionForwardTargetGroupArgs(
                            arn=args.target_group.arn, weight=100
                        ),
                        aws.lb.ListenerRuleActionForwardTargetGroupArgs(
                            arn=self.alternate_target_group.arn, weight=0
                        ),
                    ]
                ),
            )
        ]
        ecs_owned = pulumi.ResourceOptions(parent=self, ignore_changes=_ECS_OWNED)
        self.production_rule = aws.lb.ListenerRule(
            f"{name}-production",
            listener_arn=args.listener.arn,
            priority=PRODUCTION_RULE_PRIORITY,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=["/*"])
                )
            ],
            actions=forward,
            tags=tags(f"{name}-production"),
            opts=ecs_owned,
        )
        self.test_rule = aws.lb.ListenerRule(
            f"{name}-test",
            listener_arn=args.listener.arn,
            priority=TEST_RULE_PRIORITY,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(
                        http_header_name=TEST_HEADER, values=[TEST_HEADER_VALUE]
                    )
                )
            ],
            actions=forward,
            tags=tags(f"{name}-test"),
            opts=ecs_owned,
        )
        self.role = aws.iam.Role(
            f"{name}-ecs-infra",
            description=f"{name}: ECS shifts this service's listener rules and target groups",
            assume_role_policy=infrastructure_trust_policy(),
            tags=tags(f"{name}-ecs-infra"),
            opts=child,
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-ecs-infra",
            role=self.role.id,
            policy=pulumi.Output.all(
                args.listener.arn,
                self.production_rule.arn,
                self.test_rule.arn,
                args.target_group.arn,
                self.alternate_target_group.arn,
            ).apply(lambda a: infrastructure_policy(a[0], a[1:3], a[3:5])),
            opts=child,
        )
        self.register_outputs(
            {
                "alternateTargetGroupArn": self.alternate_target_group.arn,
                "productionListenerRuleArn": self.production_rule.arn,
                "testListenerRuleArn": self.test_rule.arn,
                "roleArn": self.role.arn,
            }
        )

    def advanced_configuration(self) -> aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs:
        """The service's load balancer block for ECS-shifted traffic."""
        return aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs(
            alternate_target_group_arn=self.alternate_target_group.arn,
            production_listener_rule=self.production_rule.arn,
            test_listener_rule=self.test_rule.arn,
            role_arn=self.role.arn,
        )

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What the service waits for: ECS checks the rules and assumes the role at creation."""
        return [self.production_rule, self.test_rule, self.policy]


def infrastructure_trust_policy() -> str:
    """ECS itself (not its tasks) assumes the role: the trust policy of AWS's guide."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowAccessToECSForInfrastructureManagement",
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def infrastructure_policy(
    listener_arn: str, rule_arns: Sequence[str], target_group_arns: Sequence[str]
) -> str:
    """AmazonECSInfrastructureRolePolicyForLoadBalancers, cut down to this service's listener,
    rules and target groups (the managed policy grants them on every ALB and NLB of the
    account). The Describe* actions have no resource type in the Service Authorization Reference
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html),
    so they stay on "*" as in the managed policy; the NLB statement is left out (no NLB here)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ELBReadOperations",
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            "Resource": "*",
        },
        {
            "Sid": "TargetGroupOperations",
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:DeregisterTargets",
            ],
            "Resource": list(target_group_arns),
        },
        {
            "Sid": "ALBModifyListeners",
            "Effect": "Allow",
            "Action": "elasticloadbalancing:ModifyListener",
            "Resource": listener_arn,
        },
        {
            "Sid": "ALBModifyRules",
            "Effect": "Allow",
            "Action": "elasticloadbalancing:ModifyRule",
            "Resource": list(rule_arns),
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
