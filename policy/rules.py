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
    BUCKET,
    BUCKET_ENCRYPTION,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    EGRESS_RULE,
    IMAGE,
    INGRESS_RULE,
    LAUNCH_TEMPLATE,
    LIFECYCLE_POLICY,
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
    WEB_ACL,
    WEB_ACL_LOGGING,
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
# The tags a build of this program is pushed under, each naming one build (tests keep these
# equal to what automation/release/version.py stamps and infra/image.py derives):
# - a release, X.Y.Z or X.Y.Z-<pre-release> at a release git tag, never a `dev` pre-release;
# - a dev build: <version>.g<short commit>;
# - a plain `pulumi up`: <version>.src-<digest of the sources>;
# - any of these from a dirty tree: .dirty.<digest of the changes> appended.
# A bare version such as 0.0.0-dev (Pulumi.yaml's default) names every build of that version.
_SEMVER_CORE = r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
_PRE_RELEASE = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
RELEASE_IMAGE_TAG = re.compile(rf"^{_SEMVER_CORE}(?:-(?P<pre>{_PRE_RELEASE}))?$")
_VERSIONED_TAG = re.compile(rf"^{_SEMVER_CORE}(?:[-.][0-9A-Za-z.-]+)?$")
_BUILD_SUFFIX = re.compile(r"\.(?:g[0-9a-f]{7,40}|src-[0-9a-f]{12,64})$")
_DIRTY_SUFFIX = re.compile(r"\.dirty\.[0-9a-f]{8,64}$")
BUILD_TAG_FORMS = (
    "a release X.Y.Z[-pre] (no dev pre-release), or a version followed by .g<commit>, "
    ".src-<sources digest> and/or .dirty.<changes digest>"
)

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

# Descriptions AWS accepts, per API: (allowed characters, most characters, what to tell a user).
# EC2 security groups and their rules (CreateSecurityGroup, AuthorizeSecurityGroupIngress/Egress):
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html (Description)
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html (Description)
# WAF web ACLs: pattern ^[\w+=:#@/\-,\.][\w+=:#@/\-,\.\s]+[\w+=:#@/\-,\.]$, 1 to 256.
# https://docs.aws.amazon.com/waf/latest/APIReference/API_WebACL.html (Description)
EC2_DESCRIPTION = (
    re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]"),
    255,
    "a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
)
WAF_DESCRIPTION = (
    re.compile(r"[A-Za-z0-9_+=:#@/\-,.\s]"),
    256,
    "a-z, A-Z, 0-9, _ and +=:#@/-,. (spaces inside only)",
)

# What ECR accepts in a lifecycle policy (PutLifecyclePolicy refuses the rest): unique
# priorities, one rule for untagged images, the `any` rule last, a tagged rule selecting by one
# list of patterns or prefixes, at most 4 wildcards a pattern, counts > 0, a unit (days) only
# for age.
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html#lp_evaluation_rules
ECR_WILDCARDS_PER_PATTERN = 4
ECR_COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled",
                   "sinceImageTransitioned")  # fmt: skip

# WAF logs: destinations AWS accepts only under this name prefix (CloudWatch Logs group, S3 bucket
# or Firehose stream), and the headers that carry credentials, never to be logged.
# https://docs.aws.amazon.com/waf/latest/developerguide/logging-destinations.html
WAF_LOG_PREFIX = "aws-waf-logs-"
CREDENTIAL_HEADERS = ("authorization", "cookie")

# Server-side encryption ELB can write access logs with: SSE-S3 only.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html
ELB_LOG_ENCRYPTION = "AES256"
S3_PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)

# A DB snapshot identifier as RDS accepts it: a letter, then letters, digits and single hyphens,
# not ending in one, at most 255 (DeleteDBInstance's FinalDBSnapshotIdentifier; tests keep it
# equal to infra/validation.py's, which the program checks its final snapshot's name against).
SNAPSHOT_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")

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

PRODUCTION_STACKS = frozenset({"prod"})
"""Stacks production by name: their config must say so too (`production: true`)."""


class ProductionFlagMissing(ValueError):
    """A stack named production whose `production` flag is not true."""


