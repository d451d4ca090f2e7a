"""The API's name in Route 53 as the cutover sees it, and the change batches that move it.

The name (`alunos.example.com`) starts as one plain record that points at the EC2 deployment: A
with the instances' addresses, an alias A to a legacy load balancer, or a CNAME. The first move
turns it into a weighted pair in ONE change batch: Route 53 applies a batch atomically, and a
plain record cannot share its name and type with weighted ones, so the old record is deleted
and the pair created in the same request and the name never stops answering.
- `legacy`: the old record, with its type and values;
- `fargate`: the new service's load balancer: an alias A, or a CNAME to the load balancer's DNS
  name when the old record is a CNAME (a CNAME cannot share its name with any other type).

Route 53 applies a DELETE only when it matches the current record exactly, and a batch all or
nothing. Every batch the cutover sends deletes its state record (below) exactly as the run last
saw it, read at its start and from then on as the run itself wrote it, and creates the next one.
So once another cutover run (every one rewrites the state) has changed the name, this run's
next batch, a revert or the record that a bake passed included, fails whole instead of undoing
their change. The weighted records are rewritten with UPSERT inside that guarded batch: a hand
edit of the weights alone is not caught by Route 53 (the run's looks during a wait or a bake
see it; `moved`).

The command's own memory (since when the weights hold, whether they baked, when the TTL was
lowered) is a TXT record `_cutover.<name>` changed in the same batches as the weights, so the
two cannot disagree; `State` reads and writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from automation.errors import UsageProblem

LEGACY = "legacy"
FARGATE = "fargate"
OURS = frozenset({LEGACY, FARGATE})
STATE_LABEL = "_cutover"
# Route 53's TTL for alias records to a load balancer; the non-alias records of a weighted group
# that holds such an alias should use the same, or the weights do not mean what they say.
MOVING_TTL = 60
# Routing policies other than weighted: a name carrying one of these is managed by something else.
OTHER_ROUTING = ("Region", "Failover", "GeoLocation", "GeoProximityLocation", "MultiValueAnswer")
SERVING_TYPES = ("A", "AAAA", "CNAME")


def fqdn(name: str) -> str:
    """Route 53's spelling of a name: lower case, one trailing dot."""
    return name.strip().lower().rstrip(".") + "."


def state_name(name: str) -> str:
    return f"{STATE_LABEL}.{fqdn(name)}"


