"""Security and reliability rules, written once over a neutral view of a stack's resources.

Two callers feed them: `python -m automation check` (the offline plan's inputs) and the Pulumi
policy pack in this directory (`pulumi preview --policy-pack policy`: the engine's inputs). Both
use the provider's camelCase property names, so a rule reads `props["assignPublicIp"]` whichever
way it runs. This module imports nothing but the standard library and the type tokens of
`infra/resource_types.py` (standard library only too): the pack runs it in its own virtual
environment, with the repository root on its path.

A value the engine cannot know yet during a preview (an id of a resource still to be created)
arrives as one of the engine's unknown sentinels: a rule never reports a violation on an unknown
value; `pulumi up` checks it again once known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.resource_types import (
    IMAGE,
    INGRESS_RULE,
    LISTENER,
    LISTENER_ALIAS,
    LOAD_BALANCER,
    LOAD_BALANCER_ALIAS,
    LOG_GROUP,
    RDS_INSTANCE,
    REPOSITORY,
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    SERVICE,
    TASK_DEFINITION,
)

# The engine's placeholders for values unknown during a preview (the same strings in the Pulumi
# SDK's rpc module and in pulumi_policy's proxy module).
UNKNOWN_SENTINELS = frozenset(
    {
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string / any
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
    }
)

# An image by digest: REPOSITORY@sha256:<64 hex> (not pulumi-docker's "<none>@<none>").
DIGEST_REFERENCE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
# Tags that name whatever was pushed last, not one build.
FLOATING_TAGS = ("latest",)

WORLD = ("0.0.0.0/0", "::/0")
ALB_PUBLIC_PORTS = (80, 443)

# ELB security policies that negotiate TLS 1.2 and 1.3 only (tests keep this list equal to
# infra/validation.py's, which the program validates sslPolicy against).
MODERN_TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
)

# Environment variable names that carry credentials, and values that are credentials.
SECRET_NAME = re.compile(
    r"(PASS(WORD|WD)?|SECRET|TOKEN|CREDENTIALS?|(API|PRIVATE|ACCESS|SIGNING|ENCRYPTION)_?KEY)",
    re.IGNORECASE,
)
SECRET_VALUE = re.compile(
    r"(AKIA|ASIA)[0-9A-Z]{16}"  # an AWS access key id
    r"|[a-z][a-z0-9+.-]*://[^/\s:@]+:[^@\s/]+@"  # a URL with a password: postgres://u:p@host
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|gh[pousr]_[A-Za-z0-9]{36}"  # a GitHub token
    r"|xox[baprs]-[A-Za-z0-9-]{10,}"  # a Slack token
)


@dataclass(frozen=True)
class Resource:
    """One resource as both callers see it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    """Input properties by their camelCase names (nested dicts and lists)."""
    refs: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Property name -> URNs of the resources its value came from, where the engine says so
    (the policy pack's stack view); lets a rule match references whose ids are unknown yet."""


@dataclass(frozen=True)
class Context:
    production: bool
    """The stack's `production` config flag: the rules that guard production apply."""


@dataclass(frozen=True)
class Violation:
    rule: str
    resource_type: str
    resource_name: str
    urn: str
    why: str
    fix: str


Check = Callable[[Resource, Context], Iterable[str]]
StackCheck = Callable[[Sequence[Resource], Context], Iterable[tuple[Resource, str]]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    description: str
    """What the rule requires and why, in one or two sentences."""
    fix: str
    types: tuple[str, ...] = ()
    """Resource types a per-resource rule reads; empty for a stack rule."""
    check: Check | None = None
    stack_check: StackCheck | None = None
    production_only: bool = False

    def applies(self, context: Context) -> bool:
        return context.production or not self.production_only

    def violations(self, resources: Sequence[Resource], context: Context) -> list[Violation]:
        if not self.applies(context):
            return []
        found: list[tuple[Resource, str]] = []
        if self.check is not None:
            for resource in resources:
                if resource.type in self.types:
                    found += [(resource, why) for why in self.check(resource, context)]
        if self.stack_check is not None:
            found += list(self.stack_check(resources, context))
        return [Violation(self.id, r.type, r.name, r.urn, why, self.fix) for r, why in found]


# --- helpers ------------------------------------------------------------------------------------


def unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWN_SENTINELS


def _get(props: Mapping[str, Any], path: str) -> Any:
    """props["a"]["b"]..., None when a step is missing or unknown; `a.0.b` indexes lists."""
    value: Any = props
    for step in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(step)
        elif isinstance(value, Sequence) and not isinstance(value, str) and step.isdigit():
            value = value[int(step)] if int(step) < len(value) else None
        else:
            return None
        if unknown(value):
            return None
    return value


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _known_false(value: Any) -> bool:
    """False, missing or 'false', but not unknown: unknown values are judged later."""
    return not unknown(value) and not _is_true(value)


def containers(props: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """A task definition's containers (containerDefinitions is a JSON string); None if unknown
    or unreadable."""
    raw = props.get("containerDefinitions")
    if raw is None or unknown(raw):
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return None
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return None
    return [c for c in raw if isinstance(c, Mapping)]


# --- the rules ----------------------------------------------------------------------------------


def _world_ingress(resource: Resource) -> Iterator[tuple[str, int | None, int | None, str]]:
    """(cidr, from port, to port, protocol) of every ingress this resource opens to the world."""
    props = resource.props
    if resource.type == INGRESS_RULE:
        for key in ("cidrIpv4", "cidrIpv6"):
            if props.get(key) in WORLD:
                yield (
                    str(props[key]),
                    props.get("fromPort"),
                    props.get("toPort"),
                    str(props.get("ipProtocol")),
                )
    elif resource.type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        for cidr in [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])]:
            if cidr in WORLD:
                yield cidr, props.get("fromPort"), props.get("toPort"), str(props.get("protocol"))
    elif resource.type == SECURITY_GROUP:
        for rule in props.get("ingress") or []:
            if not isinstance(rule, Mapping):
                continue
            for cidr in [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]:
                if cidr in WORLD:
                    yield cidr, rule.get("fromPort"), rule.get("toPort"), str(rule.get("protocol"))


def _identities(resource: Resource, prop: str) -> set[str]:
    """What a reference property points at: its known values and the URNs it depends on."""
    value = resource.props.get(prop)
    values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    known = {str(v) for v in values if v is not None and not unknown(v)}
    return known | set(resource.refs.get(prop, ()))


def _group_of(resource: Resource) -> set[str]:
    if resource.type == SECURITY_GROUP:
        return {resource.urn}
    return _identities(resource, "securityGroupId")


def check_world_ingress(
    resources: Sequence[Resource], context: Context
) -> Iterator[tuple[Resource, str]]:
    load_balancer_groups: set[str] = set()
    for resource in resources:
        if resource.type in (LOAD_BALANCER, LOAD_BALANCER_ALIAS):
            load_balancer_groups |= _identities(resource, "securityGroups")
    for resource in resources:
        for cidr, low, high, protocol in _world_ingress(resource):
            ports = "all ports" if protocol == "-1" else f"{protocol}/{low}-{high}"
            if low == high and low in ALB_PUBLIC_PORTS and protocol in ("tcp", "6"):
                group = _group_of(resource)
                if group & load_balancer_groups:
                    continue
                if not group:  # the group's id is unknown and no dependency says which it is
                    continue
                yield (
                    resource,
                    (f"opens {ports} to {cidr} on a security group that is not a load balancer's"),
                )
            else:
                yield resource, f"opens {ports} to {cidr}"


def check_public_ip(resource: Resource, context: Context) -> Iterator[str]:
    if _is_true(_get(resource.props, "networkConfiguration.assignPublicIp")):
        yield "tasks get public IP addresses (networkConfiguration.assignPublicIp: true)"


def check_plain_secrets(resource: Resource, context: Context) -> Iterator[str]:
    for container in containers(resource.props) or []:
        for variable in container.get("environment") or []:
            if not isinstance(variable, Mapping):
                continue
            name, value = str(variable.get("name") or ""), variable.get("value")
            label = f"container {container.get('name')!r}: environment variable {name!r}"
            if SECRET_NAME.search(name):
                yield f"{label} has a credential's name and its value in plain text"
            elif isinstance(value, str) and not unknown(value) and SECRET_VALUE.search(value):
                yield f"{label} holds what looks like a credential"


def check_image_digest(resource: Resource, context: Context) -> Iterator[str]:
    for container in containers(resource.props) or []:
        image = container.get("image")
        if not isinstance(image, str) or unknown(image):
            continue
        if "@" not in image:
            yield f"container {container.get('name')!r} runs {image!r}, a mutable tag"
        elif not DIGEST_REFERENCE.match(image):
            yield (
                f"container {container.get('name')!r} runs {image!r}, not an image by digest "
                "(REPOSITORY@sha256:<64 hex>)"
            )


def check_image_tag(resource: Resource, context: Context) -> Iterator[str]:
    if _is_true(resource.props.get("skipPush")):
        return
    name = resource.props.get("imageName")
    if not isinstance(name, str) or unknown(name):
        return
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag:
        yield f"pushes {name!r} without a tag (docker pushes it as :latest)"
    elif tag in FLOATING_TAGS:
        yield f"pushes {name!r}: {tag!r} names whatever was pushed last, not one build"


def check_repository(resource: Resource, context: Context) -> Iterator[str]:
    mutability = resource.props.get("imageTagMutability")
    if not unknown(mutability) and mutability != "IMMUTABLE":
        yield f"image tags are {mutability or 'MUTABLE (the default)'}"
    if _known_false(_get(resource.props, "imageScanningConfiguration.scanOnPush")):
        yield "images are not scanned on push"


def check_log_retention(resource: Resource, context: Context) -> Iterator[str]:
    retention = resource.props.get("retentionInDays")
    if not unknown(retention) and not retention:
        yield "logs never expire (retentionInDays is not set)"


def check_circuit_breaker(resource: Resource, context: Context) -> Iterator[str]:
    controller = _get(resource.props, "deploymentController.type")
    if controller not in (None, "ECS"):
        return  # CodeDeploy and external controllers roll back by their own means
    breaker = resource.props.get("deploymentCircuitBreaker")
    if unknown(breaker):
        return
    breaker = breaker if isinstance(breaker, Mapping) else {}
    if _known_false(breaker.get("enable")) or _known_false(breaker.get("rollback")):
        yield "the deployment circuit breaker is not on with rollback"


def check_deletion_protection(resource: Resource, context: Context) -> Iterator[str]:
    key = "deletionProtection" if resource.type == RDS_INSTANCE else "enableDeletionProtection"
    if _known_false(resource.props.get(key)):
        yield f"{key} is off"


def check_tls_policy(resource: Resource, context: Context) -> Iterator[str]:
    protocol = resource.props.get("protocol")
    if protocol not in ("HTTPS", "TLS"):
        return
    policy = resource.props.get("sslPolicy")
    if unknown(policy):
        return
    if policy not in MODERN_TLS_POLICIES:
        yield f"{protocol} listener uses TLS policy {policy or '(the default, TLS 1.0+)'}"


def check_database(resource: Resource, context: Context) -> Iterator[str]:
    if _known_false(resource.props.get("storageEncrypted")):
        yield "storage is not encrypted (storageEncrypted)"
    if _is_true(resource.props.get("publiclyAccessible")):
        yield "the instance is publicly accessible (publiclyAccessible: true)"


def check_invalid_headers(resource: Resource, context: Context) -> Iterator[str]:
    if resource.props.get("loadBalancerType", "application") != "application":
        return
    if _known_false(resource.props.get("dropInvalidHeaderFields")):
        yield "HTTP headers with invalid names reach the app (dropInvalidHeaderFields is off)"


def check_container_hardening(resource: Resource, context: Context) -> Iterator[str]:
    for container in containers(resource.props) or []:
        if _is_true(container.get("privileged")):
            yield f"container {container.get('name')!r} is privileged"


def check_read_only_root(resource: Resource, context: Context) -> Iterator[str]:
    for container in containers(resource.props) or []:
        if _known_false(container.get("readonlyRootFilesystem")):
            yield f"container {container.get('name')!r} can write to its root filesystem"


RULES: tuple[Rule, ...] = (
    Rule(
        id="no-world-open-ingress",
        title="Nothing open to the internet but the load balancer's HTTP(S)",
        description="Ingress from 0.0.0.0/0 or ::/0 is allowed only on a load balancer's "
        "security group, on TCP 80 or 443; everything else is reached through it.",
        fix="Reference the load balancer's security group (referencedSecurityGroupId) instead "
        "of a CIDR, or narrow the CIDR to the networks that need access.",
        stack_check=check_world_ingress,
    ),
    Rule(
        id="no-public-tasks-in-production",
        title="No public IPs for production tasks",
        description="Production tasks run in private subnets without public IP addresses.",
        fix="Run the tasks in private subnets with a NAT route (natGateways: Single or "
        "OnePerAz, or existingPrivateSubnetIds) so assignPublicIp is false.",
        types=(SERVICE,),
        check=check_public_ip,
        production_only=True,
    ),
    Rule(
        id="no-plain-secrets",
        title="No credentials in a container's plain environment",
        description="Credentials reach containers as ECS secrets (resolved from Secrets "
        "Manager or SSM at start), never as plain environment values that show in the task "
        "definition, the console and the API.",
        fix="Move the variable from `environment` to `secrets` with valueFrom set to a Secrets "
        "Manager secret (ARN:key::) or an SSM parameter.",
        types=(TASK_DEFINITION,),
        check=check_plain_secrets,
    ),
    Rule(
        id="image-by-digest",
        title="Images by digest",
        description="Containers run an image by digest (repo@sha256:...), so a deploy and a "
        "rollback run exactly the image that was built and scanned.",
        fix="Use the image's repo digest (pulumi-docker Image.repo_digest) in the container "
        "definition, not a tag.",
        types=(TASK_DEFINITION,),
        check=check_image_digest,
    ),
    Rule(
        id="image-tag-per-build",
        title="Each pushed image has a tag of its own",
        description="A build is pushed under a tag that names it alone (its version and "
        "commit, or the digest of its sources), never latest or no tag: an IMMUTABLE "
        "repository refuses a second push of a tag, and a mutable tag changes under the "
        "tasks that run it.",
        fix="Tag every build with its own version (`automation up` stamps imageTag) or the "
        "digest of its sources, and run a tag already pushed by its digest instead of "
        "building it again.",
        types=(IMAGE,),
        check=check_image_tag,
    ),
    Rule(
        id="ecr-immutable-and-scanned",
        title="ECR: immutable tags, scan on push",
        description="A tag names one image forever and every pushed image is scanned for known "
        "vulnerabilities.",
        fix="Set imageTagMutability: IMMUTABLE and imageScanningConfiguration.scanOnPush: true.",
        types=(REPOSITORY,),
        check=check_repository,
    ),
    Rule(
        id="log-retention",
        title="Log groups expire",
        description="Every log group has a retention: logs are kept as long as needed, not "
        "paid for forever.",
        fix="Set retentionInDays (logRetentionDays in the stack config).",
        types=(LOG_GROUP,),
        check=check_log_retention,
    ),
    Rule(
        id="deployment-circuit-breaker",
        title="Deployment circuit breaker with rollback",
        description="ECS stops a deployment whose tasks keep failing and rolls back to the "
        "last working one.",
        fix="Set deploymentCircuitBreaker: {enable: true, rollback: true} on the service.",
        types=(SERVICE,),
        check=check_circuit_breaker,
    ),
    Rule(
        id="deletion-protection-in-production",
        title="Deletion protection in production",
        description="Production load balancers and databases cannot be deleted by a stray "
        "`pulumi destroy` or a replacement.",
        fix="Set enableDeletionProtection (load balancer) and deletionProtection (RDS) to true "
        "for production stacks.",
        types=(LOAD_BALANCER, LOAD_BALANCER_ALIAS, RDS_INSTANCE),
        check=check_deletion_protection,
        production_only=True,
    ),
    Rule(
        id="modern-tls",
        title="Modern TLS on HTTPS listeners",
        description="HTTPS and TLS listeners negotiate TLS 1.2 or newer only.",
        fix="Set sslPolicy to ELBSecurityPolicy-TLS13-1-2-2021-06 (or another TLS 1.2+ policy).",
        types=(LISTENER, LISTENER_ALIAS),
        check=check_tls_policy,
    ),
    Rule(
        id="rds-encrypted-and-private",
        title="RDS encrypted and private",
        description="Database storage is encrypted at rest and the instance has no public "
        "endpoint.",
        fix="Set storageEncrypted: true and publiclyAccessible: false (encryption can only be "
        "chosen at creation: restore an encrypted snapshot copy).",
        types=(RDS_INSTANCE,),
        check=check_database,
    ),
    Rule(
        id="drop-invalid-headers",
        title="Load balancer drops invalid headers",
        description="The ALB drops HTTP headers with invalid names instead of passing them to "
        "the app (a request smuggling vector).",
        fix="Set dropInvalidHeaderFields: true on the load balancer.",
        types=(LOAD_BALANCER, LOAD_BALANCER_ALIAS),
        check=check_invalid_headers,
    ),
    Rule(
        id="no-privileged-containers",
        title="No privileged containers",
        description="No container runs privileged (full access to the host's devices).",
        fix="Remove privileged: true from the container definition.",
        types=(TASK_DEFINITION,),
        check=check_container_hardening,
    ),
    Rule(
        id="read-only-root-in-production",
        title="Read-only root filesystem in production",
        description="Production containers cannot write to their image's filesystem (only to "
        "volumes such as /tmp). Outside production a writable one is allowed: ECS Exec, for "
        "debugging, does not work with a read-only root filesystem.",
        fix="Set readonlyRootFilesystem: true (enableExecuteCommand: false) and mount a volume "
        "where the app must write.",
        types=(TASK_DEFINITION,),
        check=check_read_only_root,
        production_only=True,
    ),
)


def evaluate(
    resources: Sequence[Resource], context: Context, rules: Sequence[Rule] = RULES
) -> list[Violation]:
    """Every violation of every rule, in rule order."""
    return [v for rule in rules for v in rule.violations(resources, context)]


def rule(rule_id: str) -> Rule:
    for candidate in RULES:
        if candidate.id == rule_id:
            return candidate
    raise KeyError(rule_id)
