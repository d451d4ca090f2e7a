"""A legacy EC2 deployment on the moto server, and tools to watch what the decommission does to it.

- `Fleet`: instances tagged like the legacy deployment (one environment per test, so tests
  sharing the session's moto server never see each other's instances), target groups, classic
  load balancers, Auto Scaling groups, Elastic IPs.
- `ApiCalls`: every AWS call the code under test makes through a session (botocore events).
- `slow_draining`: moto deregisters targets at once and answers `Unknown` for an instance that
  left a classic load balancer; AWS reports `draining` / `InService: Instance deregistration
  currently in progress` for the drain timeout, then `unused` / `OutOfService`. This makes the
  session's answers follow AWS, so a test sees the waiters really wait.
- `project`: a repository with the real Pulumi.yaml and a stack file selecting the fleet.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import yaml
from botocore.exceptions import ClientError

from automation import cli
from automation.decommission.aws import Waits
from automation.decommission.command import Environment
from automation.deploy.verify import Polling, VerifyTiming
from infra import outputs as names
from tests.automation.conftest import REGION, FakeService, make_service, make_target_group, unique

ROOT = Path(__file__).resolve().parents[3]
READ_PREFIXES = ("Describe", "List", "Get")
_MODELS = botocore.loaders.create_loader()


def new_session() -> boto3.Session:
    """A fresh session (its own event handlers) that shares the parsed service models: parsing
    EC2's model again for every test would cost more than the test."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _MODELS)
    return boto3.Session(botocore_session=core, region_name=REGION)


@dataclass
class Fleet:
    aws: boto3.Session
    environment: str = field(default_factory=lambda: unique("dev"))
    vpc_id: str = ""
    subnet_id: str = ""
    image_id: str = ""

    def __post_init__(self) -> None:
        ec2 = self.ec2
        self.vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet_id = ec2.create_subnet(
            VpcId=self.vpc_id, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a"
        )["Subnet"]["SubnetId"]
        # One named image: listing all of moto's ~1,300 images takes seconds.
        self.image_id = ec2.describe_images(
            Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-2.0.2*"]}]
        )["Images"][0]["ImageId"]

    # One client each: creating a boto3 client costs tens of milliseconds.
    @cached_property
    def ec2(self) -> Any:
        return self.aws.client("ec2")

    @cached_property
    def elbv2(self) -> Any:
        return self.aws.client("elbv2")

    @cached_property
    def elb(self) -> Any:
        return self.aws.client("elb")

    @cached_property
    def autoscaling(self) -> Any:
        return self.aws.client("autoscaling")

    @property
    def selector_tags(self) -> list[str]:
        return ["app=alunos-api", f"environment={self.environment}"]

    def instance(
        self, name: str, *, environment: str | None = None, extra: dict[str, str] | None = None
    ) -> str:
        tags = {
            "Name": name,
            "app": "alunos-api",
            "environment": environment or self.environment,
            **(extra or {}),
        }
        created = self.ec2.run_instances(
            ImageId=self.image_id,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            SubnetId=self.subnet_id,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
        return str(created["Instances"][0]["InstanceId"])

    def describe(self, instance_id: str) -> dict[str, Any]:
        found = self.ec2.describe_instances(InstanceIds=[instance_id])
        return found["Reservations"][0]["Instances"][0]  # type: ignore[no-any-return]

    def state(self, instance_id: str) -> str:
        return str(self.describe(instance_id)["State"]["Name"])

    def tags(self, instance_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.describe(instance_id).get("Tags", [])}

    def private_ip(self, instance_id: str) -> str:
        return str(self.describe(instance_id)["PrivateIpAddress"])

    def protect(self, instance_id: str, *, termination: bool = False, stop: bool = False) -> None:
        if termination:
            self.ec2.modify_instance_attribute(
                InstanceId=instance_id, DisableApiTermination={"Value": True}
            )
        if stop:
            self.ec2.modify_instance_attribute(
                InstanceId=instance_id, DisableApiStop={"Value": True}
            )

    def protection(self, instance_id: str) -> tuple[bool, bool]:
        termination = self.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"]
        stop = self.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiStop"
        )["DisableApiStop"]["Value"]
        return bool(termination), bool(stop)

    # --- load balancers ---

    def target_group(self, kind: str = "instance", vpc_id: str | None = None) -> str:
        created = self.elbv2.create_target_group(
            Name=unique("legacy"),
            Protocol="HTTP",
            Port=8080,
            VpcId=vpc_id or self.vpc_id,
            TargetType=kind,
        )
        return str(created["TargetGroups"][0]["TargetGroupArn"])

    def register(self, arn: str, target_id: str, port: int = 8080) -> None:
        self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": target_id, "Port": port}])

    def targets(self, arn: str) -> dict[str, str]:
        described = self.elbv2.describe_target_health(TargetGroupArn=arn)
        return {
            d["Target"]["Id"]: d["TargetHealth"]["State"]
            for d in described["TargetHealthDescriptions"]
        }

    def classic_load_balancer(self, *instance_ids: str) -> str:
        elb = self.elb
        name = unique("legacy-elb")
        elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}],
            Subnets=[self.subnet_id],
        )
        elb.register_instances_with_load_balancer(
            LoadBalancerName=name, Instances=[{"InstanceId": i} for i in instance_ids]
        )
        return name

    def classic_members(self, name: str) -> list[str]:
        described = self.elb.describe_load_balancers(LoadBalancerNames=[name])
        return [i["InstanceId"] for i in described["LoadBalancerDescriptions"][0]["Instances"]]

    # --- Auto Scaling ---

    def auto_scaling_group(self, size: int, *, min_size: int) -> tuple[str, list[str]]:
        """A group of `size` legacy instances (tags propagated at launch)."""
        template = unique("legacy-lt")
        self.ec2.create_launch_template(
            LaunchTemplateName=template,
            LaunchTemplateData={"ImageId": self.image_id, "InstanceType": "t3.micro"},
        )
        name = unique("legacy-asg")
        tags = {"app": "alunos-api", "environment": self.environment, "Name": f"{name}-member"}
        autoscaling = self.autoscaling
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": template},
            MinSize=min_size,
            MaxSize=size + 2,
            DesiredCapacity=size,
            VPCZoneIdentifier=self.subnet_id,
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in tags.items()],
        )
        return name, self.group(name)["members"]

    def group(self, name: str) -> dict[str, Any]:
        found = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ][0]
        return {
            "min": found["MinSize"],
            "max": found["MaxSize"],
            "desired": found["DesiredCapacity"],
            "members": sorted(i["InstanceId"] for i in found["Instances"]),
        }

    # --- addresses and images ---

    def elastic_ip(self, instance_id: str) -> str:
        allocation = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        self.ec2.associate_address(AllocationId=allocation, InstanceId=instance_id)
        return str(allocation)

    def address(self, allocation_id: str) -> dict[str, Any] | None:
        try:
            found = self.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "InvalidAllocationID.NotFound":
                return None
            raise
        return found[0] if found else None

    def backups(self, instance_id: str) -> list[dict[str, Any]]:
        found = self.ec2.describe_images(
            Owners=["self"],
            Filters=[{"Name": "tag:alunos-api:decommission:instance-id", "Values": [instance_id]}],
        )
        return list(found["Images"])

    def snapshot_tags(self, image: dict[str, Any]) -> list[dict[str, str]]:
        ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
        snapshots = self.ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
        return [{t["Key"]: t["Value"] for t in s.get("Tags", [])} for s in snapshots]


