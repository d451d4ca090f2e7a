"""Reaching the database at start, migrating its schema, and the connection pool.

Start-up order: connect (retrying with backoff while the database is not reachable yet, for a
bounded time), migrate under an advisory lock, then open the pool. Several tasks of a new
deployment start at once: the lock makes them migrate one after the other, and each migration is
idempotent and recorded, so the second task finds nothing left to do.

The schema is the one GORM's AutoMigrate made for the Go service (table `alunos`, soft delete
through `deleted_at`), so the app can run against the database the Go service used.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool

from app.config import Database
from app.logs import fields

log = logging.getLogger("app.database")

# Any constant shared by every copy of the app; pg_advisory_xact_lock takes a bigint.
MIGRATION_LOCK_KEY = 0x616C756E6F73  # "alunos"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "alunos table, as GORM AutoMigrate creates it for the Go model",
        (
            """CREATE TABLE IF NOT EXISTS alunos (
                id bigserial PRIMARY KEY,
                created_at timestamptz,
                updated_at timestamptz,
                deleted_at timestamptz,
                nome text,
                rg text,
                cpf text
            )""",
            "CREATE INDEX IF NOT EXISTS idx_alunos_deleted_at ON alunos (deleted_at)",
        ),
    ),
    Migration(
        2,
        "index for GET /alunos/cpf/{cpf} among students not deleted",
        (
            "CREATE INDEX IF NOT EXISTS idx_alunos_cpf_live ON alunos (cpf) "
            "WHERE deleted_at IS NULL",
        ),
    ),
)


class DatabaseUnavailable(Exception):
    """The database did not answer within the start-up deadline."""


async def connect_with_retry(
    database: Database, timeout_s: float, *, first_delay_s: float = 0.25, max_delay_s: float = 5.0
) -> psycopg.AsyncConnection:
    """Connect, retrying with jittered exponential backoff until `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    delay = first_delay_s
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        try:
            return await psycopg.AsyncConnection.connect(
                database.conninfo,
                autocommit=True,
                connect_timeout=max(2, min(10, int(remaining))),
            )
        except psycopg.OperationalError as error:
            reason = str(error).strip()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DatabaseUnavailable(
                    f"database {database.describe()} not reachable after {attempt} attempts "
                    f"in {timeout_s:g} s (DB_STARTUP_TIMEOUT): {reason}"
                ) from None
            wait = min(delay * random.uniform(0.5, 1.0), remaining)  # noqa: S311 (jitter)
            log.warning(
                "database not reachable yet, retrying",
                extra=fields(
                    database=database.describe(),
                    attempt=attempt,
                    retry_in_s=round(wait, 2),
                    error=reason,
                ),
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, max_delay_s)


async def migrate(conn: psycopg.AsyncConnection) -> list[int]:
    """Apply the migrations this database lacks; return their versions (empty: up to date)."""
    applied_now: list[int] = []
    async with conn.transaction():
        # Held until the transaction ends: concurrent starters queue here, not in DDL races.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
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
            for statement in migration.statements:
                await conn.execute(statement)  # type: ignore[arg-type]  # constant SQL
            await conn.execute(
                "INSERT INTO app_schema_migrations (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
            applied_now.append(migration.version)
    for version in applied_now:
        log.info("migration applied", extra=fields(version=version))
    return applied_now


async def prepare_database(database: Database, timeout_s: float) -> None:
    """Wait for the database, then bring its schema up to date."""
    conn = await connect_with_retry(database, timeout_s)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    log.info(
        "database ready",
        extra=fields(database=database.describe(), migrations_applied=applied),
    )


async def open_pool(
    database: Database, min_size: int, max_size: int, checkout_timeout_s: float = 5.0
) -> AsyncConnectionPool:
    """A pool of autocommit connections: each statement of the API is a transaction of its own.

    A request that waits longer than `checkout_timeout_s` for a connection gets a 503 instead
    of hanging (the database is down, or the pool is exhausted by slow queries).
    """
    pool = AsyncConnectionPool(
        database.conninfo,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
        name="alunos",
        timeout=checkout_timeout_s,
        max_idle=300.0,
    )
    await pool.open(wait=min_size > 0, timeout=30.0)
    return pool
