import json

import pytest

from automation.cli import main
from automation.errors import UsageProblem
from automation.release.ci_context import StackOperation, context_from_env, decide
from tests.automation.conftest import ScratchRepo
from tests.automation.release.conftest import ci_checkout


def decision_for(env, tmp_path=None, event=None, repo=None):
    env = dict(env)
    if event is not None:
        path = tmp_path / "event.json"
        path.write_text(json.dumps(event))
        env["GITHUB_EVENT_PATH"] = str(path)
    return decide(context_from_env(env, repo=repo))


def tag_push(tag, sha=None):
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": f"refs/tags/{tag}"}
    return env if sha is None else {**env, "GITHUB_SHA": sha}


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
        # A pre-release is rehearsed in dev, never deployed to prod.
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v2.0.0-rc.1"}, "up", ["dev"]),
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
def test_mapping(env, operation, stacks, history):
    decision = decision_for(env, repo=history.checkout)  # both tags are on main's history
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


# --- tags deploy only from main's history -------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "stacks"),
    [
        ("v1.4.2", ["prod"]),  # an older commit of main
        ("v1.5.0", ["prod"]),  # main's tip, an annotated tag (peeled to its commit)
        ("v2.0.0-rc.1", ["dev"]),  # a pre-release on main: rehearsed in dev
        ("v9.9.9", []),  # a commit of a branch main never merged
        ("v9.9.9-rc.1", []),
    ],
)
def test_a_tag_deploys_only_when_main_contains_its_commit(history, tag, stacks):
    decision = decision_for(tag_push(tag), repo=history.checkout)
    assert decision.to_json()["stacks"] == stacks
    if not stacks:
        assert decision.operation is StackOperation.NONE
        assert decision.reason == (
            f"tag {tag} is not on main's history: only tags of commits merged into main deploy"
        )


def test_the_pushed_commit_is_what_must_be_on_main(history):
    """GITHUB_SHA is the commit GitHub ran the workflow for: a release name on a side commit
    (the tag moved, or pushed on another commit) does not deploy."""
    assert decision_for(tag_push("v1.4.2", history.side), repo=history.checkout).stacks == ()
    assert decision_for(tag_push("v9.9.9", history.one), repo=history.checkout).stacks == ("prod",)


def test_a_tagged_commit_merged_into_main_later_is_on_its_history(tmp_path):
    origin = ScratchRepo(tmp_path / "origin")
    origin.commit("base")
    origin.git("switch", "-q", "-c", "feature")
    feature = origin.commit("feature")
    origin.tag("v3.0.0")
    origin.git("switch", "-q", "main")
    checkout = ci_checkout(origin, tmp_path / "before", feature)
    assert decision_for(tag_push("v3.0.0"), repo=checkout).stacks == ()
    origin.commit("main moved on")
    origin.git("merge", "-q", "--no-ff", "-X", "theirs", "-m", "merge feature", "feature")
    checkout = ci_checkout(origin, tmp_path / "after", feature)
    assert decision_for(tag_push("v3.0.0"), repo=checkout).stacks == ("prod",)


def test_a_checkout_without_mains_history_is_a_usage_problem(history):
    """The origin has no refs/remotes/origin/main, as a `fetch-depth: 1` checkout of a tag."""
    with pytest.raises(UsageProblem, match=r"refs/remotes/origin/main is not in the checkout"):
        context_from_env(tag_push("v1.4.2"), repo=history.origin.path)


def test_a_pushed_commit_missing_from_the_checkout_is_a_usage_problem(history):
    with pytest.raises(UsageProblem, match=r"not in the checkout .*fetch-depth: 0"):
        context_from_env(tag_push("v1.4.2", "0" * 40), repo=history.checkout)


def test_only_a_pushed_release_tag_asks_git(tmp_path):
    """Branches, pull requests, other tags and deleted tags decide from the variables alone:
    `tmp_path` is no git repository."""
    assert decision_for(
        {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, repo=tmp_path
    ).stacks == ("dev",)
    assert decision_for(tag_push("latest"), repo=tmp_path).stacks == ()
    deleted = decision_for(tag_push("v1.4.2"), tmp_path, {"deleted": True}, repo=tmp_path)
    assert "deleted" in deleted.reason


def test_cli_stack_for_a_tag_in_the_ci_checkout(history, monkeypatch, capsys):
    monkeypatch.chdir(history.checkout)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_REF", "refs/tags/v9.9.9")
    assert main(["stack", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["operation"], printed["stacks"]) == ("none", [])
    assert "not on main's history" in printed["reason"]
    monkeypatch.setenv("GITHUB_REF", "refs/tags/v1.5.0")
    assert main(["stack", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stacks"] == ["prod"]


def test_cli_stack_in_a_shallow_checkout_exits_2(history, monkeypatch, capsys):
    monkeypatch.chdir(history.origin.path)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_REF", "refs/tags/v1.5.0")
    assert main(["stack", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "fetch-depth: 0" in captured.err
