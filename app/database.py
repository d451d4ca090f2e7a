"""Reaching the database at start, then the connection pool.

Start-up order: connect (retrying with backoff while the database is not reachable yet), migrate
(app.migrations), then open the pool. The server does not wait for it (`bring_up` runs beside
it): a database that starts after the tasks (a dev stack waking up, infra/schedule.py) leaves
the app answering /health and 503 on the data routes until it answers, not exiting.

Every connection is opened by `connect`: with credentials from a secret, a refusal (a rotation)
makes it read the secret again and retry once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Self

import psycopg
from psycopg_pool import AsyncConnectionPool

from app.config import DEFAULT_DB_RETRY_MAX_INTERVAL_S, Database
from app.credentials import Credentials, CredentialsUnavailable
from app.logs import fields
from app.migrations import migrate

log = logging.getLogger("app.database")


class DatabaseUnavailable(Exception):
    """The database did not answer within the start-up deadline."""


Opener = Callable[..., Awaitable[Any]]


def _refused(error: psycopg.OperationalError) -> bool:
    """PostgreSQL refused the user or password (SQLSTATE 28P01/28000 at login).

    libpq reports a failed login as text only (psycopg sets no sqlstate on connection errors),
    so this matches the server's message, the same for md5 and SCRAM.
    """
    return "authentication failed" in str(error)


def _login(credentials: Credentials | None) -> dict[str, str]:
    if credentials is None:
        return {}
    return {"user": credentials.user, "password": credentials.password}


async def _open(database: Database, opener: Opener, conninfo: str, kwargs: dict[str, Any]) -> Any:
    """Open with the kept credentials; when refused, read the secret again and retry once."""
    source = database.credentials
    used = await source.current() if source else None
    try:
        conn = await opener(conninfo, **kwargs, **_login(used))
    except psycopg.OperationalError as error:
        if not _refused(error):
            raise
        fresh = await source.refresh(used) if source and used else used
        if fresh == used:
            _record_refusal(database, error)
            raise
        log.warning(
            "database refused the credentials; secret read again, retrying",
            extra=fields(database=database.describe()),
        )
        try:
            conn = await opener(conninfo, **kwargs, **_login(fresh))
        except psycopg.OperationalError as again:
            if _refused(again):
                _record_refusal(database, again)
            raise
    database.status.accepted()
    return conn


def _record_refusal(database: Database, error: psycopg.OperationalError) -> None:
    if database.status.refused():  # once per episode, not once per attempt
        log.error(
            "database refuses the credentials",
            extra=fields(
                database=database.describe(),
                source=database.credentials.secret_arn if database.credentials else "environment",
                error=str(error).strip(),
            ),
        )


async def connect(database: Database, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """A new connection to `database` (kwargs as for psycopg.AsyncConnection.connect)."""
    conn: psycopg.AsyncConnection[Any] = await _open(
        database, psycopg.AsyncConnection.connect, database.conninfo, kwargs
    )
    return conn


def _pool_connection_class(database: Database) -> type[psycopg.AsyncConnection[Any]]:
    """The class the pool opens connections with: through `_open`, like every other one."""

    class PoolConnection(psycopg.AsyncConnection[Any]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            opener = super().connect
            conn: Self = await _open(database, opener, conninfo, kwargs)
            return conn

    return PoolConnection


async def connect_with_retry(
    database: Database,
    timeout_s: float,
    *,
    first_delay_s: float = 0.25,
    max_delay_s: float = DEFAULT_DB_RETRY_MAX_INTERVAL_S,
    keep_trying: bool = False,
) -> psycopg.AsyncConnection[Any]:
    """Connect, retrying with jittered exponential backoff. After `timeout_s`: give up
    (DatabaseUnavailable), or with `keep_trying` say so once, at ERROR, and go on."""
    deadline = time.monotonic() + timeout_s
    delay = first_delay_s
    attempt = 0
    overdue = False
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        try:
            return await connect(
                database, autocommit=True, connect_timeout=max(2, min(10, int(remaining)))
            )
        except (psycopg.OperationalError, CredentialsUnavailable) as error:
            reason = str(error).strip()
            remaining = deadline - time.monotonic()
            problem = (
                f"database {database.describe()} not reachable after {attempt} attempts "
                f"in {timeout_s:g} s (DB_STARTUP_TIMEOUT): {reason}"
            )
            if remaining <= 0 and not keep_trying:
                raise DatabaseUnavailable(problem) from None
            if remaining <= 0 and not overdue:
                overdue = True
                log.error(
                    "database still unreachable; the data routes answer 503 until it answers",
                    extra=fields(error=problem),
                )
            wait = delay * random.uniform(0.5, 1.0)  # noqa: S311 (jitter)
            if remaining > 0:
                wait = min(wait, remaining)
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


async def prepare_database(
    database: Database,
    timeout_s: float,
    *,
    keep_trying: bool = False,
    retry_max_interval_s: float = DEFAULT_DB_RETRY_MAX_INTERVAL_S,
) -> None:
    """Wait for the database, then bring its schema up to date."""
    conn = await connect_with_retry(
        database, timeout_s, max_delay_s=retry_max_interval_s, keep_trying=keep_trying
    )
    try:
        applied = await migrate(conn, lock_timeout_s=timeout_s)
    finally:
        await conn.close()
    log.info(
        "database ready",
        extra=fields(database=database.describe(), migrations_applied=applied),
    )


class Startup:
    """Whether the app has reached its database and brought the schema up to date yet, and
    since when it has been trying: for `/health`, which answers before the database does."""

    def __init__(self) -> None:
        self.waiting_since: datetime | None = datetime.now(UTC)

    def done(self) -> None:
        self.waiting_since = None


async def bring_up(
    database: Database,
    pool: AsyncConnectionPool[Any],
    startup: Startup,
    timeout_s: float,
    *,
    retry_max_interval_s: float,
) -> None:
    """Reach the database however long it takes, migrate, open `pool`; then `startup` is done.
    A migration that fails raises MigrationFailed (a bug to fix, not a database to wait for)."""
    while True:
        try:
            await prepare_database(
                database, timeout_s, keep_trying=True, retry_max_interval_s=retry_max_interval_s
            )
            break
        except psycopg.OperationalError as error:  # lost between connecting and migrating
            log.warning(
                "database lost while migrating, starting over",
                extra=fields(database=database.describe(), error=str(error).strip()),
            )
    # Not waiting for min_size connections: a database lost now would close a pool that waits
    # (psycopg_pool's wait()); this one fills, and refills, in the background.
    await pool.open(wait=False)
    startup.done()


async def open_pool(
    database: Database,
    min_size: int,
    max_size: int,
    checkout_timeout_s: float = 5.0,
    max_lifetime_s: float = 3600.0,
) -> AsyncConnectionPool[Any]:
    """`new_pool`, opened with its `min_size` connections."""
    pool = new_pool(database, min_size, max_size, checkout_timeout_s, max_lifetime_s)
    await pool.open(wait=min_size > 0, timeout=30.0)
    return pool


def new_pool(
    database: Database,
    min_size: int,
    max_size: int,
    checkout_timeout_s: float = 5.0,
    max_lifetime_s: float = 3600.0,
) -> AsyncConnectionPool[Any]:
    """A pool of autocommit connections, not open yet: each statement of the API is a
    transaction of its own.

    A request that waits longer than `checkout_timeout_s` for a connection gets a 503 instead
    of hanging (the database is down, or the pool is exhausted by slow queries), and so does one
    before the pool is open (PoolClosed). A connection is replaced after `max_lifetime_s`
    (psycopg_pool's default hour); new ones are opened with `connect`'s logic, so the pool
    follows a password rotation.
    """
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database.conninfo,
        connection_class=_pool_connection_class(database),
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
        name="alunos",
        timeout=checkout_timeout_s,
        max_lifetime=max_lifetime_s,
        max_idle=300.0,
    )
    return pool
