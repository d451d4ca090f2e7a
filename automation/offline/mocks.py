"""The offline engine's mocks: outputs shaped like the real providers' for the resource types the
program uses, one short function per type.

Outputs (ids, ARNs, DNS names, awsx's subnet id lists) are derived deterministically from the
resource's name, so two runs of the same program give the same plan and a plan diff shows only
real changes. A type without a function of its own echoes its inputs, plus a `name` for cloud
resources (what most providers return).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

from infra import resource_types as types

ACCOUNT = "123456789012"

Mocked = tuple[str, dict[str, Any]]
"""A resource's id and its outputs."""


def _hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _uuid(*parts: str) -> str:
    digest = _hex(*parts, length=32)
    return "-".join((digest[:8], digest[8:12], digest[12:16], digest[16:20], digest[20:]))


@dataclass(frozen=True)
class _New:
    """One resource registration, with what every mock derives from it."""

    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    region: str

    @property
    def short(self) -> str:
        return _hex(self.type, self.name, length=7)

    @property
    def physical(self) -> Any:
        """The name the cloud gives it: its `name` input, else the Pulumi name plus a suffix."""
        return self.inputs.get("name") or f"{self.name}-{self.short}"

    @property
    def default_id(self) -> str:
        return f"{self.name}-{self.short}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{ACCOUNT}:{resource}"

    def outputs(self, **extra: Any) -> dict[str, Any]:
        """The inputs echoed back, with what the provider adds."""
        return {**self.inputs, **extra}


def _vpc(new: _New) -> Mocked:
    """awsx:ec2:Vpc is a remote component: return the outputs it really has (only those)."""
    azs = int(new.inputs.get("numberOfAvailabilityZones") or 3)
    kinds = {str(spec.get("type")) for spec in new.inputs.get("subnetSpecs") or []}

    def subnets(kind: str) -> list[str]:
        if kind not in kinds:
            return []
        return [f"subnet-{_hex(new.name, kind, str(i))}" for i in range(azs)]

    return f"{new.name}-vpc", {
        "vpcId": f"vpc-{_hex(new.name)}",
        "publicSubnetIds": subnets("Public"),
        "privateSubnetIds": subnets("Private"),
        "isolatedSubnetIds": subnets("Isolated"),
    }


def _security_group(new: _New) -> Mocked:
    group_id = f"sg-{_hex(new.name)}"
    return group_id, new.outputs(arn=new.arn("ec2", f"security-group/{group_id}"))


def _security_group_rule(new: _New) -> Mocked:
    return f"sgr-{_hex(new.name)}", new.outputs()


def _load_balancer(new: _New) -> Mocked:
    arn = new.arn("elasticloadbalancing", f"loadbalancer/app/{new.physical}/{new.short}")
    number = int(_hex(new.name, length=8), 16)
    return arn, new.outputs(
        name=new.physical,
        arn=arn,
        arnSuffix=arn.split(":loadbalancer/", 1)[1],
        dnsName=f"{new.physical}-{number}.{new.region}.elb.amazonaws.com",
        zoneId="Z3AADJGX6KTTL2",
    )


def _target_group(new: _New) -> Mocked:
    arn = new.arn("elasticloadbalancing", f"targetgroup/{new.physical}/{new.short}")
    return arn, new.outputs(name=new.physical, arn=arn, arnSuffix=arn.split(":", 5)[5])


def _listener(new: _New) -> Mocked:
    arn = new.arn("elasticloadbalancing", f"listener/app/{new.short}")
    return arn, new.outputs(arn=arn)


def _listener_rule(new: _New) -> Mocked:
    arn = new.arn("elasticloadbalancing", f"listener-rule/app/{new.short}")
    return arn, new.outputs(arn=arn)


def _repository(new: _New) -> Mocked:
    return new.physical, new.outputs(
        name=new.physical,
        arn=new.arn("ecr", f"repository/{new.physical}"),
        registryId=ACCOUNT,
        repositoryUrl=f"{ACCOUNT}.dkr.ecr.{new.region}.amazonaws.com/{new.physical}",
    )


