"""AWS WAF in front of the load balancer: AWS managed rule groups, a per-IP rate limit, the app's
body limit, and logs of what it blocked or counted.

Rules run by priority, the cheap ones first: the rate limit, then the body limit, then the IP
reputation list drop abusive and known-bad sources before the heavier inspection of the common,
known-bad-input and SQL injection rule groups (the API stores its data in PostgreSQL). The rest
is allowed. About 1,130 WCUs, inside the 1,500 a web ACL gets without extra charge.

Request bodies: the app accepts up to 64 KiB (app/web.py), but the core rule set's
SizeRestrictions_BODY blocks bodies over 8 KB, and for an Application Load Balancer WAF only
ever sees the first 8 KB of a body (a fixed limit: association_config's larger body limits are
for CloudFront, API Gateway, Cognito, App Runner and Verified Access). So a size constraint on
the body cannot enforce 64 KiB here. What is enforceable: SizeRestrictions_BODY is overridden to
count (still logged), and a request that declares a Content-Length above the app's limit is
refused at the edge with the app's own 413; bodies without a Content-Length (chunked) are
counted by the app itself, which refuses past the limit. The body rules of the managed groups
inspect the first 8 KB of larger bodies.
https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-setting-body-inspection-limit.html
https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html
"""

from __future__ import annotations

import json
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
CORE_RULE_SET = "AWSManagedRulesCommonRuleSet"
# The core rule set's rule that blocks bodies over 8 KB (aws-managed-rule-groups-baseline.html).
CORE_BODY_SIZE_RULE = "SizeRestrictions_BODY"
# What WAF inspects of a body for an Application Load Balancer: fixed, 8 KB.
BODY_INSPECTION_LIMIT = 8 * 1024
# The largest body the app accepts: app/web.py MAX_BODY_BYTES (tests keep them equal).
APP_MAX_BODY_BYTES = 64 * 1024
# Headers that carry credentials: never written to the WAF logs (WAF wants them lower-case).
REDACTED_HEADERS = ("authorization", "cookie")
# WAF delivers to CloudWatch Logs only into log groups named so.
# https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html
LOG_GROUP_PREFIX = "aws-waf-logs-"
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_TOO_LARGE_BODY = "body-too-large"


@dataclass
class WafArgs:
    load_balancer_arn: pulumi.Input[str]
    """The ALB the web ACL protects."""
    rate_limit: int
    """Requests one IP may send in 5 minutes before it is blocked (WAF counts per IP)."""
    log_retention_days: int
    """Days the WAF log group keeps what WAF blocked or counted."""
    managed_rule_groups: Sequence[str] = MANAGED_RULE_GROUPS
    """AWS managed rule groups, by name, in the order they run (after the rate limit)."""
    max_body_bytes: int = BODY_INSPECTION_LIMIT
    """The largest request body the app behind accepts. Above WAF's 8 KB: the core rule set's
    body size rule only counts, and larger declared bodies are refused with 413."""


