"""`preview --comment`: the preview's own engine events rendered and upserted on the PR, as
`comment` does with a log file; `--events-out` saves them for the workflow's artifacts."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from pulumi.automation import EngineEvent

from automation.cli import main
from tests.automation.fakes import FakeBackend, FakeStack, fake_environment
from tests.automation.pr.engine_events import SECRET_SIG, stack_events, steps, write_log
from tests.automation.pr.fake_github import FakeGitHub
from tests.automation.pr.test_github import actions_env

PR = 7
MARKER = "<!-- alunos-api:preview:dev -->"
PASSWORD = "pw-hunter2-never-shown"  # test data that must never be printed
SHARED = Path(__file__).resolve().parents[1]  # tests/automation: the stand-in pulumi and its data


def preview_log(path: Path) -> Path:
    """A realistic preview: the stack, a replaced database, an updated service, a new rule."""
    events = [
        *stack_events({"serviceUrl": "http://old"}, {"serviceUrl": "http://new"}),
        *steps(
            "replace",
            "aws:rds/instance:Instance",
            "alunos-db",
            old={"engine": "postgres", "dbName": "alunos", "password": PASSWORD},
            new={"engine": "postgres", "dbName": "students", "password": PASSWORD},
            diffs=["dbName"],
        ),
        *steps(
            "update",
            "aws:ecs/service:Service",
            "alunos-service",
            old={"desiredCount": 2, "environment": [{"name": "DB_PASSWORD", "value": PASSWORD}]},
            new={"desiredCount": 3, "environment": [{"name": "DB_PASSWORD", "value": PASSWORD}]},
            diffs=["desiredCount"],
        ),
        *steps(
            "create",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "alb-https",
            new={"fromPort": 443, "toPort": 443, "token": {**SECRET_SIG, "value": PASSWORD}},
        ),
    ]
    config = {"alunos-api:version": "0.0.0", "alunos-api:dbPassword": PASSWORD}
    return write_log(path, events, config=config)


def engine_events(log: Path) -> list[EngineEvent]:
    """The events as the Automation API hands them to `on_event`."""
    return [EngineEvent.from_json(json.loads(line)) for line in log.read_text().splitlines()]


@pytest.fixture
def github():
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def pr_env(tmp_path, github, monkeypatch):
    env = actions_env(tmp_path, github.api_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def fake_stack(tmp_path):
    return FakeStack(preview_events=engine_events(preview_log(tmp_path / "recorded.jsonl")))


@pytest.fixture
def git_repo(repo):
    repo.project().commit()
    repo.tag("v1.4.2")
    repo.commit()
    return repo


def preview(git_repo, *extra: str, stack: FakeStack | None = None) -> int:
    """Through the fake `stack`, or the real seam when there is none."""
    env = fake_environment(FakeBackend(stack)) if stack is not None else None
    return main(["preview", "--stack", "dev", "--repo", str(git_repo.path), *extra], env)


def test_preview_comment_upserts_the_rendered_preview(
    fake_stack, git_repo, github, pr_env, tmp_path, capsys
):
    events_out = tmp_path / "artifacts" / "dev-events.jsonl"
    events_out.parent.mkdir()
    assert preview(git_repo, "--comment", "--events-out", str(events_out), stack=fake_stack) == 0, (
        capsys.readouterr().err
    )
    (posted,) = github.state.comments[PR]
    body = posted["body"]
    assert body.startswith(MARKER + "\n")
    assert "version <code>1.4.3-dev.1</code>" in body  # the stamped build, not the log's config
    assert "**1** to create · **1** to update · **1** to replace · **0** to delete" in body
    assert "alunos-db" in body
    assert "[!CAUTION]" in body  # a replaced database
    assert "https://github.com/acme/alunos-api/actions/runs/99" in body
    assert PASSWORD not in body
    assert Path(pr_env["GITHUB_STEP_SUMMARY"]).read_text() == body
    # The saved log renders the same comment, and holds no secret.
    saved = events_out.read_text()
    assert PASSWORD not in saved
    capsys.readouterr()
    assert (
        main(["render", "--stack", "dev", "--events", str(events_out), "--version", "1.4.3-dev.1"])
        == 0
    )
    assert capsys.readouterr().out == body


def test_a_second_preview_edits_the_same_comment(fake_stack, git_repo, github, pr_env):
    github.state.add_comment(PR, "looks good to me")
    assert preview(git_repo, "--comment", stack=fake_stack) == 0
    fake_stack.preview_events = fake_stack.preview_events[:-4]  # the new rule is gone
    assert preview(git_repo, "--comment", stack=fake_stack) == 0
    comments = github.state.comments[PR]
    assert len(comments) == 2
    assert "**0** to create" in comments[1]["body"]
    assert [r.method for r in github.state.requests].count("POST") == 1


def test_a_fork_pr_403_warns_and_keeps_the_json_parseable(
    fake_stack, git_repo, github, pr_env, capsys
):
    github.state.refuse_writes = True
    assert preview(git_repo, "--comment", "--json", stack=fake_stack) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed["comment"]["action"] == "skipped"
    assert "read-only token" in printed["comment"]["warning"]
    assert "::warning::could not comment on pull request #7" in captured.err
    assert MARKER in Path(pr_env["GITHUB_STEP_SUMMARY"]).read_text()


def test_outside_a_pull_request_nothing_is_previewed(
    fake_stack, git_repo, monkeypatch, tmp_path, capsys
):
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    assert preview(git_repo, "--comment", stack=fake_stack) == 2
    assert "not in a pull request run" in capsys.readouterr().err
    assert fake_stack.preview_calls == []


def test_without_a_token_nothing_is_previewed(fake_stack, git_repo, pr_env, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_TOKEN")
    assert preview(git_repo, "--comment", stack=fake_stack) == 2
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err
    assert fake_stack.preview_calls == []


def test_an_unwritable_events_out_is_refused_before_the_preview(
    fake_stack, git_repo, tmp_path, capsys
):
    missing = tmp_path / "no-such-dir" / "events.jsonl"
    assert preview(git_repo, "--events-out", str(missing), stack=fake_stack) == 2
    assert f"--events-out {missing}: cannot write the event log" in capsys.readouterr().err
    assert fake_stack.preview_calls == []


def test_a_plain_preview_collects_no_events(fake_stack, git_repo, capsys):
    delivered: list[object] = []
    fake_stack.preview_events = []
    original = fake_stack.preview

    def spy(**kwargs):
        delivered.append(kwargs["on_event"])
        return original(**kwargs)

    fake_stack.preview = spy  # type: ignore[method-assign]
    assert preview(git_repo, stack=fake_stack) == 0
    assert delivered == [None]


def test_preview_comment_through_the_real_seam(git_repo, github, pr_env, tmp_path, monkeypatch):
    """The Pulumi CLI stand-in writes the event log; Pulumi's own watcher delivers the events."""
    (git_repo.path / "Pulumi.yaml").write_text("name: alunos-api\nruntime: python\n")
    (git_repo.path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-2\n")
    git_repo.git("add", "Pulumi.yaml", "Pulumi.dev.yaml")
    git_repo.git("commit", "-q", "-m", "project")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{SHARED / "fake_pulumi_cli.py"}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_STACKS", "dev")
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "3.200.0")  # events through the log file
    monkeypatch.setenv("FAKE_PULUMI_EVENTS", str(preview_log(tmp_path / "engine.jsonl")))
    assert preview(git_repo, "--comment") == 0
    (posted,) = github.state.comments[PR]
    assert posted["body"].startswith(MARKER)
    assert "**1** to replace" in posted["body"]
    assert PASSWORD not in posted["body"]
