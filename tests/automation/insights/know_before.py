"""Plans for the cost, check and diagram tests: each stack planned once per test run (the mock
engine takes about 2 s a plan), and copies of them edited resource by resource."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from automation.offline import engine
from automation.offline.engine import Plan, PlannedResource
from infra import resource_types as types

ROOT = Path(__file__).resolve().parents[3]


@functools.cache
def plan(stack: str) -> Plan:
    """The stack as its config file describes it (shared by every test: do not mutate)."""
    return engine.run(ROOT, stack)


@functools.cache
def _variant(stack: str, overrides_json: str) -> Plan:
    overrides: dict[str, Any] = json.loads(overrides_json)
    project = Path(tempfile.mkdtemp(prefix=f"knowbefore-{stack}-"))
    shutil.copy(ROOT / "Pulumi.yaml", project)
    shutil.copy(ROOT / "__main__.py", project)
    (project / "infra").symlink_to(ROOT / "infra")
    source = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    for key, value in overrides.items():
        qualified = key if ":" in key else f"alunos-api:{key}"
        if value is None:
            source["config"].pop(qualified, None)
        else:
            source["config"][qualified] = value
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(source))
    try:
        return engine.run(project, stack)
    finally:
        shutil.rmtree(project)


def plan_with(stack: str, **overrides: Any) -> Plan:
    """The stack planned with its config file changed (key -> value; None removes the key)."""
    return _variant(stack, json.dumps(overrides, sort_keys=True))


# dev behind HTTPS, with a NAT gateway per AZ (private tasks) and an existing database.
DEV_HTTPS_NAT_EXISTING_DB = {
    "certificateArn": "arn:aws:acm:us-east-2:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    "natGateways": "OnePerAz",
    "createDatabase": None,
    "dbHost": "legacy-db.internal.example.com",
    "dbSecretArn": "arn:aws:secretsmanager:us-east-2:123456789012:secret:alunos-api/dev/db-Zz99Yy",
}


def find(plan_: Plan, type_: str, name: str | None = None) -> PlannedResource:
    found = [r for r in plan_.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_} {name or ''}: {[r.name for r in found]}"
    return found[0]


def edited(
    plan_: Plan, type_: str, mutate: Callable[[dict[str, Any]], None], name: str | None = None
) -> Plan:
    """A deep copy of `plan_` whose one resource of `type_` had its inputs changed by `mutate`."""
    copied = copy.deepcopy(plan_)
    mutate(find(copied, type_, name).inputs)
    return copied


def edit_container(mutate: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """A mutation of a task definition's (JSON) first container."""

    def apply(inputs: dict[str, Any]) -> None:
        containers = json.loads(inputs["containerDefinitions"])
        mutate(containers[0])
        inputs["containerDefinitions"] = json.dumps(containers)

    return apply


# --- crafted violations: (rule that must fire, stack, production flag, resource type, name, edit)


def _open_tasks_to_world(inputs: dict[str, Any]) -> None:
    inputs.pop("referencedSecurityGroupId")
    inputs["cidrIpv4"] = "0.0.0.0/0"


def _ssh_on_alb_group(inputs: dict[str, Any]) -> None:
    inputs.update(fromPort=22, toPort=22)


def edit_lifecycle(
    mutate: Callable[[list[dict[str, Any]]], None],
) -> Callable[[dict[str, Any]], None]:
    """A mutation of an ECR lifecycle policy's (JSON) rules."""

    def apply(inputs: dict[str, Any]) -> None:
        document = json.loads(inputs["policy"])
        mutate(document["rules"])
        inputs["policy"] = json.dumps(document)

    return apply


def _all_traffic_ipv6(inputs: dict[str, Any]) -> None:
    inputs.pop("cidrIpv4")
    inputs.update(cidrIpv6="::/0", ipProtocol="-1", fromPort=None, toPort=None)


def _drop_tls_only(inputs: dict[str, Any]) -> None:
    document = json.loads(inputs["policy"])
    document["Statement"] = [s for s in document["Statement"] if s["Effect"] != "Deny"]
    inputs["policy"] = json.dumps(document)


def _into_the_instances(inputs: dict[str, Any]) -> None:
    """The database's rule moved onto the instances' security group (the mock's id for it)."""
    inputs["securityGroupId"] = "sg-" + hashlib.sha256(b"alunos-prod-instances-sg").hexdigest()[:17]


