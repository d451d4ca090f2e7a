"""A database outage while serving: 503 with a message (not a 500, not a hung request), /health
still answering, and service back by itself once the database is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from app.config import Database
from app.database import open_pool, prepare_database
from app.students import StudentStore
from app.web import create_app
from tests.app.conftest import BUILD

pytestmark = pytest.mark.anyio

ANA = {"nome": "Ana Souza", "rg": "123456789", "cpf": "12345678901"}


@pytest.fixture
async def outage_db(new_database: Callable[[], str], pg_server: str) -> AsyncIterator[str]:
    conninfo = new_database()
    await prepare_database(Database(conninfo=conninfo), timeout_s=10)
    yield conninfo
    _set_outage(pg_server, conninfo, down=False)  # even when the test failed half-way


def _set_outage(pg_server: str, conninfo: str, down: bool) -> None:
    name = str(conninfo_to_dict(conninfo)["dbname"])
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(name), sql.SQL("false" if down else "true")
            )
        )
        if down:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


async def test_outage_gives_503_then_recovers(outage_db: str, pg_server: str) -> None:
    pool = await open_pool(
        Database(conninfo=outage_db), min_size=2, max_size=4, checkout_timeout_s=0.5
    )
    store = StudentStore(pool)
    transport = httpx.ASGITransport(app=create_app(store, BUILD))
    async with httpx.AsyncClient(transport=transport, base_url="http://alunos.test") as client:
        created = (await client.post("/alunos", json=ANA)).json()
        _set_outage(pg_server, outage_db, down=True)
        started = time.monotonic()
        # At once, as requests come: those finding no connection wait out the checkout together.
        routes = [
            ("GET", "/alunos"),
            ("GET", f"/alunos/{created['ID']}"),
            ("POST", "/alunos"),
            ("GET", "/index"),
            ("GET", "/alunos/cpf/12345678901"),
        ]
        answers = await asyncio.gather(
            *(client.request(method, path, json=ANA) for method, path in routes)
        )
        for (_, path), response in zip(routes, answers, strict=True):
            assert response.status_code == 503, (path, response.text)
            assert "banco de dados indisponível" in response.json()["erro"]
            assert response.headers["retry-after"] == "1"
        assert time.monotonic() - started < 10  # bounded by the checkout timeout, not hung
        assert (await client.get("/health")).status_code == 200

        _set_outage(pg_server, outage_db, down=False)
        deadline = time.monotonic() + 20
        while (response := await client.get(f"/alunos/{created['ID']}")).status_code != 200:
            assert time.monotonic() < deadline, "no recovery after the outage"
            await asyncio.sleep(0.2)
        assert response.json() == created
    await store.close()
