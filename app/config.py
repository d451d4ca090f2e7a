"""Settings read once from the environment, validated, with every default in one place.

The database comes from `DATABASE_URL`, or, when `HOST` is set, from the variables the EC2
deployment used (`HOST`, `USER`, `PASSWORD`, `DBNAME`, `DBPORT`). On ECS the task gets `HOST`,
`DBNAME`, `DBPORT` and `DB_AUTH_ARN`, the ARN of the Secrets Manager secret holding the username
and password, which the app reads itself so that it follows a rotation (app.credentials).
`USER` is also an ordinary shell variable, which is why none of them is read unless `HOST` is
set, and why it is ignored when the secret names the user. With neither, the app runs an embedded
PostgreSQL. TLS follows libpq's own `PGSSLMODE` (and friends), read from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.credentials import SECRET_ARN, CredentialsStatus, SecretCredentials

DEFAULT_PORT = 8000
DEFAULT_DB_PORT = 5432
DEFAULT_POOL_MIN = 2
DEFAULT_POOL_MAX = 10
DEFAULT_DB_STARTUP_TIMEOUT_S = 60.0
# How long the server waits for the database before serving without it: twice the slowest start
# bench/cold_start.py measured (2.2 s to "database ready" at 0.25 vCPU, adopting a 1M-row table),
# and under the container health check's start period (10 s, infra/service.py).
DEFAULT_DB_HEAD_START_S = 5
# At most this long between two attempts to reach a database that is not up yet (backoff from
# 0.25 s): how soon after the database comes up the app notices, against how often it logs.
DEFAULT_DB_RETRY_MAX_INTERVAL_S = 5
# ECS sends SIGKILL `stopTimeout` (30 s by default) after SIGTERM: finish in-flight work before.
DEFAULT_SHUTDOWN_TIMEOUT_S = 25
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".data" / "pg"


class ConfigError(Exception):
    """The environment does not describe a usable configuration; the message says how to fix it."""


@dataclass(frozen=True)
class BuildInfo:
    """What `/version` reports: baked into the image by the build args of the same names."""

    version: str | None
    revision: str | None
    created: str | None


@dataclass(frozen=True)
class Database:
    """Where the database is. `conninfo` may hold the password: never log it, log `describe()`.

    With `credentials`, the user and password come from that secret instead, read at connect.
    `status` records whether the database currently refuses them (shown by `/health`).
    """

    conninfo: str = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    credentials: SecretCredentials | None = field(default=None, repr=False, compare=False)
    status: CredentialsStatus = field(default_factory=CredentialsStatus, repr=False, compare=False)

    def describe(self) -> str:
        """A loggable target (`user@host:port/dbname`), password left out."""
        parts = conninfo_to_dict(self.conninfo)
        host = parts.get("host") or "localhost"
        port = parts.get("port") or DEFAULT_DB_PORT
        return f"{parts.get('user') or ''}@{host}:{port}/{parts.get('dbname') or ''}".lstrip("@")


@dataclass(frozen=True)
class Settings:
    port: int
    database: Database | None  # None: start the embedded PostgreSQL
    build: BuildInfo
    pool_min: int = DEFAULT_POOL_MIN
    pool_max: int = DEFAULT_POOL_MAX
    db_startup_timeout_s: float = DEFAULT_DB_STARTUP_TIMEOUT_S
    db_head_start_s: int = DEFAULT_DB_HEAD_START_S
    db_retry_max_interval_s: int = DEFAULT_DB_RETRY_MAX_INTERVAL_S
    shutdown_timeout_s: int = DEFAULT_SHUTDOWN_TIMEOUT_S
    data_dir: Path = DEFAULT_DATA_DIR
    # All interfaces in a container; loopback only in the local embedded-database mode.
    listen_host: str = "0.0.0.0"  # noqa: S104


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer ({low}..{high})") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range ({low}..{high})")
    return value


def _database(env: Mapping[str, str]) -> Database | None:
    url = env.get("DATABASE_URL", "").strip()
    host = env.get("HOST", "").strip()
    secret_arn = env.get("DB_AUTH_ARN", "").strip()
    if url and host:
        raise ConfigError("set either DATABASE_URL or HOST (with USER, PASSWORD, DBNAME), not both")
    if secret_arn and not host:
        raise ConfigError(
            "DB_AUTH_ARN goes with HOST and DBNAME (the secret holds user and password)"
        )
    if secret_arn:
        return _database_with_secret(env, host, secret_arn)
    if url:
        try:
            parts = conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            # The parser's message may quote the URL, password included: do not repeat it.
            raise ConfigError(
                "DATABASE_URL is not a valid PostgreSQL URL "
                "(postgresql://user:password@host:port/dbname)"
            ) from None
        password = parts.get("password")
        # As written in the URL (percent-encoded) and as decoded: either may end up in a message.
        secrets = (str(password), quote(str(password), safe="")) if password else ()
        return Database(conninfo=url, secrets=secrets)
    if not host:
        return None
    missing = [name for name in ("USER", "DBNAME") if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"HOST is set, so {' and '.join(missing)} must be set too")
    port = _int(env, "DBPORT", DEFAULT_DB_PORT, 1, 65535)
    password = env.get("PASSWORD", "")
    conninfo = make_conninfo(
        host=host,
        port=port,
        user=env["USER"].strip(),
        dbname=env["DBNAME"].strip(),
        **({"password": password} if password else {}),
    )
    return Database(conninfo=conninfo, secrets=(password,) if password else ())


def _database_with_secret(env: Mapping[str, str], host: str, secret_arn: str) -> Database:
    if not SECRET_ARN.fullmatch(secret_arn):
        raise ConfigError(
            f"DB_AUTH_ARN={secret_arn!r} is not a Secrets Manager secret ARN "
            "(arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
        )
    if env.get("PASSWORD", ""):
        raise ConfigError("set either PASSWORD or DB_AUTH_ARN, not both")
    if not env.get("DBNAME", "").strip():
        raise ConfigError("HOST is set, so DBNAME must be set too")
    conninfo = make_conninfo(
        host=host, port=_int(env, "DBPORT", DEFAULT_DB_PORT, 1, 65535), dbname=env["DBNAME"].strip()
    )
    return Database(conninfo=conninfo, credentials=SecretCredentials(secret_arn))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    pool_min = _int(env, "DB_POOL_MIN", DEFAULT_POOL_MIN, 0, 100)
    pool_max = _int(env, "DB_POOL_MAX", DEFAULT_POOL_MAX, 1, 100)
    if pool_max < max(pool_min, 1):
        raise ConfigError(f"DB_POOL_MAX={pool_max} must be at least DB_POOL_MIN={pool_min}")
    data_dir = env.get("APP_DATA_DIR", "").strip()
    database = _database(env)
    return Settings(
        port=_int(env, "PORT", DEFAULT_PORT, 1, 65535),
        database=database,
        build=BuildInfo(
            version=env.get("APP_VERSION") or None,
            revision=env.get("APP_REVISION") or None,
            created=env.get("APP_CREATED") or None,
        ),
        pool_min=pool_min,
        pool_max=pool_max,
        db_startup_timeout_s=float(
            _int(env, "DB_STARTUP_TIMEOUT", int(DEFAULT_DB_STARTUP_TIMEOUT_S), 1, 3600)
        ),
        # 300: the longest start period an ECS container health check takes; a server that waits
        # longer fails its health checks while waiting.
        db_head_start_s=_int(env, "DB_HEAD_START", DEFAULT_DB_HEAD_START_S, 0, 300),
        # 60: a longer interval leaves the API answering 503 that long after its database is up.
        db_retry_max_interval_s=_int(
            env, "DB_RETRY_MAX_INTERVAL", DEFAULT_DB_RETRY_MAX_INTERVAL_S, 1, 60
        ),
        shutdown_timeout_s=_int(env, "SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT_S, 0, 3600),
        data_dir=Path(data_dir).expanduser() if data_dir else DEFAULT_DATA_DIR,
        listen_host="127.0.0.1" if database is None else "0.0.0.0",  # noqa: S104
    )
