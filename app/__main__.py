"""`python -m app`: configure, reach the database (however late it answers), migrate and open
the pool (app.database.bring_up); serve until SIGTERM, then drain.

The server starts once the database is ready, or after DB_HEAD_START seconds without it: then,
until the database is reached, /health answers 200 (`"status": "starting"`) and the data routes
503. A task started before its database (a dev stack waking up) waits for it instead of exiting
and being restarted with ECS's growing back-off.

Exit codes: 0 after a graceful shutdown, 1 when a migration fails, 2 for a configuration error,
3 when the server cannot start (port taken: uvicorn's own code).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import uvicorn

from app.config import ConfigError, Settings, load_settings
from app.database import Startup, bring_up, new_pool
from app.logs import configure_logging, fields
from app.migrations import MigrationFailed
from app.server import server_config
from app.students import StudentStore
from app.web import create_app

log = logging.getLogger("app")


@contextmanager
def _signals_absorbed() -> Iterator[None]:
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, with the handlers it found.

    Finding no-op handlers here lets the process go on to close the pool and exit 0 instead of
    dying by the re-raised signal.
    """
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda _sig, _frame: None) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def serve(settings: Settings) -> int:
    database = settings.database
    assert database is not None
    pool = new_pool(database, settings.pool_min, settings.pool_max)
    store = StudentStore(pool)
    startup = Startup()
    config = server_config(
        create_app(store, settings.build, database.status, startup),
        host=settings.listen_host,
        port=settings.port,
        shutdown_timeout_s=settings.shutdown_timeout_s,
    )
    server = uvicorn.Server(config)
    failed = False

    async def reach_database() -> None:
        nonlocal failed
        try:
            await bring_up(
                database,
                pool,
                startup,
                settings.db_startup_timeout_s,
                retry_max_interval_s=settings.db_retry_max_interval_s,
            )
        except MigrationFailed as error:
            log.error("cannot start: migration failed", extra=fields(error=str(error)))
            failed = True
            server.should_exit = True

    reaching = asyncio.create_task(reach_database())
    # The usual start finds the database up: serving once it is ready leaves no request to a
    # half-started app. A database still not ready after the head start is waited for beside
    # the server.
    await asyncio.wait({reaching}, timeout=settings.db_head_start_s)
    try:
        if not failed:
            with _signals_absorbed():
                await server.serve()
    finally:
        reaching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaching
        await store.close()
        log.info("stopped")
    return 0 if server.started and not failed else 1


def main() -> int:
    configure_logging()
    try:
        settings = load_settings()
        database = settings.database
        if database is None:
            from app.embedded import start_embedded_postgres  # dev only

            database = start_embedded_postgres(settings.data_dir)
            settings = replace(settings, database=database)
    except ConfigError as error:
        log.error("invalid configuration", extra=fields(error=str(error)))
        return 2
    configure_logging(secrets=database.secrets)
    log.info(
        "starting",
        extra=fields(
            version=settings.build.version,
            revision=settings.build.revision,
            database=database.describe(),
            port=settings.port,
        ),
    )
    try:
        return asyncio.run(serve(settings))
    except KeyboardInterrupt:  # Ctrl-C before the server took over the signals
        return 130


if __name__ == "__main__":
    sys.exit(main())