def is_production(stack: str, flag: object, key: str) -> bool:
    """Is this stack production? Its `production` flag decides, whatever the stack is called.

    One exception keeps the name safe: a stack named `prod` whose flag is not true is refused,
    never silently "not production" (a dev build deployed to it, its policy checks relaxed, its
    decommission gates skippable). The CLI, the program and the policy pack all ask this one
    function, so no two of them can disagree about a stack. `stack` is the short name, `key` the
    flag's fully qualified name (`alunos-api:production`) for the message.
    """
    if flag is not True and stack in PRODUCTION_STACKS:
        found = "not set" if flag is None else json.dumps(flag)
        raise ProductionFlagMissing(
            f"Pulumi.{stack}.yaml: {key} is {found}, but a stack named {stack} must be "
            f"production: set `{key}: true` (the flag decides which guard rails apply; a "
            "non-production stack needs another name)"
        )
    return flag is True


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


def _descriptions(resource: Resource) -> Iterator[tuple[str, Any]]:
    """(where, text) of every description AWS receives from this resource: a security group's
    own and its inline rules', or the resource's own."""
    yield "description", resource.props.get("description")
    if resource.type == SECURITY_GROUP:
        for kind in ("ingress", "egress"):
            for index, rule in enumerate(resource.props.get(kind) or []):
                if isinstance(rule, Mapping):
                    yield f"{kind}[{index}].description", rule.get("description")


def check_descriptions(resource: Resource, context: Context) -> Iterator[str]:
    allowed, longest, _ = WAF_DESCRIPTION if resource.type == WEB_ACL else EC2_DESCRIPTION
    for where, text in _descriptions(resource):
        if not isinstance(text, str) or unknown(text):
            continue
        rejected = sorted({c for c in text if not allowed.fullmatch(c)})
        if rejected:
            shown = " ".join(repr(c) for c in rejected)
            yield f"{where} {text!r} has characters AWS rejects: {shown}"
        if resource.type == WEB_ACL and text != text.strip():
            yield f"{where} {text!r} starts or ends with a space, which AWS rejects"
        if len(text) > longest:
            yield f"{where} is {len(text)} characters long; AWS accepts {longest}"


def _by_identity(resources: Sequence[Resource], type_: str, key: str) -> dict[str, Resource]:
    """Resources of a type by what identifies them: their URN and their `key` property (a name
    the program sets, known offline and in previews)."""
    found: dict[str, Resource] = {}
    for resource in resources:
        if resource.type == type_:
            found[resource.urn] = resource
            value = resource.props.get(key)
            if isinstance(value, str) and not unknown(value):
                found[value] = resource
    return found


def _companions(
    resources: Sequence[Resource], type_: str, prop: str, target: Resource, target_key: str
) -> list[Resource]:
    """Resources of `type_` whose `prop` points at `target` (by URN or by its `target_key`)."""
    names = {target.urn} | {
        str(v) for v in [target.props.get(target_key)] if isinstance(v, str) and not unknown(v)
    }
    return [r for r in resources if r.type == type_ and _identities(r, prop) & names]


def _policy_statements(raw: Any) -> list[Mapping[str, Any]] | None:
    """A policy document's statements; None if unknown or unreadable."""
    if raw is None or unknown(raw):
        return None
    try:
        document = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return None
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, Sequence) or isinstance(statements, str):
        return None
    return [s for s in statements if isinstance(s, Mapping)]


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def _denies_plain_http(statements: list[Mapping[str, Any]]) -> bool:
    for statement in statements:
        condition = statement.get("Condition")
        secure = (
            _get(condition, "Bool.aws:SecureTransport") if isinstance(condition, Mapping) else None
        )
        if (
            statement.get("Effect") == "Deny"
            and str(secure).lower() == "false"
            and {"s3:*", "*"} & {str(a) for a in _listed(statement.get("Action"))}
        ):
            return True
    return False


def check_s3_private(
    resources: Sequence[Resource], context: Context
) -> Iterator[tuple[Resource, str]]:
    for bucket in (r for r in resources if r.type == BUCKET):
        blocks = _companions(resources, BUCKET_PUBLIC_ACCESS_BLOCK, "bucket", bucket, "bucket")
        if not blocks:
            yield bucket, "the bucket has no public access block"
        for block in blocks:
            open_flags = [f for f in S3_PUBLIC_ACCESS_FLAGS if _known_false(block.props.get(f))]
            if open_flags:
                yield block, f"public access is not blocked: {', '.join(open_flags)} off"
        policies = _companions(resources, BUCKET_POLICY, "bucket", bucket, "bucket")
        statements = [_policy_statements(p.props.get("policy")) for p in policies]
        if any(s is None for s in statements):
            continue  # judged once the policy is known
        if not any(_denies_plain_http(s) for s in statements if s is not None):
            yield (
                policies[0] if policies else bucket,
                "requests without TLS are not denied (no aws:SecureTransport deny)",
            )