VIOLATIONS: list[tuple[str, str, bool, str, str | None, Callable[[dict[str, Any]], None]]] = [
    # The edge (issue 13): the access log bucket, WAF's logs, logging in production.
    ("s3-private-tls-only", "prod", True, types.BUCKET_PUBLIC_ACCESS_BLOCK, None,
     lambda i: i.update(restrictPublicBuckets=False)),
    ("s3-private-tls-only", "prod", True, types.BUCKET_POLICY, None, _drop_tls_only),
    ("alb-access-log-bucket", "prod", True, types.BUCKET_ENCRYPTION, None,
     lambda i: i["rules"][0]["applyServerSideEncryptionByDefault"].update(sseAlgorithm="aws:kms")),
    ("alb-access-log-bucket", "prod", True, types.LOAD_BALANCER, None,
     lambda i: i["accessLogs"].update(prefix="logs")),
    ("waf-logging", "prod", True, types.WEB_ACL_LOGGING, None,
     lambda i: i.update(redactedFields=i["redactedFields"][:1])),
    ("waf-logging", "prod", True, types.WEB_ACL_LOGGING, None,
     lambda i: i.update(logDestinationConfigs=[
         "arn:aws:logs:us-east-2:123456789012:log-group:/waf/alunos-prod"])),
    ("edge-logging-in-production", "prod", True, types.LOAD_BALANCER, None,
     lambda i: i.pop("accessLogs")),
    ("edge-logging-in-production", "prod", True, types.WEB_ACL, None,
     lambda i: i.update(name="another-web-acl")),
    # The description issue 13 found: EC2 rejects the apostrophe, so the ALB's only egress fails.
    ("aws-descriptions", "prod", True, types.EGRESS_RULE, "alunos-prod-alb-out",
     lambda i: i.update(description="load balancer to the tasks' container port")),
    ("aws-descriptions", "dev", False, types.SECURITY_GROUP, "alunos-dev-alb-sg",
     lambda i: i.update(description="x" * 256)),
    ("no-world-open-ingress", "dev", False, types.INGRESS_RULE, "alunos-dev-in-alb", _open_tasks_to_world),
    ("no-world-open-ingress", "dev", False, types.INGRESS_RULE, "alunos-dev-in-80", _ssh_on_alb_group),
    ("no-world-open-ingress", "prod", True, types.INGRESS_RULE, "alunos-prod-in-443", _all_traffic_ipv6),
    ("no-public-tasks-in-production", "prod", True, types.SERVICE, None,
     lambda i: i["networkConfiguration"].update(assignPublicIp=True)),
    ("no-plain-secrets", "dev", False, types.TASK_DEFINITION, None,
     edit_container(lambda c: c["environment"].append({"name": "DB_PASSWORD", "value": "hunter2"}))),
    ("no-plain-secrets", "prod", True, types.TASK_DEFINITION, None,
     edit_container(lambda c: c["environment"].append(
         {"name": "DATABASE_URL", "value": "postgres://app:hunter2@db:5432/alunos"}))),
    ("image-by-digest", "dev", False, types.TASK_DEFINITION, None,
     edit_container(lambda c: c.update(image="123456789012.dkr.ecr.us-east-2.amazonaws.com/app:1.4.2"))),
    ("image-by-digest", "dev", False, types.TASK_DEFINITION, None,
     edit_container(lambda c: c.update(image="<none>@<none>"))),
    ("image-tag-per-build", "dev", False, types.IMAGE, None,
     lambda i: i.update(imageName="123456789012.dkr.ecr.us-east-2.amazonaws.com/app:latest")),
    ("image-tag-per-build", "prod", True, types.IMAGE, None,
     lambda i: i.update(imageName="123456789012.dkr.ecr.us-east-2.amazonaws.com/app")),
    # A regression to the bare version: every build of 0.0.0-dev would share one tag.
    ("image-tag-per-build", "dev", False, types.IMAGE, None,
     lambda i: i.update(imageName="123456789012.dkr.ecr.us-east-2.amazonaws.com/app:0.0.0-dev")),
    ("ecr-immutable-and-scanned", "dev", False, types.REPOSITORY, None,
     lambda i: i.update(imageTagMutability="MUTABLE")),
    ("ecr-immutable-and-scanned", "prod", True, types.REPOSITORY, None,
     lambda i: i["imageScanningConfiguration"].update(scanOnPush=False)),
    ("ecr-lifecycle-policy", "dev", False, types.LIFECYCLE_POLICY, None,
     edit_lifecycle(lambda rules: rules[1]["selection"].update(tagPatternList=["*a*b*c*d*e"]))),
    ("ecr-lifecycle-policy", "prod", True, types.LIFECYCLE_POLICY, None,
     edit_lifecycle(lambda rules: rules[-1].update(rulePriority=0))),
    ("log-retention", "dev", False, types.LOG_GROUP, None,
     lambda i: i.pop("retentionInDays")),
    ("deployment-circuit-breaker", "dev", False, types.SERVICE, None,
     lambda i: i["deploymentCircuitBreaker"].update(rollback=False)),
    ("canary-needs-rollback-alarms", "prod", True, types.SERVICE, None,
     lambda i: i.pop("alarms")),
    ("canary-needs-rollback-alarms", "dev", False, types.SERVICE, None,
     lambda i: i.update(deploymentConfiguration={"strategy": "LINEAR"},
                        alarms={**i["alarms"], "rollback": False})),
    ("deletion-protection-in-production", "prod", True, types.LOAD_BALANCER, None,
     lambda i: i.update(enableDeletionProtection=False)),
    ("deletion-protection-in-production", "prod-rds", True, types.RDS_INSTANCE, None,
     lambda i: i.update(deletionProtection=False)),
    ("modern-tls", "prod", True, types.LISTENER, "alunos-prod-https",
     lambda i: i.update(sslPolicy="ELBSecurityPolicy-2016-08")),
    ("rds-encrypted-and-private", "dev", False, types.RDS_INSTANCE, None,
     lambda i: i.update(storageEncrypted=False)),
    ("rds-encrypted-and-private", "dev", False, types.RDS_INSTANCE, None,
     lambda i: i.update(publiclyAccessible=True)),
    ("rds-final-snapshot", "dev", False, types.RDS_INSTANCE, None,
     lambda i: i.update(skipFinalSnapshot=True)),
    ("rds-final-snapshot", "prod-rds", True, types.RDS_INSTANCE, None,
     lambda i: i.update(finalSnapshotIdentifier="alunos_prod-final")),
    ("drop-invalid-headers", "dev", False, types.LOAD_BALANCER, None,
     lambda i: i.update(dropInvalidHeaderFields=False)),
    ("no-privileged-containers", "dev", False, types.TASK_DEFINITION, None,
     edit_container(lambda c: c.update(privileged=True))),
    # EC2 capacity (issue 17): IMDSv2, encrypted volumes, instances nobody connects to.
    ("ec2-imdsv2", "prod-hybrid", True, types.LAUNCH_TEMPLATE, None,
     lambda i: i["metadataOptions"].update(httpTokens="optional")),
    ("ec2-encrypted-volumes", "prod-hybrid", True, types.LAUNCH_TEMPLATE, None,
     lambda i: i["blockDeviceMappings"][0]["ebs"].update(encrypted="false")),
    # No mapping at all: the AMI's root volume, unencrypted unless the account says otherwise.
    ("ec2-encrypted-volumes", "prod-hybrid", True, types.LAUNCH_TEMPLATE, None,
     lambda i: i.pop("blockDeviceMappings")),
    ("ec2-encrypted-volumes", "prod-hybrid", True, types.LAUNCH_TEMPLATE, None,
     lambda i: i["blockDeviceMappings"][0]["ebs"].pop("encrypted")),
    ("ec2-no-instance-ingress", "prod-hybrid", True, types.LAUNCH_TEMPLATE, None,
     lambda i: i["networkInterfaces"][0].update(associatePublicIpAddress="true")),
    ("ec2-no-instance-ingress", "prod-hybrid", True, types.INGRESS_RULE, "alunos-prod-db-in",
     _into_the_instances),
    ("read-only-root-in-production", "prod", True, types.TASK_DEFINITION, None,
     edit_container(lambda c: c.update(readonlyRootFilesystem=False))),
]  # fmt: skip


# prod creating its own RDS instance (in the existing VPC's private subnets).
PROD_WITH_RDS = {
    "createDatabase": True,
    "dbHost": None,
    "dbSecretArn": None,
    "dbSecurityGroupId": None,
    "dbAllowIngressFromService": None,
}


# prod with its steady load on EC2 (capacity hybrid): a launch template, an instances' group.
PROD_HYBRID = {
    "capacity": "hybrid",
    "ec2BaseCount": 2,
    "autoscalingMinCount": 0,
    "desiredCount": 0,
    "deploymentStrategy": "rolling",
}


def stack_plan(stack: str) -> Plan:
    """A stack by name; "prod-rds" is prod with PROD_WITH_RDS, "prod-hybrid" with PROD_HYBRID."""
    if stack == "prod-rds":
        return plan_with("prod", **PROD_WITH_RDS)
    if stack == "prod-hybrid":
        return plan_with("prod", **PROD_HYBRID)
    return plan(stack)


def violating_plan(
    stack: str, type_: str, name: str | None, mutate: Callable[[dict[str, Any]], None]
) -> Plan:
    return edited(stack_plan(stack), type_, mutate, name)
