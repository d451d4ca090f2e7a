"""The embedded PostgreSQL for local runs (`python -m app` with no database configured).

`pgserver` is a development dependency: it is imported here only, lazily, so the production
image (which never takes this path) does not ship it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from app.config import ConfigError, Database
from app.logs import fields

log = logging.getLogger("app.embedded")


def start_embedded_postgres(data_dir: Path) -> Database:
    """Start (or reuse) a PostgreSQL on a Unix socket with its data in `data_dir`.

    The data survives restarts; the server stops when the last process using it exits.
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns (at import) when XDG_RUNTIME_DIR is unset: harmless here.
            warnings.simplefilter("ignore")
            import pgserver  # dev-only dependency, kept out of the image
    except ImportError:
        raise ConfigError(
            "no database configured: set DATABASE_URL, or HOST with USER, PASSWORD, DBNAME "
            "(and DBPORT); the embedded PostgreSQL needs the dev dependency pgserver "
            "(`uv sync` installs it)"
        ) from None
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    log.info("embedded PostgreSQL running", extra=fields(data_dir=str(data_dir)))
    return Database(conninfo=server.get_uri())