def _log_destination_names(logging: Resource, resources: Sequence[Resource]) -> list[str]:
    """The names of a WAF logging configuration's destinations: from their ARNs, or (ARNs
    unknown in a preview) from the resources they came from."""
    names = []
    for arn in _listed(logging.props.get("logDestinationConfigs")):
        if isinstance(arn, str) and not unknown(arn):
            # log-group:NAME[:*], arn:aws:s3:::NAME, deliverystream/NAME
            tail = arn.removesuffix(":*")
            names.append(re.split(r"[:/]", tail)[-1])
    by_urn = {r.urn: r for r in resources}
    for urn in logging.refs.get("logDestinationConfigs", ()):
        source = by_urn.get(urn)
        if source is not None:
            for key in ("name", "bucket"):
                value = source.props.get(key)
                if isinstance(value, str) and not unknown(value):
                    names.append(value)
                    break
    return names


def check_waf_logging(
    resources: Sequence[Resource], context: Context
) -> Iterator[tuple[Resource, str]]:
    for logging in (r for r in resources if r.type == WEB_ACL_LOGGING):
        for name in _log_destination_names(logging, resources):
            if not name.startswith(WAF_LOG_PREFIX):
                yield (
                    logging,
                    f"logs go to {name!r}, but WAF writes only to names starting {WAF_LOG_PREFIX}",
                )
        fields = logging.props.get("redactedFields")
        if unknown(fields):
            continue
        redacted = {
            str(_get(field, "singleHeader.name")).lower()
            for field in _listed(fields)
            if isinstance(field, Mapping)
        }
        missing = [h for h in CREDENTIAL_HEADERS if h not in redacted]
        if missing:
            yield logging, f"the {', '.join(missing)} header(s) are logged in clear (not redacted)"


def _logs_to(load_balancer: Resource) -> tuple[str, str] | None:
    """(bucket, prefix) a load balancer writes access logs to; None when off or unknown."""
    logs = load_balancer.props.get("accessLogs")
    if not isinstance(logs, Mapping) or not _is_true(logs.get("enabled")):
        return None
    bucket, prefix = logs.get("bucket"), logs.get("prefix") or ""
    if not isinstance(bucket, str) or unknown(bucket) or unknown(prefix):
        return None
    return bucket, str(prefix)


def check_access_log_bucket(
    resources: Sequence[Resource], context: Context
) -> Iterator[tuple[Resource, str]]:
    buckets = _by_identity(resources, BUCKET, "bucket")
    for load_balancer in (r for r in resources if r.type in (LOAD_BALANCER, LOAD_BALANCER_ALIAS)):
        target = _logs_to(load_balancer)
        if target is None or target[0] not in buckets:
            continue  # off, unknown yet, or a bucket this stack does not manage
        bucket = buckets[target[0]]
        for sse in _companions(resources, BUCKET_ENCRYPTION, "bucket", bucket, "bucket"):
            for rule in _listed(sse.props.get("rules")):
                algorithm = (
                    _get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
                    if isinstance(rule, Mapping)
                    else None
                )
                if isinstance(algorithm, str) and algorithm != ELB_LOG_ENCRYPTION:
                    yield (
                        sse,
                        f"the access log bucket is encrypted with {algorithm}; ELB writes "
                        f"with SSE-S3 ({ELB_LOG_ENCRYPTION}) only",
                    )
        logs_path = (
            f"arn:aws:s3:::{target[0]}/"
            + (f"{target[1].strip('/')}/" if target[1] else "")
            + "AWSLogs/"
        )
        policies = _companions(resources, BUCKET_POLICY, "bucket", bucket, "bucket")
        statements = [_policy_statements(p.props.get("policy")) for p in policies]
        if any(s is None for s in statements):
            continue
        if not any(
            statement.get("Effect") == "Allow"
            and "s3:PutObject" in {str(a) for a in _listed(statement.get("Action"))}
            and any(str(r).startswith(logs_path) for r in _listed(statement.get("Resource")))
            for found in statements
            if found is not None
            for statement in found
        ):
            yield (
                load_balancer,
                f"nothing lets ELB put objects under {logs_path}: the load balancer fails "
                "its write test",
            )


