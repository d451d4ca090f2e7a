"""The offline plan: what a stack would create, from the program run under the mock engine."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from automation.offline.planned import Plan, PlannedResource
from infra import resource_types as types
from infra.rollout import from_service_inputs

Summary = Callable[[dict[str, Any]], str]


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, list):
            data = data[int(part)] if part.isdigit() and int(part) < len(data) else None
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _fields(*pairs: tuple[str, str]) -> Summary:
    def summary(inputs: dict[str, Any]) -> str:
        shown = []
        for label, path in pairs:
            value = _get(inputs, path)
            if value not in (None, "", [], {}):
                shown.append(f"{label}={json.dumps(value) if isinstance(value, list) else value}")
        return " ".join(shown)

    return summary


def _rule(inputs: dict[str, Any]) -> str:
    source = inputs.get("cidrIpv4") or inputs.get("referencedSecurityGroupId") or "?"
    ports = inputs.get("fromPort")
    if inputs.get("toPort") != ports:
        ports = f"{ports}-{inputs.get('toPort')}"
    return f"{inputs.get('ipProtocol')}/{ports} {source} ({inputs.get('description', '')})"


def _container(inputs: dict[str, Any]) -> str:
    try:
        container = json.loads(inputs.get("containerDefinitions") or "[]")[0]
    except (ValueError, IndexError):
        return ""
    secrets = ",".join(s["name"] for s in container.get("secrets", []))
    dropped = ",".join(_get(container, "linuxParameters.capabilities.drop") or []) or "none"
    environment = ",".join(str(v.get("name")) for v in container.get("environment") or [])
    health = _get(container, "healthCheck.command")
    pull = _get(container, "repositoryCredentials.credentialsParameter")
    return (
        f"cpu={inputs.get('cpu')} memory={inputs.get('memory')} image={container.get('image')} "
        f"user={container.get('user', 'image default')} "
        f"readOnlyRoot={container.get('readonlyRootFilesystem')} dropCaps={dropped} "
        f"secrets={secrets} env={environment} "
        f"healthCheck={shlex.join(health) if health else 'none'}"
        + (f" pullCredentials={pull}" if pull else "")
    )


def _strategy(items: Any) -> str:
    """FARGATE(base 2, weight 1)+FARGATE_SPOT(weight 1)."""
    parts = []
    for item in items or []:
        base = f"base {item['base']}, " if item.get("base") else ""
        parts.append(f"{item.get('capacityProvider')}({base}weight {item.get('weight', 0)})")
    return "+".join(parts)


def _service(inputs: dict[str, Any]) -> str:
    alarms = _get(inputs, "alarms.alarmNames") or []
    rollback = _get(inputs, "alarms.rollback")
    capacity = _strategy(inputs.get("capacityProviderStrategies")) or inputs.get("launchType")
    return " ".join(
        part
        for part in (
            f"desired={inputs.get('desiredCount')}",
            f"capacity={capacity}",
            f"publicIp={_get(inputs, 'networkConfiguration.assignPublicIp')}",
            f"circuitBreaker={_get(inputs, 'deploymentCircuitBreaker.rollback')}",
            f"minHealthy={inputs.get('deploymentMinimumHealthyPercent')}",
            f"max={inputs.get('deploymentMaximumPercent')}",
            f"exec={bool(inputs.get('enableExecuteCommand'))}",
            f"strategy={from_service_inputs(inputs).strategy}",
            f"rollbackAlarms={','.join(alarms)}" if alarms and rollback else "",
        )
        if part
    )


def _alarm(inputs: dict[str, Any]) -> str:
    returned = [q for q in inputs.get("metricQueries") or [] if q.get("returnData")]
    watched = returned[0].get("expression") if returned else inputs.get("metricName")
    operator = {"GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">="}.get(
        str(inputs.get("comparisonOperator")), inputs.get("comparisonOperator")
    )
    actions = len(inputs.get("alarmActions") or [])
    return (
        f"{inputs.get('name')}: {watched} {operator} {inputs.get('threshold')} "
        f"({inputs.get('datapointsToAlarm')} of {inputs.get('evaluationPeriods')} x "
        f"{inputs.get('period', 60)}s) notify={actions or 'none'}"
    )


def _scaling_policy(inputs: dict[str, Any]) -> str:
    config = inputs.get("targetTrackingScalingPolicyConfiguration") or {}
    return (
        f"{_get(config, 'predefinedMetricSpecification.predefinedMetricType')} "
        f"target={config.get('targetValue')} scaleOutCooldown={config.get('scaleOutCooldown')}s "
        f"scaleInCooldown={config.get('scaleInCooldown')}s"
    )


def _web_acl(inputs: dict[str, Any]) -> str:
    rules = sorted(inputs.get("rules") or [], key=lambda rule: rule.get("priority", 0))
    limit = next(
        (
            _get(rule, "statement.rateBasedStatement.limit")
            for rule in rules
            if _get(rule, "statement.rateBasedStatement")
        ),
        None,
    )
    names = ",".join(str(rule.get("name")) for rule in rules)
    default = next(iter(inputs.get("defaultAction") or {}), "?")
    overrides = ",".join(
        f"{override.get('name')}:{next(iter(override.get('actionToUse') or {}), '?')}"
        for rule in rules
        for override in _get(rule, "statement.managedRuleGroupStatement.ruleActionOverrides") or []
    )
    return f"scope={inputs.get('scope')} default={default} rateLimit={limit} rules={names}" + (
        f" overrides={overrides}" if overrides else ""
    )


def _web_acl_logging(inputs: dict[str, Any]) -> str:
    """Where WAF logs go, what it keeps, what it redacts."""
    destinations = ",".join(
        str(arn).rsplit(":", 1)[-1] for arn in inputs.get("logDestinationConfigs") or []
    )
    redacted = ",".join(
        str(_get(field, "singleHeader.name") or next(iter(field), "?"))
        for field in inputs.get("redactedFields") or []
    )
    kept = ",".join(
        str(_get(condition, "actionCondition.action"))
        for log_filter in _get(inputs, "loggingFilter.filters") or []
        if log_filter.get("behavior") == "KEEP"
        for condition in log_filter.get("conditions") or []
    )
    return f"to={destinations} redacted={redacted or 'none'} keep={kept or 'all'}"


def _statements(inputs: dict[str, Any], key: str) -> str:
    document = inputs.get(key) or "{}"
    statements = json.loads(document).get("Statement", []) if isinstance(document, str) else []
    return "statements=" + ",".join(str(s.get("Sid", "?")) for s in statements)


def _bucket_lifecycle(inputs: dict[str, Any]) -> str:
    return " ".join(
        f"{_get(rule, 'filter.prefix') or '(all)'} expire after "
        f"{_get(rule, 'expiration.days')} days"
        for rule in inputs.get("rules") or []
        if rule.get("status") == "Enabled"
    )


def _lifecycle(inputs: dict[str, Any]) -> str:
    """4 rules: untagged expire after 7 days; *dev* keep 20; ...; any keep 30."""
    rules = json.loads(inputs.get("policy") or "{}").get("rules", [])
    parts = []
    for rule in sorted(rules, key=lambda rule: rule.get("rulePriority", 0)):
        selection = rule.get("selection") or {}
        tags = selection.get("tagPatternList") or selection.get("tagPrefixList")
        number = selection.get("countNumber")
        if selection.get("countType") == "imageCountMoreThan":
            limit = f"keep {number}"
        else:
            limit = f"expire after {number} {selection.get('countUnit', '')}".rstrip()
        parts.append(f"{','.join(tags) if tags else selection.get('tagStatus')} {limit}")
    return f"{len(parts)} rules: " + "; ".join(parts)


def _vpc(inputs: dict[str, Any]) -> str:
    kinds = [spec.get("type") for spec in inputs.get("subnetSpecs") or []]
    nat = _get(inputs, "natGateways.strategy")
    return (
        f"cidr={inputs.get('cidrBlock')} azs={inputs.get('numberOfAvailabilityZones')} "
        f"nat={nat} subnets={'/'.join(map(str, kinds))}"
    )


SUMMARIES: dict[str, Summary] = {
    types.VPC: _vpc,
    types.REPOSITORY: _fields(
        ("tagMutability", "imageTagMutability"),
        ("scanOnPush", "imageScanningConfiguration.scanOnPush"),
        ("encryption", "encryptionConfigurations.0.encryptionType"),
        ("forceDelete", "forceDelete"),
    ),
    types.IMAGE: _fields(
        ("image", "imageName"),
        ("platform", "build.platform"),
        ("context", "build.context"),
        ("dockerfile", "build.dockerfile"),
    ),
    types.LOAD_BALANCER: _fields(
        ("type", "loadBalancerType"),
        ("internal", "internal"),
        ("dropInvalidHeaders", "dropInvalidHeaderFields"),
        ("deletionProtection", "enableDeletionProtection"),
        ("accessLogs", "accessLogs.bucket"),
    ),
    types.TARGET_GROUP: _fields(
        ("target", "targetType"),
        ("port", "port"),
        ("health", "healthCheck.path"),
        ("interval", "healthCheck.interval"),
        ("healthy", "healthCheck.healthyThreshold"),
        ("deregistration", "deregistrationDelay"),
    ),
    types.LISTENER: _fields(
        ("port", "port"),
        ("protocol", "protocol"),
        ("action", "defaultActions.0.type"),
        ("sslPolicy", "sslPolicy"),
    ),
    types.INGRESS_RULE: _rule,
    types.EGRESS_RULE: _rule,
    types.SECURITY_GROUP: _fields(("description", "description")),
    types.CLUSTER: _fields(("containerInsights", "settings.0.value")),
    types.LOG_GROUP: _fields(("name", "name"), ("retentionDays", "retentionInDays")),
    types.ROLE: _fields(("description", "description")),
    types.TASK_DEFINITION: _container,
    types.SERVICE: _service,
    types.CAPACITY_PROVIDERS: lambda inputs: (
        f"providers={','.join(inputs.get('capacityProviders') or [])} "
        f"default={_strategy(inputs.get('defaultCapacityProviderStrategies'))}"
    ),
    types.SCALABLE_TARGET: _fields(
        ("min", "minCapacity"),
        ("max", "maxCapacity"),
        ("dimension", "scalableDimension"),
    ),
    types.SCALING_POLICY: _scaling_policy,
    types.METRIC_ALARM: _alarm,
    types.WEB_ACL: _web_acl,
    types.WEB_ACL_ASSOCIATION: _fields(("resource", "resourceArn")),
    types.WEB_ACL_LOGGING: _web_acl_logging,
    types.LOG_RESOURCE_POLICY: lambda inputs: _statements(inputs, "policyDocument"),
    types.BUCKET: _fields(("bucket", "bucket"), ("forceDestroy", "forceDestroy")),
    types.BUCKET_POLICY: lambda inputs: _statements(inputs, "policy"),
    types.BUCKET_PUBLIC_ACCESS_BLOCK: _fields(
        ("blockPublicAcls", "blockPublicAcls"),
        ("blockPublicPolicy", "blockPublicPolicy"),
        ("ignorePublicAcls", "ignorePublicAcls"),
        ("restrictPublicBuckets", "restrictPublicBuckets"),
    ),
    types.BUCKET_OWNERSHIP: _fields(("ownership", "rule.objectOwnership")),
    types.BUCKET_ENCRYPTION: _fields(
        ("sse", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm")
    ),
    types.BUCKET_LIFECYCLE: _bucket_lifecycle,
    types.CERTIFICATE: _fields(("domain", "domainName"), ("validation", "validationMethod")),
    types.DNS_RECORD: _fields(
        ("zone", "zoneId"), ("name", "name"), ("type", "type"), ("ttl", "ttl")
    ),
    types.CERTIFICATE_VALIDATION: _fields(("records", "validationRecordFqdns")),
    types.RDS_INSTANCE: _fields(
        ("engine", "engine"),
        ("version", "engineVersion"),
        ("class", "instanceClass"),
        ("storageGiB", "allocatedStorage"),
        ("encrypted", "storageEncrypted"),
        ("multiAz", "multiAz"),
        ("backups", "backupRetentionPeriod"),
        ("deletionProtection", "deletionProtection"),
    ),
    types.ROLE_POLICY: lambda inputs: (
        "statements="
        + ",".join(
            str(statement.get("Sid", "?"))
            for statement in json.loads(inputs.get("policy") or "{}").get("Statement", [])
        )
    ),
    types.LIFECYCLE_POLICY: _lifecycle,
}


def summarize(resource: PlannedResource) -> str:
    summary = SUMMARIES.get(resource.type)
    return summary(resource.inputs) if summary else ""


def counts(plan: Plan) -> dict[str, int]:
    custom = [r for r in plan.resources if r.custom]
    return {
        "resources": len(plan.resources),
        "cloud_resources": len(custom),
        "components": len(plan.resources) - len(custom),
    }


def to_json(plan: Plan) -> dict[str, Any]:
    by_type = Counter(r.type for r in plan.resources)
    return {
        "stack": plan.stack,
        "offline": True,
        "counts": counts(plan) | {"by_type": dict(sorted(by_type.items()))},
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent or None,
                "component": not r.custom,
                "protect": r.protect,
                "ignore_changes": list(r.ignore_changes),
                "replace_on_changes": list(r.replace_on_changes),
                "summary": summarize(r),
                "properties": r.inputs,
            }
            for r in plan.resources
        ],
        "outputs": plan.outputs,
    }


def from_json(data: dict[str, Any]) -> Plan:
    """A plan back from `to_json` (how a plan run in another process is handed over)."""
    return Plan(
        stack=data["stack"],
        resources=[
            PlannedResource(
                urn=item["urn"],
                type=item["type"],
                name=item["name"],
                parent=item["parent"] or "",
                custom=not item["component"],
                inputs=item["properties"],
                protect=item["protect"],
                replace_on_changes=tuple(item["replace_on_changes"]),
            )
            for item in data["resources"]
        ],
        outputs=data["outputs"],
    )


def print_table(plan: Plan, console: Console) -> None:
    table = Table(
        title=f"Offline plan of stack {plan.stack} (mock engine: what `pulumi up` would create)",
        title_justify="left",
    )
    # Type and name fold rather than push the properties out of a narrow terminal.
    table.add_column("type", style="cyan", overflow="fold")
    table.add_column("name", style="bold", overflow="fold")
    table.add_column("key properties", overflow="fold", min_width=24)
    for resource in sorted(plan.resources, key=lambda r: (r.custom, r.type, r.name)):
        kind = resource.type if resource.custom else f"{resource.type} (component)"
        # Summaries hold metric math such as MAX([a, b]): text, not rich markup.
        table.add_row(kind, resource.name, escape(summarize(resource)))
    console.print(table)
    tally = counts(plan)
    console.print(
        f"{tally['cloud_resources']} cloud resources in {tally['components']} components "
        f"({tally['resources']} in all)."
    )
    outputs = Table(title="Stack outputs", title_justify="left")
    outputs.add_column("output", style="bold")
    outputs.add_column("value", overflow="fold")
    for name, value in plan.outputs.items():
        outputs.add_row(name, str(value))
    console.print(outputs)
