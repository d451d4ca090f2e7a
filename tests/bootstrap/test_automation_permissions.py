"""The CI roles may make every AWS call the CI tool makes (tests/bootstrap/boto_calls.py finds
them in its source): the deploy roles what `up`, its verification, `rollback` and `unlock` call,
prod's role what `cutover` and `decommission` call too (the migrate workflow runs in the prod
environment), the preview role what `preview` reaches. A call missing from the roles once failed
every canary's verification in prod and rolled a good release back (ecs:ListServiceDeployments).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.offline.engine import Plan
from tests.bootstrap.boto_calls import BotoCall, Scan
from tests.bootstrap.conftest import ROOT
from tests.bootstrap.evaluate import allowed_actions, missing
from tests.bootstrap.lint import parliament
from tests.bootstrap.test_policies import policies

COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None, tuple[str, ...]]] = {
    # up (with its verification and the rollback it may fall back to), rollback, unlock: the
    # deploy job of each environment.
    "deploy": (("automation/deploy",), None, ("deploy-dev", "deploy-prod")),
    # preview on pull requests: only what the preview pipeline reaches.
    "preview": (("automation/deploy",), ("preview",), ("preview",)),
    # cutover and decommission (migrate.yml, environment prod).
    "migrate": (("automation/cutover", "automation/decommission"), None, ("deploy-prod",)),
}
"""Command -> (its packages, its entry functions or None for the whole packages, the roles that
run it)."""

EXEMPT: dict[str, str] = {}
"""IAM action -> why no role that runs the call is granted it. Empty: every call is granted.
A deliberate gap goes here with its reason (e.g. a call whose AccessDenied the code handles),
and test_every_exemption_is_still_a_call_the_tool_makes keeps the list from going stale."""


def _scan(packages: tuple[str, ...]) -> Scan:
    return Scan(ROOT, packages)


def _calls(command: str) -> list[BotoCall]:
    packages, entries, _ = COMMANDS[command]
    scan = _scan(packages)
    assert not scan.unresolved, f"name the clients in boto_calls.RECEIVERS: {scan.unresolved}"
    return scan.all_calls if entries is None else scan.reachable(entries)


def _reference_actions() -> set[str]:
    """Every action of parliament's copy of the Service Authorization Reference, lower case."""
    return {
        f"{service['prefix']}:{privilege['privilege']}".lower()
        for service in parliament.iam_definition
        for privilege in service["privileges"]
    }


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_roles_that_run_a_command_may_make_its_calls(self_managed: Plan, command: str) -> None:
    found = policies(self_managed)
    for role in COMMANDS[command][2]:
        allowed = allowed_actions(doc for name, doc in found.items() if name.startswith(f"{role}-"))
        lacking = [
            f"{call.action} ({call.where})"
            for call in _calls(command)
            if call.action not in EXEMPT and missing([call.action], allowed)
        ]
        assert not lacking, f"{role} runs `{command}` but may not call: {sorted(set(lacking))}"


def test_the_tool_makes_the_calls_this_test_was_written_for() -> None:
    """The scan is live: it finds the canary's deployment reads, the cutover's record change
    through a paginator and a waiter, and the decommission's ELB waiter."""
    deploy = {call.action for call in _calls("deploy")}
    assert {"ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments"} <= deploy
    assert "ecs:DescribeServices" in deploy  # the services_stable waiter
    migrate = {call.action for call in _calls("migrate")}
    assert {
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",  # a paginator
        "route53:GetChange",  # the resource_record_sets_changed waiter
        "elasticloadbalancing:DescribeInstanceHealth",  # classic ELB's instance_deregistered
    } <= migrate


def test_every_call_maps_to_an_iam_action_of_the_reference() -> None:
    known = _reference_actions()
    for command in COMMANDS:
        unknown = {c.action for c in _calls(command) if c.action.lower() not in known}
        assert not unknown, f"{command}: no such IAM action in the reference: {unknown}"


def test_every_exemption_is_still_a_call_the_tool_makes() -> None:
    made = {call.action for command in COMMANDS for call in _calls(command)}
    assert set(EXEMPT) <= made


def test_an_unnamed_client_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "calls.py").write_text(
        "def f(session, mystery):\n"
        "    session.client('ecs').describe_services(services=[])\n"
        "    mystery.list_service_deployments(service='s')\n"
        "    ecs = session.client('ecs')\n"
        "    ecs.get_waiter('services_stable').wait()\n"
    )
    scan = Scan(tmp_path, ("pkg",))
    assert [c.action for c in scan.all_calls] == ["ecs:DescribeServices", "ecs:DescribeServices"]
    assert scan.unresolved == ["pkg/calls.py:3: list_service_deployments on mystery"]
