"""Two hands on one name: a cutover run never overwrites a change someone else made meanwhile.

Route 53 applies a DELETE only when it names the record exactly as it is, and a batch all or
nothing; moto does not keep the first rule, so these tests run on `strict_deletes`, which does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from automation.cli import Environment
from automation.cutover import command
from tests.automation.conftest import REGION
from tests.automation.cutover.site import Errors, FakeTime, Run, Site, strict_deletes

Move = Callable[[int], command.Report]


@pytest.fixture
def someone_else(env: Environment, repo: Path, site: Site) -> Move:
    """Another person's `cutover --to P --execute --bake 0`, from another machine (a session
    without the test's hooks), done before it returns."""
    elsewhere = replace(env, session=lambda region: boto3.Session(region_name=REGION))

    def move(percent: int) -> command.Report:
        ids = command.Identifiers(site.zone_id, site.record, site.alb_dns, site.alb_zone)
        request = command.Request(
            "dev",
            repo,
            command.Action.MOVE,
            percent=percent,
            execute=True,
            bake_seconds=0,
            identifiers=replace(ids, alarms=site.alarms),
        )
        report = command.run(request, elsewhere.cutover(repo, "dev", None))
        assert report.outcome is command.Outcome.DONE, report.reason
        return report

    return move


def before_batch(aws: boto3.Session, number: int, act: Callable[[], object]) -> None:
    """`act` just before the run's `number`th change batch reaches Route 53 (after every look
    the run made): the race a look cannot see, left to Route 53's DELETE rule."""
    batches: list[None] = []

    def hook(**_: Any) -> None:
        batches.append(None)
        if len(batches) == number:
            act()

    # before-parameter-build comes before before-call, where `strict_deletes` checks the batch.
    aws.events.register("before-parameter-build.route53.ChangeResourceRecordSets", hook)


def test_a_rollback_during_the_bake_is_never_undone(
    run: Run, site: Site, time: FakeTime, someone_else: Move
) -> None:
    """Run A moves 10 -> 50 and bakes; meanwhile someone sends everything back to EC2, and an
    alarm goes off: A must not "revert" to 90/10 over the rollback."""
    assert run("--to", "10", "--execute")[0] == 0
    at = time.seconds + 60
    rolled_back: list[command.Report] = []

    def rollback_then_alarm(now: float) -> None:
        if now > at and not rolled_back:
            rolled_back.append(someone_else(0))
            site.alarm(0, "ALARM")

    time.on_sleep.append(rollback_then_alarm)
    code, report = run("--to", "50", "--execute")
    assert (code, report["status"]) == (1, "failed")
    assert "someone else moved the traffic during this run" in report["reason"]
    assert "0 % to Fargate (legacy 100 / fargate 0)" in report["reason"]
    assert "This run did nothing more" in report["reason"]
    assert [s["kind"] for s in report["steps"]] == ["weights"]  # no bake done, no revert
    assert site.weights() == {"legacy": 100, "fargate": 0}


def test_a_rollback_just_before_the_revert_makes_route53_refuse_it(
    run: Run, site: Site, time: FakeTime, aws: boto3.Session, someone_else: Move
) -> None:
    """The rollback lands after the bake's last look, as the revert goes out: the revert
    deletes the state this run wrote, which is gone, so Route 53 applies none of it."""
    assert run("--to", "10", "--execute")[0] == 0
    at = time.seconds + 30
    time.on_sleep.append(lambda now: site.alarm(0, "ALARM") if now > at else None)
    before_batch(aws, 2, lambda: someone_else(0))  # 1: the move to 50, 2: the revert
    code, report = run("--to", "50", "--execute")
    assert (code, report["status"]) == (1, "failed")
    assert "someone else moved the traffic" in report["reason"]
    assert "legacy 100 / fargate 0" in report["reason"]
    assert [s["kind"] for s in report["steps"]] == ["weights", "bake"]
    assert site.weights() == {"legacy": 100, "fargate": 0}