def _host(dns_name: str) -> str:
    """A load balancer's DNS name as Route 53 may store it (`dualstack.` prefix, trailing dot)."""
    host = dns_name.strip().lower().rstrip(".")
    return host.removeprefix("dualstack.")


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record set, kept exactly as Route 53 returned it (a DELETE must repeat it)."""

    raw: Mapping[str, Any]

    @property
    def type(self) -> str:
        return str(self.raw["Type"])

    @property
    def set_identifier(self) -> str | None:
        value = self.raw.get("SetIdentifier")
        return None if value is None else str(value)

    @property
    def weight(self) -> int | None:
        value = self.raw.get("Weight")
        return None if value is None else int(value)

    @property
    def ttl(self) -> int | None:
        value = self.raw.get("TTL")
        return None if value is None else int(value)

    @property
    def alias_dns_name(self) -> str | None:
        alias = self.raw.get("AliasTarget")
        return None if alias is None else str(alias["DNSName"])

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(str(item["Value"]) for item in self.raw.get("ResourceRecords", ()))

    @property
    def target(self) -> str:
        """What the record answers: the alias target or its values."""
        return _host(self.alias_dns_name) if self.alias_dns_name else ", ".join(self.values)

    def points_at(self, dns_name: str) -> bool:
        """Whether the record answers with this load balancer (alias or CNAME)."""
        if self.alias_dns_name is not None:
            return _host(self.alias_dns_name) == _host(dns_name)
        return self.type == "CNAME" and [_host(v) for v in self.values] == [_host(dns_name)]

    def describe(self) -> str:
        kind = f"alias {self.type}" if self.alias_dns_name else self.type
        ttl = "" if self.ttl is None else f" (TTL {self.ttl} s)"
        routing = f" [{self.set_identifier}, weight {self.weight}]" if self.set_identifier else ""
        return f"{kind} {self.target}{ttl}{routing}"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "set_identifier": self.set_identifier,
            "weight": self.weight,
            "ttl": self.ttl,
            "alias": self.alias_dns_name is not None,
            "target": self.target,
        }


def _format_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime | None:
    if text in ("", "-"):
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True, slots=True)
class State:
    """What the records cannot say: since when their weights hold, whether they baked, when
    the TTL was lowered and from what. Kept in the TXT record `_cutover.<name>`."""

    legacy: int = 100
    fargate: int = 0
    since: datetime | None = None
    baked: datetime | None = None
    ttl_lowered: datetime | None = None
    old_ttl: int | None = None
    finished: datetime | None = None

    def encode(self) -> str:
        """One TXT string (Route 53 allows 255 characters per string; this stays well within)."""
        parts = {
            "v": "1",
            "legacy": str(self.legacy),
            "fargate": str(self.fargate),
            "since": _format_time(self.since),
            "baked": _format_time(self.baked),
            "ttl-lowered": _format_time(self.ttl_lowered),
            "old-ttl": "-" if self.old_ttl is None else str(self.old_ttl),
            "finished": _format_time(self.finished),
        }
        return '"' + " ".join(f"{key}={value}" for key, value in parts.items()) + '"'

    @classmethod
    def decode(cls, text: str) -> State | None:
        """The state in a TXT value, or None when it is not ours (then it is not trusted)."""
        fields = dict(item.split("=", 1) for item in text.strip().strip('"').split() if "=" in item)
        if fields.get("v") != "1":
            return None
        try:
            old_ttl = fields.get("old-ttl", "-")
            return cls(
                legacy=int(fields["legacy"]),
                fargate=int(fields["fargate"]),
                since=_parse_time(fields.get("since", "-")),
                baked=_parse_time(fields.get("baked", "-")),
                ttl_lowered=_parse_time(fields.get("ttl-lowered", "-")),
                old_ttl=None if old_ttl == "-" else int(old_ttl),
                finished=_parse_time(fields.get("finished", "-")),
            )
        except (KeyError, ValueError):
            return None

    def to_json(self) -> dict[str, Any]:
        return {
            "legacy": self.legacy,
            "fargate": self.fargate,
            "since": _format_time(self.since) if self.since else None,
            "baked": _format_time(self.baked) if self.baked else None,
            "ttl_lowered": _format_time(self.ttl_lowered) if self.ttl_lowered else None,
            "old_ttl": self.old_ttl,
            "finished": _format_time(self.finished) if self.finished else None,
        }


@dataclass(frozen=True, slots=True, order=True)
class Weights:
    legacy: int
    fargate: int

    @classmethod
    def at(cls, percent: int) -> Weights:
        """Weights that send `percent` % of DNS answers to the new service (Route 53 weighs
        0..255; 100 - P and P stay within and read as percentages)."""
        if not 0 <= percent <= 100:
            raise UsageProblem(f"the share of traffic must be 0..100 %, got {percent}")
        return cls(legacy=100 - percent, fargate=percent)

    @property
    def percent(self) -> int:
        total = self.legacy + self.fargate
        # All weights 0 makes Route 53 answer with every record equally (see Weights.at).
        return 50 if total == 0 else round(100 * self.fargate / total)

    def __str__(self) -> str:
        return f"legacy {self.legacy} / fargate {self.fargate}"


class Phase(StrEnum):
    PLAIN = "plain"
    """One plain record: every answer is the EC2 deployment; nothing moved yet."""
    SPLIT = "split"
    """The weighted pair `legacy` + `fargate`."""
    FINISHED = "finished"
    """Only `fargate` is left: the legacy record was removed."""


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """Where `fargate` points: the new service's ALB (its DNS name and canonical zone id)."""

    dns_name: str
    zone_id: str