def _image(new: _New) -> Mocked:
    image_name = str(new.inputs.get("imageName", new.name))
    repository = image_name.rsplit(":", 1)[0]
    # Derived from the inputs, as a rebuild with other build args gives another digest;
    # canonical JSON, because nested inputs arrive in whatever order they resolved.
    canonical = json.dumps(new.inputs, sort_keys=True, default=repr)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    outputs = new.outputs(repoDigest=f"{repository}@sha256:{digest}", baseImageName=image_name)
    return f"sha256:{digest}", outputs


def _cluster(new: _New) -> Mocked:
    arn = new.arn("ecs", f"cluster/{new.physical}")
    return new.default_id, new.outputs(name=new.physical, arn=arn)


def _capacity_providers(new: _New) -> Mocked:
    return str(new.inputs.get("clusterName", new.physical)), new.outputs()


def _service(new: _New) -> Mocked:
    return new.arn("ecs", f"service/{new.physical}"), new.outputs(name=new.physical)


def _task_definition(new: _New) -> Mocked:
    family = new.inputs.get("family", new.physical)
    arn = new.arn("ecs", f"task-definition/{family}:1")
    return new.default_id, new.outputs(arn=arn, revision=1)


def _log_group(new: _New) -> Mocked:
    arn = new.arn("logs", f"log-group:{new.physical}")
    return new.default_id, new.outputs(name=new.physical, arn=arn)


def _role(new: _New) -> Mocked:
    arn = f"arn:aws:iam::{ACCOUNT}:role/{new.physical}"
    return new.physical, new.outputs(name=new.physical, arn=arn)


def _rds_instance(new: _New) -> Mocked:
    host = f"{new.physical}.c{_hex(new.name, length=11)}.{new.region}.rds.amazonaws.com"
    secret = new.arn("secretsmanager", f"secret:rds!db-{_hex(new.name, length=8)}-AbCdEf")
    return new.default_id, new.outputs(
        address=host,
        endpoint=f"{host}:{new.inputs.get('port', 5432)}",
        arn=new.arn("rds", f"db:{new.physical}"),
        identifier=new.physical,
        masterUserSecrets=[{"secretArn": secret, "secretStatus": "active"}],
    )


def _random_id(new: _New) -> Mocked:
    """pulumi-random draws the bytes at creation; offline they follow the name and the keepers
    (a change of keepers replaces the resource: new bytes), so plans stay reproducible."""
    length = int(new.inputs.get("byteLength") or 8)
    keepers = json.dumps(new.inputs.get("keepers") or {}, sort_keys=True)
    raw = hashlib.sha256(f"{new.name}/{keepers}".encode()).digest()[:length]
    b64_url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return b64_url, new.outputs(
        hex=raw.hex(),
        dec=str(int.from_bytes(raw, "big")),
        b64Std=base64.b64encode(raw).decode(),
        b64Url=b64_url,
    )


def _scalable_target(new: _New) -> Mocked:
    target = f"scalable-target/{_hex(new.name, length=32)}"
    arn = new.arn("application-autoscaling", target)
    return str(new.inputs.get("resourceId", new.physical)), new.outputs(arn=arn)


def _scaling_policy(new: _New) -> Mocked:
    policy = f"{_hex(new.name, length=8)}-{_hex(new.type, new.name, length=4)}"
    resource = f"resource/ecs/{new.inputs.get('resourceId')}:policyName/{new.physical}"
    return new.default_id, new.outputs(
        name=new.physical,
        arn=new.arn("autoscaling", f"scalingPolicy:{policy}:{resource}"),
        alarmArns=[],
    )


def _metric_alarm(new: _New) -> Mocked:
    arn = new.arn("cloudwatch", f"alarm:{new.physical}")
    return new.physical, new.outputs(name=new.physical, arn=arn)


