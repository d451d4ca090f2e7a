"""What a change to a deployed stack would cost beyond its operation, found by the offline plan
diff: data lost with a replaced database, minutes of 503s behind a replaced target group,
subnets that cannot move, an irreversible database upgrade, changes that wait for a maintenance
window. The plan diff compares the program at the base ref (taken as what is deployed) with the
working tree, so it knows old and new values, which a real preview's events do not carry.

A refused hazard makes `automation plan --diff-against` exit 1 after it has printed (or posted)
the comment: the pull request cannot go green with it. Each message says what would happen,
why (the provider or AWS rule behind it) and what to do instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from automation.changes import Change, ChangeSet, Operation
from infra import resource_types as types

if TYPE_CHECKING:  # the renderer imports Hazard, and needs nothing of the engine
    from automation.offline.planned import Plan, PlannedResource

# RDS instance inputs a ModifyDBInstance applies now or at the next maintenance window
# (ApplyImmediately): https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html
DEFERRABLE_DATABASE_CHANGES = ("instanceClass", "allocatedStorage", "storageType", "multiAz")


@dataclass(frozen=True, slots=True)
class Hazard:
    """One risky change: the resource, what would happen (plain text), and whether the plan diff
    refuses it."""

    name: str
    type: str
    what: str
    refused: bool = False


Rule: TypeAlias = "Callable[[Changed], Iterator[Hazard]]"


def find(
    base: Plan, head: Plan, change_set: ChangeSet, replace_on: Mapping[str, frozenset[str]]
) -> list[Hazard]:
    """Every hazard of going from `base` (deployed) to `head`, refused ones first; `replace_on`
    is the plan diff's table of the inputs that force a replacement, by type."""
    old = {resource.urn: resource for resource in base.resources}
    new = {resource.urn: resource for resource in head.resources}
    found: list[Hazard] = []
    for change in change_set.changes:
        before, after = old.get(change.urn), new.get(change.urn)
        if before is None or after is None:
            continue
        forcing = replace_on.get(change.type, frozenset()) | set(after.replace_on_changes)
        forced = [key for key in change.changed if key in forcing]
        for rule in _RULES.get(change.type, ()):
            found += rule(Changed(change, before, after, forced))
    return sorted(found, key=lambda hazard: not hazard.refused)


@dataclass(frozen=True, slots=True)
class Changed:
    """One resource in both plans, and which of its changed inputs force a replacement."""

    change: Change
    before: PlannedResource
    after: PlannedResource
    forced: list[str]

    def hazard(self, what: str, refused: bool = False) -> Hazard:
        return Hazard(self.change.name, self.change.type, what, refused)


def renumbered_subnets(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str] | None:
    """The subnets of awsx's VPC whose CIDR block changes or which disappear, as "tier AZn"
    descriptions (a subnet's cidr_block is ForceNew); None when the old inputs did not pin the
    blocks, so the old layout was awsx's own and cannot be known offline."""
    before, after = _subnet_blocks(old), _subnet_blocks(new)
    if before is None:
        return None
    moved = []
    for tier, blocks in before.items():
        now = (after or {}).get(tier, [])
        for index, block in enumerate(blocks):
            there = now[index] if index < len(now) else "removed"
            if there != block:
                moved.append(f"{tier} AZ {index + 1}: {block} -> {there}")
    return moved


def _subnet_blocks(inputs: Mapping[str, Any]) -> dict[str, list[str]] | None:
    blocks: dict[str, list[str]] = {}
    for spec in inputs.get("subnetSpecs") or []:
        cidrs = spec.get("cidrBlocks") if isinstance(spec, Mapping) else None
        if not cidrs:
            return None
        blocks[str(spec.get("name") or spec.get("type"))] = [str(cidr) for cidr in cidrs]
    return blocks


def _database(found: Changed) -> Iterator[Hazard]:
    change, after = found.change, found.after
    if change.operation is Operation.REPLACE:
        yield found.hazard(
            f"{', '.join(found.forced)} can only be set when RDS creates the instance (ForceNew "
            "in the provider), so this replaces the database: the service would move to a new, "
            "empty one and the old one would be deleted, leaving only its final snapshot. Keep "
            "the old value; a new database is a deliberate, manual step (snapshot, restore, "
            "switch).",
            refused=True,
        )
        return
    immediately = bool(after.inputs.get("applyImmediately"))
    when = "as soon as `pulumi up` runs" if immediately else "at the next maintenance window"
    old_major = _major(found.before.inputs.get("engineVersion"))
    new_major = _major(after.inputs.get("engineVersion"))
    if "engineVersion" in change.changed and old_major != new_major:
        yield found.hazard(
            f"PostgreSQL {old_major} -> {new_major} is a major upgrade, applied {when}: the "
            "database is down while it runs and it cannot be undone (RDS snapshots it before "
            "and after). Test the app against the new version first."
        )
    deferred = [key for key in DEFERRABLE_DATABASE_CHANGES if key in change.changed]
    if deferred:
        effect = (
            "a new instanceClass restarts the database (a failover with Multi-AZ)"
            if immediately
            else "until then AWS keeps the old values and the next `pulumi up` shows them again"
        )
        yield found.hazard(f"changing {', '.join(deferred)} takes effect {when}: {effect}.")


def _target_group(found: Changed) -> Iterator[Hazard]:
    if found.change.operation is Operation.REPLACE:
        yield found.hazard(
            f"replaced ({', '.join(found.forced)} cannot change in place): the listeners would "
            "forward to the new, empty target group at once, and answer 503 until ECS has "
            "started tasks in it and they pass their health checks. Do it in two steps instead: "
            "deploy the new settings as a new stack beside this one and move the service's DNS "
            "name to it once it serves, then destroy this one.",
            refused=True,
        )


def _vpc(found: Changed) -> Iterator[Hazard]:
    if "subnetSpecs" not in found.change.changed:
        return
    moved = renumbered_subnets(found.before.inputs, found.after.inputs)
    if moved is None:
        yield found.hazard(
            "the deployed subnets were laid out by awsx itself (no pinned CIDR blocks), so "
            "whether they move cannot be told offline: check the real preview for subnet "
            "replacements before deploying."
        )
    elif moved:
        yield found.hazard(
            f"existing subnets would move ({'; '.join(moved)}): awsx replaces a subnet whose "
            "CIDR changes, and one holding the load balancer's, the tasks' or the database's "
            "network interfaces cannot be deleted, so the update would fail half-way. Keep "
            "vpcCidr and do not remove AZs (adding NAT or AZs is safe); for another range, "
            "build a new stack beside this one.",
            refused=True,
        )


def _major(version: Any) -> str:
    return str(version or "").split(".", 1)[0]


_RULES: Mapping[str, Sequence[Rule]] = {
    types.RDS_INSTANCE: (_database,),
    types.TARGET_GROUP: (_target_group,),
    types.VPC: (_vpc,),
}
