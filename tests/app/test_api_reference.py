"""docs/api.md stays true to the app: its route table is the app's router, every status it lists
for a route is one a documented example really gets, and every example (request, status, body)
is replayed in order against the app over a real PostgreSQL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from starlette.routing import Route

from app.students import Student, StudentStore
from app.web import MAX_BODY_BYTES, create_app
from tests.app.conftest import BUILD, ROOT

pytestmark = pytest.mark.anyio

REFERENCE = (ROOT / "docs" / "api.md").read_text()
_ROW = re.compile(r"^\| (GET|POST|PATCH|PUT|DELETE) \| `(/[^`]*)` \| ([\d, ]+) \|$", re.M)
_EXAMPLE = re.compile(r"^```http\n(.*?)^```$", re.M | re.S)
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
_PLACEHOLDER = re.compile(r"<[^<>]+>")


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    statuses: frozenset[int]

    def matches(self, path: str) -> bool:
        pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(self.path))
        return re.fullmatch(pattern, path.split("?")[0]) is not None


@dataclass(frozen=True)
class Example:
    method: str
    path: str
    body: str
    status: int
    answer: str


def _rows() -> list[Row]:
    return [
        Row(method, path, frozenset(int(s) for s in statuses.split(",")))
        for method, path, statuses in _ROW.findall(REFERENCE)
    ]


def _examples() -> list[Example]:
    examples = []
    for block in _EXAMPLE.findall(REFERENCE):
        request, _, response = block.partition("\n\n")
        request_line, _, body = request.partition("\n")
        method, path = request_line.split(" ")
        status_line, _, answer = response.partition("\n")
        examples.append(Example(method, path, body, int(status_line.split()[1]), answer.strip()))
    return examples


def _route(rows: list[Row], path: str) -> str:
    """The documented path template `path` reaches (the first that matches, as the app tries)."""
    return next(row.path for row in rows if row.matches(path))


def _app_routes() -> list[Route]:
    app = create_app(None, BUILD)  # type: ignore[arg-type]  # the router only
    routes = app.app.routes  # type: ignore[attr-defined]  # RequestLog wraps the Starlette app
    return [route for route in routes if isinstance(route, Route)]


def test_the_route_table_is_the_apps_router_in_its_order() -> None:
    rows = _rows()
    routes = _app_routes()
    documented = {(row.method, row.path) for row in rows}
    served = {(m, r.path) for r in routes for m in r.methods or () if m != "HEAD"}
    assert documented == served
    assert list(dict.fromkeys(row.path for row in rows)) == [r.path for r in routes]
    for route in routes:  # "HEAD wherever GET"
        assert ("HEAD" in (route.methods or ())) == ("GET" in (route.methods or ())), route.path


def test_every_listed_status_is_shown_by_an_example() -> None:
    """413 aside (a 64 KiB body has no place in a page; the next test sends one)."""
    rows = _rows()
    shown = {(e.method, _route(rows, e.path), e.status) for e in _examples()}
    for row in rows:
        for status in row.statuses - {413}:
            assert (row.method, row.path, status) in shown, f"{row}: no example answers {status}"
    for method, path, status in shown:
        listed = next((r for r in rows if (r.method, r.path) == (method, path)), None)
        if listed is None:
            assert status == 405, f"{method} {path} is in no row, so it must answer 405"
        else:
            assert status in listed.statuses, f"{method} {path} answers {status}, not listed"


def _expected(documented: Any, real: Any) -> Any:
    """The documented answer with its times and <placeholders> taken from the real one where
    the real one fits them (else left as documented, so the comparison fails and shows why)."""
    if isinstance(documented, dict) and isinstance(real, dict):
        return {k: _expected(v, real.get(k)) for k, v in documented.items()}
    if isinstance(documented, list) and isinstance(real, list) and len(documented) == len(real):
        return [_expected(d, r) for d, r in zip(documented, real, strict=True)]
    if isinstance(documented, str) and isinstance(real, str):
        if _TIME.fullmatch(documented) and _TIME.fullmatch(real):
            return real
        if _PLACEHOLDER.search(documented):
            parts = _PLACEHOLDER.split(documented)
            if re.fullmatch(".+".join(re.escape(p) for p in parts), real):
                return real
    return documented


async def test_every_example_is_what_the_app_answers(client: httpx.AsyncClient) -> None:
    examples = _examples()
    assert len(examples) >= 20
    for example in examples:
        response = await client.request(
            example.method, example.path, content=example.body.encode() or None
        )
        where = f"{example.method} {example.path}"
        assert response.status_code == example.status, f"{where}: {response.text}"
        if example.answer.startswith("<"):  # an excerpt of an HTML page
            assert response.headers["content-type"].startswith("text/html"), where
            assert example.answer in response.text, where
            continue
        real = response.json()
        assert real == _expected(json.loads(example.answer), real), where


async def test_the_body_limit_is_the_documented_one_on_the_routes_that_list_413(
    client: httpx.AsyncClient,
) -> None:
    assert MAX_BODY_BYTES == 64 * 1024
    assert "64 KiB (65536 bytes)" in REFERENCE
    message = "corpo da requisição muito grande: máximo 65536 bytes"
    assert f'{{"erro": "{message}"}}' in REFERENCE
    with_body = [row for row in _rows() if 413 in row.statuses]
    assert {(row.method, row.path) for row in with_body} == {
        ("POST", "/alunos"),
        ("PATCH", "/alunos/{id}"),
    }
    for row in with_body:
        path = row.path.replace("{id}", "1")
        response = await client.request(row.method, path, content=b" " * (MAX_BODY_BYTES + 1))
        assert (response.status_code, response.json()) == (413, {"erro": message})
        at_limit = await client.request(row.method, path, content=b" " * MAX_BODY_BYTES)
        assert at_limit.status_code != 413


class _DatabaseDown(StudentStore):
    """A store whose database refuses connections."""

    async def list(self) -> list[Student]:
        raise psycopg.OperationalError("connection refused")


async def test_the_documented_503_is_what_a_database_outage_answers(store: StudentStore) -> None:
    transport = httpx.ASGITransport(app=create_app(_DatabaseDown(store.pool), BUILD))
    async with httpx.AsyncClient(transport=transport, base_url="http://alunos.test") as client:
        response = await client.get("/alunos")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert f"`{json.dumps(response.json(), ensure_ascii=False)}`" in REFERENCE
    assert "`Retry-After` (1 s)" in REFERENCE