def _web_acl(new: _New) -> Mocked:
    acl_id = _uuid(new.name)
    return acl_id, new.outputs(
        name=new.physical,
        arn=new.arn("wafv2", f"regional/webacl/{new.physical}/{acl_id}"),
        lockToken=_uuid(new.name, "lock"),
    )


def _web_acl_association(new: _New) -> Mocked:
    resource_id = f"{new.inputs.get('webAclArn')},{new.inputs.get('resourceArn')}"
    return resource_id, new.outputs()


def _certificate(new: _New) -> Mocked:
    """ACM's DNS validation asks for one CNAME per name: `_<token>.<domain>` -> a value under
    acm-validations.aws (the same for every certificate of that name in the account)."""
    domain = str(new.inputs.get("domainName", ""))
    arn = new.arn("acm", f"certificate/{_uuid(new.name)}")
    option = {
        "domainName": domain,
        "resourceRecordName": f"_{_hex(domain, length=32)}.{domain}.",
        "resourceRecordType": "CNAME",
        "resourceRecordValue": f"_{_hex(domain, 'v', length=32)}.xlfgrmvvlj.acm-validations.aws.",
    }
    return arn, new.outputs(arn=arn, domainValidationOptions=[option], status="PENDING_VALIDATION")


def _certificate_validation(new: _New) -> Mocked:
    return str(new.inputs.get("certificateArn")), new.outputs()


def _dns_record(new: _New) -> Mocked:
    name = str(new.inputs.get("name", "")).rstrip(".")
    record_id = f"{new.inputs.get('zoneId')}_{name}_{new.inputs.get('type')}"
    return record_id, new.outputs(fqdn=name)


def _bucket(new: _New) -> Mocked:
    """S3 names a bucket by its id; its ARN has no region or account."""
    bucket = str(new.inputs.get("bucket") or new.physical)
    return bucket, new.outputs(
        bucket=bucket,
        arn=f"arn:aws:s3:::{bucket}",
        bucketDomainName=f"{bucket}.s3.amazonaws.com",
        region=new.region,
    )


def _bucket_companion(new: _New) -> Mocked:
    """A bucket's policy, access block, encryption...: the provider's id is the bucket's name."""
    return str(new.inputs.get("bucket")), new.outputs()


def _web_acl_logging(new: _New) -> Mocked:
    return str(new.inputs.get("resourceArn")), new.outputs()


def _launch_template(new: _New) -> Mocked:
    template_id = f"lt-{_hex(new.name)}"
    arn = new.arn("ec2", f"launch-template/{template_id}")
    return template_id, new.outputs(arn=arn, latestVersion=1, defaultVersion=1)


def _autoscaling_group(new: _New) -> Mocked:
    arn = new.arn(
        "autoscaling",
        f"autoScalingGroup:{_uuid(new.name)}:autoScalingGroupName/{new.physical}",
    )
    return new.physical, new.outputs(name=new.physical, arn=arn)


def _ecs_capacity_provider(new: _New) -> Mocked:
    arn = new.arn("ecs", f"capacity-provider/{new.physical}")
    return arn, new.outputs(name=new.physical, arn=arn)


def _instance_profile(new: _New) -> Mocked:
    arn = f"arn:aws:iam::{ACCOUNT}:instance-profile/{new.physical}"
    return new.physical, new.outputs(name=new.physical, arn=arn)


def _schedule(new: _New) -> Mocked:
    arn = new.arn("scheduler", f"schedule/default/{new.physical}")
    return f"default/{new.physical}", new.outputs(name=new.physical, arn=arn)


def _echo(new: _New) -> Mocked:
    """Any other type: the inputs back, with a `name` for a cloud resource that has none."""
    if "name" not in new.inputs and new.custom:
        return new.default_id, new.outputs(name=new.physical)
    return new.default_id, new.outputs()


