"""Concurrency: parallel writes lose nothing, coalesced reads answer each request with its own
student, and several processes migrating one database at once all succeed, once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import httpx
import psycopg
import pytest

from app.migrations import MIGRATIONS, migrate
from tests.app.conftest import ROOT

pytestmark = pytest.mark.anyio


def _body(i: int) -> dict[str, str]:
    return {"nome": f"Aluno {i}", "rg": f"{i:09d}", "cpf": f"{i:011d}"}


async def test_concurrent_creates_lose_nothing(client: httpx.AsyncClient) -> None:
    n = 200  # well over the pool's 10 connections: requests queue for a connection
    responses = await asyncio.gather(*(client.post("/alunos", json=_body(i)) for i in range(n)))
    assert all(r.status_code == 200 for r in responses)
    ids = {r.json()["ID"] for r in responses}
    assert len(ids) == n
    listed = (await client.get("/alunos")).json()
    assert {s["ID"] for s in listed} == ids
    assert sorted(s["cpf"] for s in listed) == sorted(_body(i)["cpf"] for i in range(n))


async def test_concurrent_patches_of_different_fields_all_land(client: httpx.AsyncClient) -> None:
    """Each PATCH merges inside its UPDATE: no request overwrites another's field."""
    created = (await client.post("/alunos", json=_body(1))).json()
    url = f"/alunos/{created['ID']}"
    await asyncio.gather(
        client.patch(url, json={"nome": "Novo Nome"}),
        client.patch(url, json={"rg": "111111111"}),
        client.patch(url, json={"cpf": "22222222222"}),
    )
    final = (await client.get(url)).json()
    assert (final["nome"], final["rg"], final["cpf"]) == ("Novo Nome", "111111111", "22222222222")


async def test_concurrent_reads_each_get_their_own_student(client: httpx.AsyncClient) -> None:
    """Lookups by id are coalesced into shared queries: each still gets exactly its answer."""
    created = [(await client.post("/alunos", json=_body(i))).json() for i in range(30)]
    deleted = created[5]
    await client.delete(f"/alunos/{deleted['ID']}")
    wanted = [s["ID"] for s in created] * 3 + [999_999, deleted["ID"]]
    responses = await asyncio.gather(*(client.get(f"/alunos/{i}") for i in wanted))
    by_id = {s["ID"]: s for s in created}
    for student_id, response in zip(wanted, responses, strict=True):
        if student_id in (999_999, deleted["ID"]):
            assert response.status_code == 404
        else:
            assert response.status_code == 200
            assert response.json() == by_id[student_id]


_MIGRATE = """
import asyncio, sys
from app.config import Database
from app.database import prepare_database
from app.logs import configure_logging
configure_logging()
asyncio.run(prepare_database(Database(conninfo=sys.argv[1]), timeout_s=20))
"""


@pytest.mark.slow
def test_concurrent_migrations_from_several_processes(new_database: Callable[[], str]) -> None:
    conninfo = new_database()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, conninfo],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=60)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, outputs
    # Each migration applied by exactly one of them, and recorded once.
    applied_lines = sum(out.count('"migration applied"') for out in outputs)
    assert applied_lines == len(MIGRATIONS)
    with psycopg.connect(conninfo) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM app_schema_migrations")]
        assert sorted(versions) == [m.version for m in MIGRATIONS]
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
    assert {"idx_alunos_deleted_at", "idx_alunos_cpf_live"} <= indexes


async def test_migrating_an_existing_gorm_database_keeps_its_rows(
    new_database: Callable[[], str],
) -> None:
    """The Go service's database (made by GORM AutoMigrate) is adopted as is."""
    conninfo = new_database()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            'CREATE TABLE "alunos" ("id" bigserial,"created_at" timestamptz,'
            '"updated_at" timestamptz,"deleted_at" timestamptz,"nome" text,"rg" text,'
            '"cpf" text,PRIMARY KEY ("id"))'
        )
        conn.execute(
            'CREATE INDEX IF NOT EXISTS "idx_alunos_deleted_at" ON "alunos" ("deleted_at")'
        )
        conn.execute(
            "INSERT INTO alunos (created_at, updated_at, nome, rg, cpf) "
            "VALUES (now(), now(), 'Legado', '123456789', '12345678901')"
        )
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        assert await migrate(conn) == [m.version for m in MIGRATIONS]
        assert await migrate(conn) == []  # idempotent: nothing left to do
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT nome FROM alunos").fetchall() == [("Legado",)]