def check_edge_logging(
    resources: Sequence[Resource], context: Context
) -> Iterator[tuple[Resource, str]]:
    for load_balancer in (r for r in resources if r.type in (LOAD_BALANCER, LOAD_BALANCER_ALIAS)):
        if load_balancer.props.get("loadBalancerType", "application") != "application":
            continue
        logs = load_balancer.props.get("accessLogs")
        enabled = logs.get("enabled") if isinstance(logs, Mapping) else None
        if not unknown(logs) and _known_false(enabled):
            yield load_balancer, "the load balancer keeps no access logs"
    loggings = [r for r in resources if r.type == WEB_ACL_LOGGING]
    logged_urns = {urn for r in loggings for urn in r.refs.get("resourceArn", ())}
    logged_names = {
        match.group(1)
        for r in loggings
        if isinstance(arn := r.props.get("resourceArn"), str)
        and (match := re.search(r"/webacl/([^/]+)/", arn))
    }
    for acl in (r for r in resources if r.type == WEB_ACL):
        name = acl.props.get("name")
        if acl.urn in logged_urns or (isinstance(name, str) and name in logged_names):
            continue
        if any(unknown(r.props.get("resourceArn")) and not r.refs for r in loggings):
            continue  # a logging configuration whose web ACL is not known yet
        yield acl, "the web ACL has no logging configuration"


def check_public_ip(resource: Resource, context: Context) -> Iterator[str]:
    if _is_true(_get(resource.props, "networkConfiguration.assignPublicIp")):
        yield "tasks get public IP addresses (networkConfiguration.assignPublicIp: true)"


def plain_secret(name: str, value: object) -> str | None:
    """Why a plain environment variable `name=value` looks like a credential, or None. The
    program refuses such an `appEnvironment` entry with the same words (infra/settings.py)."""
    if SECRET_NAME.search(name):
        return "has a credential's name and its value in plain text"
    if isinstance(value, str) and not unknown(value) and SECRET_VALUE.search(value):
        return "holds what looks like a credential"
    return None


def check_plain_secrets(resource: Resource, context: Context) -> Iterator[str]:
    for container in containers(resource.props) or []:
        for variable in container.get("environment") or []:
            if not isinstance(variable, Mapping):
                continue
            name = str(variable.get("name") or "")
            problem = plain_secret(name, variable.get("value"))
            if problem:
                label = f"container {container.get('name')!r}: environment variable {name!r}"
                yield f"{label} {problem}"


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
    elif not names_one_build(tag):
        yield f"pushes {name!r}: {tag!r} names no single build; allowed: {BUILD_TAG_FORMS}"


def names_one_build(tag: str) -> bool:
    """Whether `tag` carries a build's identity (see RELEASE_IMAGE_TAG above): a commit, a
    digest of the sources or of a dirty tree's changes, or else a release's version."""
    version, dirty = _DIRTY_SUFFIX.subn("", tag)
    version, identified = _BUILD_SUFFIX.subn("", version)
    if dirty or identified:
        return _VERSIONED_TAG.match(version) is not None
    release = RELEASE_IMAGE_TAG.match(tag)
    return release is not None and "dev" not in (release["pre"] or "").split(".")


def check_repository(resource: Resource, context: Context) -> Iterator[str]:
    mutability = resource.props.get("imageTagMutability")
    if not unknown(mutability) and mutability != "IMMUTABLE":
        yield f"image tags are {mutability or 'MUTABLE (the default)'}"
    if _known_false(_get(resource.props, "imageScanningConfiguration.scanOnPush")):
        yield "images are not scanned on push"


