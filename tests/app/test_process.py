"""`python -m app` as a process: start-up against a late database, graceful shutdown with a
request in flight, restarts keeping data, the embedded database, JSON logs without secrets."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from app.config import Database
from app.database import prepare_database
from tests.app.conftest import AppProcess, free_port

pytestmark = pytest.mark.slow  # python -m app in child processes

ANA = {"nome": "Ana Souza", "rg": "123456789", "cpf": "12345678901"}
SECRET = "Sup3r/S3cret-Pw"  # pgserver trusts local connections, so any password gets in
StartApp = Callable[..., AppProcess]


def _lines(output: str) -> list[dict[str, object]]:
    """Every line the app printed, each one a JSON object (fails on any other line)."""
    return [json.loads(line) for line in output.splitlines() if line.strip()]


RETRYING = "database not reachable yet, retrying"
OVERDUE = "database still unreachable; the data routes answer 503 until it answers"


def _retries(app: AppProcess, since: str | None = None) -> int:
    """How many failed attempts the app has logged so far; with `since`, after the first line
    with that message (0 before there is one). A line still being written is left out."""
    output = app.output()
    lines = _lines(output[: output.rfind("\n") + 1])
    if since is not None:
        start = next((i for i, line in enumerate(lines) if line["message"] == since), len(lines))
        lines = lines[start:]
    return sum(line["message"] == RETRYING for line in lines)


def _until(app: AppProcess, condition: Callable[[], bool], timeout: float = 20) -> None:
    """Poll `condition` while the app runs; fail if it exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert app.process.poll() is None, app.output()
        assert time.monotonic() < deadline, app.output()
        time.sleep(0.05)


def _url(conninfo: str, *, host: str | None = None, port: int | None = None) -> tuple[str, str]:
    """A postgresql:// URL for `conninfo` (optionally via host:port) and the password in it."""
    parts = conninfo_to_dict(conninfo)
    password = str(parts.get("password") or SECRET)
    user = parts.get("user") or "postgres"
    netloc = f"{user}:{quote(password, safe='')}@{host or ''}" + (f":{port}" if port else "")
    query = (
        ""
        if host
        else f"?host={quote(str(parts['host']))}"
        + (f"&port={parts['port']}" if parts.get("port") else "")
    )
    return f"postgresql://{netloc}/{parts['dbname']}{query}", password


@pytest.fixture
def migrated(new_database: Callable[[], str]) -> str:
    conninfo = new_database()
    asyncio.run(prepare_database(Database(conninfo=conninfo), timeout_s=10))
    return conninfo


def test_json_logs_with_request_ids_and_no_password(start_app: StartApp, migrated: str) -> None:
    url, password = _url(migrated)
    app = start_app(DATABASE_URL=url)
    app.wait_healthy()
    httpx.get(app.url + "/health", headers={"X-Request-Id": "req-42"})
    trace = "Root=1-67891233-abcdef012345678912345678"
    httpx.get(app.url + "/alunos/abc", headers={"X-Amzn-Trace-Id": trace})
    created = httpx.post(app.url + "/alunos", json=ANA).json()
    assert app.stop() == 0

    output = app.output()
    assert password not in output
    assert quote(password, safe="") not in output
    lines = _lines(output)
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
    requests = [line for line in lines if line["message"] == "request"]
    for line in requests:
        assert {"request_id", "method", "path", "status", "latency_ms"} <= line.keys()
        assert isinstance(line["latency_ms"], float | int)
    by_path = {line["path"]: line for line in requests}
    assert by_path["/health"]["request_id"] == "req-42"
    assert by_path["/alunos/abc"] == {**by_path["/alunos/abc"], "status": 400, "request_id": trace}
    assert by_path["/alunos"]["method"] == "POST"
    assert created["ID"] >= 1
    starting = next(line for line in lines if line["message"] == "starting")
    assert starting["database"] == _describe(migrated)


def _describe(conninfo: str) -> str:
    return Database(conninfo=conninfo).describe()


class LateProxy:
    """A TCP port that starts forwarding to PostgreSQL only when asked: a database coming up."""

    def __init__(self, conninfo: str) -> None:
        parts = conninfo_to_dict(conninfo)
        self.host = str(parts.get("host") or "localhost")
        self.port = int(parts.get("port") or 5432)
        self.listen_port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    async def _target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.host}/.s.PGSQL.{self.port}")
        return await asyncio.open_connection(self.host, self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target_reader, target_writer = await self._target()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer))

    def open(self) -> None:
        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port)

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(5)

    def __enter__(self) -> LateProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _accepts(app: AppProcess) -> bool:
    """Whether the app takes a new connection (and answers on it)."""
    try:
        httpx.get(app.url + "/health", timeout=1)
    except httpx.TransportError:
        return False
    return True


def _health_when_serving(app: AppProcess, timeout: float = 15) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = httpx.get(app.url + "/health", timeout=1)
            assert answer.status_code == 200
            body: dict[str, object] = answer.json()
            return body
        except httpx.TransportError:
            assert time.monotonic() < deadline, app.output()
            time.sleep(0.05)


