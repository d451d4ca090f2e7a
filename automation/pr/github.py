"""Publish a rendered preview where reviewers look: one upserted comment per stack on the pull
request, and the workflow run's job summary.

The comment is found by the hidden marker on its first line, searched across every page of the
PR's comments, and edited in place, so a PR carries one up-to-date preview per stack however many
times CI runs. Pull requests from forks get a read-only token: the 403 that follows is expected,
so the job summary still carries the preview and the job only warns.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from automation.errors import AutomationError, UsageProblem

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
RETRIES = 2  # after the first attempt, for 5xx, 429 and network errors
MAX_PAGES = 1_000
_MARKER = re.compile(r"<!-- alunos-api:[a-z]+:[^\n>]+ -->")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class CommentForbidden(AutomationError):
    """GitHub answered 403: the token may not write comments (a fork's read-only token)."""


@dataclass(frozen=True, slots=True)
class PullRequest:
    """Where to comment, from the GitHub Actions environment."""

    api_url: str
    repository: str
    number: int


@dataclass(frozen=True, slots=True)
class Published:
    """What `publish` did, for the CLI to report."""

    action: str  # "created", "updated" or "skipped"
    comment_url: str | None = None
    summary_written: bool = False
    warning: str | None = None


def run_url_from_env(env: Mapping[str, str]) -> str | None:
    """The Actions run's page (the full log), from the variables every job has."""
    server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
    repository = env.get("GITHUB_REPOSITORY", "")
    run_id = env.get("GITHUB_RUN_ID", "")
    if server and _REPOSITORY.fullmatch(repository) and run_id.isdigit():
        return f"{server}/{repository}/actions/runs/{run_id}"
    return None


def warning_command(message: str) -> str:
    """A GitHub Actions `::warning::` workflow command (data escaped as the runner expects)."""
    data = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::warning::{data}\n"


def write_step_summary(markdown: str, env: Mapping[str, str]) -> bool:
    """Append to `$GITHUB_STEP_SUMMARY` when the job has one; whether it was written."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    try:
        with Path(path).open("a", encoding="utf-8") as summary:
            summary.write(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as error:
        raise AutomationError(
            f"could not append to the job summary {path}: {error.strerror}"
        ) from None
    return True


def pull_request_from_env(env: Mapping[str, str]) -> PullRequest:
    """The PR this `pull_request` run is for; a usage error (exit 2) outside one."""
    event_path = env.get("GITHUB_EVENT_PATH")
    if not event_path:
        raise UsageProblem(
            "not in a pull request run: GITHUB_EVENT_PATH is not set "
            "(the comment command runs in a GitHub Actions `pull_request` workflow)"
        )
    repository = env.get("GITHUB_REPOSITORY", "")
    if not _REPOSITORY.fullmatch(repository):
        raise UsageProblem(
            "GITHUB_REPOSITORY must be OWNER/REPO (GitHub Actions sets it); "
            f"found {repository[:100]!r}"
        )
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageProblem(
            f"cannot read the GitHub event file {event_path}: {error.strerror}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageProblem(f"the GitHub event file {event_path} is not JSON") from None
    number = _pr_number(event)
    if number is None:
        raise UsageProblem(
            "not in a pull request run: the event has no pull_request.number "
            "(run the comment command from a `pull_request` workflow)"
        )
    api_url = (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    if urlsplit(api_url).scheme not in ("https", "http") or not urlsplit(api_url).netloc:
        raise UsageProblem(f"GITHUB_API_URL {api_url[:100]!r} is not an http(s) URL")
    return PullRequest(api_url=api_url, repository=repository, number=number)


def _pr_number(event: Any) -> int | None:
    if not isinstance(event, dict):
        return None
    pull_request = event.get("pull_request")
    number = pull_request.get("number") if isinstance(pull_request, dict) else None
    if number is None:
        number = event.get("number")
    if isinstance(number, int) and not isinstance(number, bool) and number > 0:
        return number
    return None


class IssueComments:
    """GitHub's issue-comments REST API for one repository (a PR is an issue)."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: str,
        *,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._origin = _origin(api_url)
        self._repository = repository
        self._backoff = backoff
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "alunos-api-automation",
            },
            timeout=httpx.Timeout(10.0, read=30.0),
            follow_redirects=True,  # httpx drops Authorization on a redirect to another origin
            transport=transport,
        )

    def __enter__(self) -> IssueComments:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def find(self, number: int, marker: str) -> dict[str, Any] | None:
        """The first comment whose body starts with `marker`, searching every page."""
        url: str | None = f"/repos/{self._repository}/issues/{number}/comments"
        params: dict[str, int] | None = {"per_page": PER_PAGE}
        for _page in range(MAX_PAGES):
            if url is None:
                return None
            response = self._request("GET", url, params=params)
            comments = response.json()
            if not isinstance(comments, list):
                raise AutomationError(
                    f"GitHub listed the comments of #{number} as {type(comments).__name__}, "
                    "not a list"
                )
            for comment in comments:
                body = comment.get("body") if isinstance(comment, dict) else None
                if isinstance(body, str) and body.startswith(marker):
                    return comment
            url, params = self._next_page(response), None
        raise AutomationError(f"gave up listing the comments of #{number} after {MAX_PAGES} pages")

    def upsert(self, number: int, body: str) -> Published:
        """Edit this stack's comment in place, or create it when the PR has none yet."""
        found = _MARKER.match(body)
        if found is None:
            raise UsageProblem("the comment body must start with its hidden alunos-api marker")
        existing = self.find(number, found.group(0))
        if existing is not None and isinstance(existing.get("id"), int):
            path = f"/repos/{self._repository}/issues/comments/{existing['id']}"
            response = self._request("PATCH", path, json={"body": body})
            action = "updated"
        else:
            path = f"/repos/{self._repository}/issues/{number}/comments"
            response = self._request("POST", path, json={"body": body})
            action = "created"
        answer = response.json()
        url = answer.get("html_url") if isinstance(answer, dict) else None
        return Published(action=action, comment_url=url if isinstance(url, str) else None)

    def _next_page(self, response: httpx.Response) -> str | None:
        """The Link header's `next` page, only ever on the API's own origin (the token goes
        with every request)."""
        url = response.links.get("next", {}).get("url")
        if url is None:
            return None
        if _origin(url) != self._origin:
            raise AutomationError(
                f"GitHub's next-page link points to {_origin(url)}, not {self._origin}; "
                "not following it with the token"
            )
        return url

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        where = f"{method} {urlsplit(url).path or url}"
        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TransportError as error:
                if last:
                    raise AutomationError(
                        f"GitHub API {where} failed: {type(error).__name__}: {error} "
                        f"(after {RETRIES + 1} attempts)"
                    ) from None
            else:
                status = response.status_code
                if status < 300:
                    _require_json(response, where)
                    return response
                if status == 403:
                    raise CommentForbidden(_refusal(response, where))
                if (status < 500 and status != 429) or last:
                    raise AutomationError(_refusal(response, where) + _hint(status))
            self._sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _require_json(response: httpx.Response, where: str) -> None:
    try:
        response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AutomationError(
            f"GitHub API {where} answered {response.status_code} without JSON"
        ) from None