def _lifecycle_rule_problems(rule: Mapping[str, Any]) -> Iterator[str]:
    selection = rule.get("selection")
    selection = selection if isinstance(selection, Mapping) else {}
    status = selection.get("tagStatus")
    lists = [key for key in ("tagPatternList", "tagPrefixList") if selection.get(key)]
    if status not in ("tagged", "untagged", "any"):
        yield f"tagStatus is {status!r}, not tagged, untagged or any"
    elif status == "tagged" and len(lists) != 1:
        yield "a tagged rule selects by exactly one of tagPatternList and tagPrefixList"
    elif status != "tagged" and lists:
        yield f"a {status} rule cannot select by {lists[0]}"
    for pattern in selection.get("tagPatternList") or []:
        if str(pattern).count("*") > ECR_WILDCARDS_PER_PATTERN:
            yield f"pattern {pattern!r} has more than {ECR_WILDCARDS_PER_PATTERN} wildcards"
    count_type, number = selection.get("countType"), selection.get("countNumber")
    if count_type not in ECR_COUNT_TYPES:
        yield f"countType is {count_type!r}, not one of {', '.join(ECR_COUNT_TYPES)}"
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        yield f"countNumber is {number!r}, not a positive integer"
    if count_type == "imageCountMoreThan" and "countUnit" in selection:
        yield "countUnit is set on an imageCountMoreThan rule"
    if count_type == "sinceImagePushed" and selection.get("countUnit") != "days":
        yield "a sinceImagePushed rule needs countUnit: days"


def check_lifecycle_policy(resource: Resource, context: Context) -> Iterator[str]:
    raw = resource.props.get("policy")
    if raw is None or unknown(raw):
        return
    try:
        document = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as error:
        yield f"the policy is not JSON ({error.msg})"
        return
    rules = document.get("rules") if isinstance(document, Mapping) else None
    if not isinstance(rules, Sequence) or isinstance(rules, str) or not rules:
        yield "the policy has no rules"
        return
    rules = [rule for rule in rules if isinstance(rule, Mapping)]
    priorities = [rule.get("rulePriority") for rule in rules]
    if len(set(map(str, priorities))) != len(priorities):
        yield f"rule priorities are not unique: {priorities}"
    for rule in rules:
        for problem in _lifecycle_rule_problems(rule):
            yield f"rule {rule.get('rulePriority')}: {problem}"
    statuses = [_get(rule, "selection.tagStatus") for rule in rules]
    if statuses.count("untagged") > 1:
        yield "more than one rule selects untagged images"
    numbers = [p for p in priorities if isinstance(p, int) and not isinstance(p, bool)]
    for rule in rules:
        if _get(rule, "selection.tagStatus") == "any" and rule.get("rulePriority") != max(
            numbers, default=None
        ):
            yield f"rule {rule.get('rulePriority')} (tagStatus any) is not the last by priority"


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


# ECS's strategies that shift traffic (CANARY, LINEAR, BLUE_GREEN): each one's point is that
# CloudWatch alarms stop and roll back a release while part of the traffic tries it
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/canary-deployment.html).
TRAFFIC_SHIFTING_STRATEGIES = ("CANARY", "LINEAR", "BLUE_GREEN")


def check_shift_alarms(resource: Resource, context: Context) -> Iterator[str]:
    strategy = _get(resource.props, "deploymentConfiguration.strategy")
    if unknown(strategy) or strategy not in TRAFFIC_SHIFTING_STRATEGIES:
        return
    alarms = resource.props.get("alarms")
    if unknown(alarms):
        return
    alarms = alarms if isinstance(alarms, Mapping) else {}
    names = alarms.get("alarmNames")
    if unknown(names):
        return
    if not names or not _is_true(alarms.get("enable")) or not _is_true(alarms.get("rollback")):
        yield (
            f"a {strategy} deployment without deployment alarms that roll it back: a bad "
            "release goes on taking traffic until the bake ends"
        )


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


def check_final_snapshot(resource: Resource, context: Context) -> Iterator[str]:
    if _is_true(resource.props.get("skipFinalSnapshot")):
        yield "deleting or replacing the instance keeps no final snapshot (skipFinalSnapshot)"
        return
    identifier = resource.props.get("finalSnapshotIdentifier")
    if unknown(identifier):
        return
    if not identifier:
        yield "no finalSnapshotIdentifier: RDS refuses to delete the instance without one"
    elif not SNAPSHOT_IDENTIFIER.match(str(identifier)):
        yield f"finalSnapshotIdentifier {identifier!r} is not a DB snapshot identifier"


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