@pytest.mark.parametrize("when", ["during the bake", "just before the record of it"])
def test_weights_someone_else_set_are_never_recorded_as_baked(
    run: Run, site: Site, time: FakeTime, aws: boto3.Session, someone_else: Move, when: str
) -> None:
    """A's 50 % bakes; meanwhile someone moves to 100 % without a bake. A's record that its
    bake passed must not land on their weights, or --finish would let 100 % through."""
    assert run("--to", "10", "--execute")[0] == 0
    if when == "during the bake":
        at = time.seconds + 60
        moved: list[command.Report] = []
        time.on_sleep.append(
            lambda now: moved.append(someone_else(100)) if now > at and not moved else None
        )
    else:
        before_batch(aws, 2, lambda: someone_else(100))  # 1: the move to 50, 2: "baked"
    code, report = run("--to", "50", "--execute")
    assert (code, report["status"]) == (1, "failed")
    assert "someone else moved the traffic" in report["reason"]
    assert "100 % to Fargate" in report["reason"]
    assert site.weights() == {"legacy": 0, "fargate": 100}
    code, report = run("--finish", "--execute")
    assert (code, report["status"]) == (1, "refused")
    assert "has not baked" in report["reason"]


def test_going_back_during_the_ttl_wait_stops_the_waiting_run(
    run: Run, site: Site, time: FakeTime, someone_else: Move
) -> None:
    """A lowered the TTL and waits 300 s to split the name; --to 0 meanwhile has no weights to
    change, so it records the hold: A's split would delete a state that is gone, and A's next
    look sees it."""
    at = time.seconds + 60
    held: list[command.Report] = []
    time.on_sleep.append(
        lambda now: held.append(someone_else(0)) if now > at and not held else None
    )
    code, report = run("--to", "10", "--execute")
    assert (code, report["status"]) == (1, "failed")
    assert "someone else moved the traffic" in report["reason"]
    assert [s["kind"] for s in report["steps"]] == ["lower-ttl"]
    assert site.weights() == {"plain": None}
    assert [d.step.kind.value for d in held[0].steps] == ["hold"]
    assert time.seconds < at + 60  # stopped at its next look, not after the whole wait
    code, again = run("--to", "0", "--execute")
    assert (code, again["status"]) == (0, "nothing-to-do")


def test_a_hand_edit_of_the_weights_during_the_bake_stops_it(
    run: Run, site: Site, time: FakeTime
) -> None:
    """A console edit leaves the state alone; the bake's look still sees other weights."""
    assert run("--to", "10", "--execute")[0] == 0
    at = time.seconds + 60
    edited: list[bool] = []

    def edit(now: float) -> None:
        if now > at and not edited:
            legacy = site.records()["legacy"]
            site.route53.change_resource_record_sets(
                HostedZoneId=site.zone_id,
                ChangeBatch={
                    "Changes": [
                        {"Action": "UPSERT", "ResourceRecordSet": {**legacy, "Weight": 100}}
                    ]
                },
            )
            edited.append(True)
            site.alarm(0, "ALARM")

    time.on_sleep.append(edit)
    code, report = run("--to", "50", "--execute")
    assert (code, report["status"]) == (1, "failed")
    assert "someone else moved the traffic" in report["reason"]
    assert site.weights() == {"legacy": 100, "fargate": 50}


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


def test_going_back_beaten_by_another_runs_batch_goes_again_from_there(
    run: Run, site: Site, aws: boto3.Session, errors: Errors, someone_else: Move
) -> None:
    """`--to 0` reads 10 %; before its batch lands, another run (a baking step's revert, say)
    rewrites the name. Route 53 rejects the stale batch; everything back to EC2 means the same
    from anywhere, so the run reads again and goes back from there."""
    assert run("--to", "10", "--execute")[0] == 0
    before_batch(aws, 1, lambda: someone_else(50))
    code, report = run("--to", "0", "--execute")
    assert (code, report["status"]) == (0, "done"), report["reason"]
    assert "someone else moved the traffic as this run began" in errors.text
    assert report["before"]["weights"] == {"legacy": 50, "fargate": 50}  # the second read
    assert site.weights() == {"legacy": 100, "fargate": 0}


def test_a_partial_move_back_beaten_by_another_run_stops(
    run: Run, site: Site, aws: boto3.Session, someone_else: Move
) -> None:
    """`--to 50` from 100 % must not go again: after someone's `--to 0` it would raise the share."""
    assert run("--to", "100", "--execute")[0] == 0
    before_batch(aws, 1, lambda: someone_else(0))
    code, report = run("--to", "50", "--execute")
    assert (code, report["status"]) == (1, "failed")
    assert "someone else moved the traffic" in report["reason"]
    assert site.weights() == {"legacy": 100, "fargate": 0}