def _refusal(response: httpx.Response, where: str) -> str:
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message = f": {body['message'][:300]}"
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return f"GitHub API {where} answered {response.status_code}{message}"


def _hint(status: int) -> str:
    if status == 401:
        return " (GITHUB_TOKEN is missing, expired or not a GitHub token)"
    if status == 404:
        return (
            " (check GITHUB_REPOSITORY, the pull request number and GITHUB_API_URL; a private "
            "repository also answers 404 to a token without access)"
        )
    return ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def commenting_context(env: Mapping[str, str]) -> tuple[PullRequest, str]:
    """The pull request to comment on and the token to do it with; a usage error (exit 2) when
    either is missing. `preview --comment` checks this before it runs the preview."""
    pull_request = pull_request_from_env(env)
    token = env.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise UsageProblem(
            "GITHUB_TOKEN is not set: pass the job's token to this step "
            "(env: GITHUB_TOKEN: ${{ github.token }}, with `pull-requests: write` permission)"
        )
    return pull_request, token


def publish(markdown: str, env: Mapping[str, str], *, backoff: float = 1.0) -> Published:
    """Write the job summary, then upsert the PR comment.

    The summary comes first so that it exists whatever happens to the comment. A 403 is not a
    failure (fork PRs get a read-only token): the result carries a warning instead.
    """
    summary_written = write_step_summary(markdown, env)
    pull_request, token = commenting_context(env)
    comments = IssueComments(pull_request.api_url, pull_request.repository, token, backoff=backoff)
    try:
        with comments:
            done = comments.upsert(pull_request.number, markdown)
    except CommentForbidden as refusal:
        where = "the job summary" if summary_written else "no job summary (not set)"
        return Published(
            action="skipped",
            summary_written=summary_written,
            warning=(
                f"could not comment on pull request #{pull_request.number}: {refusal}. "
                "Pull requests from forks get a read-only token; "
                f"the preview is in {where} instead."
            ),
        )
    return Published(
        action=done.action, comment_url=done.comment_url, summary_written=summary_written
    )