def check_instance_metadata(resource: Resource, context: Context) -> Iterator[str]:
    """IMDSv2 only: a session token for every metadata request (no IMDSv1, whose plain GETs an
    SSRF in a container can replay to read the instance role's credentials)."""
    tokens = _get(resource.props, "metadataOptions.httpTokens")
    if unknown(resource.props.get("metadataOptions")) or tokens == "required":
        return
    yield f"instances accept IMDSv1 (metadataOptions.httpTokens: {tokens or 'optional'})"


def check_encrypted_volumes(resource: Resource, context: Context) -> Iterator[str]:
    """Every EBS mapping says encrypted, and there is one. A launch template that maps no
    volume leaves the root volume to the AMI's own mapping, and "without encryption by default
    enabled, a volume restored from an unencrypted snapshot is unencrypted"
    (https://docs.aws.amazon.com/ebs/latest/userguide/encryption-examples.html): the account
    setting is not in the plan, so the template must say it."""
    mappings = resource.props.get("blockDeviceMappings")
    if unknown(mappings):
        return
    volumes = [
        mapping
        for mapping in mappings or []
        if isinstance(mapping, Mapping) and isinstance(mapping.get("ebs"), Mapping)
    ]
    if not volumes:
        yield (
            "no EBS block device mapping: the root volume is the AMI's, unencrypted unless the "
            "account encrypts EBS by default"
        )
    for mapping in volumes:
        if _known_false(mapping["ebs"].get("encrypted")):
            yield f"EBS volume {mapping.get('deviceName')!r} is not encrypted"


def check_instance_ingress(
    resources: Sequence[Resource], context: Context
) -> Iterator[tuple[Resource, str]]:
    """Instances of a launch template take no connections: their security groups have no ingress
    rule and they get no public address (awsvpc tasks have interfaces and groups of their own)."""
    groups: set[str] = set()
    for template in (r for r in resources if r.type == LAUNCH_TEMPLATE):
        groups |= _identities(template, "vpcSecurityGroupIds")
        for index, interface in enumerate(template.props.get("networkInterfaces") or []):
            if not isinstance(interface, Mapping):
                continue
            groups |= {str(g) for g in interface.get("securityGroups") or [] if not unknown(g)}
            groups |= set(template.refs.get("networkInterfaces", ()))
            if _is_true(interface.get("associatePublicIpAddress")):
                yield template, f"network interface {index} gets a public IP address"
    if not groups:
        return
    for resource in resources:
        if resource.type == SECURITY_GROUP and resource.urn in groups:
            if resource.props.get("ingress"):
                yield resource, "the instances' security group has inline ingress rules"
        elif (
            resource.type == INGRESS_RULE
            or (resource.type == SECURITY_GROUP_RULE and resource.props.get("type") == "ingress")
        ) and _group_of(resource) & groups:
            yield resource, "admits traffic to the instances' security group"


