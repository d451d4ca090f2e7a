"""The HTTP API: routes, error responses and the request log.

Route precedence (Starlette tries routes in order, and `GET /{nome}` matches any single path
segment): `/health`, `/version`, `/index` and `/alunos` are declared first and win; any other
single segment is a name to greet; a path of two or more segments that no route knows gets the
404 HTML page. A known path asked with another method gets a 405 JSON answer with `Allow`.
A trailing slash is redirected to the path without it (gin did the same).
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import BuildInfo
from app.credentials import CredentialsStatus
from app.database import Startup
from app.logs import fields, log_request, request_id_var
from app.pages import index_page, not_found_page
from app.students import StudentStore, format_time
from app.validation import InvalidInput, parse_cpf, parse_id, parse_student

log = logging.getLogger("app.request")

Endpoint = Callable[[Request], Awaitable[Response]]

MAX_BODY_BYTES = 64 * 1024
NOT_FOUND = {"Not Found": "Aluno não encontrado"}
# Request ids from clients or the ALB end up in logs and headers: accept a safe alphabet only.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:;=/+@-]{1,200}")
# Ids made here: random per process (unique across tasks), then a counter (cheaper than
# randomness for every request; an id need not be secret, only unique).
_ID_PREFIX = secrets.token_hex(12)
_ID_COUNTER = itertools.count(1)


class ApiError(Exception):
    """An error answered as `{"erro": message}` with `status`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _store(request: Request) -> StudentStore:
    store: StudentStore = request.app.state.store
    return store


async def _read_body(request: Request) -> bytes:
    """The body, refusing more than MAX_BODY_BYTES before reading it all into memory."""
    too_large = ApiError(413, f"corpo da requisição muito grande: máximo {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 9 or int(declared) > MAX_BODY_BYTES):
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def health(request: Request) -> Response:
    """Liveness: always 200, no database round trip; says when the database refuses the login,
    or has not been reached yet since the app started (the data routes answer 503 meanwhile).

    ECS and the ALB call this every few seconds on every task. Tying its status code to the
    database would turn a database blip into every task being killed and restarted at once (a
    restart storm) while the database is what is down; requests that need the database answer
    503 meanwhile. A refused login is the same: every task reads the same secret, so a restart
    fixes nothing (the app already reads the secret again when refused) and killing all tasks
    turns an outage of the database routes into one of the whole API. The body says it instead
    (`"status": "degraded"`), for whoever looks, next to the ERROR log line and the 5xx alarm.
    """
    status: CredentialsStatus | None = request.app.state.credentials_status
    since = status.refused_since if status else None
    if since is not None:
        return JSONResponse(
            {"status": "degraded", "database": f"login refused since {format_time(since)}"}
        )
    startup: Startup | None = request.app.state.startup
    if startup is not None and startup.waiting_since is not None:
        waiting = format_time(startup.waiting_since)
        return JSONResponse({"status": "starting", "database": f"not reached yet, since {waiting}"})
    return JSONResponse({"status": "ok"})


async def version(request: Request) -> Response:
    build: BuildInfo = request.app.state.build
    return JSONResponse(
        {"version": build.version, "revision": build.revision, "created": build.created}
    )


async def greet(request: Request) -> Response:
    return JSONResponse({"API diz": f"E ai {request.path_params['nome']}, Tudo beleza?"})


async def list_students(request: Request) -> Response:
    return JSONResponse([s.to_json() for s in await _store(request).list()])


async def index(request: Request) -> Response:
    return HTMLResponse(index_page(await _store(request).list()))


async def create_student(request: Request) -> Response:
    new = parse_student(await _read_body(request), partial=False)
    return JSONResponse((await _store(request).create(new)).to_json())


async def get_student(request: Request) -> Response:
    student = await _store(request).get(parse_id(request.path_params["id"]))
    if student is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    return JSONResponse(student.to_json())


async def get_student_by_cpf(request: Request) -> Response:
    student = await _store(request).get_by_cpf(parse_cpf(request.path_params["cpf"]))
    if student is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    return JSONResponse(student.to_json())


async def update_student(request: Request) -> Response:
    student_id = parse_id(request.path_params["id"])
    changes = parse_student(await _read_body(request), partial=True)
    student = await _store(request).update(student_id, changes)
    if student is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    return JSONResponse(student.to_json())


async def delete_student(request: Request) -> Response:
    """Idempotent like the Go service: deleting a missing or deleted student also answers 200."""
    await _store(request).soft_delete(parse_id(request.path_params["id"]))
    return JSONResponse({"data": "Aluno deletado com sucesso"})


def _erro(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"erro": message}, status_code=status, headers=headers)