@dataclass(frozen=True, slots=True)
class Layout:
    """The name's serving records and the cutover's state, as read in one pass."""

    name: str
    phase: Phase
    legacy: Record | None
    fargate: Record | None
    state: State | None
    state_record: Record | None
    record_sets: tuple[Mapping[str, Any], ...] = ()
    """Everything read at the name and its state name, for `after` to simulate a batch on."""

    @property
    def plain(self) -> Record:
        assert self.legacy is not None
        return self.legacy

    @property
    def weights(self) -> Weights:
        if self.phase is Phase.PLAIN:
            return Weights(legacy=100, fargate=0)
        legacy = self.legacy.weight if self.legacy else 0
        fargate = self.fargate.weight if self.fargate else 0
        return Weights(legacy=legacy or 0, fargate=fargate or 0)

    @property
    def trusted_state(self) -> State | None:
        """The state, when it agrees with the records' weights (else it says nothing)."""
        state = self.state
        if state is None or (state.legacy, state.fargate) != (
            self.weights.legacy,
            self.weights.fargate,
        ):
            return None
        if self.phase is Phase.FINISHED and state.finished is None:
            return None
        return state

    def to_json(self) -> dict[str, Any]:
        state = self.trusted_state
        return {
            "name": self.name,
            "phase": self.phase.value,
            "weights": {"legacy": self.weights.legacy, "fargate": self.weights.fargate},
            "fargate_percent": self.weights.percent,
            "records": [r.to_json() for r in (self.legacy, self.fargate) if r is not None],
            "state": None if state is None else state.to_json(),
        }


def layout(name: str, record_sets: Iterable[Mapping[str, Any]]) -> Layout:
    """Classify what Route 53 holds at `name` (and at its `_cutover` TXT), or say why the cutover
    cannot carry it (exit 2)."""
    wanted = fqdn(name)
    everything = tuple(record_sets)
    records = [Record(raw) for raw in everything]
    serving = [r for r in records if fqdn(str(r.raw["Name"])) == wanted and r.type in SERVING_TYPES]
    state_records = [
        r for r in records if fqdn(str(r.raw["Name"])) == state_name(name) and r.type == "TXT"
    ]
    state_record = state_records[0] if state_records else None
    state = State.decode(state_record.values[0]) if state_record and state_record.values else None
    if not serving:
        raise UsageProblem(
            f"no A, alias A or CNAME record named {wanted} in the zone: the cutover starts from "
            "the record that serves the API today (check --record and --zone-id)"
        )
    if any(r.type == "AAAA" for r in serving):
        raise UsageProblem(
            f"{wanted} also has an AAAA (IPv6) record: IPv6 clients would keep reaching the legacy "
            "deployment whatever the weights; remove it (or move it yourself) before the cutover"
        )
    foreign = [
        r
        for r in serving
        if any(key in r.raw for key in OTHER_ROUTING)
        or (r.set_identifier is not None and r.set_identifier not in OURS)
    ]
    if foreign:
        ids = ", ".join(sorted({r.set_identifier or r.type for r in foreign}))
        raise UsageProblem(
            f"{wanted} is already routed by something else ({ids}): the cutover only manages a "
            f"plain record or its own weighted pair `{LEGACY}`/`{FARGATE}`"
        )
    plain = [r for r in serving if r.set_identifier is None]
    by_id = {r.set_identifier: r for r in serving if r.set_identifier is not None}
    if plain:
        if len(plain) > 1 or by_id:  # Route 53 forbids both; a second type means A + CNAME
            raise UsageProblem(f"{wanted} has records of several types: {_types(serving)}")
        return Layout(wanted, Phase.PLAIN, plain[0], None, state, state_record, everything)
    legacy, fargate = by_id.get(LEGACY), by_id.get(FARGATE)
    if fargate is None:
        raise UsageProblem(
            f"{wanted} has a weighted `{LEGACY}` record but no `{FARGATE}` one: restore it "
            "(or make the legacy record plain again) before running the cutover"
        )
    phase = Phase.SPLIT if legacy is not None else Phase.FINISHED
    return Layout(wanted, phase, legacy, fargate, state, state_record, everything)


def _types(records: Sequence[Record]) -> str:
    return ", ".join(sorted({r.type for r in records}))


# --- Change batches -----------------------------------------------------------------------------

Change = dict[str, Any]


def _delete(record: Record) -> Change:
    return {"Action": "DELETE", "ResourceRecordSet": dict(record.raw)}


def _create(record_set: Mapping[str, Any]) -> Change:
    return {"Action": "CREATE", "ResourceRecordSet": dict(record_set)}


def _upsert(record_set: Mapping[str, Any]) -> Change:
    return {"Action": "UPSERT", "ResourceRecordSet": dict(record_set)}