RULES: tuple[Rule, ...] = (
    Rule(
        id="aws-descriptions",
        title="Descriptions AWS accepts",
        description="Security group and security group rule descriptions use only "
        f"{EC2_DESCRIPTION[2]}, at most {EC2_DESCRIPTION[1]}; web ACL descriptions "
        f"{WAF_DESCRIPTION[2]}, at most {WAF_DESCRIPTION[1]}: anything else fails the call "
        "that creates them.",
        fix="Rewrite the description with those characters only (no apostrophes, quotes, "
        "accents or other Unicode), within the length.",
        types=(SECURITY_GROUP, INGRESS_RULE, EGRESS_RULE, SECURITY_GROUP_RULE, WEB_ACL),
        check=check_descriptions,
    ),
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
        id="s3-private-tls-only",
        title="S3 buckets private and TLS only",
        description="Every bucket blocks public access (all four settings) and its policy denies "
        "requests without TLS (aws:SecureTransport false).",
        fix="Add a BucketPublicAccessBlock with all four settings true and a bucket policy "
        "statement denying s3:* when aws:SecureTransport is false (infra/access_logs.py does).",
        stack_check=check_s3_private,
    ),
    Rule(
        id="alb-access-log-bucket",
        title="Access log buckets ELB can write to",
        description="A load balancer logging to a bucket of the stack needs that bucket "
        "encrypted with SSE-S3 (ELB cannot write with KMS) and a policy letting ELB put objects "
        "under <prefix>/AWSLogs/: ELB tests both when logging is turned on and refuses it.",
        fix="Encrypt the bucket with AES256 and allow the region's ELB account (or "
        "logdelivery.elasticloadbalancing.amazonaws.com) s3:PutObject on "
        "<bucket>/<prefix>/AWSLogs/<account>/*, before the load balancer (infra/access_logs.py).",
        stack_check=check_access_log_bucket,
    ),
    Rule(
        id="waf-logging",
        title="WAF logs where WAF can write, without credentials",
        description=f"WAF log destinations are named {WAF_LOG_PREFIX}... (WAF refuses others) "
        f"and the {' and '.join(CREDENTIAL_HEADERS)} headers are redacted from the logs.",
        fix=f"Name the log group {WAF_LOG_PREFIX}<name> and add redacted_fields single_header "
        f"entries for {', '.join(CREDENTIAL_HEADERS)} (lower-case).",
        stack_check=check_waf_logging,
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
        description="A build is pushed under a tag that names it alone (a release's version, "
        "or a version with its commit, the digest of its sources or of a dirty tree's "
        "changes), never latest, no tag or a bare version such as 0.0.0-dev: an IMMUTABLE "
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
        id="ecr-lifecycle-policy",
        title="ECR lifecycle policies ECR accepts",
        description="Lifecycle rules have unique priorities, one rule for untagged images and "
        "the tagStatus any rule last; a tagged rule selects by one list of tag patterns (at "
        "most 4 wildcards each) or prefixes; counts are positive, with countUnit days only for "
        "an age.",
        fix="Fix the rule the message names (infra/registry.py builds the policy); ECR's "
        "lifecycle policy preview shows what a policy would expire.",
        types=(LIFECYCLE_POLICY,),
        check=check_lifecycle_policy,
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
        id="canary-needs-rollback-alarms",
        title="Canary, linear and blue/green releases roll back on alarms",
        description="A strategy that moves part of the traffic first is only safer when "
        "CloudWatch alarms stop it and move the traffic back.",
        fix="Set alarms: {alarmNames: [the 5xx and unhealthy-target alarms], enable: true, "
        "rollback: true} on the service, or deploymentStrategy: rolling.",
        types=(SERVICE,),
        check=check_shift_alarms,
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
        id="rds-final-snapshot",
        title="RDS keeps a final snapshot",
        description="A database deleted or replaced (a ForceNew input such as dbName creates a "
        "new, empty instance) leaves a final snapshot of its data, in every stack.",
        fix="Set skipFinalSnapshot: false and finalSnapshotIdentifier to a letter followed by "
        "letters, digits and single hyphens (at most 255, not ending in a hyphen).",
        types=(RDS_INSTANCE,),
        check=check_final_snapshot,
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
    Rule(
        id="ec2-imdsv2",
        title="EC2 instances require IMDSv2",
        description="Instances launched for ECS capacity accept only token-based (IMDSv2) "
        "metadata requests.",
        fix="Set metadataOptions.httpTokens: required on the launch template "
        "(infra/capacity.py does).",
        types=(LAUNCH_TEMPLATE,),
        check=check_instance_metadata,
    ),
    Rule(
        id="ec2-encrypted-volumes",
        title="EC2 volumes encrypted",
        description="Every EBS volume a launch template maps is encrypted at rest, and it maps "
        "the root volume (without a mapping the AMI's applies: unencrypted unless the account "
        "encrypts EBS by default).",
        fix="Map the root volume (the AMI's root device, /dev/xvda on Amazon Linux) and set "
        "ebs.encrypted: true on every block device mapping.",
        types=(LAUNCH_TEMPLATE,),
        check=check_encrypted_volumes,
    ),
    Rule(
        id="ec2-no-instance-ingress",
        title="No ingress to ECS capacity instances",
        description="Instances of a launch template get no public IP and their security groups "
        "admit nothing: tasks in awsvpc mode are reached through their own interfaces.",
        fix="Remove the ingress rules from the instances' security group and set "
        "associatePublicIpAddress: false (reach an instance with SSM Session Manager).",
        stack_check=check_instance_ingress,
    ),
    Rule(
        id="edge-logging-in-production",
        title="Production load balancers and web ACLs keep logs",
        description="In production the load balancer writes access logs (every request) and "
        "each web ACL logs what it blocks: the evidence for an incident or a tuning.",
        fix="Set albAccessLogs: true in the stack config; keep the WebAclLoggingConfiguration "
        "of infra/waf.py.",
        stack_check=check_edge_logging,
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
