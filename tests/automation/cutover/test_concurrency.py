"""Two hands on one name: a cutover run never overwrites a change someone else made meanwhile.

Route 53 applies a DELETE only when it names the record exactly as it is, and a batch all or
nothing; moto does not keep the first rule, so these tests run on `strict_deletes`, which does."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.automation.conftest import REGION
from tests.automation.cutover.site import Site, strict_deletes


def _txt(site: Site, value: str) -> dict[str, Any]:
    return {
        "Name": f"_cutover.{site.record}.",
        "Type": "TXT",
        "TTL": 60,
        "ResourceRecords": [{"Value": f'"{value}"'}],
    }


def _replace(client: Any, site: Site, old: str, new: str) -> None:
    client.change_resource_record_sets(
        HostedZoneId=site.zone_id,
        ChangeBatch={
            "Changes": [
                {"Action": "DELETE", "ResourceRecordSet": _txt(site, old)},
                {"Action": "CREATE", "ResourceRecordSet": _txt(site, new)},
            ]
        },
    )


@pytest.mark.parametrize("strict", [False, True])
def test_a_stale_delete_fails_only_where_route53s_rule_is_kept(
    aws: boto3.Session, strict: bool
) -> None:
    """Why `strict_deletes` exists: moto lets a DELETE of what the record USED to be through."""
    site = Site(aws)
    if strict:
        strict_deletes(aws)
    route53 = aws.client("route53")
    route53.change_resource_record_sets(
        HostedZoneId=site.zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": _txt(site, "a")}]},
    )
    _replace(route53, site, "a", "b")  # mine
    _replace(route53, site, "b", "c")  # someone else's, after mine
    if strict:
        with pytest.raises(ClientError) as raised:
            _replace(route53, site, "b", "d")
        assert raised.value.response["Error"]["Code"] == "InvalidChangeBatch"
        assert "do not match the current values" in raised.value.response["Error"]["Message"]
    else:
        _replace(route53, site, "b", "d")  # moto accepts it, and someone else's "c" is gone
    plain = boto3.Session(region_name=REGION).client("route53")
    found = plain.list_resource_record_sets(
        HostedZoneId=site.zone_id, StartRecordName=f"_cutover.{site.record}"
    )["ResourceRecordSets"]
    left = [r["ResourceRecords"][0]["Value"] for r in found if r["Type"] == "TXT"]
    assert left == (['"c"'] if strict else ['"d"'])
