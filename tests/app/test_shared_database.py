"""The shift: the Go service and the app serve from one database, and the app migrates it.

The database is the one GORM's AutoMigrate made for `Aluno{gorm.Model; Nome; RG; CPF}`, holding
rows. The Go service's statements are the ones GORM generates for the original handlers. While
the app migrates, a Go transaction holds a row lock: the migration waits for it, and nothing the
Go service sends may wait for the migration. Afterwards the Go statements still work, and the
schema is still the one AutoMigrate expects (so it has nothing to alter back).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from app.migrations import MIGRATIONS, Index, Migration, MigrationFailed, migrate

pytestmark = pytest.mark.anyio

# What GORM v2's postgres dialect runs for AutoMigrate of the Go model on an empty database.
GORM_DDL = (
    'CREATE TABLE "alunos" ("id" bigserial,"created_at" timestamptz,"updated_at" timestamptz,'
    '"deleted_at" timestamptz,"nome" text,"rg" text,"cpf" text,PRIMARY KEY ("id"))',
    'CREATE INDEX IF NOT EXISTS "idx_alunos_deleted_at" ON "alunos" ("deleted_at")',
)
# The Go handlers' statements as GORM generates them ($n placeholders written %s): list
# (db.Find), by id (db.First), by cpf (db.Where(&Aluno{CPF: cpf}).First), create, edit
# (db.Model(&aluno).UpdateColumns(aluno)), delete (soft: db.Delete(&aluno, id)).
GO_STATEMENTS: list[tuple[str, str, tuple[Any, ...]]] = [
    ("list", 'SELECT * FROM "alunos" WHERE "alunos"."deleted_at" IS NULL', ()),
    (
        "by id",
        'SELECT * FROM "alunos" WHERE "alunos"."id" = %s AND "alunos"."deleted_at" IS NULL '
        'ORDER BY "alunos"."id" LIMIT 1',
        (2,),
    ),
    (
        "by cpf",
        'SELECT * FROM "alunos" WHERE "alunos"."cpf" = %s AND "alunos"."deleted_at" IS NULL '
        'ORDER BY "alunos"."id" LIMIT 1',
        ("00000000003",),
    ),
    (
        "create",
        'INSERT INTO "alunos" ("created_at","updated_at","deleted_at","nome","rg","cpf") '
        'VALUES (now(),now(),NULL,%s,%s,%s) RETURNING "id"',
        ("Go", "999999999", "99999999999"),
    ),
    (
        "edit",
        'UPDATE "alunos" SET "updated_at"=now(),"nome"=%s WHERE "alunos"."deleted_at" IS NULL '
        'AND "id" = %s',
        ("Editado pelo Go", 2),
    ),
    (
        "delete",
        'UPDATE "alunos" SET "deleted_at"=now() WHERE "alunos"."id" = %s '
        'AND "alunos"."deleted_at" IS NULL',
        (3,),
    ),
]
HELD_ROW = 1  # the row the long Go transaction holds


@pytest.fixture
def gorm_database(new_database: Callable[[], str]) -> str:
    conninfo = new_database()
    with psycopg.connect(conninfo) as conn:
        for statement in GORM_DDL:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute(
            "INSERT INTO alunos (created_at, updated_at, nome, rg, cpf) SELECT now(), now(), "
            "'Aluno ' || g, lpad(g::text, 9, '0'), lpad(g::text, 11, '0') "
            "FROM generate_series(1, 2000) g"
        )
    return conninfo


async def _go_service_runs_freely(conninfo: str) -> list[str]:
    """Each Go statement once, in autocommit, failing after 1 s of waiting for a lock: the
    names of those that had to wait (empty: nothing of the Go service was blocked).

    All at once, each on a connection of its own, as the Go service's requests come: the blocked
    ones wait out their second together. None waits for another (distinct rows)."""

    async def run(name: str, statement: str, params: tuple[Any, ...]) -> str | None:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as go:
            await go.execute("SET lock_timeout = '1s'")
            try:
                await go.execute(statement, params)  # type: ignore[arg-type]
            except psycopg.errors.LockNotAvailable:
                return name
        return None

    ran = await asyncio.gather(*(run(*go) for go in GO_STATEMENTS))
    return [name for name in ran if name is not None]


async def _waiting_for_a_lock(conninfo: str, pid: int) -> str | None:
    """The statement backend `pid` is waiting in for a lock, if it is."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as watcher:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor = await watcher.execute(
                "SELECT query FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                (pid,),
            )
            row = await cursor.fetchone()
            if row:
                return str(row[0])
            await asyncio.sleep(0.02)
    return None


