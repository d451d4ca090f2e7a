"""A `ChangeSet` as the Markdown a reviewer reads on the pull request (and in the job summary).

The rendering works from the change model only, so the real preview and the offline plan look
the same. Whatever the preview holds, the output stays within GitHub's comment limit: the header,
the counts and the callouts about data and traffic are always there; the per-resource table is
what gets trimmed, and the comment says how much and where the full log is.

Everything that comes from the program or the cloud (names, types, property names and values)
goes through `escape`, so a resource name cannot break a table, inject HTML or mention people.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from automation.changes import Change, ChangeSet, Operation
from automation.errors import UsageProblem
from automation.pr.events import STACK_TYPE, looks_secret, mask
from automation.pr.hazards import Hazard
from infra import resource_types as types
from infra.rollout import ROLLING, duration, from_service_inputs, timing_from_target_group

COMMENT_LIMIT = 65_536
"""GitHub's maximum comment body, in characters (counted here in UTF-16 units, the stricter)."""

STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){0,2}")


class Risk(StrEnum):
    """What replacing or deleting a resource can cost, which picks the GitHub alert."""

    DATA = "CAUTION"  # data is lost unless it was backed up
    TRAFFIC = "WARNING"  # requests fail or endpoints change until the new resource serves


@dataclass(frozen=True, slots=True)
class Classification:
    risk: Risk
    label: str


def _data(label: str) -> Classification:
    return Classification(Risk.DATA, label)


def _traffic(label: str) -> Classification:
    return Classification(Risk.TRAFFIC, label)


# The one classification table: which resource types hold state or carry traffic, so that
# replacing or deleting one gets a callout. Keyed by the resource's own type (the last of any
# `$`-joined parent types in its URN).
CLASSIFICATION: Mapping[str, Classification] = {
    # Data: lost unless backed up or snapshotted.
    "aws:rds/instance:Instance": _data("database"),
    "aws:rds/cluster:Cluster": _data("database cluster"),
    "aws:rds/clusterInstance:ClusterInstance": _data("database instance"),
    "aws:rds/globalCluster:GlobalCluster": _data("global database"),
    "aws:rds/snapshot:Snapshot": _data("database snapshot"),
    "aws:rds/clusterSnapshot:ClusterSnapshot": _data("database snapshot"),
    "aws:docdb/cluster:Cluster": _data("document database"),
    "aws:neptune/cluster:Cluster": _data("graph database"),
    "aws:redshift/cluster:Cluster": _data("data warehouse"),
    "aws:dynamodb/table:Table": _data("DynamoDB table"),
    "aws:elasticache/replicationGroup:ReplicationGroup": _data("cache"),
    "aws:elasticache/cluster:Cluster": _data("cache"),
    "aws:opensearch/domain:Domain": _data("search domain"),
    "aws:efs/fileSystem:FileSystem": _data("file system"),
    "aws:ebs/volume:Volume": _data("disk volume"),
    "aws:s3/bucket:Bucket": _data("S3 bucket"),
    "aws:s3/bucketV2:BucketV2": _data("S3 bucket"),
    "aws:ecr/repository:Repository": _data("container image repository"),
    "awsx:ecr:Repository": _data("container image repository"),
    "aws:cloudwatch/logGroup:LogGroup": _data("log group"),
    "aws:secretsmanager/secret:Secret": _data("secret"),
    "aws:secretsmanager/secretVersion:SecretVersion": _data("secret value"),
    "aws:ssm/parameter:Parameter": _data("SSM parameter"),
    "aws:kms/key:Key": _data("KMS key (data encrypted with it)"),
    "aws:sqs/queue:Queue": _data("queue (messages in it)"),
    "aws:kinesis/stream:Stream": _data("data stream"),
    "aws:cognito/userPool:UserPool": _data("user pool"),
    "aws:backup/vault:Vault": _data("backup vault"),
    # Traffic: requests fail, or endpoints (DNS names, IPs) change.
    "aws:lb/loadBalancer:LoadBalancer": _traffic("load balancer"),
    "aws:alb/loadBalancer:LoadBalancer": _traffic("load balancer"),
    "aws:elb/loadBalancer:LoadBalancer": _traffic("load balancer"),
    "awsx:lb:ApplicationLoadBalancer": _traffic("load balancer"),
    "awsx:lb:NetworkLoadBalancer": _traffic("load balancer"),
    "aws:lb/listener:Listener": _traffic("listener"),
    "aws:alb/listener:Listener": _traffic("listener"),
    "aws:lb/listenerRule:ListenerRule": _traffic("listener rule"),
    "aws:alb/listenerRule:ListenerRule": _traffic("listener rule"),
    "aws:lb/targetGroup:TargetGroup": _traffic("target group"),
    "aws:alb/targetGroup:TargetGroup": _traffic("target group"),
    "aws:ec2/vpc:Vpc": _traffic("VPC"),
    "awsx:ec2:Vpc": _traffic("VPC"),
    "awsx:x:ec2:Vpc": _traffic("VPC"),
    "aws:ec2/subnet:Subnet": _traffic("subnet"),
    "awsx:x:ec2:Subnet": _traffic("subnet"),
    "aws:ec2/natGateway:NatGateway": _traffic("NAT gateway"),
    "aws:ec2/internetGateway:InternetGateway": _traffic("internet gateway"),
    "aws:ec2/eip:Eip": _traffic("public IP address"),
    "aws:ec2/instance:Instance": _traffic("server"),
    "aws:ecs/cluster:Cluster": _traffic("ECS cluster"),
    "aws:ecs/service:Service": _traffic("ECS service"),
    "aws:route53/zone:Zone": _traffic("DNS zone"),
    "aws:route53/record:Record": _traffic("DNS record"),
    "aws:acm/certificate:Certificate": _traffic("TLS certificate"),
    "aws:cloudfront/distribution:Distribution": _traffic("CDN distribution"),
    "aws:apigatewayv2/api:Api": _traffic("API endpoint"),
    "aws:apigateway/restApi:RestApi": _traffic("API endpoint"),
}