@dataclass
class ApiCalls:
    """Every call made through the session, in order: (service, operation, params)."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def on(cls, session: boto3.Session) -> ApiCalls:
        recorder = cls()
        session.events.register("before-parameter-build", recorder._record)
        return recorder

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))

    def changes(self) -> list[str]:
        """The operations that change something (anything but Describe*/List*/Get*)."""
        return [op for _, op, _ in self.calls if not op.startswith(READ_PREFIXES)]

    def count(self, operation: str) -> int:
        return sum(1 for _, op, _ in self.calls if op == operation)

    def clear(self) -> None:
        self.calls.clear()


def slow_draining(session: boto3.Session, polls: int = 2) -> dict[str, int]:
    """Answer like AWS while a deregistered target drains: `polls` answers, then gone."""
    seen: dict[str, int] = {}  # target or instance -> polls answered "still draining"

    def target_health(parsed: dict[str, Any], **_: Any) -> None:
        for described in parsed.get("TargetHealthDescriptions", []):
            key = f"{described['Target']['Id']}:{described['Target'].get('Port')}"
            health = described.get("TargetHealth", {})
            if health.get("Reason") == "Target.NotRegistered" and seen.get(key, 0) < polls:
                seen[key] = seen.get(key, 0) + 1
                described["TargetHealth"] = {
                    "State": "draining",
                    "Reason": "Target.DeregistrationInProgress",
                    "Description": "Target deregistration is in progress",
                }

    def instance_health(parsed: dict[str, Any], **_: Any) -> None:
        for state in parsed.get("InstanceStates", []):
            if state.get("State") == "Unknown":  # moto: "not registered"
                key = state["InstanceId"]
                seen[key] = seen.get(key, 0) + 1
                if seen[key] <= polls:
                    state.update(
                        State="InService",
                        Description="Instance deregistration currently in progress",
                    )
                else:
                    state.update(
                        State="OutOfService",
                        Description="Instance is not currently registered with the LoadBalancer",
                    )

    session.events.register(
        "after-call.elastic-load-balancing-v2.DescribeTargetHealth", target_health
    )
    session.events.register(
        "after-call.elastic-load-balancing.DescribeInstanceHealth", instance_health
    )
    return seen


def fail_call(
    session: boto3.Session,
    operation: str,
    code: str,
    message: str,
    when: Callable[[dict[str, Any]], bool] = lambda params: True,
) -> None:
    """Make `operation` fail as AWS would (e.g. an IAM denial) for the calls `when` picks."""

    def deny(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == operation and when(params):
            raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    session.events.register("before-parameter-build", deny)


class Clock:
    """The wall clock the retention is measured by; moves only when a test says so."""

    def __init__(self) -> None:
        # Later than any launch time of the fleet: a run always comes after the launch.
        self.moment = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def fast_environment(
    session: boto3.Session,
    clock: Clock,
    *,
    open_stack: Callable[[], Any] | None = None,
    said: list[str] | None = None,
) -> Environment:
    """Waiters that poll without sleeping and give up after a few attempts."""
    polling = Polling(interval_seconds=0, sleep=lambda _s: None, clock=lambda: 0.0)
    return Environment(
        open_stack=open_stack,
        session=lambda region: session,
        waits=Waits(
            delay_seconds=0,
            draining_margin_seconds=5,
            draining_max_seconds=5,
            image_seconds=3,
            state_seconds=3,
            detach_seconds=0,
            polling=polling,
            now=clock.now,
        ),
        gate_timing=VerifyTiming(
            service_delay_seconds=0,
            service_max_attempts=2,
            targets_deadline_seconds=0,
            http_deadline_seconds=0,
            request_timeout_seconds=2,
            polling=polling,
        ),
        say=(said.append if said is not None else lambda _m: None),
    )


def cli_environment(
    session: boto3.Session, clock: Clock, backend: Callable[..., Any] | None = None
) -> cli.Environment:
    """The CLI's environment for `main()`: `fast_environment`'s session, waits and timing."""
    fast = fast_environment(session, clock)
    env = replace(
        cli.Environment.real(),
        session=fast.session,
        waits=fast.waits,
        gate_timing=fast.gate_timing,
    )
    return env if backend is None else replace(env, backend=backend)


def healthy_gates(
    aws: boto3.Session, service: FakeService, version: str = "1.4.2"
) -> dict[str, str]:
    """A new service that passes every gate; the gate flags that point at it."""
    svc = make_service(aws, desired=2, running=True)
    arn = make_target_group(aws)
    aws.client("elbv2").register_targets(
        TargetGroupArn=arn, Targets=[{"Id": "10.0.1.200", "Port": 8000}]
    )
    service.version = version
    return {
        names.CLUSTER_NAME: svc.cluster,
        names.SERVICE_NAME: svc.service,
        names.TARGET_GROUP_ARN: arn,
        names.SERVICE_URL: service.url,
        names.VERSION: version,
    }


def gate_args(flags: dict[str, str]) -> list[str]:
    return [
        "--cluster",
        flags[names.CLUSTER_NAME],
        "--service",
        flags[names.SERVICE_NAME],
        "--target-group-arn",
        flags[names.TARGET_GROUP_ARN],
        "--url",
        flags[names.SERVICE_URL],
        "--expected-version",
        flags[names.VERSION],
    ]


def project(
    path: Path,
    *,
    stack: str = "dev",
    production: bool = False,
    legacy_tags: list[str] | None = None,
    legacy_ids: list[str] | None = None,
) -> Path:
    """A repository with the real Pulumi.yaml and a stack file selecting a legacy fleet."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", path / "Pulumi.yaml")
    config: dict[str, Any] = {"aws:region": REGION, "alunos-api:production": production}
    if legacy_tags is not None:
        config["alunos-api:legacyTags"] = legacy_tags
    if legacy_ids is not None:
        config["alunos-api:legacyInstanceIds"] = legacy_ids
    (path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return path


def watch_releases(session: boto3.Session) -> list[tuple[str, bool]]:
    """For every ReleaseAddress the code makes: (allocation id, still associated at that moment),
    read through a client of its own. moto would release an associated address; AWS would not."""
    seen: list[tuple[str, bool]] = []
    observer = new_session().client("ec2")

    def check(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "ReleaseAddress":
            found = observer.describe_addresses(AllocationIds=[params["AllocationId"]])
            seen.append((params["AllocationId"], bool(found["Addresses"][0].get("AssociationId"))))

    session.events.register("before-parameter-build.ec2.ReleaseAddress", check)
    return seen
