"""`python -m automation cutover` on a moto server, as CI runs it: a legacy A record on an Elastic
IP (and a CNAME in another zone) moved to an ALB, 10 -> 50 -> 100 with a bake that reverts on
ALARM, back to 0, finish, re-runs; exit codes and JSON reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from automation.cli import Environment, main
from tests.automation.cutover.site import Errors, FakeTime, Run, Site


def test_the_dry_run_changes_nothing_and_shows_every_batch(run: Run, site: Site) -> None:
    before = site.records()
    code, report = run("--to", "10")
    assert code == 0
    assert report["status"] == "planned"
    assert [s["kind"] for s in report["steps"]] == [
        "lower-ttl",
        "wait-ttl",
        "split",
        "bake",
        "baked",
    ]
    split = report["steps"][2]["changes"]
    assert split[0].startswith(f"DELETE {site.record}. A {site.address} (TTL 60 s)")
    assert "[legacy, weight 90]" in split[1]
    assert f"alias A {site.alb_dns.lower()}" in split[2]
    assert "[fargate, weight 10]" in split[2]
    assert not any(s["done"] for s in report["steps"])
    assert site.records() == before


def test_ten_fifty_hundred_with_a_revert_then_finish(run: Run, site: Site, time: FakeTime) -> None:
    code, first = run("--to", "10", "--execute")
    assert code == 0, first["reason"]
    assert first["status"] == "done"
    assert site.weights() == {"legacy": 90, "fargate": 10}
    assert site.records()["legacy"]["ResourceRecords"] == [{"Value": site.address}]
    assert site.records()["legacy"]["TTL"] == 60
    kinds = [s["kind"] for s in first["steps"]]
    assert kinds == ["lower-ttl", "wait-ttl", "split", "bake", "baked"]
    changes = [s["change"] for s in first["steps"] if s["change"]]
    assert all(c["change_id"] and c["submitted_at"] for c in changes)
    assert first["steps"][2]["weights"] == {"legacy": 90, "fargate": 10}
    assert first["bake"]["result"] == "passed"
    assert time.seconds >= 300 + 300  # the old TTL, then the bake

    # An alarm goes off during the 50 % bake: the weights go back to 10 %, exit 1.
    alarm_at = time.seconds + 60
    time.on_sleep.append(lambda t: site.alarm(0, "ALARM") if t > alarm_at else None)
    code, reverted = run("--to", "50", "--execute")
    assert code == 1
    assert reverted["status"] == "reverted", reverted["reason"]
    assert site.alarms[0] in reverted["reason"]
    assert [s["kind"] for s in reverted["steps"]] == ["weights", "bake", "revert"]
    assert reverted["steps"][-1]["weights"] == {"legacy": 90, "fargate": 10}
    assert reverted["bake"]["result"] == "breached"
    assert site.weights() == {"legacy": 90, "fargate": 10}

    # While the alarm is on, no move towards Fargate is made.
    code, refused = run("--to", "50", "--execute")
    assert code == 1
    assert refused["status"] == "refused"
    assert site.weights() == {"legacy": 90, "fargate": 10}

    time.on_sleep.clear()
    site.alarm(0, "OK")
    for percent, weights in (("50", (50, 50)), ("100", (0, 100))):
        code, moved = run("--to", percent, "--execute")
        assert code == 0, moved["reason"]
        assert site.weights() == {"legacy": weights[0], "fargate": weights[1]}

    code, again = run("--to", "100", "--execute")
    assert (code, again["status"]) == (0, "nothing-to-do")

    code, finished = run("--finish", "--execute")
    assert (code, finished["status"]) == (0, "done")
    assert site.weights() == {"fargate": 100}
    code, again = run("--finish", "--execute")
    assert (code, again["status"]) == (0, "nothing-to-do")
    code, back = run("--to", "0", "--execute")
    assert (code, back["status"]) == (1, "refused")


def test_everything_back_to_ec2_at_any_moment_even_on_alarm(run: Run, site: Site) -> None:
    assert run("--to", "50", "--execute")[0] == 0
    site.alarm(1, "ALARM")  # the new service is failing: going back must still work
    code, back = run("--to", "0", "--execute")
    assert code == 0, back["reason"]
    assert site.weights() == {"legacy": 100, "fargate": 0}
    assert [s["kind"] for s in back["steps"]] == ["weights"]  # no bake on the way back


def test_finish_is_refused_until_a_baked_hundred(run: Run, site: Site) -> None:
    code, report = run("--finish", "--execute")
    assert (code, report["status"]) == (1, "refused")
    assert "no traffic has moved yet" in report["reason"]
    run("--to", "100", "--execute", "--bake", "0")
    code, report = run("--finish", "--execute")
    assert (code, report["status"]) == (1, "refused")
    assert "has not baked" in report["reason"]
    assert site.weights() == {"legacy": 0, "fargate": 100}
    assert run("--to", "100", "--execute")[0] == 0  # the bake, resumed
    code, report = run("--finish", "--execute")
    assert (code, report["status"]) == (0, "done")


def test_a_cname_legacy_record_gets_a_cname_to_the_alb(run: Run, aws: boto3.Session) -> None:
    cname = Site(aws, legacy="CNAME", ttl=60)
    code, report = run("--to", "10", "--execute", on=cname)
    assert code == 0, report["reason"]
    assert [s["kind"] for s in report["steps"]] == ["split", "bake", "baked"]  # TTL already 60
    records = cname.records()
    assert records["fargate"]["Type"] == "CNAME"
    assert records["fargate"]["ResourceRecords"] == [{"Value": cname.alb_dns}]
    assert records["legacy"]["ResourceRecords"][0]["Value"].startswith("legacy-lb.")


def test_status_shows_weights_and_since_when(run: Run, site: Site, time: FakeTime) -> None:
    code, status = run("--status")
    assert (code, status["status"]) == (0, "done")
    assert status["before"]["phase"] == "plain"
    run("--to", "10", "--execute")
    time.advance(120)
    code, status = run("--status")
    assert status["before"]["weights"] == {"legacy": 90, "fargate": 10}
    assert status["before"]["state"]["since"] == "2026-11-30T12:05:00Z"
    assert "since 2026-11-30 12:05:00Z" in status["reason"]


def test_a_long_ttl_ends_the_run_and_the_next_run_resumes(
    run: Run, aws: boto3.Session, time: FakeTime
) -> None:
    slow = Site(aws, ttl=86400)
    code, report = run("--to", "10", "--execute", on=slow)
    assert (code, report["status"]) == (0, "waiting")
    assert "run the same command again after 2026-12-01 12:00:00Z" in report["reason"]
    assert slow.records()["plain"]["TTL"] == 60
    time.advance(86400)
    code, report = run("--to", "10", "--execute", on=slow)
    assert code == 0, report["reason"]
    assert [s["kind"] for s in report["steps"]] == ["split", "bake", "baked"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of --status, --to PERCENT or --finish"),
        (("--status", "--to", "10"), "give exactly one of"),
        (("--to", "101"), "100"),
    ],
)
def test_usage_errors_exit_2(run: Run, args: tuple[str, ...], message: str, errors: Errors) -> None:
    code, _ = run(*args)
    assert code == 2
    assert message in errors.text


def test_configuration_errors_exit_2(
    repo: Path, site: Site, env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["cutover", "--stack", "dev", "--repo", str(repo), "--status"]
    assert main([*base, "--zone-id", "ZNOSUCHZONE1", "--record", site.record], env) == 2
    assert "does not exist" in capsys.readouterr().err
    missing = f"nothing.{site.record.split('.', 1)[1]}"
    assert main([*base, "--zone-id", site.zone_id, "--record", missing], env) == 2
    assert "no A, alias A or CNAME record" in capsys.readouterr().err
    assert main([*base, "--zone-id", site.zone_id, "--record", "alunos.other.org"], env) == 2
    assert "is not in hosted zone" in capsys.readouterr().err
    assert main(base, env) == 2
    assert "sets no domainName/hostedZoneId" in capsys.readouterr().err


def test_a_name_weighted_by_something_else_is_refused(
    run: Run, aws: boto3.Session, errors: Errors
) -> None:
    other = Site(aws)
    record = other.records()["plain"]
    other.route53.change_resource_record_sets(
        HostedZoneId=other.zone_id,
        ChangeBatch={
            "Changes": [
                {"Action": "DELETE", "ResourceRecordSet": record},
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {**record, "SetIdentifier": "blue", "Weight": 1},
                },
            ]
        },
    )
    code, _ = run("--to", "10", on=other)
    assert code == 2
    assert "already routed by something else (blue)" in errors.text


def test_a_revert_that_fails_says_how_to_send_the_traffic_back(
    run: Run, site: Site, time: FakeTime, aws: boto3.Session
) -> None:
    assert run("--to", "10", "--execute")[0] == 0

    refusing: list[bool] = []

    def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not refusing:
            return None
        error = {"Code": "InvalidChangeBatch", "Message": "the records changed meanwhile"}
        return AWSResponse("https://route53", 400, {}, None), {"Error": error}

    def alarm_and_refuse_changes(seconds: float) -> None:
        if seconds > alarm_at:
            site.alarm(0, "ALARM")
            refusing.append(True)

    # Clients copy the session's handlers when they are made: register before the run.
    aws.events.register("before-call.route53.ChangeResourceRecordSets", refuse)
    alarm_at = time.seconds + 30
    time.on_sleep.append(alarm_and_refuse_changes)
    code, report = run("--to", "50", "--execute")
    assert code == 1
    assert report["status"] == "failed"
    assert "alarm during the bake" in report["reason"]
    assert "InvalidChangeBatch: the records changed meanwhile" in report["reason"]
    assert report["reason"].endswith("Send the traffic back now: cutover --to 10 --execute")
    assert site.weights() == {"legacy": 50, "fargate": 50}


def test_the_weights_mean_what_they_say_whatever_the_albs_target_health(
    run: Run, site: Site
) -> None:
    """Route 53 counts an ALB with an empty target group as unhealthy, and would then send
    every answer to `legacy`: the alias must not evaluate the ALB's health (a canary service's
    alternate group is empty between releases)."""
    assert run("--to", "10", "--execute")[0] == 0
    alias = site.records()["fargate"]["AliasTarget"]
    assert alias["DNSName"].rstrip(".").lower() == site.alb_dns.lower()
    assert alias["EvaluateTargetHealth"] is False

    # A pair written while the alias evaluated the ALB's health is put right at the next move.
    fargate = site.records()["fargate"]
    evaluating = {**fargate, "AliasTarget": {**alias, "EvaluateTargetHealth": True}}
    site.route53.change_resource_record_sets(
        HostedZoneId=site.zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": evaluating}]},
    )
    assert run("--to", "50", "--execute")[0] == 0
    assert site.records()["fargate"]["AliasTarget"]["EvaluateTargetHealth"] is False


def _broken(
    service: str, armed: list[bool]
) -> Callable[..., tuple[AWSResponse, dict[str, Any]] | None]:
    """A hook that makes a call fail once `armed` holds a value (an outage during the bake)."""

    def fail(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not armed:
            return None
        error = {"Code": "InternalFailure", "Message": f"{service} is down"}
        return AWSResponse(f"https://{service}", 500, {}, None), {"Error": error}

    return fail


def test_a_cloudwatch_error_during_the_bake_sends_the_traffic_back(
    run: Run, site: Site, time: FakeTime, aws: boto3.Session
) -> None:
    """Nobody watches the new weights once the alarms can't be read: back to the previous ones."""
    assert run("--to", "10", "--execute")[0] == 0
    down: list[bool] = []
    aws.events.register("before-call.cloudwatch.DescribeAlarms", _broken("CloudWatch", down))
    at = time.seconds + 30
    time.on_sleep.append(lambda now: down.append(True) if now > at and not down else None)
    code, report = run("--to", "50", "--execute")
    assert (code, report["status"]) == (1, "reverted")
    assert report["reason"].startswith(
        "the bake could not go on: reading the alarms' states failed: InternalFailure: "
        "CloudWatch is down"
    )
    assert report["reason"].endswith("the weights went back to legacy 90 / fargate 10")
    assert [s["kind"] for s in report["steps"]] == ["weights", "revert"]
    assert site.weights() == {"legacy": 90, "fargate": 10}


