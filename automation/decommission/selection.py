"""Which EC2 instances a run may touch: exactly the selection, nothing else.

Selectors come from the flags when any is given (`--tag`, `--instance-id`), else from the stack
config (`legacyTags`, `legacyInstanceIds`). The selection is the instances matching all the tags,
plus the instances named by id. Tag values are exact: EC2 filters treat `*` and `?` as wildcards,
so they are refused, and every instance the API returns is checked against the tags again before
it is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automation.decommission.aws import chunks
from automation.decommission.progress import KEEP_TAG, Progress
from automation.errors import UsageProblem
from automation.release.stack_config import StackConfig

INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
FILTER_VALUES_PER_CALL = 200  # the EC2 limit on the values of one filter


@dataclass(frozen=True, slots=True)
class Selectors:
    tags: tuple[tuple[str, str], ...] = ()
    instance_ids: tuple[str, ...] = ()
    source: str = "flags"
    """Where they came from: `flags`, or the stack settings file (`Pulumi.dev.yaml`)."""

    @property
    def empty(self) -> bool:
        return not self.tags and not self.instance_ids

    def describe(self) -> str:
        parts = []
        if self.tags:
            parts.append("tags " + ", ".join(f"{k}={v}" for k, v in self.tags))
        if self.instance_ids:
            parts.append("instance ids " + ", ".join(self.instance_ids))
        return (" or ".join(parts) or "nothing") + f" (from {self.source})"

    def to_json(self) -> dict[str, Any]:
        return {
            "tags": [f"{k}={v}" for k, v in self.tags],
            "instance_ids": list(self.instance_ids),
            "source": self.source,
        }


def parse_tag(text: str, where: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise UsageProblem(
            f"{where}: {text!r} is not KEY=VALUE (both non-empty), e.g. app=alunos-api"
        )
    if any(char in key + value for char in "*?"):
        raise UsageProblem(
            f"{where}: {text!r} contains a wildcard (* or ?); tags select exact values only"
        )
    return key, value


def check_instance_id(text: str, where: str) -> str:
    if not INSTANCE_ID.match(text):
        raise UsageProblem(
            f"{where}: {text!r} is not an instance id (i- followed by 8 or 17 hex digits)"
        )
    return text


def selectors_from(config: StackConfig, tags: Sequence[str], ids: Sequence[str]) -> Selectors:
    """Flags replace the stack config's selectors entirely, so what runs is what was typed."""
    if tags or ids:
        return Selectors(
            tuple(parse_tag(tag, "--tag") for tag in tags),
            tuple(dict.fromkeys(check_instance_id(i, "--instance-id") for i in ids)),
            "flags",
        )
    where = f"Pulumi.{config.stack}.yaml"
    return Selectors(
        tuple(parse_tag(tag, f"{where} legacyTags") for tag in config.get("legacyTags") or []),
        tuple(
            dict.fromkeys(
                check_instance_id(i, f"{where} legacyInstanceIds")
                for i in config.get("legacyInstanceIds") or []
            )
        ),
        where,
    )


@dataclass(frozen=True, slots=True)
class Instance:
    """What a run needs to know about one selected instance, read once at the start."""

    instance_id: str
    state: str
    tags: Mapping[str, str]
    vpc_id: str | None = None
    private_ips: frozenset[str] = frozenset()
    launch_time: datetime | None = None
    root_device_type: str = "ebs"
    selected_by: tuple[str, ...] = ()
    public_names: Mapping[str, str] = field(default_factory=dict)
    """Its public IPv4 addresses and their public DNS names, each mapped to its address: what a
    DNS record may name it by."""

    @property
    def name(self) -> str:
        return self.tags.get("Name", "")

    @property
    def keep(self) -> bool:
        return KEEP_TAG in self.tags

    @property
    def progress(self) -> Progress:
        return Progress.from_tags(self.tags)

    @classmethod
    def from_api(cls, described: Mapping[str, Any], selected_by: tuple[str, ...]) -> Instance:
        ips = {described.get("PrivateIpAddress")}
        public = [(described.get("PublicIpAddress"), described.get("PublicDnsName"))]
        for interface in described.get("NetworkInterfaces") or []:
            for address in interface.get("PrivateIpAddresses") or []:
                ips.add(address.get("PrivateIpAddress"))
                association = address.get("Association") or {}
                public.append((association.get("PublicIp"), association.get("PublicDnsName")))
        names = {
            str(name).lower().rstrip("."): str(ip)
            for ip, dns in public
            if ip
            for name in (ip, dns)
            if name
        }
        return cls(
            instance_id=described["InstanceId"],
            state=described.get("State", {}).get("Name", "unknown"),
            tags={t["Key"]: t.get("Value", "") for t in described.get("Tags") or []},
            vpc_id=described.get("VpcId"),
            private_ips=frozenset(ip for ip in ips if ip),
            launch_time=described.get("LaunchTime"),
            root_device_type=described.get("RootDeviceType", "ebs"),
            selected_by=selected_by,
            public_names=names,
        )


@dataclass(frozen=True, slots=True)
class Selection:
    instances: tuple[Instance, ...]
    missing_ids: tuple[str, ...] = field(default=())
    """Ids asked for that the region does not know (gone for over an hour, or a wrong id)."""


def select(ec2: Any, selectors: Selectors) -> Selection:
    """The selected instances, in every state (terminated ones are reported, not acted on)."""
    found: dict[str, Any] = {}
    by: dict[str, list[str]] = {}
    if selectors.tags:
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in selectors.tags]
        for described in _describe(ec2, filters):
            if _has_tags(described, selectors.tags):  # defence in depth: exact values only
                found[described["InstanceId"]] = described
                by.setdefault(described["InstanceId"], []).append("tags")
    for chunk in chunks(selectors.instance_ids, FILTER_VALUES_PER_CALL):
        for described in _describe(ec2, [{"Name": "instance-id", "Values": list(chunk)}]):
            if described["InstanceId"] in selectors.instance_ids:
                found[described["InstanceId"]] = described
                by.setdefault(described["InstanceId"], []).append("id")
    instances = tuple(Instance.from_api(found[i], tuple(by[i])) for i in sorted(found, key=str))
    missing = tuple(i for i in selectors.instance_ids if i not in found)
    return Selection(instances, missing)


def _describe(ec2: Any, filters: list[dict[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            yield from reservation.get("Instances", [])


def _has_tags(described: Mapping[str, Any], wanted: Iterable[tuple[str, str]]) -> bool:
    tags = {t["Key"]: t.get("Value") for t in described.get("Tags") or []}
    return all(tags.get(key) == value for key, value in wanted)