async def on_invalid_input(request: Request, exc: Exception) -> Response:
    return _erro(400, str(exc))


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _erro(exc.status, exc.message, exc.headers)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return HTMLResponse(not_found_page(), status_code=404)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return _erro(405, f"método {request.method} não permitido; use {allowed}", exc.headers)
    return _erro(exc.status_code, exc.detail, exc.headers)


async def on_database_unavailable(request: Request, exc: Exception) -> Response:
    startup: Startup | None = request.app.state.startup
    starting = startup is not None and startup.waiting_since is not None
    # Before the database was first reached, a 503 is expected (app.database.bring_up says at
    # ERROR when that lasts past DB_STARTUP_TIMEOUT); afterwards, it is an outage.
    (log.warning if starting else log.error)(
        "database not reached yet" if starting else "database unavailable",
        extra=fields(error_type=type(exc).__name__, error=str(exc).strip()),
    )
    return _erro(
        503, "banco de dados indisponível no momento; tente novamente", {"Retry-After": "1"}
    )


class RequestLog:
    """Outermost layer: request id in, `X-Request-Id` out, one JSON log line per request.

    The id is the client's `X-Request-Id` when it looks sane, else the ALB's `X-Amzn-Trace-Id`,
    else a new one; it is echoed back so a client can quote it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def _request_id(scope: Scope) -> str:
        headers = dict(scope["headers"])
        for name in (b"x-request-id", b"x-amzn-trace-id"):
            value = headers.get(name, b"").decode("latin-1")
            if _REQUEST_ID.fullmatch(value):
                return value
        return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self._request_id(scope)
        token = request_id_var.set(request_id)
        status = 500
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_request(
                method=scope["method"],
                path=scope["path"],
                status=status,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            request_id_var.reset(token)


def _resource(path: str, **handlers: Endpoint) -> Route:
    """One route per path, so that a 405 lists every method the path allows."""
    by_method = {**handlers, "HEAD": handlers["GET"]} if "GET" in handlers else handlers

    async def endpoint(request: Request) -> Response:
        return await by_method[request.method](request)

    return Route(path, endpoint, methods=list(handlers))


def create_app(
    store: StudentStore,
    build: BuildInfo,
    credentials_status: CredentialsStatus | None = None,
    startup: Startup | None = None,
) -> ASGIApp:
    """The ASGI app over a store (the caller owns the store's lifetime). With `startup`, the
    store's pool may open later: until it has, /health says so and the data routes answer 503."""
    routes = [
        _resource("/health", GET=health),
        _resource("/version", GET=version),
        _resource("/index", GET=index),
        _resource("/alunos", GET=list_students, POST=create_student),
        _resource("/alunos/cpf/{cpf}", GET=get_student_by_cpf),
        _resource("/alunos/{id}", GET=get_student, PATCH=update_student, DELETE=delete_student),
        _resource("/{nome}", GET=greet),
    ]
    handlers: dict[Any, Any] = {
        InvalidInput: on_invalid_input,
        ApiError: on_api_error,
        HTTPException: on_http_exception,
        psycopg.OperationalError: on_database_unavailable,
        PoolTimeout: on_database_unavailable,
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.store = store
    app.state.build = build
    app.state.credentials_status = credentials_status
    app.state.startup = startup
    return RequestLog(app)