def test_a_route53_outage_during_the_bake_says_how_to_go_back(
    run: Run, site: Site, time: FakeTime, aws: boto3.Session
) -> None:
    """The bake's look at the records fails, and so does the way back: the command to run."""
    assert run("--to", "10", "--execute")[0] == 0
    down: list[bool] = []
    for call in ("ListResourceRecordSets", "ChangeResourceRecordSets"):
        aws.events.register(f"before-call.route53.{call}", _broken("Route 53", down))
    at = time.seconds + 30
    time.on_sleep.append(lambda now: down.append(True) if now > at and not down else None)
    code, report = run("--to", "50", "--execute")
    assert (code, report["status"]) == (1, "failed")
    assert report["reason"].startswith("the bake could not go on: listing the records of ")
    assert "InternalFailure: Route 53 is down" in report["reason"]
    assert (
        "going back to legacy 90 / fargate 10 failed: changing the records failed"
        in (report["reason"])
    )
    assert report["reason"].endswith("Send the traffic back now: cutover --to 10 --execute")
    down.clear()  # Route 53 is back
    assert site.weights() == {"legacy": 50, "fargate": 50}


def test_an_alias_to_a_legacy_load_balancer_moves_and_finishes(
    run: Run, aws: boto3.Session
) -> None:
    """The legacy record as an alias A to the legacy deployment's own load balancer (an ALB):
    `legacy` keeps that alias as it was, health evaluation included."""
    elb = Site(aws, legacy="ALIAS")
    code, report = run("--to", "10", "--execute", on=elb)
    assert code == 0, report["reason"]
    assert [s["kind"] for s in report["steps"]] == ["split", "bake", "baked"]  # no TTL to lower
    assert report["before"]["records"] == [
        {
            "type": "A",
            "set_identifier": None,
            "weight": None,
            "ttl": None,
            "alias": True,
            "target": elb.legacy_target["DNSName"].lower(),
        }
    ]
    records = elb.records()
    legacy = records["legacy"]
    assert "TTL" not in legacy
    assert "ResourceRecords" not in legacy
    assert legacy["AliasTarget"]["HostedZoneId"] == elb.legacy_target["HostedZoneId"]
    assert legacy["AliasTarget"]["DNSName"].rstrip(".") == elb.legacy_target["DNSName"]
    assert legacy["AliasTarget"]["EvaluateTargetHealth"] is True  # the team's, not ours
    assert records["fargate"]["AliasTarget"]["DNSName"].rstrip(".") == elb.alb_dns
    assert elb.weights() == {"legacy": 90, "fargate": 10}

    code, report = run("--to", "100", "--execute", on=elb)
    assert code == 0, report["reason"]
    assert elb.weights() == {"legacy": 0, "fargate": 100}
    code, report = run("--finish", "--execute", on=elb)
    assert (code, report["status"]) == (0, "done"), report["reason"]
    assert report["steps"][0]["changes"][0].startswith(
        f"DELETE {elb.record}. alias A {elb.legacy_target['DNSName'].lower()} [legacy, weight 0]"
    )
    assert elb.weights() == {"fargate": 100}


