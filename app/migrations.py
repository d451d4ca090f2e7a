"""The app's schema migrations, for a database the Go service shares while traffic is split.

The schema is the one GORM's AutoMigrate made for the Go service (table `alunos`, soft delete
through `deleted_at`), and during the shift both services serve from it at once. So a migration
only adds, and never blocks the Go service's statements: a new table is created in a transaction
(`CREATE TABLE IF NOT EXISTS`, no lock on an existing table), an index is built with `CREATE
INDEX CONCURRENTLY` outside any transaction (writers go on meanwhile). Nothing else: no ALTER, no
DROP (what AutoMigrate would alter back or trip over), no plain CREATE INDEX, which takes a SHARE
lock even when the index exists, and queues every writer behind it.

Several tasks of a new deployment start at once: an advisory lock makes them migrate one after
the other, and each migration is idempotent and recorded, so the second finds nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from app.logs import fields

log = logging.getLogger("app.migrations")

# Any constant shared by every copy of the app; pg_try_advisory_lock takes a bigint.
MIGRATION_LOCK_KEY = 0x616C756E6F73  # "alunos"
# How often a starter waiting for another one's migration asks for the lock again.
LOCK_POLL_S = 0.2
# A transactional step waits this long for a lock, then fails instead of queueing the service's
# statements behind it (only CREATE TABLE IF NOT EXISTS runs there: it normally waits for none).
DDL_LOCK_TIMEOUT = "5s"
_ADDITIVE = re.compile(r"\s*CREATE TABLE IF NOT EXISTS\s", re.IGNORECASE)


@dataclass(frozen=True)
class Index:
    """An index built with CREATE INDEX CONCURRENTLY; `definition` follows its name."""

    name: str
    definition: str  # e.g. "ON alunos (cpf) WHERE deleted_at IS NULL"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...] = ()
    """Run together in one transaction: CREATE TABLE IF NOT EXISTS only."""
    indexes: tuple[Index, ...] = ()
    """Then built one at a time, concurrently."""

    def __post_init__(self) -> None:
        for statement in self.statements:
            if not _ADDITIVE.match(statement):
                head = " ".join(statement.split()[:3])
                raise ValueError(
                    f"migration {self.version}: {head!r}... is not allowed: the Go service "
                    "shares the database; only CREATE TABLE IF NOT EXISTS runs in a "
                    "transaction, indexes go in `indexes` (built concurrently)"
                )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "alunos table, as GORM AutoMigrate creates it for the Go model",
        statements=(
            """CREATE TABLE IF NOT EXISTS alunos (
                id bigserial PRIMARY KEY,
                created_at timestamptz,
                updated_at timestamptz,
                deleted_at timestamptz,
                nome text,
                rg text,
                cpf text
            )""",
        ),
        indexes=(Index("idx_alunos_deleted_at", "ON alunos (deleted_at)"),),
    ),
    Migration(
        2,
        "index for GET /alunos/cpf/{cpf} among students not deleted",
        indexes=(Index("idx_alunos_cpf_live", "ON alunos (cpf) WHERE deleted_at IS NULL"),),
    ),
)


class MigrationFailed(Exception):
    """A migration could not be applied; the message names it and why."""


async def _lock(conn: psycopg.AsyncConnection[Any], timeout_s: float) -> None:
    """Take the migration lock (session level), polling instead of queueing for it.

    A starter blocked inside pg_advisory_lock() would hold a snapshot all along, and CREATE
    INDEX CONCURRENTLY waits for every older snapshot to go: the one migrating would wait for
    the one waiting for it (PostgreSQL breaks that with a deadlock error). Between polls, a
    waiting starter holds nothing.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        row = await cursor.fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            raise MigrationFailed(
                f"another copy of the app held the migration lock for more than {timeout_s:g} s"
            )
        await asyncio.sleep(LOCK_POLL_S)


async def _build_index(conn: psycopg.AsyncConnection[Any], index: Index) -> None:
    """CREATE INDEX CONCURRENTLY, unless a valid index of that name exists.

    A concurrent build that failed half-way (a timeout, a lost connection) leaves an INVALID
    index behind, which IF NOT EXISTS would then keep forever: it is dropped and built again.
    """
    cursor = await conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
        (index.name,),
    )
    row = await cursor.fetchone()
    if row and row[0]:
        return
    name = sql.Identifier(index.name)
    if row:
        log.warning(
            "dropping an invalid index left by a failed build", extra=fields(index=index.name)
        )
        await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(name))
    definition = sql.SQL(index.definition)  # type: ignore[arg-type]  # constant SQL
    await conn.execute(
        sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} {}").format(name, definition)
    )


async def migrate(conn: psycopg.AsyncConnection[Any], lock_timeout_s: float = 60.0) -> list[int]:
    """Apply the migrations this database lacks; return their versions (empty: up to date).

    `conn` must be in autocommit mode: CREATE INDEX CONCURRENTLY cannot run in a transaction.
    `lock_timeout_s` bounds the wait for another starter's migration, and each index build's
    wait for the transactions already writing to the table.
    """
    if not conn.autocommit:
        raise ValueError("migrate() needs an autocommit connection")
    await _lock(conn, lock_timeout_s)
    applied_now: list[int] = []
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS app_schema_migrations (
                version integer PRIMARY KEY,
                description text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )"""
        )
        cursor = await conn.execute("SELECT version FROM app_schema_migrations")
        done = {row[0] for row in await cursor.fetchall()}
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            try:
                await _apply(conn, migration, lock_timeout_s)
            except psycopg.Error as error:
                raise MigrationFailed(
                    f"migration {migration.version} ({migration.description}) failed: "
                    f"{str(error).strip()}"
                ) from None
            applied_now.append(migration.version)
            log.info("migration applied", extra=fields(version=migration.version))
    finally:
        # A broken connection cannot unlock, but its lock goes when it closes.
        with contextlib.suppress(psycopg.OperationalError):
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


async def _apply(conn: psycopg.AsyncConnection[Any], migration: Migration, wait_s: float) -> None:
    if migration.statements:
        async with conn.transaction():
            await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(DDL_LOCK_TIMEOUT))
            for statement in migration.statements:
                await conn.execute(statement)  # type: ignore[arg-type]  # constant SQL
    await conn.execute(sql.SQL("SET lock_timeout = {}").format(f"{int(wait_s * 1000)}ms"))
    try:
        for index in migration.indexes:
            await _build_index(conn, index)
    finally:
        await conn.execute("RESET lock_timeout")
    await conn.execute(
        "INSERT INTO app_schema_migrations (version, description) VALUES (%s, %s)",
        (migration.version, migration.description),
    )
