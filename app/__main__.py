"""`python -m app`: configure, reach the database, migrate, serve until SIGTERM, then drain.

Exit codes: 0 after a graceful shutdown, 1 when the database stays unreachable or a migration
fails, 2 for a configuration error, 3 when the server cannot start (port taken: uvicorn's own
code).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import uvicorn

from app.config import ConfigError, Settings, load_settings
from app.database import DatabaseUnavailable, open_pool, prepare_database
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
    try:
        await prepare_database(database, settings.db_startup_timeout_s)
        pool = await open_pool(database, settings.pool_min, settings.pool_max)
    except DatabaseUnavailable as error:
        log.error("cannot start: database unavailable", extra=fields(error=str(error)))
        return 1
    except MigrationFailed as error:
        log.error("cannot start: migration failed", extra=fields(error=str(error)))
        return 1
    store = StudentStore(pool)
    config = server_config(
        create_app(store, settings.build, database.status),
        host=settings.listen_host,
        port=settings.port,
        shutdown_timeout_s=settings.shutdown_timeout_s,
    )
    server = uvicorn.Server(config)
    try:
        with _signals_absorbed():
            await server.serve()
    finally:
        await store.close()
        log.info("stopped")
    return 0 if server.started else 1


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
    except KeyboardInterrupt:  # Ctrl-C while still waiting for the database
        return 130


if __name__ == "__main__":
    sys.exit(main())