def test_a_legacy_record_with_several_addresses_keeps_them_all(
    run: Run, aws: boto3.Session
) -> None:
    multi = Site(aws, addresses=2, ttl=60)
    addresses = multi.records()["plain"]["ResourceRecords"]
    assert len(addresses) == 2
    code, report = run("--to", "50", "--execute", on=multi)
    assert code == 0, report["reason"]
    legacy = multi.records()["legacy"]
    assert legacy["ResourceRecords"] == addresses
    assert (legacy["Type"], legacy["TTL"], legacy["Weight"]) == ("A", 60, 50)
    shown = ", ".join(a["Value"] for a in addresses)
    assert report["after"]["records"][0]["target"] == shown
    code, report = run("--to", "0", "--execute", on=multi)
    assert code == 0, report["reason"]
    assert multi.weights() == {"legacy": 100, "fargate": 0}
    assert multi.records()["legacy"]["ResourceRecords"] == addresses


def test_after_finish_the_way_back_is_the_legacy_record_recreated_by_hand(
    run: Run, site: Site
) -> None:
    """--to 0 cannot go back once --finish removed `legacy`; the documented way back (one batch:
    `legacy` as the finish report deleted it, weight 100, and `fargate` at 0) gives the name
    back to EC2 and to the cutover."""
    assert run("--to", "100", "--execute")[0] == 0
    legacy = site.records()["legacy"]
    code, report = run("--finish", "--execute")
    assert code == 0, report["reason"]
    assert f"A {site.address} (TTL 60 s) [legacy, weight 0]" in report["steps"][0]["changes"][0]
    code, report = run("--to", "0", "--execute")
    assert (code, report["status"]) == (1, "refused")
    assert (
        "recreate it by hand, in one change batch with `fargate` at weight 0" in (report["reason"])
    )

    fargate = site.records()["fargate"]
    site.route53.change_resource_record_sets(
        HostedZoneId=site.zone_id,
        ChangeBatch={
            "Changes": [
                {"Action": "CREATE", "ResourceRecordSet": {**legacy, "Weight": 100}},
                {"Action": "UPSERT", "ResourceRecordSet": {**fargate, "Weight": 0}},
            ]
        },
    )
    code, status = run("--status")
    assert status["before"]["phase"] == "split"
    assert status["before"]["weights"] == {"legacy": 100, "fargate": 0}
    assert run("--to", "0", "--execute")[1]["status"] == "nothing-to-do"
    code, report = run("--to", "10", "--execute")
    assert code == 0, report["reason"]
    assert site.weights() == {"legacy": 90, "fargate": 10}