RISKY_OPERATIONS = (Operation.REPLACE, Operation.DELETE)

# Order of the detail table: what loses something first, so trimming drops the least risky.
_ROW_ORDER = {
    Operation.DELETE: 0,
    Operation.REPLACE: 1,
    Operation.UPDATE: 2,
    Operation.CREATE: 3,
    Operation.IMPORT: 4,
}
_LABEL = {
    Operation.CREATE: "🟢 create",
    Operation.UPDATE: "🟡 update",
    Operation.REPLACE: "🟠 replace",
    Operation.DELETE: "🔴 delete",
    Operation.IMPORT: "🔵 import",
}

# Display caps: each keeps one item's worst case (every character escaped) small enough that
# the header, counts and callouts together always fit, leaving the rest for table rows.
NAME_CHARS = 120
VALUE_CHARS = 40
KEYS_PER_ROW = 8
OUTPUTS_SHOWN = 10
CALLOUTS_PER_RISK = 50
CALLOUT_BUDGET = 20_000  # per risk level
HAZARD_CHARS = 700  # one hazard's text
HAZARD_BUDGET = 8_000  # per kind (refused, to review)
_RESERVED = 2_500  # for the table's frame, the left-out note and the link

# Characters that could end a table cell or a line, start HTML or Markdown, autolink, or mention
# someone become numeric entities; GitHub shows them as the character itself.
_ESCAPES = {ord(char): f"&#{ord(char)};" for char in "&<>|`*_[]\\~#!()@:$"}
# Line and paragraph separators (C0, C1, Unicode) and bidirectional overrides that could make a
# name display as something else become spaces.
_ESCAPES |= dict.fromkeys(
    [*range(32), *range(127, 160), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)],
    " ",
)


def escape(text: str, limit: int = NAME_CHARS) -> str:
    """Text from the program or the cloud, safe inside a table cell or a `<code>` element."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.translate(_ESCAPES)


def code(text: str, limit: int = NAME_CHARS) -> str:
    return f"<code>{escape(text, limit)}</code>"


def size(text: str) -> int:
    """Length as GitHub may count it: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def marker(stack: str, offline: bool = False) -> str:
    """The hidden first line the commenter finds its own comment by, one per stack and kind."""
    kind = "plan" if offline else "preview"
    return f"<!-- alunos-api:{kind}:{check_stack_name(stack)} -->"


def check_stack_name(stack: str) -> str:
    """Stack names go into the hidden marker and the header: Pulumi's own character set only."""
    if len(stack) > 200 or not STACK_NAME.fullmatch(stack):
        raise UsageProblem(
            f"stack name {stack[:80]!r} is not a Pulumi stack name: use letters, digits, "
            "'-', '_', '.', optionally qualified as org/stack or org/project/stack"
        )
    return stack


def is_shown(change: Change) -> bool:
    """A row of the detail table: a resource that changes (stack outputs get their own line)."""
    return change.type != STACK_TYPE and change.operation in _ROW_ORDER


def classify(change: Change) -> Classification | None:
    """The callout a change needs, if it replaces or deletes a stateful or traffic resource."""
    if change.operation not in RISKY_OPERATIONS:
        return None
    return CLASSIFICATION.get(change.type)


