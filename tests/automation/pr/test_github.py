"""Upserting the preview comment on a PR, against a local server speaking GitHub's API."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from automation.cli import main
from automation.errors import AutomationError, UsageProblem
from automation.pr.github import (
    IssueComments,
    pull_request_from_env,
    run_url_from_env,
    warning_command,
)
from tests.automation.pr.engine_events import SECRET_SIG, steps, write_log
from tests.automation.pr.fake_github import TOKEN, FakeGitHub

PR = 7
MARKER = "<!-- alunos-api:preview:dev -->"


@pytest.fixture
def github():
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def preview_log(tmp_path: Path) -> Path:
    events = [
        *steps(
            "replace",
            "aws:rds/instance:Instance",
            "alunos-db",
            old={"engineVersion": "15", "password": {**SECRET_SIG, "value": "pw-never-shown"}},
            new={"engineVersion": "16", "password": {**SECRET_SIG, "value": "pw-never-shown"}},
            diffs=["engineVersion"],
        ),
        *steps("create", "aws:ecs/service:Service", "alunos-service", new={"desiredCount": 2}),
    ]
    return write_log(tmp_path / "preview.jsonl", events, config={"alunos-api:version": "1.4.0"})


def actions_env(tmp_path: Path, api_url: str, *, number: int | None = PR) -> dict[str, str]:
    event = tmp_path / "event.json"
    payload = {"action": "synchronize", "pull_request": {"number": number}} if number else {}
    event.write_text(json.dumps(payload))
    return {
        "GITHUB_API_URL": api_url,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": "acme/alunos-api",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "99",
    }


def run_comment(monkeypatch, env: dict[str, str], log: Path) -> int:
    for name in ("GITHUB_API_URL", "GITHUB_TOKEN", "GITHUB_EVENT_PATH", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(["comment", "--stack", "dev", "--events", str(log)])


def fill(fake: FakeGitHub, count: int, marker_at: int | None = None) -> None:
    for index in range(count):
        body = f"{MARKER}\nold preview" if index == marker_at else f"review comment {index}"
        fake.state.add_comment(PR, body)


def test_the_marker_comment_on_the_third_page_is_edited_in_place(
    github, tmp_path, monkeypatch, preview_log, capsys
):
    fill(github, 250, marker_at=230)  # pages of 100: the marker is on page 3
    target = github.state.comments[PR][230]["id"]
    assert run_comment(monkeypatch, actions_env(tmp_path, github.api_url), preview_log) == 0
    listed = [r for r in github.state.requests if r.method == "GET"]
    assert [r.query.get("page", ["1"])[0] for r in listed] == ["1", "2", "3"]
    assert listed[0].query["per_page"] == ["100"]
    writes = [r for r in github.state.requests if r.method != "GET"]
    assert [(r.method, r.path) for r in writes] == [
        ("PATCH", f"/repos/acme/alunos-api/issues/comments/{target}")
    ]
    body = github.state.comments[PR][230]["body"]
    assert body.startswith(MARKER + "\n")
    assert "alunos-db" in body
    assert "old preview" not in body
    assert len(github.state.comments[PR]) == 250
    assert "pw-never-shown" not in body
    assert "updated the preview comment" in capsys.readouterr().err


def test_absent_comment_is_created_then_updated_on_the_next_run(
    github, tmp_path, monkeypatch, preview_log
):
    fill(github, 205)
    github.state.add_comment(PR, "<!-- alunos-api:preview:prod -->\nprod's preview")
    env = actions_env(tmp_path, github.api_url)
    assert run_comment(monkeypatch, env, preview_log) == 0
    (created,) = [r for r in github.state.requests if r.method == "POST"]
    assert created.path == f"/repos/acme/alunos-api/issues/{PR}/comments"
    assert len(github.state.comments[PR]) == 207
    github.state.requests.clear()
    assert run_comment(monkeypatch, env, preview_log) == 0
    assert [r.method for r in github.state.requests] == ["GET", "GET", "GET", "PATCH"]
    assert len(github.state.comments[PR]) == 207  # still one comment per stack
    assert (
        github.state.comments[PR][205]["body"] == "<!-- alunos-api:preview:prod -->\nprod's preview"
    )


def test_requests_carry_githubs_headers_and_the_bearer_token(
    github, tmp_path, monkeypatch, preview_log
):
    assert run_comment(monkeypatch, actions_env(tmp_path, github.api_url), preview_log) == 0
    for request in github.state.requests:
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_403_writes_the_summary_warns_and_does_not_fail(
    github, tmp_path, monkeypatch, preview_log, capsys
):
    github.state.refuse_writes = True
    env = actions_env(tmp_path, github.api_url)
    assert run_comment(monkeypatch, env, preview_log) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("::warning::could not comment on pull request #7")
    assert "Resource not accessible by integration" in captured.out
    assert "job summary" in captured.out
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith(MARKER)
    assert "alunos-db" in summary
    assert TOKEN not in captured.out + captured.err


def test_the_summary_is_appended_even_outside_a_pull_request(
    tmp_path, monkeypatch, preview_log, capsys
):
    env = actions_env(tmp_path, "http://127.0.0.1:9", number=None)
    summary = Path(env["GITHUB_STEP_SUMMARY"])
    summary.write_text("earlier step\n")
    assert run_comment(monkeypatch, env, preview_log) == 2
    assert "not in a pull request run" in capsys.readouterr().err
    text = summary.read_text()
    assert text.startswith("earlier step\n" + MARKER)
    assert "[the workflow run](https://github.com/acme/alunos-api/actions/runs/99)" in text


def test_no_event_file_is_exit_2(tmp_path, monkeypatch, preview_log, capsys):
    env = actions_env(tmp_path, "http://127.0.0.1:9")
    del env["GITHUB_EVENT_PATH"]
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    assert run_comment(monkeypatch, env, preview_log) == 2
    assert "GITHUB_EVENT_PATH is not set" in capsys.readouterr().err


def test_github_enterprise_base_url(tmp_path, monkeypatch, preview_log):
    with FakeGitHub(prefix="/api/v3") as ghe:
        fill(ghe, 120, marker_at=110)
        assert run_comment(monkeypatch, actions_env(tmp_path, ghe.api_url), preview_log) == 0
        assert all(r.path.startswith("/api/v3/") for r in ghe.state.requests)
        assert ghe.state.requests[-1].method == "PATCH"
        assert "alunos-db" in ghe.state.comments[PR][110]["body"]


@pytest.mark.parametrize(
    ("token", "repository", "message"),
    [
        ("wrong-token", "acme/alunos-api", "401: Bad credentials"),
        (TOKEN, "acme/other", "404: Not Found"),
    ],
)
def test_auth_and_not_found_errors_fail_with_a_clear_message(
    github, tmp_path, monkeypatch, preview_log, capsys, token, repository, message
):
    env = actions_env(tmp_path, github.api_url) | {
        "GITHUB_TOKEN": token,
        "GITHUB_REPOSITORY": repository,
    }
    assert run_comment(monkeypatch, env, preview_log) == 1
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert token not in err


def test_server_errors_are_retried_with_backoff(github):
    github.state.fail_next = [502, 503]
    pauses: list[float] = []
    with IssueComments(
        github.api_url, "acme/alunos-api", TOKEN, backoff=0.5, sleep=pauses.append
    ) as comments:
        done = comments.upsert(PR, f"{MARKER}\nbody")
    assert done.action == "created"
    assert pauses == [0.5, 1.0]


def test_persistent_server_errors_give_up_after_three_attempts(github):
    github.state.fail_next = [500, 500, 500]
    with (
        IssueComments(github.api_url, "acme/alunos-api", TOKEN, sleep=lambda _: None) as comments,
        pytest.raises(AutomationError, match="answered 500: Server Error"),
    ):
        comments.find(PR, MARKER)
    assert len(github.state.requests) == 3


def test_network_errors_are_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens
    pauses: list[float] = []
    with (
        IssueComments(
            f"http://127.0.0.1:{port}", "acme/alunos-api", TOKEN, sleep=pauses.append
        ) as comments,
        pytest.raises(AutomationError, match="ConnectError") as raised,
    ):
        comments.find(PR, MARKER)
    assert len(pauses) == 2
    assert TOKEN not in str(raised.value)


def test_a_next_page_on_another_host_is_not_followed_with_the_token(github, monkeypatch):
    fill(github, 150)
    real_links = IssueComments._next_page

    def elsewhere(self, response):
        real_links(self, response)
        response.headers["Link"] = '<https://evil.example/steal?page=2>; rel="next"'
        return real_links(self, response)

    monkeypatch.setattr(IssueComments, "_next_page", elsewhere)
    with (
        IssueComments(github.api_url, "acme/alunos-api", TOKEN) as comments,
        pytest.raises(AutomationError, match="not following it with the token"),
    ):
        comments.find(PR, MARKER)


def test_pull_request_number_from_the_event(tmp_path):
    event = tmp_path / "e.json"
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "acme/alunos-api"}
    event.write_text(json.dumps({"number": 12}))
    assert pull_request_from_env(env).number == 12
    event.write_text(json.dumps({"pull_request": {"number": 13}, "number": 12}))
    found = pull_request_from_env(env | {"GITHUB_API_URL": "https://ghe.example.com/api/v3/"})
    assert (found.number, found.api_url) == (13, "https://ghe.example.com/api/v3")
    assert pull_request_from_env(env).api_url == "https://api.github.com"
    event.write_text(json.dumps({"ref": "refs/heads/main"}))  # a push event
    with pytest.raises(UsageProblem, match=r"no pull_request\.number"):
        pull_request_from_env(env)
    event.write_text("{broken")
    with pytest.raises(UsageProblem, match="is not JSON"):
        pull_request_from_env(env)


def test_missing_token_is_a_usage_problem(github, tmp_path, monkeypatch, preview_log, capsys):
    env = actions_env(tmp_path, github.api_url) | {"GITHUB_TOKEN": ""}
    assert run_comment(monkeypatch, env, preview_log) == 2
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text().startswith(MARKER)


def test_run_url_and_warning_command_helpers():
    env = {"GITHUB_SERVER_URL": "https://ghe.example.com/", "GITHUB_REPOSITORY": "a/b"}
    assert (
        run_url_from_env(env | {"GITHUB_RUN_ID": "5"})
        == "https://ghe.example.com/a/b/actions/runs/5"
    )
    assert run_url_from_env(env) is None
    assert warning_command("50% done\nnext") == "::warning::50%25 done%0Anext\n"
