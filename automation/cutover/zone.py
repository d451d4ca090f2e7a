"""Route 53 calls for one hosted zone: read the name's records, submit a batch, wait for it.

A change is applied once Route 53 reports it INSYNC on all its name servers (boto3's
`resource_record_sets_changed` waiter, which polls GetChange); only then does a bake start, and
only then is the change reported done. `PriorRequestNotComplete` (another change to the zone
still being processed) is retried by botocore's standard retry mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from automation.cutover import records
from automation.cutover.records import Change, Layout
from automation.deploy.aws_errors import aws_call, describe, error_code
from automation.errors import AutomationError, UsageProblem

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10})


class Rejected(AutomationError):
    """Route 53 refused a batch as invalid (InvalidChangeBatch) and applied none of it: for the
    cutover's batches, a DELETE that no longer matches what the zone holds."""


@dataclass(frozen=True, slots=True)
class Submitted:
    """One applied change batch, as the report records it."""

    change_id: str
    submitted_at: datetime
    comment: str

    def to_json(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id,
            "submitted_at": self.submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "comment": self.comment,
        }


class Zone:
    """A public hosted zone holding the API's name."""

    def __init__(self, client: Any, zone_id: str, *, wait_delay: int = 10) -> None:
        self.client = client
        self.zone_id = zone_id.strip().removeprefix("/hostedzone/")
        self.wait_delay = wait_delay
        self._name: str | None = None

    def name(self) -> str:
        """The zone's domain (`example.com.`); an unknown zone is a configuration error."""
        if self._name is None:
            with aws_call(f"reading hosted zone {self.zone_id}"):
                try:
                    zone = self.client.get_hosted_zone(Id=self.zone_id)["HostedZone"]
                except ClientError as error:
                    if error_code(error) not in ("NoSuchHostedZone", "InvalidInput"):
                        raise
                    raise UsageProblem(
                        f"hosted zone {self.zone_id!r} does not exist in this account "
                        "(check --zone-id or the stack's hostedZoneId)"
                    ) from error
            self._name = records.fqdn(str(zone["Name"]))
        return self._name

    def check_name(self, name: str) -> str:
        """The record name, fully qualified, once it is known to belong to this zone."""
        zone = self.name()
        wanted = records.fqdn(name)
        if wanted != zone and not wanted.endswith("." + zone):
            raise UsageProblem(f"{wanted} is not in hosted zone {zone} ({self.zone_id})")
        return wanted

    def _records_at(self, name: str) -> list[dict[str, Any]]:
        """Every record set named exactly `name` (Route 53 lists in DNS order from the start)."""
        found: list[dict[str, Any]] = []
        pages = self.client.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=self.zone_id, StartRecordName=name
        )
        for page in pages:
            for record in page["ResourceRecordSets"]:
                if records.fqdn(str(record["Name"])) != name:
                    return found
                found.append(record)
        return found

    def read(self, name: str) -> Layout:
        wanted = self.check_name(name)
        with aws_call(f"listing the records of {wanted}"):
            found = self._records_at(wanted) + self._records_at(records.state_name(wanted))
        return records.layout(wanted, found)

    def submit(self, changes: Sequence[Change], comment: str) -> Submitted:
        """Apply one batch atomically and wait until Route 53 serves it everywhere."""
        untouched = " (the batch is atomic: nothing was changed)"
        with aws_call("changing the records", then=untouched):
            try:
                info = self.client.change_resource_record_sets(
                    HostedZoneId=self.zone_id,
                    ChangeBatch={"Comment": comment[:256], "Changes": list(changes)},
                )["ChangeInfo"]
            except ClientError as error:
                if error_code(error) != "InvalidChangeBatch":
                    raise
                raise Rejected(describe(error, "changing the records") + untouched) from error
        change_id = str(info["Id"]).removeprefix("/change/")
        try:
            self.client.get_waiter("resource_record_sets_changed").wait(
                Id=change_id, WaiterConfig={"Delay": self.wait_delay, "MaxAttempts": 60}
            )
        except (WaiterError, ClientError, BotoCoreError) as error:
            doing = f"waiting for change {change_id} (applied) to reach every name server"
            raise AutomationError(describe(error, doing) + "; run again to go on") from error
        return Submitted(change_id, info["SubmittedAt"], comment)