RESOURCES: dict[str, Callable[[_New], Mocked]] = {
    types.VPC: _vpc,
    types.SECURITY_GROUP: _security_group,
    types.INGRESS_RULE: _security_group_rule,
    types.EGRESS_RULE: _security_group_rule,
    types.LOAD_BALANCER: _load_balancer,
    types.TARGET_GROUP: _target_group,
    types.LISTENER: _listener,
    types.LISTENER_RULE: _listener_rule,
    types.REPOSITORY: _repository,
    types.IMAGE: _image,
    types.CLUSTER: _cluster,
    types.CAPACITY_PROVIDERS: _capacity_providers,
    types.SERVICE: _service,
    types.TASK_DEFINITION: _task_definition,
    types.LOG_GROUP: _log_group,
    types.ROLE: _role,
    types.RDS_INSTANCE: _rds_instance,
    types.RANDOM_ID: _random_id,
    types.SCALABLE_TARGET: _scalable_target,
    types.SCALING_POLICY: _scaling_policy,
    types.METRIC_ALARM: _metric_alarm,
    types.WEB_ACL: _web_acl,
    types.WEB_ACL_ASSOCIATION: _web_acl_association,
    types.CERTIFICATE: _certificate,
    types.CERTIFICATE_VALIDATION: _certificate_validation,
    types.DNS_RECORD: _dns_record,
    types.BUCKET: _bucket,
    types.BUCKET_POLICY: _bucket_companion,
    types.BUCKET_PUBLIC_ACCESS_BLOCK: _bucket_companion,
    types.BUCKET_OWNERSHIP: _bucket_companion,
    types.BUCKET_ENCRYPTION: _bucket_companion,
    types.BUCKET_LIFECYCLE: _bucket_companion,
    types.WEB_ACL_LOGGING: _web_acl_logging,
    types.LAUNCH_TEMPLATE: _launch_template,
    types.AUTOSCALING_GROUP: _autoscaling_group,
    types.ECS_CAPACITY_PROVIDER: _ecs_capacity_provider,
    types.INSTANCE_PROFILE: _instance_profile,
    types.SCHEDULE: _schedule,
}


class NotFound(Exception):
    """A data source's answer when what it looks up does not exist: the engine then fails the
    invoke with this reason, as the real provider does."""


Answer = dict[str, Any]


def _config(key: str) -> str:
    """The stack config of the program being planned (set before it runs)."""
    return str(pulumi.Config(pulumi.get_project()).get(key) or "")


def _config_list(key: str) -> list[str]:
    return [str(item) for item in pulumi.Config(pulumi.get_project()).get_object(key) or []]


# --- Existing infrastructure. Offline, the account holds exactly what the stack config names,
# well formed: its VPC with the public subnets (one per AZ, explicitly associated with a table
# routing to an internet gateway) and the private ones (implicitly on the main table, routing to
# a NAT gateway), the database's security group in that VPC, its secret and the app's secrets
# under the AWS managed key, the certificate ISSUED for the domain, the alarm topic, a prebuilt
# image under its tag. Anything else is not found. Tests replace one answer to see the program
# refuse a mismatch.


def _zone(region: str, index: int) -> str:
    return f"{region}{'abc'[index % 3]}"


def _public_table(vpc_id: str) -> str:
    return f"rtb-{_hex(vpc_id, 'public')}"


def _main_table(vpc_id: str) -> str:
    return f"rtb-{_hex(vpc_id, 'main')}"


def _vpc_lookup(region: str, args: Answer) -> Answer:
    vpc_id = str(args.get("id") or "")
    if not vpc_id or vpc_id != _config("existingVpcId"):
        raise NotFound("no matching EC2 VPC found")
    return {
        "id": vpc_id,
        "arn": f"arn:aws:ec2:{region}:{ACCOUNT}:vpc/{vpc_id}",
        "cidrBlock": "10.20.0.0/16",
        "state": "available",
        "mainRouteTableId": _main_table(vpc_id),
        "ownerId": ACCOUNT,
    }