def render_markdown(
    change_set: ChangeSet,
    run_url: str | None = None,
    limit: int = COMMENT_LIMIT,
    notes: Sequence[str] = (),
    hazards: Sequence[Hazard] = (),
) -> str:
    """The pull-request comment for one stack's changes, at most `limit` characters long.

    `notes` are short Markdown paragraphs (already escaped) shown under the title, such as what
    an offline plan diff was compared with; `hazards` what the plan diff found risky in them."""
    rows = sorted(
        (change for change in change_set.changes if is_shown(change)),
        key=lambda change: (_ROW_ORDER[change.operation], change.type, change.name),
    )
    head = "\n\n".join(_head(change_set, rows, run_url, notes, hazards))
    link = f"[the workflow run]({run_url})" if run_url else "the CI job's log"
    budget = limit - size(head) - _RESERVED - (size(run_url) if run_url else 0)
    shown: list[str] = []
    used = 0
    for row in _rows(rows):
        used += size(row) + 1
        if used > budget:
            break
        shown.append(row)
    parts = [head]
    if rows:
        parts.append(_table(shown, len(rows)))
    left_out = len(rows) - len(shown)
    if left_out:
        parts.append(
            f"**{left_out} of {len(rows)} changed resources are not listed** to stay within "
            f"GitHub's {COMMENT_LIMIT:,}-character comment limit. The full preview is in {link}."
        )
    elif run_url:
        parts.append(f"<sub>Full log: {link}.</sub>")
    return "\n\n".join(parts) + "\n"


def validate_run_url(url: str) -> str:
    """The run link goes into Markdown: an http(s) URL without characters that would end it."""
    if not re.fullmatch(r"https?://[^\s<>()\[\]`\"'|]{1,1000}", url):
        raise UsageProblem(
            f"--run-url {url[:100]!r} is not a link to a workflow run: expected an http(s) URL "
            "without spaces, quotes, brackets or pipes"
        )
    return url


def _head(
    change_set: ChangeSet,
    rows: list[Change],
    run_url: str | None,
    notes: Sequence[str],
    hazards: Sequence[Hazard],
) -> Iterator[str]:
    stack = check_stack_name(change_set.stack)
    if run_url is not None:
        validate_run_url(run_url)
    yield marker(stack, change_set.offline)
    title = "Offline plan" if change_set.offline else "Pulumi preview"
    version = code(change_set.version, 60) if change_set.version else "not stamped"
    yield f"### {title} for stack <code>{escape(stack, 200)}</code> · version {version}"
    if change_set.offline:
        yield (
            "> [!NOTE]\n> Offline: computed with Pulumi's mock engine from the program alone, "
            "without cloud credentials or state. It shows what the program declares; values "
            "only the cloud knows are unknown, and drift is not seen."
        )
    yield from notes
    yield _counts(change_set, rows)
    outputs = [c for c in change_set.changes if c.type == STACK_TYPE and c.changed]
    if outputs:
        names = [key for change in outputs for key in change.changed]
        listed = ", ".join(code(name, 60) for name in names[:OUTPUTS_SHOWN])
        more = f" and {len(names) - OUTPUTS_SHOWN} more" if len(names) > OUTPUTS_SHOWN else ""
        yield f"**Stack outputs that change:** {listed}{more}"
    release = release_line(change_set)
    if release:
        yield release
    yield from _hazard_callouts(hazards)
    for risk in Risk:
        risky = [
            (change, found)
            for change in rows
            if (found := classify(change)) is not None and found.risk is risk
        ]
        if risky:
            yield _callout(risk, risky)
    if not rows and not outputs:
        yield "**No changes.** Nothing in this stack is created, updated, replaced or deleted."


def release_line(change_set: ChangeSet) -> str | None:
    """How the change reaches the tasks, when it starts a release: the service's strategy and
    the rollout's length at its settings (infra/rollout.py), with the load balancer's timing
    when the change set carries the target group's inputs."""
    service = next(
        (
            c
            for c in change_set.changes
            if c.type == types.SERVICE
            and c.operation in (Operation.CREATE, Operation.UPDATE, Operation.REPLACE)
        ),
        None,
    )
    if service is None:
        return None
    rollout = from_service_inputs(service.properties)
    groups = [c for c in change_set.changes if c.type == types.TARGET_GROUP and c.properties]
    timing = timing_from_target_group(groups[0].properties) if groups else None
    if timing is None and rollout.strategy == ROLLING:
        length = "a few minutes (tasks start and pass their health checks)"
    else:
        length = duration(rollout.seconds(timing))
        if timing is None:
            length += " plus the tasks' start"
    # Our own words and whole numbers only: nothing to escape.
    return f"**Release:** {rollout.describe()} · {length}"


