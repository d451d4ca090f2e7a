"""A real PostgreSQL for the app's tests: `ALUNOS_TEST_DATABASE_URL` when set, else one embedded
server (pgserver) for the whole session; a `DATABASE_URL` in the shell is ignored
(tests/conftest.py). Each test that needs isolation gets a database of its own.
Roles that must log in with a password (the embedded server trusts local connections), and a
moto server standing in for Secrets Manager."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.config import BuildInfo, Database
from app.database import open_pool, prepare_database
from app.students import StudentStore
from app.web import create_app

ROOT = Path(__file__).resolve().parents[2]
BUILD = BuildInfo(version="1.4.2", revision="0123456789abcdef", created="2025-01-31T12:00:00Z")
REGION = "us-east-2"
# A server of your choice for these tests (a maintenance database's URL), never DATABASE_URL.
TEST_DATABASE_URL = "ALUNOS_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Conninfo of a maintenance database on the server the tests use."""
    url = os.environ.get(TEST_DATABASE_URL)
    if url:
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset, harmless
        import pgserver

    with tempfile.TemporaryDirectory(prefix="app-tests-pg-") as pgdata:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
def new_database(pg_server: str) -> Iterator[Callable[[], str]]:
    """Factory: a fresh empty database, its conninfo; all dropped at the end of the session."""
    created: list[str] = []

    def create() -> str:
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return make_conninfo(pg_server, dbname=name)

    yield create
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def api_database(new_database: Callable[[], str]) -> Database:
    """One migrated database shared by the API tests (emptied before each of them)."""
    database = Database(conninfo=new_database())
    asyncio.run(prepare_database(database, timeout_s=10))
    return database


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(api_database: Database) -> AsyncIterator[StudentStore]:
    async with await psycopg.AsyncConnection.connect(api_database.conninfo) as conn:
        await conn.execute("TRUNCATE alunos RESTART IDENTITY")
    pool = await open_pool(api_database, min_size=1, max_size=10)
    store = StudentStore(pool)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def client(store: StudentStore) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, over an in-memory ASGI transport."""
    transport = httpx.ASGITransport(app=create_app(store, BUILD))
    async with httpx.AsyncClient(transport=transport, base_url="http://alunos.test") as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AppProcess:
    """`python -m app` in a subprocess, its stdout (JSON log lines) collected to a file."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.port = int(env["PORT"]) if env["PORT"].isdigit() else 0
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"app-{secrets.token_hex(3)}.log"
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_healthy(self, timeout: float = 20) -> None:
        """Until /health answers 200 with the database reached (not `"status": "starting"`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"app exited {self.process.returncode}:\n{self.output()}")
            try:
                answer = httpx.get(self.url + "/health", timeout=1)
                if answer.status_code == 200 and answer.json()["status"] != "starting":
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"app not healthy after {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)


def app_env(port: int, **extra: str) -> dict[str, str]:
    """A clean environment: no HOST/USER/PASSWORD leaking in from the shell, nothing of ours."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PORT=str(port), PYTHONDONTWRITEBYTECODE="1", DB_STARTUP_TIMEOUT="20")
    env.update(extra)
    return env


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., AppProcess]]:
    started: list[AppProcess] = []

    def start(**env: str) -> AppProcess:
        process = AppProcess(app_env(free_port(), **env), tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


# --- logins with a password, Secrets Manager ---------------------------------------------------


@dataclass
class PasswordRole:
    """A role the server checks the password of (SCRAM), owner of its own database."""

    name: str
    password: str
    conninfo: str  # its database, as a superuser: for ALTER ROLE and inspection
    host: str
    port: str
    dbname: str

    def login(self, password: str | None = None) -> str:
        """Conninfo logging in as this role (with `password`, default the current one)."""
        return make_conninfo(self.conninfo, user=self.name, password=password or self.password)

    def rotate(self, password: str) -> None:
        """What the setSecret step of a rotation does: the database takes the new password."""
        with psycopg.connect(self.conninfo, autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(self.name), sql.Literal(password)
                )
            )
        self.password = password


@pytest.fixture
def password_role(pg_server: str, new_database: Callable[[], str]) -> Iterator[PasswordRole]:
    """A role that logs in with a password checked by the server, through pg_hba.conf rules
    for that role alone (first match wins), so the rest of the session is unaffected."""
    name = f"r_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        hba = Path(str(admin.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
        if not os.access(hba, os.W_OK):
            pytest.skip(
                "needs the test server's pg_hba.conf (a local server, not ALUNOS_TEST_DATABASE_URL)"
            )
        password = secrets.token_urlsafe(16)
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        rules = f"local all {name} scram-sha-256\nhost all {name} all scram-sha-256\n"
        original = hba.read_text()
        hba.write_text(rules + original)
        admin.execute("SELECT pg_reload_conf()")
    conninfo = new_database()
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(name)))
    parts = conninfo_to_dict(conninfo)
    try:
        yield PasswordRole(
            name,
            password,
            conninfo,
            host=str(parts.get("host") or ""),
            port=str(parts.get("port") or ""),
            dbname=str(parts["dbname"]),
        )
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            hba.write_text(hba.read_text().replace(rules, ""))
            admin.execute("SELECT pg_reload_conf()")


@pytest.fixture
def secretsmanager(moto_endpoint: str) -> Any:
    import boto3

    return boto3.client("secretsmanager", region_name=REGION)
