"""Infrastructure the stack joins but does not manage, named by id in the stack config (prod's
VPC and subnets, the database's security group and secret, a certificate and an SNS topic of the
team's): each is looked up with a data source before any resource is declared, so `preview`
fails on a wrong id with one line naming the key, instead of `up` failing halfway or, worse,
succeeding with tasks that cannot reach the internet or read their secret.

The lookups take plain values (the ids are config), so preview and up run them alike and
nothing is ever created from their answers inside an `apply`. Every failure is an InvalidConfig:
the CLI prints its message without a trace, the offline plan exits 2.

The certificate is the exception: no ACM data source finds one by its ARN (`get_certificate`
matches the primary domain name only, and ListCertificates without key types lists RSA 1024/2048
keys only), so it is read by ARN as a resource the stack does not manage (`Certificate.get`, a
DescribeCertificate). The engine runs reads during previews too (pulumi/pulumi
pkg/resource/deploy/step.go, ReadStep.Apply: "Unlike most steps, Read steps run during
previews"); a certificate that does not exist fails the read ("resource '<arn>' does not
exist"), and the rest is checked on the read's answer. The HTTPS listener takes the checked ARN,
so nothing uses the certificate before the check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import pulumi
import pulumi_aws as aws

from infra.network import ExistingVpcArgs, addresses_for_tasks
from infra.settings import Settings, TaskAddresses, ec2_instances, task_addresses, task_zones
from infra.validation import InvalidConfig

T = TypeVar("T")

DEFAULT_ROUTE = "0.0.0.0/0"
# Secrets Manager's AWS managed key: its key policy already lets every principal of the account
# use it through Secrets Manager, so no IAM grant is needed (and none is possible to scope).
AWS_MANAGED_SECRET_KEY = "alias/aws/secretsmanager"  # noqa: S105 - a key alias, not a secret
_INVOKE_PREFIX = re.compile(r"^invoke of \S+ failed: ")


@dataclass(frozen=True)
class Resolved:
    """What the lookups found that the program needs."""

    secret_key_arn: str | None
    """The customer managed KMS key encrypting the database secret: the task role (which reads
    the secret) must be allowed kms:Decrypt on it. None: the AWS managed key (or the stack's own
    RDS secret)."""
    certificate_arn: pulumi.Output[str] | None
    """certificateArn once the certificate is read and found ISSUED for the domain (None: no
    certificate of the team's): what the HTTPS listener takes."""


def lookup(key: str, what: str, fetch: Callable[[], T], hint: str = "") -> T:
    """Run one data source; a failure (not found, access denied) becomes one line naming the
    config key. The SDK raises a plain Exception for a failed invoke (pulumi.runtime.invoke),
    so that is what is caught, and its reason is kept in the message."""
    try:
        return fetch()
    except Exception as error:  # noqa: BLE001 - invoke failures are plain Exceptions
        reason = _INVOKE_PREFIX.sub("", str(error)).removesuffix(" ()").strip()
        raise InvalidConfig(
            f"{key}: looking up {what} failed: {reason}." + (f" {hint}" if hint else "")
        ) from None


def resolve(settings: Settings) -> Resolved:
    """Check every existing resource the config names; return what the program needs."""
    key = lambda name: f"{settings.project}:{name}"  # noqa: E731 - names keys in messages
    network = settings.network
    if isinstance(network, ExistingVpcArgs):
        service = settings.service
        zones = task_zones(network)
        instances = ec2_instances(
            settings.autoscaling, settings.capacity, service.cpu, service.memory, zones
        )
        check_network(
            network, key, task_addresses(settings.autoscaling, settings.capacity, instances)
        )
    secret_key_arn = None
    db = settings.database
    if db.mode == "existing":
        if db.security_group_id:
            check_database_group(db.security_group_id, network, key)
        secret_key_arn = secret_key(db.secret_arn, key("dbSecretArn"))
    lb = settings.load_balancer
    certificate_arn = None
    if lb.certificate_arn:
        name = f"{settings.project}-{settings.stack}-certificate"
        certificate_arn = check_certificate(
            name, lb.certificate_arn, lb.domain_name, settings.region, key
        )
    if settings.alarms.topic_arn:
        check_topic(settings.alarms.topic_arn, key("alarmTopicArn"))
    return Resolved(secret_key_arn=secret_key_arn, certificate_arn=certificate_arn)


# --- network --------------------------------------------------------------------------------


def check_network(
    network: ExistingVpcArgs, key: Callable[[str], str], needed: TaskAddresses
) -> None:
    """The VPC exists; its subnets are in it, in 2+ AZs; public ones route to an internet
    gateway, private ones to a NAT gateway; the tasks' AZs are the load balancer's too; the
    tasks' subnets are large enough for them."""
    vpc_id = network.vpc_id
    vpc = lookup(key("existingVpcId"), vpc_id, lambda: aws.ec2.get_vpc(id=vpc_id))
    tables = _RouteTables(vpc_id, vpc.main_route_table_id, key("existingVpcId"))
    public_key, private_key = key("existingPublicSubnetIds"), key("existingPrivateSubnetIds")
    public = _subnets(public_key, network.public_subnet_ids, vpc_id)
    private = _subnets(private_key, network.private_subnet_ids, vpc_id)
    for subnet in public:
        target = tables.default_target(subnet.id)
        if not target.startswith("igw-"):
            raise InvalidConfig(
                f"{public_key}: {subnet.id} routes {DEFAULT_ROUTE} to {target or 'nothing'}, so "
                "it is not public; allowed: subnets whose route table sends 0.0.0.0/0 to an "
                "internet gateway (igw-...): the load balancer must be reachable from the internet."
            )
    for subnet in private:
        target = tables.default_target(subnet.id)
        if not target.startswith("nat-"):
            raise InvalidConfig(
                f"{private_key}: {subnet.id} routes {DEFAULT_ROUTE} to {target or 'nothing'}; "
                "allowed: subnets whose route table sends 0.0.0.0/0 to a NAT gateway (nat-...): "
                "tasks there have no public IP and reach ECR, logs and secrets through the NAT."
            )
    public_zones = _zones(public_key, public)
    _check_room(private_key if private else public_key, private or public, not private, needed)
    if private:
        outside = sorted(_zones(private_key, private) - public_zones)
        if outside:
            raise InvalidConfig(
                f"{private_key}: subnets in {', '.join(outside)}, where no public subnet is; "
                f"allowed: AZs of {public_key} ({', '.join(sorted(public_zones))}): the load "
                "balancer sends no traffic to targets in an AZ it is not enabled in."
            )


def _check_room(key: str, subnets: Sequence[Any], public: bool, needed: TaskAddresses) -> None:
    """The tasks' subnets hold, at most, the addresses of their CIDR blocks less what AWS and
    (in public subnets) the load balancer keep: less than a deployment may need is refused."""
    room = addresses_for_tasks([str(s.cidr_block) for s in subnets], public)
    if room < needed.count:
        raise InvalidConfig(
            f"{key}: the tasks' subnets ({', '.join(str(s.id) for s in subnets)}) hold at most "
            f"{room} usable addresses (their CIDR blocks, less the 5 AWS reserves a subnet"
            f"{' and the 8 the load balancer keeps' if public else ''}), but {needed.count} may "
            f"be needed ({needed.reason}); allowed: larger subnets or more of them, or a lower "
            "autoscalingMaxCount."
        )


def _subnets(key: str, ids: Sequence[str], vpc_id: str) -> list[Any]:
    found = []
    for subnet_id in ids:
        subnet = lookup(key, subnet_id, partial(aws.ec2.get_subnet, id=subnet_id))
        if subnet.vpc_id != vpc_id:
            raise InvalidConfig(
                f"{key}: {subnet_id} is in {subnet.vpc_id}, not in existingVpcId {vpc_id}; "
                f"allowed: subnets of {vpc_id}."
            )
        found.append(subnet)
    return found


def _zones(key: str, subnets: Iterable[Any]) -> set[str]:
    zones = {str(subnet.availability_zone) for subnet in subnets}
    if len(zones) < 2:
        raise InvalidConfig(
            f"{key}: every subnet is in {', '.join(sorted(zones))}; allowed: subnets in at least "
            "2 availability zones (the load balancer needs 2, and one AZ down must not stop the "
            "service)."
        )
    return zones


class _RouteTables:
    """Which route table a subnet uses: the one explicitly associated with it, else the VPC's
    main route table (AWS associates every other subnet with it implicitly). `get_route_table`
    with `subnet_id` filters on association.subnet-id and fails on a subnet without an explicit
    association, so the association is listed first (get_route_tables does not fail on none)."""

    def __init__(self, vpc_id: str, main_table_id: str, key: str) -> None:
        self.vpc_id = vpc_id
        self.main_table_id = main_table_id
        self.key = key
        self._tables: dict[str, Any] = {}

    def default_target(self, subnet_id: str) -> str:
        """Where the subnet's 0.0.0.0/0 route goes ("" when it has none)."""
        explicit = lookup(
            self.key,
            f"the route table of {subnet_id}",
            lambda: aws.ec2.get_route_tables(
                vpc_id=self.vpc_id,
                filters=[
                    aws.ec2.GetRouteTablesFilterArgs(
                        name="association.subnet-id", values=[subnet_id]
                    )
                ],
            ),
        ).ids
        table = self._table(explicit[0] if explicit else self.main_table_id)
        for route in table.routes or []:
            if route.cidr_block == DEFAULT_ROUTE:
                return str(
                    route.gateway_id
                    or route.nat_gateway_id
                    or route.transit_gateway_id
                    or route.network_interface_id
                    or route.instance_id
                    or route.vpc_peering_connection_id
                    or route.vpc_endpoint_id
                    or "another target"
                )
        return ""

    def _table(self, table_id: str) -> Any:
        if table_id not in self._tables:
            self._tables[table_id] = lookup(
                self.key,
                f"route table {table_id}",
                lambda: aws.ec2.get_route_table(route_table_id=table_id),
            )
        return self._tables[table_id]


# --- database ---------------------------------------------------------------------------------


def check_database_group(group_id: str, network: Any, key: Callable[[str], str]) -> None:
    """The database's security group exists, in the VPC the tasks run in: a security group rule
    can only reference a group of the same VPC (or of a peered one)."""
    group = lookup(
        key("dbSecurityGroupId"), group_id, lambda: aws.ec2.get_security_group(id=group_id)
    )
    if not isinstance(network, ExistingVpcArgs):
        raise InvalidConfig(
            f"{key('dbSecurityGroupId')}: {group_id} is in {group.vpc_id}, but the stack creates "
            f"a new VPC; allowed: {key('existingVpcId')} set to the database's VPC "
            f"({group.vpc_id}) with its subnets, or no dbSecurityGroupId."
        )
    if group.vpc_id != network.vpc_id:
        raise InvalidConfig(
            f"{key('dbSecurityGroupId')}: {group_id} is in {group.vpc_id}, not in existingVpcId "
            f"{network.vpc_id}; allowed: the security group of the database in {network.vpc_id}."
        )


def secret_key(secret_arn: str, key: str) -> str | None:
    """The ARN of the customer managed KMS key encrypting the secret, or None (AWS managed).

    DescribeSecret omits KmsKeyId for the AWS managed key aws/secretsmanager; otherwise it may
    be a key id, key ARN or alias: get_key resolves it to the key ARN an IAM policy needs (an
    alias cannot name a key in an IAM policy) and says who manages the key."""
    secret = lookup(key, secret_arn, lambda: aws.secretsmanager.get_secret(arn=secret_arn))
    key_id = secret.kms_key_id or ""
    if not key_id or key_id.split(":")[-1] == AWS_MANAGED_SECRET_KEY:
        return None
    found = lookup(
        key,
        f"the KMS key {key_id} of {secret_arn}",
        lambda: aws.kms.get_key(key_id=key_id),
        "The deploy role needs kms:DescribeKey on the key that encrypts the secret.",
    )
    return str(found.arn) if found.key_manager == "CUSTOMER" else None


# --- certificate and topic --------------------------------------------------------------------


def check_certificate(
    name: str, arn: str, domain: str, region: str, key: Callable[[str], str]
) -> pulumi.Output[str]:
    """`arn` once the certificate it names is known to be in the load balancer's region, ISSUED
    and, with a domain, covering it (any key algorithm, whichever certificate of the domain is
    the newest). Read by ARN (see the module docstring): the region is known from the ARN alone,
    the rest when the read answers."""
    arn_key = key("certificateArn")
    arn_region = arn.split(":")[3]
    if arn_region != region:
        raise InvalidConfig(
            f"{arn_key}: {arn} is in {arn_region}; allowed: a certificate in {region}, the "
            "load balancer's region (ACM certificates are regional)."
        )
    found = aws.acm.Certificate.get(name, arn)

    def checked(values: list[Any]) -> str:
        status, primary, alternatives = values
        if status != "ISSUED":
            raise InvalidConfig(
                f"{arn_key}: {arn} is {status}; allowed: an ISSUED certificate (not pending "
                "validation, expired, revoked or failed): the HTTPS listener cannot serve it."
            )
        names = [str(primary), *(str(n) for n in alternatives or [] if n != primary)]
        if domain and not any(covers(name, domain) for name in names):
            raise InvalidConfig(
                f"{arn_key}: {arn} is for {', '.join(names)}, which does not cover "
                f"{key('domainName')} {domain}; allowed: a certificate whose domain name or one "
                f"of whose subject alternative names is {domain} or *.{domain.split('.', 1)[1]} "
                "(a wildcard stands for exactly one label)."
            )
        return arn

    return pulumi.Output.all(
        found.status, found.domain_name, found.subject_alternative_names
    ).apply(checked)


def covers(name: str, domain: str) -> bool:
    """Whether a certificate's name (its domain name or a subject alternative name) covers
    `domain`. ACM: a wildcard is the leftmost label only and stands for exactly one label, so
    *.example.com covers www.example.com, but neither example.com nor a.www.example.com
    ("Wildcard names", https://docs.aws.amazon.com/acm/latest/userguide/acm-certificate.html)."""
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    if name.startswith("*."):
        label, _, parent = domain.partition(".")
        return bool(label) and parent == name[2:]
    return name == domain


def check_topic(arn: str, key: str) -> None:
    """The topic exists in the stack's account and region (alarms notify it by ARN)."""
    name = arn.rsplit(":", 1)[1]
    found = lookup(key, f"SNS topic {name}", lambda: aws.sns.get_topic(name=name))
    if found.arn != arn:
        raise InvalidConfig(
            f"{key}: {arn} does not exist (the topic named {name} here is {found.arn}); "
            "allowed: the ARN of a topic in the stack's account and region."
        )
