"""The per-instance plan and the selectors, on plain values (no AWS): the rules a run follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automation.decommission.aws import Waits
from automation.decommission.plan import Options, Status, plan_instance
from automation.decommission.progress import BACKUP, STOPPED_AT, format_time
from automation.decommission.selection import Instance, selectors_from
from automation.decommission.survey import Address, Backup, Group, Protection, Survey, SurveyFailure
from automation.errors import UsageProblem
from automation.release.stack_config import StackConfig

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
LAUNCHED = datetime(2024, 1, 1, tzinfo=UTC)


def instance(state: str = "running", **tags: str) -> Instance:
    return Instance(
        "i-0123456789abcdef0", state, dict(tags), "vpc-1", frozenset({"10.0.1.4"}), LAUNCHED
    )


def stopped_at(moment: datetime, image: str = "ami-1") -> Instance:
    return instance("stopped", **{STOPPED_AT: format_time(moment), BACKUP: image})


AVAILABLE = Backup("ami-1", "available", LAUNCHED + timedelta(days=1))


def steps(plan) -> list[str]:
    return [step.name for step in plan.steps]


def test_a_running_instance_is_deregistered_backed_up_and_stopped():
    plan = plan_instance(instance(), Survey(), Options(), NOW)
    assert plan.status is Status.PLANNED
    assert steps(plan) == ["backup", "stop"]
    assert plan.reason.startswith("stop; terminate on a run after 2024-05-17T12:00:00Z")


def test_the_retention_counts_from_the_recorded_stop():
    stop = NOW - timedelta(days=7)
    survey = Survey(backup=AVAILABLE, addresses=(Address("eipalloc-1", "203.0.113.7", "a-1"),))
    due = plan_instance(stopped_at(stop), survey, Options(), NOW)
    assert steps(due) == ["release-address", "terminate"]
    assert due.reason == "terminate (stopped at 2024-05-03T12:00:00Z, retained 7 day(s))"

    early = plan_instance(stopped_at(stop + timedelta(seconds=1)), survey, Options(), NOW)
    assert early.status is Status.SKIPPED
    assert early.steps == []
    assert "retained until 2024-05-10T12:00:01Z" in early.reason


def test_retain_days_zero_terminates_in_the_same_run():
    plan = plan_instance(instance(), Survey(), Options(retain_days=0), NOW)
    assert steps(plan) == ["backup", "stop", "terminate"]


def test_an_instance_started_after_the_recorded_stop_starts_over():
    """AWS moves LaunchTime at every start; a stop recorded before it no longer holds."""
    stale = Instance(
        "i-0123456789abcdef0",
        "stopped",
        {STOPPED_AT: format_time(NOW - timedelta(days=30)), BACKUP: "ami-1"},
        launch_time=NOW - timedelta(days=2),
    )
    plan = plan_instance(stale, Survey(backup=AVAILABLE), Options(), NOW)
    assert steps(plan) == ["reset-progress", "backup", "stop"]
    assert plan.steps[-1].describe().startswith("already stopped")


def test_a_backup_found_but_not_recorded_is_waited_on_not_taken_again():
    pending = Backup("ami-9", "pending", NOW)
    plan = plan_instance(instance(), Survey(backup=pending), Options(), NOW)
    assert plan.steps[0].describe() == "wait for its backup ami-9 (pending) to be usable"


def test_the_group_is_scaled_to_zero_only_when_it_holds_selected_instances_only():
    group = Group("legacy", 2, 4, 2, frozenset({"i-0123456789abcdef0", "i-0000000000000000b"}))
    mine = plan_instance(
        instance(),
        Survey(group=group),
        Options(),
        NOW,
        {"i-0123456789abcdef0", "i-0000000000000000b"},
    )
    shared = plan_instance(instance(), Survey(group=group), Options(), NOW, {"i-0123456789abcdef0"})
    assert "scaled to zero" in mine.steps[0].describe()
    assert "scaled to zero" not in shared.steps[0].describe()
    assert "MinSize 2 lowered to 1" in shared.steps[0].describe()


@pytest.mark.parametrize(
    ("state", "root", "status", "reason"),
    [
        ("terminated", "ebs", Status.SKIPPED, "already terminated"),
        ("shutting-down", "ebs", Status.SKIPPED, "already being terminated"),
        ("pending", "ebs", Status.REFUSED, "starting (pending)"),
        ("running", "instance-store", Status.REFUSED, "neither stopped nor imaged"),
    ],
)
def test_instances_that_cannot_be_decommissioned_now(state, root, status, reason):
    odd = Instance("i-0123456789abcdef0", state, {}, root_device_type=root)
    plan = plan_instance(odd, Survey(), Options(), NOW)
    assert plan.status is status
    assert reason in plan.reason
    assert plan.steps == []


def test_protection_refuses_unless_forced():
    survey = Survey(protection=Protection(termination=True))
    refused = plan_instance(instance(), survey, Options(), NOW)
    forced = plan_instance(instance(), survey, Options(force_protected=True), NOW)
    assert refused.status is Status.REFUSED
    assert "termination protection (DisableApiTermination) is on" in refused.reason
    assert steps(forced)[0] == "remove-protection"


def test_the_keep_tag_wins_over_everything():
    plan = plan_instance(instance(DoNotDecommission=""), Survey(), Options(terminate_now=True), NOW)
    assert plan.status is Status.SKIPPED
    assert plan.steps == []


def test_an_instance_whose_survey_failed_is_failed():
    plan = plan_instance(
        instance(), SurveyFailure("reading it failed: AccessDenied: no"), Options(), NOW
    )
    assert plan.status is Status.FAILED
    assert plan.reason == "reading it failed: AccessDenied: no"


# --- selectors ---------------------------------------------------------------------------------


def config(**values) -> StackConfig:
    return StackConfig("alunos-api", "dev", {f"alunos-api:{k}": v for k, v in values.items()})


def test_selectors_default_to_the_stack_config():
    selectors = selectors_from(
        config(legacyTags=["app=alunos-api", "environment=dev"], legacyInstanceIds=[]), [], []
    )
    assert selectors.tags == (("app", "alunos-api"), ("environment", "dev"))
    assert selectors.source == "Pulumi.dev.yaml"


def test_flags_replace_the_config_and_duplicates_collapse():
    selectors = selectors_from(
        config(legacyTags=["app=alunos-api"]),
        [],
        ["i-0123456789abcdef0", "i-0123456789abcdef0"],
    )
    assert selectors.tags == ()
    assert selectors.instance_ids == ("i-0123456789abcdef0",)
    assert selectors.source == "flags"


def test_a_bad_config_selector_names_the_file_and_key():
    with pytest.raises(UsageProblem, match=r"Pulumi.dev.yaml legacyTags: 'app=\*'"):
        selectors_from(config(legacyTags=["app=*"]), [], [])


# --- waits -------------------------------------------------------------------------------------


def test_draining_waits_for_the_load_balancers_own_timeout_and_a_margin():
    assert Waits().draining(300) == {"Delay": 15, "MaxAttempts": 29}  # 420 s
    assert Waits().draining(86_400) == {"Delay": 15, "MaxAttempts": 249}  # capped at 3,720 s