def _state_changes(current: Layout, state: State) -> list[Change]:
    record = {
        "Name": state_name(current.name),
        "Type": "TXT",
        "TTL": MOVING_TTL,
        "ResourceRecords": [{"Value": state.encode()}],
    }
    deleted = [_delete(current.state_record)] if current.state_record else []
    return [*deleted, _create(record)]


def lower_ttl(current: Layout, state: State) -> list[Change]:
    """The plain record again with a 60 s TTL, so the weights apply within a minute later."""
    lowered = {**current.plain.raw, "TTL": MOVING_TTL}
    return [_delete(current.plain), _create(lowered), *_state_changes(current, state)]


def fargate_record(current: Layout, target: LoadBalancer, weight: int) -> dict[str, Any]:
    base = {"Name": current.name, "SetIdentifier": FARGATE, "Weight": weight}
    existing = current.legacy or current.fargate
    assert existing is not None
    if existing.type == "CNAME":
        ttl = min(MOVING_TTL, existing.ttl or MOVING_TTL)
        return {
            **base,
            "Type": "CNAME",
            "TTL": ttl,
            "ResourceRecords": [{"Value": target.dns_name}],
        }
    return {
        **base,
        "Type": "A",
        # Not evaluated, so the weights mean what they say. Route 53 API reference, AliasTarget:
        # "A target group that has no registered targets is considered unhealthy", and an
        # unhealthy ALB alias gets no answers. A canary/linear/blue-green service keeps its
        # alternate target group empty between releases: with evaluation, Route 53 could send
        # every answer to `legacy` whatever the weights. The bake's alarms judge the service.
        "AliasTarget": {
            "HostedZoneId": target.zone_id,
            "DNSName": target.dns_name,
            "EvaluateTargetHealth": False,
        },
    }


def split(current: Layout, target: LoadBalancer, weights: Weights, state: State) -> list[Change]:
    """The first move: the plain record becomes `legacy` and `fargate` joins it, in one batch."""
    legacy = {**current.plain.raw, "SetIdentifier": LEGACY, "Weight": weights.legacy}
    return [
        _delete(current.plain),
        _create(legacy),
        _create(fargate_record(current, target, weights.fargate)),
        *_state_changes(current, state),
    ]


def reweigh(current: Layout, target: LoadBalancer, weights: Weights, state: State) -> list[Change]:
    """New weights for the records (and `fargate` pointed at the stack's ALB), in one batch."""
    assert current.fargate is not None
    changes: list[Change] = []
    if current.legacy is not None and current.legacy.weight != weights.legacy:
        changes.append(_upsert({**current.legacy.raw, "Weight": weights.legacy}))
    fargate = fargate_record(current, target, weights.fargate)
    if dict(current.fargate.raw) != fargate:
        changes.append(_upsert(fargate))
    return [*changes, *_state_changes(current, state)]


def remember(current: Layout, state: State) -> list[Change]:
    """Only the state changes (a bake completed)."""
    return _state_changes(current, state)


def remove_legacy(current: Layout, state: State) -> list[Change]:
    """The end: `legacy` (weight 0 by then) deleted; `fargate` stays as the name's only record."""
    assert current.legacy is not None
    return [_delete(current.legacy), *_state_changes(current, state)]


def moved(seen: Layout, now: Layout) -> bool:
    """Whether the name changed since `seen`: another split of the answers, or another state
    (every cutover batch rewrites it, so this catches another run even at the same weights)."""

    def held(layout: Layout) -> tuple[Phase, Weights, tuple[str, ...]]:
        state = layout.state_record.values if layout.state_record else ()
        return layout.phase, layout.weights, state

    return held(seen) != held(now)


def describe_change(change: Change) -> str:
    record = Record(change["ResourceRecordSet"])
    return f"{change['Action']:<6} {record.raw['Name']} {record.describe()}"


def _key(record_set: Mapping[str, Any]) -> tuple[str, str, str | None]:
    return (fqdn(str(record_set["Name"])), str(record_set["Type"]), record_set.get("SetIdentifier"))


def after(current: Layout, changes: Sequence[Change]) -> Layout:
    """The layout once `changes` are applied: what a dry run shows the next step starting from."""
    kept = {_key(raw): raw for raw in current.record_sets}
    for change in changes:
        record_set = change["ResourceRecordSet"]
        if change["Action"] == "DELETE":
            kept.pop(_key(record_set), None)
        else:
            kept[_key(record_set)] = record_set
    return layout(current.name, kept.values())