class Waf(pulumi.ComponentResource):
    web_acl: aws.wafv2.WebAcl
    association: aws.wafv2.WebAclAssociation
    log_group: aws.cloudwatch.LogGroup
    log_policy: aws.cloudwatch.LogResourcePolicy
    logging: aws.wafv2.WebAclLoggingConfiguration

    def __init__(
        self, name: str, args: WafArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(name, args)
        super().__init__("alunos-api:infra:Waf", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Only here: the wafv2 module takes ~1 s to import, a cost stacks without WAF skip.
        wafv2 = aws.wafv2
        larger_bodies = args.max_body_bytes > BODY_INSPECTION_LIMIT

        rules = [_rate_limit(name, args.rate_limit)]
        if larger_bodies:
            rules.append(_body_limit(name, args.max_body_bytes))
        rules += [
            wafv2.WebAclRuleArgs(
                name=group,
                priority=priority,
                # A rule group carries its own (block) actions: override "none" keeps them.
                override_action=wafv2.WebAclRuleOverrideActionArgs(
                    none=wafv2.WebAclRuleOverrideActionNoneArgs()
                ),
                statement=wafv2.WebAclRuleStatementArgs(
                    managed_rule_group_statement=_managed_group(group, larger_bodies)
                ),
                visibility_config=_rule_metrics(f"{name}-{group}"),
            )
            for priority, group in enumerate(args.managed_rule_groups, start=len(rules))
        ]
        self.web_acl = wafv2.WebAcl(
            f"{name}-waf",
            name=f"{name}-waf",
            description=f"{name}: AWS managed rules, a per-IP rate limit and the app body limit",
            scope="REGIONAL",
            default_action=wafv2.WebAclDefaultActionArgs(
                allow=wafv2.WebAclDefaultActionAllowArgs()
            ),
            rules=rules,
            custom_response_bodies=[
                wafv2.WebAclCustomResponseBodyArgs(
                    key=_TOO_LARGE_BODY,
                    content_type="APPLICATION_JSON",
                    # The app's own 413 body (app/web.py), so clients see one answer.
                    content=json.dumps(
                        {
                            "erro": "corpo da requisição muito grande: máximo "
                            f"{args.max_body_bytes} bytes"
                        }
                    ),
                )
            ]
            if larger_bodies
            else None,
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
        self._logs(name, args, child)
        self.register_outputs({"webAclArn": self.web_acl.arn, "logGroupName": self.log_group.name})

    def _logs(self, name: str, args: WafArgs, child: pulumi.ResourceOptions) -> None:
        """What WAF blocked or counted, to CloudWatch Logs, credentials redacted. The log
        group's resource policy lets the log delivery service write there; created here as
        AWS would create it (least privilege: this group's streams, from this account), so WAF
        finds it in place instead of needing logs:PutResourcePolicy to make one at its first
        delivery. https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-CWL.html
        """
        wafv2 = aws.wafv2
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-waf-logs",
            name=f"{LOG_GROUP_PREFIX}{name}",
            retention_in_days=args.log_retention_days,
            tags=tags(f"{name}-waf-logs"),
            opts=child,
        )
        self.log_policy = aws.cloudwatch.LogResourcePolicy(
            f"{name}-waf-logs-delivery",
            resource_arn=self.log_group.arn,
            policy_document=self.log_group.arn.apply(log_delivery_policy),
            opts=child,
        )
        keep = [
            wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionArgs(
                action_condition=wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionActionConditionArgs(
                    action=action
                )
            )
            # EXCLUDED_AS_COUNT: rules of a group overridden to count (SizeRestrictions_BODY).
            for action in ("BLOCK", "COUNT", "EXCLUDED_AS_COUNT")
        ]
        self.logging = wafv2.WebAclLoggingConfiguration(
            f"{name}-waf-logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=[
                wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                        name=header
                    )
                )
                for header in REDACTED_HEADERS
            ],
            # Only what WAF acted on: every request is in the load balancer's access logs.
            logging_filter=wafv2.WebAclLoggingConfigurationLoggingFilterArgs(
                default_behavior="DROP",
                filters=[
                    wafv2.WebAclLoggingConfigurationLoggingFilterFilterArgs(
                        behavior="KEEP", requirement="MEETS_ANY", conditions=keep
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_policy]),
        )


def log_delivery_policy(log_group_arn: str) -> str:
    """The statement CloudWatch Logs documents (and would add itself) for vended logs:
    delivery.logs.amazonaws.com may create streams and put events in this group only, on
    behalf of this account's log deliveries."""
    _, partition, _, region, account, _ = log_group_arn.split(":", 5)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AWSLogDeliveryWrite20150319",
                    "Effect": "Allow",
                    "Principal": {"Service": ["delivery.logs.amazonaws.com"]},
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [f"{log_group_arn}:log-stream:*"],
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": [account]},
                        "ArnLike": {
                            "aws:SourceArn": [f"arn:{partition}:logs:{region}:{account}:*"]
                        },
                    },
                }
            ],
        },
        sort_keys=True,
    )


