"""AWS WAF in front of the load balancer: AWS managed rule groups and a per-IP rate limit.

Rules run by priority, the cheap ones first: the rate limit and the IP reputation list drop
abusive and known-bad sources before the heavier inspection of the common, known-bad-input and
SQL injection rule groups (the API stores its data in PostgreSQL). The rest is allowed.
About 1,130 WCUs, inside the 1,500 a web ACL gets without extra charge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags

# https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
)
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


@dataclass
class WafArgs:
    load_balancer_arn: pulumi.Input[str]
    """The ALB the web ACL protects."""
    rate_limit: int
    """Requests one IP may send in 5 minutes before it is blocked (WAF counts per IP)."""
    managed_rule_groups: Sequence[str] = MANAGED_RULE_GROUPS
    """AWS managed rule groups, by name, in the order they run (after the rate limit)."""


class Waf(pulumi.ComponentResource):
    web_acl: aws.wafv2.WebAcl
    association: aws.wafv2.WebAclAssociation

    def __init__(
        self, name: str, args: WafArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(name, args)
        super().__init__("alunos-api:infra:Waf", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Only here: the wafv2 module takes ~1 s to import, a cost stacks without WAF skip.
        wafv2 = aws.wafv2

        rate_limit = wafv2.WebAclRuleArgs(
            name="rate-limit-per-ip",
            priority=0,
            action=wafv2.WebAclRuleActionArgs(block=wafv2.WebAclRuleActionBlockArgs()),
            statement=wafv2.WebAclRuleStatementArgs(
                rate_based_statement=wafv2.WebAclRuleStatementRateBasedStatementArgs(
                    aggregate_key_type="IP", limit=args.rate_limit, evaluation_window_sec=300
                )
            ),
            visibility_config=_rule_metrics(f"{name}-rate-limit"),
        )
        managed = [
            wafv2.WebAclRuleArgs(
                name=group,
                priority=priority,
                # A rule group carries its own (block) actions: override "none" keeps them.
                override_action=wafv2.WebAclRuleOverrideActionArgs(
                    none=wafv2.WebAclRuleOverrideActionNoneArgs()
                ),
                statement=wafv2.WebAclRuleStatementArgs(
                    managed_rule_group_statement=_managed_group(group)
                ),
                visibility_config=_rule_metrics(f"{name}-{group}"),
            )
            for priority, group in enumerate(args.managed_rule_groups, start=1)
        ]
        self.web_acl = wafv2.WebAcl(
            f"{name}-waf",
            description=f"{name}: AWS managed rules and a per-IP rate limit for the load balancer",
            scope="REGIONAL",
            default_action=wafv2.WebAclDefaultActionArgs(
                allow=wafv2.WebAclDefaultActionAllowArgs()
            ),
            rules=[rate_limit, *managed],
            visibility_config=wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True,
                metric_name=f"{name}-waf",
                sampled_requests_enabled=True,
            ),
            tags=tags(f"{name}-waf"),
            opts=child,
        )
        self.association = wafv2.WebAclAssociation(
            f"{name}-waf-alb",
            resource_arn=args.load_balancer_arn,
            web_acl_arn=self.web_acl.arn,
            opts=child,
        )
        self.register_outputs({"webAclArn": self.web_acl.arn})


def _rule_metrics(metric_name: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    """CloudWatch metrics and sampled requests for every rule: what was blocked, and why."""
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def _managed_group(group: str) -> aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs:
    return aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(vendor_name="AWS", name=group)


def _validate(name: str, args: WafArgs) -> None:
    v.WAF_RATE_LIMIT.check("rate_limit", args.rate_limit)
    if not args.managed_rule_groups:
        raise v.fail("managed_rule_groups", [], "at least one AWS managed rule group")
    for group in args.managed_rule_groups:
        if not _METRIC_NAME.match(f"{name}-{group}"):
            raise v.fail("managed_rule_groups", group, "AWS managed rule group names (letters)")
    if not _METRIC_NAME.match(f"{name}-waf"):
        raise v.fail("name", name, "letters, digits, '_' and '-' (it names the WAF metrics)")
