"""Validation shared by the settings (config keys) and the components (args).

Errors are `pulumi.RunError`s: the Pulumi CLI prints their message without a stack trace, and the
offline plan turns them into exit code 2. Messages name the key and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

import pulumi

# Fargate task sizes: CPU units -> allowed memory (MiB).
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# Values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# ELB security policies that allow only TLS 1.2 and 1.3 (1.3 preferred where the name says so).
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html
MODERN_SSL_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
)

NAT_STRATEGIES = ("None", "Single", "OnePerAz")
CONTAINER_INSIGHTS = ("disabled", "enabled", "enhanced")


@dataclass(frozen=True)
class Limit:
    """An inclusive integer range, named once: the settings check a config key against it and
    the components check their argument against the same object, so the two cannot drift."""

    low: int
    high: int

    def check(self, key: str, value: int) -> None:
        in_range(key, value, self.low, self.high)


# Tasks of one service. The upper bound guards the autoscaler's range against a typo (1000 for
# 10) reaching AWS.
TASKS = Limit(1, 100)
# The port the app listens on. The container runs as a non-root user (CONTAINER_USER, app/
# Dockerfile) with every capability dropped (no CAP_NET_BIND_SERVICE) and the task definition
# sets no net.ipv4.ip_unprivileged_port_start, so the kernel's default applies: no port below
# 1024. The load balancer's target group forwards to this same port.
CONTAINER_PORT = Limit(1024, 65535)
# A DB snapshot identifier (the database's final snapshot): a letter, then letters, digits and
# single hyphens, not ending in one, at most 255. DeleteDBInstance, FinalDBSnapshotIdentifier
# (and CreateDBSnapshot, DBSnapshotIdentifier; an existing name: DBSnapshotAlreadyExists):
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSnapshot.html
SNAPSHOT_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")
DATABASE_PORT = Limit(1, 65535)
# A new VPC spans at least 2 AZs (the load balancer needs subnets in 2); its CIDR's prefix length:
# infra/network.py gives each AZ an eighth of the VPC and the public tier a quarter of that, and a
# load balancer's subnets must be /27 or larger ("at least a /27 bitmask"), so /22 at most:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#subnets-load-balancer
AVAILABILITY_ZONES = Limit(2, 6)
VPC_PREFIX_LENGTH = Limit(16, 22)
# ECR lifecycle: images kept per rule, and days before untagged images expire.
IMAGES_KEPT = Limit(1, 1000)
UNTAGGED_IMAGE_DAYS = Limit(1, 365)
# Target group attributes and health checks, as ELBv2 accepts them.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html
DEREGISTRATION_DELAY = Limit(0, 3600)
HEALTH_CHECK_INTERVAL = Limit(5, 300)
HEALTH_CHECK_THRESHOLD = Limit(2, 10)
# The service: seconds ECS ignores the load balancer after a task starts, and between SIGTERM
# and SIGKILL (Fargate allows at most 120).
HEALTH_CHECK_GRACE_PERIOD = Limit(0, 600)
STOP_TIMEOUT = Limit(2, 120)
SPOT_PERCENT = Limit(0, 100)
# Target tracking: the CPU the tasks are kept at, requests per task per minute, cooldowns.
AUTOSCALING_CPU_PERCENT = Limit(10, 90)
REQUESTS_PER_TARGET = Limit(1, 1_000_000)
SCALING_COOLDOWN = Limit(0, 3600)
# Alarm thresholds in percent, and the fewest 5xx a minute that may raise the 5xx alarm.
ALARM_PERCENT = Limit(1, 100)
MIN_5XX_COUNT = Limit(1, 10_000)
# Requests per 5 minutes a WAF rate-based rule accepts as its limit.
# https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html
WAF_RATE_LIMIT = Limit(10, 2_000_000_000)
# Days an S3 lifecycle rule keeps the load balancer's access logs (a positive number of days;
# ten years as a guard against a typo).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html
ACCESS_LOG_DAYS = Limit(1, 3650)
# RDS PostgreSQL: gp3 storage in GiB, days of automated backups (RDS allows 0; we keep >= 1).
DB_ALLOCATED_STORAGE = Limit(20, 65536)
DB_BACKUP_RETENTION_DAYS = Limit(1, 35)

_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:(?P<service>[a-z0-9-]+):[a-z0-9-]*:\d{12}:.+$")
_DIGEST_REF = re.compile(r"^[a-z0-9][a-z0-9./_-]*(:\d+)?/[a-z0-9./_-]+@sha256:[0-9a-f]{64}$")
_DOCKER_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class InvalidConfig(pulumi.RunError):
    """A setting or component argument has a value the program cannot deploy."""


def fail(key: str, value: object, allowed: str) -> InvalidConfig:
    return InvalidConfig(f"{key}: {value!r} is not valid; allowed: {allowed}.")


def one_of(key: str, value: object, allowed: Iterable[object]) -> None:
    choices = tuple(allowed)
    if value not in choices:
        raise fail(key, value, "one of " + ", ".join(repr(c) for c in choices))


def in_range(key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise fail(key, value, f"an integer from {low} to {high}")


def fargate_size(cpu_key: str, cpu: int, memory_key: str, memory: int) -> None:
    if cpu not in FARGATE_SIZES:
        raise fail(cpu_key, cpu, "Fargate CPU units " + ", ".join(map(str, FARGATE_SIZES)))
    allowed = FARGATE_SIZES[cpu]
    if memory not in allowed:
        raise InvalidConfig(
            f"{memory_key}: {memory} MiB is not offered by Fargate with {cpu_key}={cpu}; "
            f"allowed: {allowed[0]}..{allowed[-1]} MiB in steps of "
            f"{allowed[1] - allowed[0] if len(allowed) > 1 else allowed[0]} "
            f"({', '.join(map(str, allowed[:4]))}{', ...' if len(allowed) > 4 else ''})."
        )


def arn(key: str, value: str, service: str) -> None:
    match = _ARN.match(value)
    if not match or match.group("service") != service:
        raise fail(key, value, f"an ARN of the {service} service (arn:aws:{service}:...)")


def digest_reference(key: str, value: str) -> None:
    if not _DIGEST_REF.match(value):
        raise fail(key, value, "an image reference by digest, REGISTRY/REPO@sha256:<64 hex>")


def docker_tag(key: str, value: str) -> None:
    if not _DOCKER_TAG.match(value):
        raise fail(key, value, "a Docker tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


# The private ranges of RFC 1918, which AWS recommends for a VPC ("IPv4 VPC CIDR blocks",
# https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html). Python's is_private is
# wider (link-local 169.254/16, loopback 127/8, 0/8, 240/4, ...): ranges a VPC must not use.
RFC1918_RANGES = tuple(
    ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def private_cidr(key: str, value: str) -> None:
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError as error:
        raise fail(key, value, f"an IPv4 CIDR block such as 10.0.0.0/16 ({error})") from None
    low, high = VPC_PREFIX_LENGTH.low, VPC_PREFIX_LENGTH.high
    inside = any(network.subnet_of(block) for block in RFC1918_RANGES)
    if not inside or not low <= network.prefixlen <= high:
        ranges = ", ".join(map(str, RFC1918_RANGES))
        raise fail(
            key,
            value,
            f"a private IPv4 range inside {ranges} (RFC 1918) with a prefix from /{low} to /{high}",
        )


def aws_id(key: str, value: str, prefix: str) -> None:
    if not re.fullmatch(rf"{prefix}-[0-9a-f]{{8,17}}", value):
        raise fail(key, value, f"an id of the form {prefix}-0123456789abcdef0")


# A DNS name clients call: 2+ labels of letters, digits and inner hyphens (at most 63 each), at
# most 253 characters (RFC 1035 2.3.4, RFC 1123 2.1); ACM issues for such names.
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Route 53 hosted zone ids: upper-case letters and digits, at most 32 characters
# (https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHostedZone.html: Id, max 32).
_HOSTED_ZONE_ID = re.compile(r"^[A-Z0-9]{1,32}$")


def domain_name(key: str, value: str) -> None:
    labels = value.split(".")
    if (
        len(value) > 253
        or len(labels) < 2
        or not all(_DNS_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise fail(
            key,
            value,
            "a lower-case DNS name such as alunos.example.com (2+ labels of letters, digits and "
            "inner hyphens, at most 63 characters each, 253 in all; no trailing dot, no wildcard)",
        )


def hosted_zone_id(key: str, value: str) -> None:
    if not _HOSTED_ZONE_ID.match(value):
        raise fail(
            key,
            value,
            "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ (upper-case letters and "
            "digits, at most 32, without the /hostedzone/ prefix)",
        )


# --- the app: a prebuilt image, its health checks, its environment -----------------------------

# An image reference, after github.com/distribution/reference (reference.go's grammar):
# [domain/]path[:tag][@digest]; the first component is a domain when it holds "." or ":" or is
# "localhost" (normalize.go's splitDockerDomain), else the image is on Docker Hub.
_DOMAIN_COMPONENT = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::\d+)?$")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^\w[\w.-]{0,127}$")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
REPOSITORY_PATH_MAX = 255
# An ECR private registry: <account>.dkr.ecr.<region>.amazonaws.com (.com.cn in China).
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/Registries.html
_ECR_REGISTRY = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)"
    r"\.amazonaws\.com(?P<china>\.cn)?$"
)
IMAGE_EXAMPLES = (
    "123456789012.dkr.ecr.us-east-2.amazonaws.com/alunos-go:1.4.2, "
    "ghcr.io/acme/alunos@sha256:<64 hex>"
)


@dataclass(frozen=True)
class EcrRepository:
    """An ECR repository named by an image reference: where the execution role may pull."""

    account: str
    region: str
    name: str
    partition: str

    @property
    def arn(self) -> str:
        # arn:${Partition}:ecr:${Region}:${Account}:repository/${RepositoryName}
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html
        return f"arn:{self.partition}:ecr:{self.region}:{self.account}:repository/{self.name}"


@dataclass(frozen=True)
class ImageReference:
    """A prebuilt image, by tag or by digest."""

    text: str
    """As the config gives it."""
    repository: str
    """[domain/]path: what a digest is appended to."""
    tag: str
    digest: str
    """sha256:<64 hex>, or "" for a tag to resolve."""

    @property
    def ecr(self) -> EcrRepository | None:
        domain, _, path = self.repository.partition("/")
        match = _ECR_REGISTRY.match(domain) if path else None
        if match is None:
            return None
        partition = "aws-cn" if match["china"] else "aws"
        return EcrRepository(match["account"], match["region"], path, partition)


def image_reference(key: str, value: str) -> ImageReference:
    """`value` parsed, or a failure naming what is allowed: a tag that names one build (never
    none, which docker reads as latest, nor latest itself) or a sha256 digest (which wins over
    a tag given with it, as it does for docker)."""
    allowed = (
        "an image reference with a tag or a sha256 digest, [REGISTRY/]PATH:TAG or "
        f"[REGISTRY/]PATH@sha256:<64 hex>, e.g. {IMAGE_EXAMPLES} (a lower-case path; a tag of "
        "letters, digits, _ . -, not latest)"
    )
    name, at, digest = value.partition("@")
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = name.rpartition(":")
    components = name.split("/")
    domain = components[0] if len(components) > 1 else ""
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        domain = ""  # a Docker Hub namespace, not a registry
    path = components[1:] if domain else components
    if (
        (domain and not _DOMAIN.match(domain))
        or not all(_PATH_COMPONENT.match(part) for part in path)
        or len("/".join(path)) > REPOSITORY_PATH_MAX
        or (at and not _SHA256.match(digest))
        or (tag and not _TAG.match(tag))
        or not (tag or digest)
        or tag == "latest"
    ):
        raise fail(key, value, allowed)
    return ImageReference(text=value, repository=name, tag=tag, digest=digest)


# A container health check: ECS's HealthCheck.command, a string array starting with CMD (run
# the arguments directly) or CMD-SHELL (run with the container's default shell).
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html
HEALTH_CHECK_FORMS = (
    "none (no container health check), CMD <program> [args...] (run directly, split like a "
    "shell would; for images without a shell) or CMD-SHELL <command> (run by the image's "
    "/bin/sh)"
)


def container_health_check(key: str, value: str) -> tuple[str, ...] | None:
    """ECS's command array from its one-line form (the console's, without the commas); None
    for `none`."""
    text = value.strip()
    if text.lower() == "none":
        return None
    form, _, rest = text.partition(" ")
    rest = rest.strip()
    if form == "CMD-SHELL" and rest:
        return (form, rest)
    if form == "CMD" and rest:
        try:
            return (form, *shlex.split(rest))
        except ValueError as error:
            raise fail(key, value, f"{HEALTH_CHECK_FORMS} ({error})") from None
    raise fail(key, value, HEALTH_CHECK_FORMS)


# The target group's health check path: "/" and at most 1024 characters (terraform-provider-aws
# internal/service/elbv2/target_group.go, health_check.path); no spaces or control characters,
# which an HTTP request line cannot carry (RFC 9112 section 3).
_HEALTH_CHECK_PATH = re.compile(r"^/[\x21-\x7e]{0,1023}$")


def health_check_path(key: str, value: str) -> None:
    if not _HEALTH_CHECK_PATH.match(value):
        raise fail(
            key, value, "a path starting with /, at most 1024 visible ASCII characters, no spaces"
        )


# Environment variable names: letters, digits and _, not starting with a digit (the portable
# names of POSIX.1-2017 Base Definitions 8.1, lower case allowed).
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A Secrets Manager secret's full ARN: the name (ASCII letters, digits and /_+=.@-) and the six
# characters Secrets Manager appends; then, for ECS, optionally :json-key:version-stage:version-id
# (each may be empty, the colons may not). The IAM resource is the ARN without that suffix.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
_SM_ARN = (
    r"arn:aws(?:-cn|-us-gov)?:secretsmanager:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):\d{12}"
    r":secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}"
)
_SECRET_VALUE_FROM = re.compile(
    rf"^(?P<arn>{_SM_ARN})(?::(?P<key>[^:]*):(?P<stage>[^:]*):(?P<version>[^:]*))?$"
)
VALUE_FROM_FORMS = (
    "the full ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:"
    "NAME-AbCdEf, with the six characters Secrets Manager appends), optionally followed by "
    ":JSON_KEY:: for one key of a JSON secret (ECS's :json-key:version-stage:version-id)"
)


def variable_name(key: str, name: str) -> None:
    if not _VARIABLE.match(name):
        raise fail(key, name, "a variable name: letters, digits and _, not starting with a digit")


def secret_value_from(key: str, value: str) -> str:
    """The secret's ARN (what IAM grants) from an ECS `valueFrom`."""
    match = _SECRET_VALUE_FROM.match(value)
    if match is None:
        raise fail(key, value, VALUE_FROM_FORMS)
    return match["arn"]


def secret_arn(key: str, value: str) -> None:
    """A whole secret, by its full ARN (no JSON key)."""
    if not re.fullmatch(_SM_ARN, value):
        raise fail(key, value, VALUE_FROM_FORMS.split(", optionally")[0])


def secret_region(value: str) -> str:
    match = _SECRET_VALUE_FROM.match(value)
    return match["region"] if match else ""
