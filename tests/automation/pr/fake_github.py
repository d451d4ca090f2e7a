"""A local HTTP server speaking GitHub's issue-comments REST API, for the commenter's tests.

It paginates like GitHub (`per_page`, `page`, a `Link` header whose `next` URL uses the
`/repositories/{id}/...` form), checks the token, and can be told to refuse writes (403, as a
fork PR's read-only token gets) or to fail the next requests (5xx).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "ghs_test-token-0123456789"
REPOSITORY_ID = 4242


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubState:
    prefix: str = ""  # "/api/v3" for GitHub Enterprise Server
    repository: str = "acme/alunos-api"
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    refuse_writes: bool = False
    fail_next: list[int] = field(default_factory=list)
    next_id: int = 1000

    def add_comment(self, number: int, body: str, user: str = "someone") -> dict[str, Any]:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": user},
            "html_url": f"https://github.example/{self.repository}/pull/{number}#c{self.next_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment


class _Handler(BaseHTTPRequestHandler):
    state: GitHubState

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        state = self.state
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = json.loads(raw) if raw else None
        state.requests.append(
            Request(method, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
        )
        if state.fail_next:
            return self._send(state.fail_next.pop(0), {"message": "Server Error"})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"message": "Bad credentials"})
        path = parts.path
        if not path.startswith(state.prefix):
            return self._send(404, {"message": "Not Found"})
        path = path[len(state.prefix) :]
        repo = re.escape(state.repository)
        listing = re.fullmatch(
            rf"(?:/repos/{repo}|/repositories/{REPOSITORY_ID})/issues/(\d+)/comments", path
        )
        edit = re.fullmatch(rf"/repos/{repo}/issues/comments/(\d+)", path)
        if listing and method == "GET":
            return self._list(int(listing.group(1)), parse_qs(parts.query))
        if listing and method == "POST":
            if state.refuse_writes:
                return self._refuse()
            return self._send(201, state.add_comment(int(listing.group(1)), body["body"], "bot"))
        if edit and method == "PATCH":
            if state.refuse_writes:
                return self._refuse()
            for comments in state.comments.values():
                for comment in comments:
                    if comment["id"] == int(edit.group(1)):
                        comment["body"] = body["body"]
                        return self._send(200, comment)
        return self._send(404, {"message": "Not Found"})

    def _list(self, number: int, query: dict[str, list[str]]) -> None:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        comments = self.state.comments.get(number, [])
        chunk = comments[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(comments) // per_page))
        host = self.headers["Host"]
        base = f"http://{host}{self.state.prefix}/repositories/{REPOSITORY_ID}/issues/{number}"
        links = []
        if page < last:
            links.append(f'<{base}/comments?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{base}/comments?per_page={per_page}&page={last}>; rel="last"')
        self._send(200, chunk, {"Link": ", ".join(links)} if links else {})

    def _refuse(self) -> None:
        self._send(403, {"message": "Resource not accessible by integration"})

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeGitHub:
    """Runs the fake API on a free local port for the duration of a `with` block."""

    def __init__(self, prefix: str = "") -> None:
        self.state = GitHubState(prefix=prefix)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def api_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.state.prefix}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
