"""The rules of `policy.rules` as pulumi-policy policies: per-resource rules become
ResourceValidationPolicies (checked before each resource is created or updated), the stack rule
a StackValidationPolicy (it needs to see the load balancer and the security group rules
together). All mandatory: a violation fails `pulumi preview` and `pulumi up`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.rules import RULES, Context, Resource, Rule, is_production

PACK_NAME = "alunos-api-policies"
PROJECT = "alunos-api"


def plain(value: Any) -> Any:
    """The engine's values as plain dicts and lists, unknown sentinels kept (the rules skip
    them), secrets unwrapped. pulumi_policy wraps props in proxies that raise on unknown values;
    `proxy["__target"]` is the raw value they wrap (pulumi_policy's own serializer reads it)."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, Mapping):
        raw = value if isinstance(value, dict) else cast(Any, value)["__target"]
        return {key: plain(item) for key, item in raw.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        raw = value if isinstance(value, list) else cast(Any, value)["__target"]
        return [plain(item) for item in raw]
    return value


def production_from_config() -> bool:
    """The stack's `production` flag, from the config the CLI hands the pack, read by the same
    predicate as the CLI and the program (a stack named `prod` without it is refused)."""
    project = pulumi.get_project() or PROJECT
    flag = pulumi.Config(project).get_bool("production")
    return is_production(pulumi.get_stack(), flag, f"{project}:production")


def _message(why: str, rule: Rule) -> str:
    return f"{why}. Fix: {rule.fix}"


def resource_policy(rule: Rule, production: Callable[[], bool]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        context = Context(production=production())
        resource = Resource(args.resource_type, args.name, args.urn, plain(args.props))
        for violation in rule.violations([resource], context):
            report_violation(_message(violation.why, rule), None)

    return ResourceValidationPolicy(
        name=rule.id,
        description=f"{rule.title}: {rule.description}",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps=rule.fix,
    )


def _stack_resource(resource: PolicyResource) -> Resource:
    refs = {
        prop: [dependency.urn for dependency in dependencies]
        for prop, dependencies in (resource.property_dependencies or {}).items()
    }
    return Resource(
        resource.resource_type, resource.name, resource.urn, plain(resource.props), refs
    )


def stack_policy(rule: Rule, production: Callable[[], bool]) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [_stack_resource(resource) for resource in args.resources]
        for violation in rule.violations(resources, Context(production=production())):
            report_violation(_message(violation.why, rule), violation.urn)

    return StackValidationPolicy(
        name=rule.id,
        description=f"{rule.title}: {rule.description}",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps=rule.fix,
    )


def policies(
    production: Callable[[], bool] = production_from_config,
) -> list[Policy]:
    return [
        stack_policy(rule, production) if rule.stack_check else resource_policy(rule, production)
        for rule in RULES
    ]
