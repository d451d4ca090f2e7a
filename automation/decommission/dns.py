"""Whether the API's name still answers with an instance's own addresses.

The traffic gates pass at legacy weight 0, before `cutover --finish` removes the `legacy` record,
and that record still holds the instances' public addresses. Route 53 still answers with a
weight-0 record when every record with a weight above 0 is unhealthy (the `fargate` alias
evaluates the ALB's health). An address given back to AWS may be allocated to another account,
so until no record of the name names an instance:
- its Elastic IPs are not released and it is not terminated (the addresses it would give back);
- it is not stopped either when the name holds its public IP from Amazon's pool (or that
  address's DNS name): a stop gives that address back.
Sources: https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-weighted.html
(health checks and weight 0), https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
elastic-ip-addresses-eip.html (a released address allocated to another account cannot be
recovered), .../UserGuide/Stop_Start.html (a stop loses the public IPv4 address, keeps Elastic IPs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automation.cutover.records import Record, fqdn
from automation.cutover.zone import Zone
from automation.decommission.selection import Instance
from automation.decommission.survey import Survey, SurveyFailure
from automation.deploy.aws_errors import aws_call
from automation.errors import AutomationError

FINISH_FIRST = "run `automation cutover --finish` first"


@dataclass(frozen=True, slots=True)
class Naming:
    """A record of the name that still names one of an instance's addresses."""

    why: str
    """`<record as people read it> names it`, or `<name> may name it (why it could not be read)`."""
    lost_on_stop: tuple[str, ...] = ()
    """The named addresses a stop gives back: public IPs that are not Elastic IPs."""


def _records_at(zone: Zone, name: str) -> list[dict[str, Any]]:
    wanted = zone.check_name(name)
    found: list[dict[str, Any]] = []
    pages = zone.client.get_paginator("list_resource_record_sets").paginate(
        HostedZoneId=zone.zone_id, StartRecordName=wanted
    )
    for page in pages:
        for record in page["ResourceRecordSets"]:
            if fqdn(str(record["Name"])) != wanted:
                return found
            found.append(record)
    return found


def namings(
    zone: Zone,
    name: str,
    instances: Sequence[Instance],
    surveyed: Mapping[str, Survey | SurveyFailure],
) -> dict[str, Naming]:
    """Per instance id, the record of `name` that still names it; unnamed instances are absent.
    Records that cannot be read name every instance that has a public address."""
    try:
        with aws_call(f"listing the records of {name}"):
            records = [Record(raw) for raw in _records_at(zone, name)]
        unreadable = None
    except AutomationError as error:
        records, unreadable = [], f"{name} may name it (its records could not be read: {error})"
    found = {}
    for instance in instances:
        survey = surveyed.get(instance.instance_id)
        elastic = {a.public_ip for a in survey.addresses} if isinstance(survey, Survey) else set()
        addresses = dict(instance.public_names) | {ip: ip for ip in elastic}
        if not addresses:
            continue
        hits = [
            (record, value)
            for record in records
            for value in (v.lower().rstrip(".") for v in record.values)
            if value in addresses
        ]
        if unreadable is not None:
            found[instance.instance_id] = Naming(
                unreadable, tuple(sorted({ip for ip in addresses.values() if ip not in elastic}))
            )
        elif hits:
            lost = sorted({addresses[value] for _, value in hits} - elastic)
            record = hits[0][0]
            found[instance.instance_id] = Naming(
                f"{fqdn(str(record.raw['Name']))} {record.describe()} names it", tuple(lost)
            )
    return found