def _subnet_lookup(region: str, args: Answer) -> Answer:
    subnet_id = str(args.get("id") or "")
    for kind in ("existingPublicSubnetIds", "existingPrivateSubnetIds"):
        ids = _config_list(kind)
        if subnet_id in ids:
            index = ids.index(subnet_id)
            return {
                "id": subnet_id,
                "vpcId": _config("existingVpcId"),
                "availabilityZone": _zone(region, index),
                "cidrBlock": f"10.20.{index + (0 if 'Public' in kind else 10)}.0/24",
                "mapPublicIpOnLaunch": "Public" in kind,
                "state": "available",
            }
    raise NotFound("no matching EC2 Subnet found")


def _route_tables_lookup(region: str, args: Answer) -> Answer:
    subnets = [
        value
        for item in args.get("filters") or []
        if item.get("name") == "association.subnet-id"
        for value in item.get("values") or []
    ]
    vpc_id = str(args.get("vpcId") or _config("existingVpcId"))
    public = set(_config_list("existingPublicSubnetIds"))
    explicit = [_public_table(vpc_id)] if public & set(subnets) else []
    return {"id": region, "ids": explicit, "vpcId": vpc_id}


def _route_table_lookup(region: str, args: Answer) -> Answer:
    vpc_id = _config("existingVpcId")
    table_id = str(args.get("routeTableId") or "")
    local = {"cidrBlock": "10.20.0.0/16", "gatewayId": "local"}
    if table_id == _public_table(vpc_id):
        route = {"cidrBlock": "0.0.0.0/0", "gatewayId": f"igw-{_hex(vpc_id, 'igw')}"}
    elif table_id == _main_table(vpc_id):
        route = {"cidrBlock": "0.0.0.0/0", "natGatewayId": f"nat-{_hex(vpc_id, 'nat')}"}
    else:
        raise NotFound(
            "query returned no results. Please change your search criteria and try again"
        )
    return {"id": table_id, "routeTableId": table_id, "vpcId": vpc_id, "routes": [local, route]}


def _security_group_lookup(region: str, args: Answer) -> Answer:
    group_id = str(args.get("id") or "")
    if not group_id or group_id != _config("dbSecurityGroupId"):
        raise NotFound("no matching EC2 Security Group found")
    vpc_id = _config("existingVpcId") or f"vpc-{_hex(group_id)}"
    arn = f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/{group_id}"
    return {"id": group_id, "arn": arn, "name": "database", "vpcId": vpc_id}


def _named_secrets() -> set[str]:
    """Every secret the config names, by ARN: the database's, the registry credentials, and the
    app's (ECS's valueFrom without its :json-key:version-stage:version-id suffix)."""
    app = [item.partition("=")[2] for item in _config_list("appSecrets")]
    named = [_config("dbSecretArn"), _config("imageRegistrySecretArn")]
    return {":".join(arn.split(":")[:7]) for arn in [*named, *app] if arn}


def _secret_lookup(region: str, args: Answer) -> Answer:
    arn = str(args.get("arn") or "")
    if not arn or arn not in _named_secrets():
        raise NotFound(f"Secrets Manager Secret ({arn}) not found")
    # No kmsKeyId: DescribeSecret omits it for the AWS managed key aws/secretsmanager.
    return {"arn": arn, "id": arn, "name": arn.split(":secret:", 1)[-1][:-7]}


def _key_lookup(region: str, args: Answer) -> Answer:
    key_id = str(args.get("keyId") or "")
    manager = "AWS" if key_id.endswith("alias/aws/secretsmanager") else "CUSTOMER"
    if key_id.startswith("arn:aws:kms:") and ":key/" in key_id:
        arn = key_id
    else:
        arn = f"arn:aws:kms:{region}:{ACCOUNT}:key/{_uuid(key_id)}"
    return {"arn": arn, "id": arn.rsplit("/", 1)[1], "keyId": arn.rsplit("/", 1)[1],
            "keyManager": manager, "keyState": "Enabled", "enabled": True}  # fmt: skip


