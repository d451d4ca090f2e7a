"""`report`: cost, check and diagram from one plan, each as its own command shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automation.cli import main
from automation.offline import cache
from automation.offline.planned import Plan
from tests.automation.insights import know_before


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stacks planned: the shared test plans stand in for the mock engine."""
    seen: list[str] = []

    def run(project_dir: Path, stack: str) -> Plan:
        seen.append(stack)
        return know_before.plan(stack)

    monkeypatch.setattr(cache, "_run", run)
    return seen


def test_one_plan_gives_what_cost_check_and_diagram_each_give(runs, capsys):
    assert main(["report", "--stack", "dev", "--json"]) == 0
    assert runs == ["dev"]  # one mock run for all three
    document = json.loads(capsys.readouterr().out)
    assert main(["cost", "--stack", "dev", "--json"]) == 0
    assert document["cost"] == json.loads(capsys.readouterr().out)
    assert main(["check", "--stack", "dev", "--json"]) == 0
    assert document["check"] == json.loads(capsys.readouterr().out)
    assert main(["diagram", "--stack", "dev", "--raw"]) == 0
    assert document["diagram"] == capsys.readouterr().out
    assert document["passed"] is True


def test_the_text_report_shows_all_three_and_fails_like_check(runs, capsys):
    assert main(["report", "--stack", "prod"]) == 1  # the shipped prod file holds example ids
    out = capsys.readouterr().out
    assert out.startswith("### Monthly cost estimate: `prod`")
    assert "check prod (production)" in out
    assert "key(s) still hold example values" in out
    assert "### Architecture\n\n```mermaid\nflowchart" in out
    assert runs == ["prod"]


def test_comment_needs_a_difference(capsys):
    assert main(["report", "--stack", "dev", "--comment"]) == 2
    assert "--comment needs --diff-against" in capsys.readouterr().err
