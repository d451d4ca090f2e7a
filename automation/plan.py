"""The offline plan: what a stack would create, from the program run under the mock engine."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from automation.offline import Plan, PlannedResource

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
    return (
        f"cpu={inputs.get('cpu')} memory={inputs.get('memory')} image={container.get('image')} "
        f"readOnlyRoot={container.get('readonlyRootFilesystem')} secrets={secrets}"
    )


def _vpc(inputs: dict[str, Any]) -> str:
    kinds = [spec.get("type") for spec in inputs.get("subnetSpecs") or []]
    nat = _get(inputs, "natGateways.strategy")
    return (
        f"cidr={inputs.get('cidrBlock')} azs={inputs.get('numberOfAvailabilityZones')} "
        f"nat={nat} subnets={'/'.join(map(str, kinds))}"
    )


SUMMARIES: dict[str, Summary] = {
    "awsx:ec2:Vpc": _vpc,
    "aws:ecr/repository:Repository": _fields(
        ("tagMutability", "imageTagMutability"),
        ("scanOnPush", "imageScanningConfiguration.scanOnPush"),
        ("encryption", "encryptionConfigurations.0.encryptionType"),
        ("forceDelete", "forceDelete"),
    ),
    "docker:index/image:Image": _fields(
        ("image", "imageName"), ("platform", "build.platform"), ("context", "build.context")
    ),
    "aws:lb/loadBalancer:LoadBalancer": _fields(
        ("type", "loadBalancerType"),
        ("internal", "internal"),
        ("dropInvalidHeaders", "dropInvalidHeaderFields"),
        ("deletionProtection", "enableDeletionProtection"),
    ),
    "aws:lb/targetGroup:TargetGroup": _fields(
        ("target", "targetType"),
        ("port", "port"),
        ("health", "healthCheck.path"),
        ("interval", "healthCheck.interval"),
        ("healthy", "healthCheck.healthyThreshold"),
        ("deregistration", "deregistrationDelay"),
    ),
    "aws:lb/listener:Listener": _fields(
        ("port", "port"),
        ("protocol", "protocol"),
        ("action", "defaultActions.0.type"),
        ("sslPolicy", "sslPolicy"),
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _rule,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _rule,
    "aws:ec2/securityGroup:SecurityGroup": _fields(("description", "description")),
    "aws:ecs/cluster:Cluster": _fields(("containerInsights", "settings.0.value")),
    "aws:cloudwatch/logGroup:LogGroup": _fields(
        ("name", "name"), ("retentionDays", "retentionInDays")
    ),
    "aws:iam/role:Role": _fields(("description", "description")),
    "aws:ecs/taskDefinition:TaskDefinition": _container,
    "aws:ecs/service:Service": _fields(
        ("desired", "desiredCount"),
        ("launch", "launchType"),
        ("publicIp", "networkConfiguration.assignPublicIp"),
        ("circuitBreaker", "deploymentCircuitBreaker.rollback"),
        ("minHealthy", "deploymentMinimumHealthyPercent"),
        ("max", "deploymentMaximumPercent"),
    ),
    "aws:rds/instance:Instance": _fields(
        ("engine", "engine"),
        ("version", "engineVersion"),
        ("class", "instanceClass"),
        ("storageGiB", "allocatedStorage"),
        ("encrypted", "storageEncrypted"),
        ("multiAz", "multiAz"),
        ("backups", "backupRetentionPeriod"),
        ("deletionProtection", "deletionProtection"),
    ),
    "aws:iam/rolePolicy:RolePolicy": lambda inputs: (
        "statements="
        + ",".join(
            str(statement.get("Sid", "?"))
            for statement in json.loads(inputs.get("policy") or "{}").get("Statement", [])
        )
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": lambda inputs: (
        f"{len(json.loads(inputs.get('policy') or '{}').get('rules', []))} rules"
    ),
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
    table.add_column("type", style="cyan", no_wrap=True)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("key properties", overflow="fold")
    for resource in sorted(plan.resources, key=lambda r: (r.custom, r.type, r.name)):
        kind = resource.type if resource.custom else f"{resource.type} (component)"
        table.add_row(kind, resource.name, summarize(resource))
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
