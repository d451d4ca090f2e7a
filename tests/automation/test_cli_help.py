"""What a newcomer reads first: `--help` and the tables, at the width of their terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.cli import WIDE_OUTPUT_COLUMNS, main

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    "render",
    "comment",
    "plan",
    "version",
    "stack",
    "preview",
    "up",
    "rollback",
    "unlock",
    "outputs",
    "cost",
    "check",
    "diagram",
    "decommission",
    "cutover",
    "migrate",
]


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([command, "--help"] if command else ["--help"]) == 0
    text = capsys.readouterr().out
    return " ".join(text.split())  # one line: wrapped phrases stay findable


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_fits_a_narrow_terminal_and_shows_flags_bare(command, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "60")
    assert main([command, "--help"] if command else ["--help"]) == 0
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= 60, text
    assert "<bool>" not in text, text
    assert "BOOLEAN" not in text, text


def test_json_is_a_flag_in_help(capsys):
    assert "--json Print machine-readable JSON on stdout." in help_of("plan", capsys)


def test_the_root_help_gives_the_exit_codes(capsys):
    assert "Exit codes: 0 ok, 1 failure, 2 usage" in help_of("", capsys)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_with_exit_codes_lists_exit_2(command, capsys):
    text = help_of(command, capsys)
    if "Exit 0" in text:
        assert " 2: " in text, text


def test_decommission_help_lists_exit_2(capsys):
    assert "2: usage or configuration" in help_of("decommission", capsys)


@pytest.mark.parametrize(
    ("command", "needs"),
    [
        ("up", "Needs the Pulumi CLI, its backend login, AWS credentials and Docker"),
        ("preview", "Needs the Pulumi CLI, its backend login and AWS credentials; not Docker"),
        ("rollback", "Needs the Pulumi CLI, its backend login and AWS credentials; not Docker"),
        ("unlock", "Needs the Pulumi CLI and its backend login"),
        ("outputs", "Needs the Pulumi CLI and its backend login"),
        ("cutover", "Needs AWS credentials"),
        ("migrate", "Needs AWS credentials and the stack's outputs (the Pulumi CLI)"),
        ("decommission", "Needs AWS credentials, and the Pulumi CLI"),
    ],
)
def test_commands_that_start_pulumi_or_call_aws_say_what_they_need(command, needs, capsys):
    assert needs in help_of(command, capsys)


def plan_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["plan", "--stack", "dev", "--repo", str(ROOT)]) == 0
    return capsys.readouterr().out.splitlines()


def test_the_plan_table_follows_columns(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    lines = plan_lines(capsys)
    assert max(len(line) for line in lines) <= 80
    assert any("cidr=10.0.0.0/16" in line for line in lines)  # the properties still show


def test_the_plan_table_is_wide_when_piped_without_columns(monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = plan_lines(capsys)
    assert max(len(line) for line in lines) == WIDE_OUTPUT_COLUMNS