def greater_than(limit: int) -> str:
    """A regex WAF accepts (PCRE without groups: WAF refuses capturing subexpressions) that
    matches a decimal number above `limit`, leading zeros allowed: one anchored branch for
    longer numbers, one per digit that can be raised."""
    digits = str(limit)
    branches = [f"^0*[1-9][0-9]{{{len(digits)},}}$"]
    for index, digit in enumerate(digits):
        if digit == "9":
            continue
        rest = len(digits) - index - 1
        higher = "9" if digit == "8" else f"[{int(digit) + 1}-9]"
        branches.append(f"^0*{digits[:index]}{higher}" + (f"[0-9]{{{rest}}}" if rest else "") + "$")
    return "|".join(branches)


def _rate_limit(name: str, limit: int) -> aws.wafv2.WebAclRuleArgs:
    wafv2 = aws.wafv2
    return wafv2.WebAclRuleArgs(
        name="rate-limit-per-ip",
        priority=0,
        action=wafv2.WebAclRuleActionArgs(block=wafv2.WebAclRuleActionBlockArgs()),
        statement=wafv2.WebAclRuleStatementArgs(
            rate_based_statement=wafv2.WebAclRuleStatementRateBasedStatementArgs(
                aggregate_key_type="IP", limit=limit, evaluation_window_sec=300
            )
        ),
        visibility_config=_rule_metrics(f"{name}-rate-limit"),
    )


def _body_limit(name: str, max_body_bytes: int) -> aws.wafv2.WebAclRuleArgs:
    """413, as the app answers, for a request declaring a body above the app's limit."""
    wafv2 = aws.wafv2
    return wafv2.WebAclRuleArgs(
        name="body-over-app-limit",
        priority=1,
        action=wafv2.WebAclRuleActionArgs(
            block=wafv2.WebAclRuleActionBlockArgs(
                custom_response=wafv2.WebAclRuleActionBlockCustomResponseArgs(
                    response_code=413, custom_response_body_key=_TOO_LARGE_BODY
                )
            )
        ),
        statement=wafv2.WebAclRuleStatementArgs(
            regex_match_statement=wafv2.WebAclRuleStatementRegexMatchStatementArgs(
                regex_string=greater_than(max_body_bytes),
                field_to_match=wafv2.WebAclRuleStatementRegexMatchStatementFieldToMatchArgs(
                    single_header=wafv2.WebAclRuleStatementRegexMatchStatementFieldToMatchSingleHeaderArgs(
                        name="content-length"
                    )
                ),
                text_transformations=[
                    wafv2.WebAclRuleStatementRegexMatchStatementTextTransformationArgs(
                        priority=0, type="NONE"
                    )
                ],
            )
        ),
        visibility_config=_rule_metrics(f"{name}-body-limit"),
    )


def _rule_metrics(metric_name: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    """CloudWatch metrics and sampled requests for every rule: what was blocked, and why."""
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def _managed_group(
    group: str, larger_bodies: bool
) -> aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs:
    wafv2 = aws.wafv2
    overrides = None
    if group == CORE_RULE_SET and larger_bodies:
        # Count, not block, bodies over 8 KB: the app accepts more (see the module docstring).
        overrides = [
            wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                name=CORE_BODY_SIZE_RULE,
                action_to_use=wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                    count=wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
                ),
            )
        ]
    return wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
        vendor_name="AWS", name=group, rule_action_overrides=overrides
    )


def _validate(name: str, args: WafArgs) -> None:
    v.WAF_RATE_LIMIT.check("rate_limit", args.rate_limit)
    v.in_range("max_body_bytes", args.max_body_bytes, 1, 2**31 - 1)
    v.one_of("log_retention_days", args.log_retention_days, v.LOG_RETENTION_DAYS)
    if not args.managed_rule_groups:
        raise v.fail("managed_rule_groups", [], "at least one AWS managed rule group")
    for group in args.managed_rule_groups:
        if not _METRIC_NAME.match(f"{name}-{group}"):
            raise v.fail("managed_rule_groups", group, "AWS managed rule group names (letters)")
    if not _METRIC_NAME.match(f"{name}-waf"):
        raise v.fail("name", name, "letters, digits, '_' and '-' (it names the WAF metrics)")