def _counts(change_set: ChangeSet, rows: list[Change]) -> str:
    tally = dict.fromkeys(_ROW_ORDER, 0)
    for change in rows:
        tally[change.operation] += 1
    unchanged = sum(
        1
        for change in change_set.changes
        if change.operation is Operation.SAME and change.type != STACK_TYPE
    )
    parts = [
        f"**{tally[Operation.CREATE]}** to create",
        f"**{tally[Operation.UPDATE]}** to update",
        f"**{tally[Operation.REPLACE]}** to replace",
        f"**{tally[Operation.DELETE]}** to delete",
    ]
    if tally[Operation.IMPORT]:
        parts.append(f"**{tally[Operation.IMPORT]}** to import")
    parts.append(f"{unchanged} unchanged")
    return "Resources: " + " · ".join(parts)


def _callout(risk: Risk, risky: list[tuple[Change, Classification]]) -> str:
    many = len(risky) != 1
    noun = "resources" if many else "resource"
    if risk is Risk.DATA:
        lead = (
            f"{len(risky)} stateful {noun} will be replaced or deleted: "
            f"{'their' if many else 'its'} data is lost unless backed up."
        )
    else:
        lead = (
            f"{len(risky)} traffic-carrying {noun} will be replaced or deleted: "
            "expect failed requests or changed endpoints."
        )
    lines = [f"> [!{risk.value}]", f"> **{lead}**"]
    used = 0
    for listed, (change, found) in enumerate(risky):
        line = (
            f"> - **{change.operation.value}** {code(change.name)} "
            f"({escape(found.label)}, {code(change.type)})"
        )
        used += size(line)
        if listed >= CALLOUTS_PER_RISK or used > CALLOUT_BUDGET:
            lines.append(f"> - …and {len(risky) - listed} more: see the table and the full log.")
            break
        lines.append(line)
    return "\n".join(lines)


def _hazard_callouts(hazards: Sequence[Hazard]) -> Iterator[str]:
    """Refused changes first (the command exits 1 on them), then those to review."""
    refused = [hazard for hazard in hazards if hazard.refused]
    review = [hazard for hazard in hazards if not hazard.refused]
    if refused:
        many = len(refused) != 1
        lead = (
            f"Refused: {len(refused)} {'changes' if many else 'change'} would lose data or "
            "traffic on the deployed stack (the plan diff fails until "
            f"{'they are' if many else 'it is'} taken out)."
        )
        yield _hazard_lines("CAUTION", lead, refused)
    if review:
        yield _hazard_lines("WARNING", "Review before deploying:", review)


def _hazard_lines(alert: str, lead: str, hazards: Sequence[Hazard]) -> str:
    lines = [f"> [!{alert}]", f"> **{lead}**"]
    used = 0
    for listed, hazard in enumerate(hazards):
        line = f"> - {code(hazard.name)} ({code(hazard.type)}): {escape(hazard.what, HAZARD_CHARS)}"
        used += size(line)
        if used > HAZARD_BUDGET:
            lines.append(f"> - …and {len(hazards) - listed} more: see the --json output.")
            break
        lines.append(line)
    return "\n".join(lines)


def _rows(changes: list[Change]) -> Iterator[str]:
    """Table rows, built lazily: only the rows that fit are ever formatted."""
    for change in changes:
        yield (
            f"| {_LABEL[change.operation]} | {code(change.type)} | {code(change.name)} "
            f"| {_changed_cell(change)} |"
        )


def _changed_cell(change: Change) -> str:
    if not change.changed:
        return "—"
    cells = [_changed_key(key, change.properties) for key in change.changed[:KEYS_PER_ROW]]
    more = len(change.changed) - KEYS_PER_ROW
    if more > 0:
        cells.append(f"+{more} more")
    return ", ".join(cells)


def _changed_key(key: str, properties: Mapping[str, Any]) -> str:
    """A changed property, with its new value when that is a short scalar (never a secret)."""
    shown = code(key, 60)
    if key not in properties or looks_secret(key):
        return shown
    value = mask(properties[key])  # again: a change set built elsewhere may not be masked
    if isinstance(value, dict | list):
        return shown
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > VALUE_CHARS:
        return shown
    return f"{shown}&#8201;→&#8201;{code(text, VALUE_CHARS)}"


def _table(shown: list[str], total: int) -> str:
    summary = f"{total} changed resources" if total != 1 else "1 changed resource"
    if len(shown) < total:
        summary += f" ({len(shown)} listed)"
    return "\n".join(
        [
            "<details>",
            f"<summary>{summary}</summary>",
            "",
            "| Operation | Type | Name | Changed properties |",
            "| --- | --- | --- | --- |",
            *shown,
            "",
            "</details>",
        ]
    )