def _certificate_read(region: str, args: Answer) -> Answer:
    """The certificate certificateArn names: ISSUED, for domainName (DescribeCertificate lists
    the domain name among the subject alternative names too)."""
    arn = str(args.get("id") or "")
    if not arn or arn != _config("certificateArn") or arn.split(":")[3] != region:
        raise NotFound(f"resource '{arn}' does not exist")
    domain = _config("domainName") or "alunos.example.com"
    return {"arn": arn, "domainName": domain, "subjectAlternativeNames": [domain],
            "status": "ISSUED", "keyAlgorithm": "RSA_2048", "type": "AMAZON_ISSUED"}  # fmt: skip


def _topic_lookup(region: str, args: Answer) -> Answer:
    name = str(args.get("name") or "")
    arn = _config("alarmTopicArn")
    if not arn or arn.rsplit(":", 1)[1] != name:
        raise NotFound(f"no matching SNS Topic found ({name})")
    return {"arn": arn, "id": arn, "name": name}


def _repositories_lookup(region: str, args: Answer) -> Answer:
    """Offline, nothing has been deployed: no repository, so every image is built."""
    return {"id": region, "names": []}


def _images_lookup(region: str, args: Answer) -> Answer:
    name = args.get("repositoryName")
    raise NotFound(
        f"reading ECR Images: RepositoryNotFoundException: The repository with name '{name}' "
        "does not exist"
    )


def _offline_digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("/".join(parts).encode()).hexdigest()


def _ecr_image_lookup(region: str, args: Answer) -> Answer:
    """A prebuilt image in ECR, by tag: offline, every tag exists, its digest derived from it."""
    repository, tag = str(args.get("repositoryName")), str(args.get("imageTag"))
    registry = str(args.get("registryId") or ACCOUNT)
    digest = _offline_digest(registry, str(args.get("region") or region), repository, tag)
    return {"id": digest, "imageDigest": digest, "imageTag": tag, "imageTags": [tag],
            "repositoryName": repository, "registryId": registry}  # fmt: skip


def _registry_image_lookup(region: str, args: Answer) -> Answer:
    """pulumi-docker's getRegistryImage: offline, any name:tag answers a digest of its own."""
    name = str(args.get("name"))
    digest = _offline_digest(name)
    return {"id": digest, "name": name, "sha256Digest": digest}


def _authorization_token(region: str, args: dict[str, Any]) -> dict[str, Any]:
    registry = args.get("registryId") or ACCOUNT
    endpoint = f"https://{registry}.dkr.ecr.{region}.amazonaws.com"
    return {"proxyEndpoint": endpoint, "userName": "AWS", "password": "offline"}


def _availability_zones(region: str, args: dict[str, Any]) -> dict[str, Any]:
    names = [f"{region}{suffix}" for suffix in "abc"]
    return {"names": names, "zoneIds": [f"use2-az{i}" for i in (1, 2, 3)]}


