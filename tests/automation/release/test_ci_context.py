import json

import pytest

from automation.cli import main
from automation.errors import UsageProblem
from automation.release.ci_context import StackOperation, context_from_env, decide


def decision_for(env, tmp_path=None, event=None):
    env = dict(env)
    if event is not None:
        path = tmp_path / "event.json"
        path.write_text(json.dumps(event))
        env["GITHUB_EVENT_PATH"] = str(path)
    return decide(context_from_env(env))


@pytest.mark.parametrize(
    ("env", "operation", "stacks"),
    [
        (
            {
                "GITHUB_EVENT_NAME": "pull_request",
                "GITHUB_REF": "refs/pull/7/merge",
                "GITHUB_BASE_REF": "main",
            },
            "preview",
            ["dev", "prod"],
        ),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, "up", ["dev"]),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.4.2"}, "up", ["prod"]),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v2.0.0-rc.1"}, "up", ["prod"]),
        # Anything else: nothing.
        (
            {
                "GITHUB_EVENT_NAME": "pull_request",
                "GITHUB_REF": "refs/pull/8/merge",
                "GITHUB_BASE_REF": "release/1.x",
            },
            "none",
            [],
        ),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature/x"}, "none", []),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.2"}, "none", []),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/latest"}, "none", []),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.2.3+meta"}, "none", []),
        ({"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/main"}, "none", []),
        ({"GITHUB_EVENT_NAME": "schedule", "GITHUB_REF": "refs/heads/main"}, "none", []),
        (
            {
                "GITHUB_EVENT_NAME": "pull_request_target",
                "GITHUB_REF": "refs/heads/main",
                "GITHUB_BASE_REF": "main",
            },
            "none",
            [],
        ),
        ({}, "none", []),
    ],
)
def test_mapping(env, operation, stacks):
    decision = decision_for(env)
    assert decision.to_json()["operation"] == operation
    assert decision.to_json()["stacks"] == stacks
    assert decision.reason


def test_pull_request_base_comes_from_the_event_payload(tmp_path):
    event = {"pull_request": {"number": 7, "base": {"ref": "main"}, "head": {"ref": "feat"}}}
    decision = decision_for({"GITHUB_EVENT_NAME": "pull_request"}, tmp_path, event)
    assert decision.operation is StackOperation.PREVIEW
    assert decision.stacks == ("dev", "prod")


def test_payload_base_wins_over_the_variable(tmp_path):
    event = {"pull_request": {"base": {"ref": "develop"}}}
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main"}
    assert decision_for(env, tmp_path, event).operation is StackOperation.NONE


def test_a_deleted_release_tag_deploys_nothing(tmp_path):
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.4.2"}
    decision = decision_for(env, tmp_path, {"ref": "refs/tags/v1.4.2", "deleted": True})
    assert decision.operation is StackOperation.NONE
    assert "deleted" in decision.reason


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"])
def test_a_malformed_event_file_is_a_usage_problem(tmp_path, content):
    path = tmp_path / "event.json"
    path.write_bytes(content.encode("latin-1"))
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(path)}
    with pytest.raises(UsageProblem, match="GITHUB_EVENT_PATH"):
        context_from_env(env)


def test_a_missing_event_file_is_a_usage_problem(tmp_path):
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(tmp_path / "gone.json")}
    with pytest.raises(UsageProblem, match="cannot read"):
        context_from_env(env)


def test_cli_stack_json(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    assert main(["stack", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["operation"] == "up"
    assert printed["stacks"] == ["dev"]


def test_cli_stack_with_a_malformed_event_exits_2(monkeypatch, capsys, tmp_path):
    path = tmp_path / "event.json"
    path.write_text("{")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    assert main(["stack", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "not a JSON event payload" in captured.err
