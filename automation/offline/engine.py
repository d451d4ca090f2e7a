"""Run the Pulumi program under Pulumi's mock engine: no AWS account, no Pulumi CLI.

The mocks return the outputs the real providers have (ids, ARNs, DNS names, awsx's subnet id
lists), derived deterministically from the resource's name, so two runs of the same program give
the same plan and a plan diff shows only real changes.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from automation.changes import SECRET_MASK, Change, ChangeSet, Operation
from automation.errors import UsageProblem
from automation.release import stack_config
from infra import resource_types as types

ACCOUNT = "123456789012"


def _hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _uuid(*parts: str) -> str:
    digest = _hex(*parts, length=32)
    return "-".join((digest[:8], digest[8:12], digest[12:16], digest[16:20], digest[20:]))


def _clean(value: Any) -> Any:
    """Inputs as a reader expects them: secrets masked (they never leave the mock engine in
    clear), and integers back from the wire's doubles."""
    if rpc.is_rpc_secret(value):
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class OfflineMocks(pulumi.runtime.Mocks):
    """Outputs shaped like the real providers' for the resource types the program uses."""

    def __init__(self, region: str) -> None:
        self.region = region

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            registry = args.args.get("registryId") or ACCOUNT
            endpoint = f"https://{registry}.dkr.ecr.{self.region}.amazonaws.com"
            return {"proxyEndpoint": endpoint, "userName": "AWS", "password": "offline"}
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{suffix}" for suffix in "abc"]
            return {"names": names, "zoneIds": [f"use2-az{i}" for i in (1, 2, 3)]}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region}
        raise NotImplementedError(
            f"the offline engine has no mock for the data source {args.token}; add one in "
            "automation/offline/engine.py so plans stay faithful"
        )

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        typ, name = args.typ, args.name
        short = _hex(typ, name, length=7)
        physical = inputs.get("name") or f"{name}-{short}"
        outputs: dict[str, Any] = {**inputs}
        resource_id = f"{name}-{short}"
        arn_base = f"arn:aws:{{service}}:{self.region}:{ACCOUNT}"

        if typ == "awsx:ec2:Vpc":
            return self._vpc(name, inputs)
        if typ == "aws:ec2/securityGroup:SecurityGroup":
            resource_id = f"sg-{_hex(name)}"
            outputs |= {"arn": f"{arn_base.format(service='ec2')}:security-group/{resource_id}"}
        elif typ.startswith("aws:vpc/securityGroup"):
            resource_id = f"sgr-{_hex(name)}"
        elif typ == "aws:lb/loadBalancer:LoadBalancer":
            elb = arn_base.format(service="elasticloadbalancing")
            arn = f"{elb}:loadbalancer/app/{physical}/{short}"
            outputs |= {
                "name": physical,
                "arn": arn,
                "arnSuffix": arn.split(":loadbalancer/", 1)[1],
                "dnsName": f"{physical}-{int(_hex(name, length=8), 16)}"
                f".{self.region}.elb.amazonaws.com",
                "zoneId": "Z3AADJGX6KTTL2",
            }
            resource_id = arn
        elif typ == "aws:lb/targetGroup:TargetGroup":
            arn = (
                f"{arn_base.format(service='elasticloadbalancing')}:targetgroup/{physical}/{short}"
            )
            outputs |= {"name": physical, "arn": arn, "arnSuffix": arn.split(":", 5)[5]}
            resource_id = arn
        elif typ == "aws:lb/listener:Listener":
            resource_id = f"{arn_base.format(service='elasticloadbalancing')}:listener/app/{short}"
            outputs |= {"arn": resource_id}
        elif typ == "aws:ecr/repository:Repository":
            outputs |= {
                "name": physical,
                "arn": f"{arn_base.format(service='ecr')}:repository/{physical}",
                "registryId": ACCOUNT,
                "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{physical}",
            }
            resource_id = physical
        elif typ == "docker:index/image:Image":
            image_name = str(inputs.get("imageName", name))
            repository = image_name.rsplit(":", 1)[0]
            # Derived from the inputs, as a rebuild with other build args gives another digest;
            # canonical JSON, because nested inputs arrive in whatever order they resolved.
            canonical = json.dumps(inputs, sort_keys=True, default=repr)
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            outputs |= {"repoDigest": f"{repository}@sha256:{digest}", "baseImageName": image_name}
            resource_id = f"sha256:{digest}"
        elif typ == "aws:ecs/cluster:Cluster":
            outputs |= {
                "name": physical,
                "arn": f"{arn_base.format(service='ecs')}:cluster/{physical}",
            }
        elif typ == "aws:ecs/service:Service":
            outputs |= {"name": physical}
            resource_id = f"{arn_base.format(service='ecs')}:service/{physical}"
        elif typ == "aws:ecs/taskDefinition:TaskDefinition":
            family = inputs.get("family", physical)
            outputs |= {
                "arn": f"{arn_base.format(service='ecs')}:task-definition/{family}:1",
                "revision": 1,
            }
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs |= {
                "name": physical,
                "arn": f"{arn_base.format(service='logs')}:log-group:{physical}",
            }
        elif typ == "aws:iam/role:Role":
            outputs |= {"name": physical, "arn": f"arn:aws:iam::{ACCOUNT}:role/{physical}"}
            resource_id = physical
        elif typ == "aws:rds/instance:Instance":
            host = f"{physical}.c{_hex(name, length=11)}.{self.region}.rds.amazonaws.com"
            secret_name = f"rds!db-{_hex(name, length=8)}-AbCdEf"
            secret = f"{arn_base.format(service='secretsmanager')}:secret:{secret_name}"
            outputs |= {
                "address": host,
                "endpoint": f"{host}:{inputs.get('port', 5432)}",
                "arn": f"{arn_base.format(service='rds')}:db:{physical}",
                "masterUserSecrets": [{"secretArn": secret, "secretStatus": "active"}],
            }
        elif typ == "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders":
            resource_id = str(inputs.get("clusterName", physical))
        elif typ == "aws:appautoscaling/target:Target":
            resource_id = str(inputs.get("resourceId", physical))
            target = f"scalable-target/{_hex(name, length=32)}"
            outputs |= {"arn": f"{arn_base.format(service='application-autoscaling')}:{target}"}
        elif typ == "aws:appautoscaling/policy:Policy":
            policy = f"{_hex(name, length=8)}-{_hex(typ, name, length=4)}"
            outputs |= {
                "name": physical,
                "arn": f"{arn_base.format(service='autoscaling')}:scalingPolicy:{policy}"
                f":resource/ecs/{inputs.get('resourceId')}:policyName/{physical}",
                "alarmArns": [],
            }
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            outputs |= {
                "name": physical,
                "arn": f"{arn_base.format(service='cloudwatch')}:alarm:{physical}",
            }
            resource_id = physical
        elif typ == "aws:wafv2/webAcl:WebAcl":
            acl_id = _uuid(name)
            outputs |= {
                "name": physical,
                "arn": f"{arn_base.format(service='wafv2')}:regional/webacl/{physical}/{acl_id}",
                "lockToken": _uuid(name, "lock"),
            }
            resource_id = acl_id
        elif typ == "aws:wafv2/webAclAssociation:WebAclAssociation":
            resource_id = f"{inputs.get('webAclArn')},{inputs.get('resourceArn')}"
        elif "name" not in inputs and args.custom:
            outputs |= {"name": physical}
        return resource_id, outputs

    def _vpc(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """awsx:ec2:Vpc is a remote component: return the outputs it really has."""
        azs = int(inputs.get("numberOfAvailabilityZones") or 3)
        kinds = {str(spec.get("type")) for spec in inputs.get("subnetSpecs") or []}
        vpc_id = f"vpc-{_hex(name)}"

        def subnets(kind: str) -> list[str]:
            return (
                [f"subnet-{_hex(name, kind, str(i))}" for i in range(azs)] if kind in kinds else []
            )

        return f"{name}-vpc", {
            "vpcId": vpc_id,
            "publicSubnetIds": subnets("Public"),
            "privateSubnetIds": subnets("Private"),
            "isolatedSubnetIds": subnets("Isolated"),
        }


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def change_set(self, version: str | None = None) -> ChangeSet:
        """The plan as a change set: everything it declares would be created."""
        changes = [
            Change(
                urn=r.urn,
                type=r.type,
                name=r.name,
                operation=Operation.CREATE,
                properties=r.inputs,
                parent_urn=r.parent or None,
            )
            for r in self.resources
        ]
        return ChangeSet(stack=self.stack, changes=changes, version=version, offline=True)


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping what a plan shows: parent, kind, inputs, exports."""

    def __init__(self, mocks: pulumi.runtime.Mocks, plan: Plan) -> None:
        super().__init__(mocks)
        self.plan = plan

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != types.STACK:
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.plan.resources.append(
                PlannedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=_clean(dict(inputs)),
                    protect=bool(request.protect),
                    ignore_changes=tuple(request.ignoreChanges),
                )
            )
        return response


@contextmanager
def _program_path(project_dir: Path) -> Iterator[None]:
    """Import the program's own `infra` package, even when another copy was imported before."""
    stale = [name for name in sys.modules if name == "infra" or name.startswith("infra.")]
    saved = {name: sys.modules.pop(name) for name in stale}
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        sys.path.remove(str(project_dir))
        for name in [n for n in sys.modules if n == "infra" or n.startswith("infra.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def execute(
    program: Callable[[], None],
    *,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: Sequence[str] = (),
) -> Plan:
    """Run `program` under the mock engine with `config` (engine form: strings) and record it."""
    # The mock engine runs on this thread's event loop; a caller that ran asyncio.run() before
    # (which clears it) would otherwise break it.
    _ensure_event_loop()
    plan = Plan(stack=stack)
    mocks = OfflineMocks(region=config.get("aws:region") or "us-east-2")
    monitor = _RecordingMonitor(mocks, plan)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(program))
    plan.outputs = _sync_await(_resolve_exports())
    # Registration order depends on the event loop; a plan (and a plan diff) must not.
    plan.resources.sort(key=lambda resource: resource.urn)
    return plan


def run(project_dir: Path, stack: str) -> Plan:
    """Run `__main__.py` of `project_dir` with `stack`'s config under the mock engine."""
    config = stack_config.load(project_dir, stack)
    program = project_dir / "__main__.py"
    if not program.exists():
        raise UsageProblem(f"{program} does not exist: --project-dir must hold the program")

    def run_program() -> None:
        runpy.run_path(str(program), run_name="__main__")

    with _program_path(project_dir):
        try:
            return execute(
                run_program,
                project=config.project,
                stack=stack,
                config=config.as_engine_config(),
                secret_keys=config.secret_keys,
            )
        except pulumi.RunError as error:
            raise UsageProblem(f"stack {stack}: {error}") from None


async def _resolve_exports() -> dict[str, Any]:
    """Stack exports as plain values; secret ones masked."""
    root = pulumi.runtime.get_root_resource()
    exports: dict[str, Any] = getattr(root, "outputs", {}) or {}
    resolved: dict[str, Any] = {}
    for name, value in exports.items():
        output = pulumi.Output.from_input(value)
        secret = await output.is_secret()
        resolved[name] = SECRET_MASK if secret else await output.future()
    return resolved