def _caller_identity(region: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root"}


# The account of Elastic Load Balancing that writes access logs, by region (regions opened before
# August 2022; newer ones use a service principal). Only the regions this project deploys to.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html
ELB_ACCOUNTS = {"us-east-1": "127311923021", "us-east-2": "033677994240"}


def _elb_service_account(region: str, args: dict[str, Any]) -> dict[str, Any]:
    region = str(args.get("region") or region)
    if region not in ELB_ACCOUNTS:
        raise NotImplementedError(
            f"the offline engine knows no ELB account for {region}; add it to ELB_ACCOUNTS in "
            "automation/offline/mocks.py from the ELB access logs documentation"
        )
    account = ELB_ACCOUNTS[region]
    return {"id": account, "arn": f"arn:aws:iam::{account}:root", "region": region}


def _ssm_parameter(region: str, args: dict[str, Any]) -> dict[str, Any]:
    """The public parameters AWS publishes (the ECS-optimized AMI's): an AMI id of its own."""
    name = str(args.get("name") or "")
    if not name.startswith("/aws/service/"):
        raise NotFound(f"SSM Parameter {name} not found")
    value = f"ami-{_hex(region, name)}"
    arn = f"arn:aws:ssm:{region}::parameter{name}"
    return {"id": name, "name": name, "arn": arn, "type": "String", "value": value,
            "insecureValue": value, "version": 1}  # fmt: skip


def _region(region: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": region, "region": region}


CALLS: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": _authorization_token,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getRegion:getRegion": _region,
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
    "aws:elb/getServiceAccount:getServiceAccount": _elb_service_account,
    "aws:ec2/getVpc:getVpc": _vpc_lookup,
    "aws:ec2/getSubnet:getSubnet": _subnet_lookup,
    "aws:ec2/getRouteTables:getRouteTables": _route_tables_lookup,
    "aws:ec2/getRouteTable:getRouteTable": _route_table_lookup,
    "aws:ec2/getSecurityGroup:getSecurityGroup": _security_group_lookup,
    "aws:secretsmanager/getSecret:getSecret": _secret_lookup,
    "aws:kms/getKey:getKey": _key_lookup,
    "aws:sns/getTopic:getTopic": _topic_lookup,
    "aws:ecr/getRepositories:getRepositories": _repositories_lookup,
    "aws:ecr/getImages:getImages": _images_lookup,
    "aws:ecr/getImage:getImage": _ecr_image_lookup,
    "docker:index/getRegistryImage:getRegistryImage": _registry_image_lookup,
}
"""Data sources (function tokens, not resource types: they appear in no plan). A mock raises
NotFound where the real data source fails."""

READS: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    types.CERTIFICATE: _certificate_read,
}
"""Resources read by id and not managed (`Resource.get`; not in the plan either), by type: the
mock gets {"id": ...} and answers the resource's outputs, or raises NotFound where the engine's
read fails ("resource '<id>' does not exist", pkg/resource/deploy/step.go ReadStep.Apply)."""


class ReadFailed(pulumi.RunError):
    """A read of something that does not exist: the engine fails the update with this message."""


class OfflineMocks(pulumi.runtime.Mocks):
    """Outputs shaped like the real providers' for the resource types the program uses."""

    def __init__(self, region: str) -> None:
        self.region = region

    def call(  # type: ignore[override]
        self, args: pulumi_mocks.MockCallArgs
    ) -> dict[str, Any] | tuple[dict[str, Any], list[tuple[str, str]]]:
        mock = CALLS.get(args.token)
        if mock is None:
            raise NotImplementedError(
                f"the offline engine has no mock for the data source {args.token}; add one in "
                "automation/offline/mocks.py so plans stay faithful"
            )
        try:
            return mock(self.region, dict(args.args))
        except NotFound as missing:
            return {}, [("", str(missing))]

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> Mocked:
        # A read (Resource.get) comes with the id and, unlike a registration, no custom flag
        # (pulumi.runtime.mocks.MockMonitor.ReadResource).
        if args.custom is None and args.resource_id:
            return self._read(args.typ, args.resource_id)
        new = _New(args.typ, args.name, dict(args.inputs), bool(args.custom), self.region)
        return RESOURCES.get(args.typ, _echo)(new)

    def _read(self, type_: str, resource_id: str) -> Mocked:
        mock = READS.get(type_)
        if mock is None:
            raise NotImplementedError(
                f"the offline engine has no mock for reading a {type_}; add one to READS in "
                "automation/offline/mocks.py so plans stay faithful"
            )
        try:
            return resource_id, mock(self.region, {"id": resource_id})
        except NotFound as missing:
            raise ReadFailed(str(missing)) from None