async def _asking_for_the_lock(conninfo: str, pid: int) -> bool:
    """Whether backend `pid` asks for the migration lock (its statement names it) within 10 s."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as watcher:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor = await watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND query LIKE %s",
                (pid, "%advisory_lock(%"),
            )
            if await cursor.fetchone():
                return True
            await asyncio.sleep(0.02)
    return False


async def _table_locks(conninfo: str, pid: int) -> set[str]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as watcher:
        cursor = await watcher.execute(
            "SELECT mode FROM pg_locks WHERE pid = %s AND relation = 'alunos'::regclass", (pid,)
        )
        return {row[0] for row in await cursor.fetchall()}


async def test_migrating_never_blocks_the_go_service(gorm_database: str) -> None:
    async with (
        await psycopg.AsyncConnection.connect(gorm_database) as held,
        await psycopg.AsyncConnection.connect(gorm_database, autocommit=True) as app,
    ):
        # A Go request in a transaction, holding a row (and its table's ROW EXCLUSIVE lock).
        await held.execute("UPDATE alunos SET nome = 'Em uso' WHERE id = %s", (HELD_ROW,))
        migration = asyncio.create_task(migrate(app))
        waiting_in = await _waiting_for_a_lock(gorm_database, app.info.backend_pid)
        assert waiting_in is not None, "the migration did not wait for the Go transaction"
        assert waiting_in.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS")
        # Meanwhile: no lock of the migration that the Go statements conflict with...
        assert await _table_locks(gorm_database, app.info.backend_pid) <= {
            "ShareUpdateExclusiveLock"
        }
        # ...and every Go statement goes through, writes included.
        assert await _go_service_runs_freely(gorm_database) == []
        assert not migration.done()
        await held.commit()
        assert await asyncio.wait_for(migration, 10) == [m.version for m in MIGRATIONS]

    assert await _go_service_runs_freely(gorm_database) == []  # and after
    with psycopg.connect(gorm_database) as conn:
        invalid = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE NOT i.indisvalid"
        ).fetchall()
        assert invalid == []
        nomes: dict[int, str] = dict(
            conn.execute("SELECT id, nome FROM alunos WHERE id IN (1, 2)").fetchall()
        )
    assert nomes == {1: "Em uso", 2: "Editado pelo Go"}


async def test_the_harness_sees_a_blocking_migration(gorm_database: str) -> None:
    """What the test above guards against, shown by the migration this app used to run: a plain
    CREATE INDEX in a transaction queues behind the Go transaction, and the Go writers queue
    behind it (the reads still pass: its SHARE lock only conflicts with writers)."""
    async with (
        await psycopg.AsyncConnection.connect(gorm_database) as held,
        await psycopg.AsyncConnection.connect(gorm_database) as old_app,
    ):
        await held.execute("UPDATE alunos SET nome = 'Em uso' WHERE id = %s", (HELD_ROW,))
        plain = asyncio.create_task(
            old_app.execute(
                "CREATE INDEX IF NOT EXISTS idx_alunos_cpf_live ON alunos (cpf) "
                "WHERE deleted_at IS NULL"
            )
        )
        assert await _waiting_for_a_lock(gorm_database, old_app.info.backend_pid)
        assert await _go_service_runs_freely(gorm_database) == ["create", "edit", "delete"]
        await held.rollback()
        await plain
        await old_app.rollback()


async def test_starters_waiting_for_the_lock_do_not_deadlock_an_index_build(
    gorm_database: str,
) -> None:
    """A second task starting while the first builds an index waits for the migration lock
    without a snapshot (CREATE INDEX CONCURRENTLY waits for every older snapshot)."""
    async with (
        await psycopg.AsyncConnection.connect(gorm_database) as held,
        await psycopg.AsyncConnection.connect(gorm_database, autocommit=True) as first,
        await psycopg.AsyncConnection.connect(gorm_database, autocommit=True) as second,
    ):
        await held.execute("UPDATE alunos SET nome = 'Em uso' WHERE id = %s", (HELD_ROW,))
        building = asyncio.create_task(migrate(first))
        assert await _waiting_for_a_lock(gorm_database, first.info.backend_pid)
        joining = asyncio.create_task(migrate(second))
        assert await _asking_for_the_lock(gorm_database, second.info.backend_pid)
        await held.commit()
        assert await asyncio.wait_for(building, 10) == [m.version for m in MIGRATIONS]
        assert await asyncio.wait_for(joining, 10) == []


async def test_an_index_build_that_failed_half_way_is_redone(gorm_database: str) -> None:
    """A concurrent build cut short leaves an INVALID index that IF NOT EXISTS would keep."""
    async with (
        await psycopg.AsyncConnection.connect(gorm_database) as held,
        await psycopg.AsyncConnection.connect(gorm_database, autocommit=True) as app,
    ):
        await held.execute("UPDATE alunos SET nome = 'Em uso' WHERE id = %s", (HELD_ROW,))
        with pytest.raises(MigrationFailed, match=r"migration 2 \(index for GET .*lock timeout"):
            await migrate(app, lock_timeout_s=0.5)
        await held.commit()
        cursor = await app.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_alunos_cpf_live'::regclass"
        )
        assert await cursor.fetchone() == (False,)  # what the failed build left
        assert await migrate(app) == [2]
        cursor = await app.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_alunos_cpf_live'::regclass"
        )
        assert await cursor.fetchone() == (True,)


def _schema(conninfo: str) -> tuple[list[tuple[Any, ...]], set[str]]:
    with psycopg.connect(conninfo) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_name = 'alunos' ORDER BY ordinal_position"
        ).fetchall()
        indexes = {
            str(r[0])
            for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'alunos'")
        }
    return columns, indexes


async def test_the_app_makes_the_schema_gorm_expects(
    new_database: Callable[[], str], gorm_database: str
) -> None:
    """A database the app created first is one GORM's AutoMigrate finds nothing to change in:
    same columns, types, nullability and defaults; its index there; the app's index is extra
    (AutoMigrate never drops an index)."""
    fresh = new_database()
    async with await psycopg.AsyncConnection.connect(fresh, autocommit=True) as app:
        await migrate(app)
    async with await psycopg.AsyncConnection.connect(gorm_database, autocommit=True) as app:
        await migrate(app)
    app_columns, app_indexes = _schema(fresh)
    gorm_columns, gorm_indexes = _schema(gorm_database)
    assert app_columns == gorm_columns
    assert (
        app_indexes
        == gorm_indexes
        == {"alunos_pkey", "idx_alunos_deleted_at", "idx_alunos_cpf_live"}
    )


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE alunos ADD COLUMN email text",
        "CREATE INDEX idx_alunos_nome ON alunos (nome)",
        "DROP INDEX idx_alunos_cpf_live",
        "CREATE TABLE alunos_copia AS SELECT * FROM alunos",
    ],
)
def test_a_migration_that_could_block_or_undo_is_refused(statement: str) -> None:
    with pytest.raises(ValueError, match="only CREATE TABLE IF NOT EXISTS runs in a transaction"):
        Migration(3, "not allowed", statements=(statement,))
    Migration(3, "allowed", indexes=(Index("idx_alunos_nome", "ON alunos (nome)"),))