def test_startup_serves_before_a_database_that_comes_up_late(
    start_app: StartApp, migrated: str
) -> None:
    """A dev stack waking up: the task starts before its RDS instance answers. The app serves
    /health (no database call) and 503 with its JSON error on the data routes, connects in the
    background, then serves everything, instead of exiting for ECS to restart it."""
    with LateProxy(migrated) as proxy:
        url, _ = _url(migrated, host="127.0.0.1", port=proxy.listen_port)
        # Serving after 1 s without the database, trying again at least every second.
        app = start_app(
            DATABASE_URL=url, DB_STARTUP_TIMEOUT="30", DB_HEAD_START="1", DB_RETRY_MAX_INTERVAL="1"
        )
        health = _health_when_serving(app)
        assert health["status"] == "starting"
        assert str(health["database"]).startswith("not reached yet, since ")
        refused = httpx.post(app.url + "/alunos", json=ANA)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert refused.json() == {"erro": "banco de dados indisponível no momento; tente novamente"}
        assert httpx.get(app.url + "/alunos").status_code == 503
        assert httpx.get(app.url + "/version").status_code == 200  # no database either
        tried = _retries(app)
        _until(app, lambda: _retries(app) > tried)
        assert app.process.poll() is None  # still trying, not crashed
        proxy.open()
        app.wait_healthy(timeout=15)
        assert httpx.get(app.url + "/health").json() == {"status": "ok"}
        assert httpx.post(app.url + "/alunos", json=ANA).status_code == 200
        assert app.stop() == 0
    lines = _lines(app.output())
    retries = [line for line in lines if line["message"] == RETRYING]
    assert len(retries) >= 2
    assert retries[0]["attempt"] == 1
    assert all(isinstance(line["retry_in_s"], float | int) for line in retries)
    early = [line for line in lines if line["message"] == "database not reached yet"]
    assert early
    assert all(line["level"] == "warning" for line in early)


def test_keeps_trying_when_the_database_is_late_past_the_timeout(
    start_app: StartApp, migrated: str
) -> None:
    """DB_STARTUP_TIMEOUT no longer ends the process: it is when the wait is logged as an error
    (once), and the app goes on trying."""
    url, password = _url(migrated, host="127.0.0.1", port=free_port())
    app = start_app(
        DATABASE_URL=url, DB_STARTUP_TIMEOUT="1", DB_HEAD_START="1", DB_RETRY_MAX_INTERVAL="1"
    )
    assert _health_when_serving(app)["status"] == "starting"
    # The attempt that logged the error, then at least one more: that one is not logged again.
    _until(app, lambda: _retries(app, since=OVERDUE) >= 2)
    assert app.process.poll() is None
    assert _health_when_serving(app)["status"] == "starting"
    assert app.stop() == 0
    output = app.output()
    assert password not in output
    overdue = [line for line in _lines(output) if line["level"] == "error"]
    assert len(overdue) == 1
    assert "DB_STARTUP_TIMEOUT" in str(overdue[0]["error"])


def test_configuration_error_exits_2_with_a_json_line(start_app: StartApp) -> None:
    app = start_app(PORT="not-a-port")
    assert app.process.wait(20) == 2
    (line,) = _lines(app.output())
    assert line["level"] == "error"
    assert "PORT='not-a-port' is not an integer" in str(line["error"])


def test_restart_keeps_the_data(start_app: StartApp, migrated: str) -> None:
    url, _ = _url(migrated)
    first = start_app(DATABASE_URL=url)
    first.wait_healthy()
    created = httpx.post(first.url + "/alunos", json=ANA).json()
    assert first.stop() == 0
    second = start_app(DATABASE_URL=url)
    second.wait_healthy()
    assert httpx.get(f"{second.url}/alunos/{created['ID']}").json() == created
    assert second.stop() == 0


def test_embedded_database_one_command_and_data_survives(
    start_app: StartApp, tmp_path: Path
) -> None:
    data_dir = tmp_path / "pg"
    first = start_app(APP_DATA_DIR=str(data_dir))
    first.wait_healthy(timeout=60)  # initdb on the first run
    created = httpx.post(first.url + "/alunos", json=ANA).json()
    assert first.stop() == 0
    assert not (data_dir / "postmaster.pid").exists()  # the embedded server stopped with it
    second = start_app(APP_DATA_DIR=str(data_dir))
    second.wait_healthy(timeout=30)
    assert httpx.get(f"{second.url}/alunos/{created['ID']}").json() == created
    assert second.stop() == 0


@pytest.fixture
def row_lock(migrated: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(migrated) as conn:
        yield conn


def test_sigterm_lets_the_request_in_flight_finish(
    start_app: StartApp, migrated: str, row_lock: psycopg.Connection
) -> None:
    url, _ = _url(migrated)
    app = start_app(DATABASE_URL=url, SHUTDOWN_TIMEOUT="20")
    app.wait_healthy()
    created = httpx.post(app.url + "/alunos", json=ANA).json()

    # Hold the row: the PATCH below blocks in PostgreSQL, in flight, until we let go.
    row_lock.execute("SELECT 1 FROM alunos WHERE id = %s FOR UPDATE", (created["ID"],))
    with ThreadPoolExecutor(1) as pool:
        patch = pool.submit(
            httpx.patch, f"{app.url}/alunos/{created['ID']}", json={"nome": "Depois"}, timeout=30
        )
        with psycopg.connect(migrated, autocommit=True) as watcher:
            deadline = time.monotonic() + 10
            while not watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = "
                "current_database()"
            ).fetchone():
                assert time.monotonic() < deadline, "the PATCH never reached the database"
                time.sleep(0.05)
        app.process.send_signal(signal.SIGTERM)
        _until(app, lambda: not _accepts(app))  # the listener closed, the process still up
        assert app.process.poll() is None  # draining, not dead
        with pytest.raises(httpx.TransportError):
            httpx.get(app.url + "/health", timeout=1)  # no new connections while draining
        row_lock.rollback()
        response = patch.result(timeout=15)
    assert response.status_code == 200
    assert response.json()["nome"] == "Depois"
    assert app.process.wait(15) == 0
    messages = [line["message"] for line in _lines(app.output())]
    assert messages.index("Shutting down") < len(messages) - 1
    assert messages[-1] == "stopped"
