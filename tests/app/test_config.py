"""Settings from the environment: the two ways to name the database, defaults, clear errors."""

from __future__ import annotations

import pytest

from app.config import DEFAULT_DATA_DIR, ConfigError, Database, load_settings
from app.logs import JsonFormatter


def test_defaults_mean_port_8000_and_the_embedded_database() -> None:
    settings = load_settings({})
    assert settings.port == 8000
    assert settings.database is None
    assert settings.listen_host == "127.0.0.1"  # the local mode stays on loopback
    assert settings.data_dir == DEFAULT_DATA_DIR
    assert settings.shutdown_timeout_s == 25  # under ECS's 30 s stopTimeout
    assert settings.db_head_start_s == 5  # under the container health check's 10 s start period
    assert settings.db_retry_max_interval_s == 5
    assert (settings.build.version, settings.build.revision, settings.build.created) == (
        None,
        None,
        None,
    )


def test_start_up_waits_are_settings() -> None:
    settings = load_settings({"DB_HEAD_START": "0", "DB_RETRY_MAX_INTERVAL": "1"})
    assert (settings.db_head_start_s, settings.db_retry_max_interval_s) == (0, 1)


def test_shell_user_alone_does_not_select_a_database() -> None:
    """USER is set in every shell: without HOST it means nothing to the app."""
    assert load_settings({"USER": "root", "PASSWORD": "x"}).database is None


def test_database_url() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://app:pw@db:5432/alunos", "PORT": "9000"})
    assert settings.port == 9000
    assert settings.listen_host == "0.0.0.0"
    assert settings.database is not None
    assert settings.database.describe() == "app@db:5432/alunos"
    assert "pw" in settings.database.secrets


def test_ec2_style_variables_when_host_is_set() -> None:
    settings = load_settings(
        {"HOST": "db.internal", "USER": "app", "PASSWORD": "p ss'w\\rd", "DBNAME": "alunos"}
    )
    assert settings.database is not None
    assert settings.database.describe() == "app@db.internal:5432/alunos"
    assert settings.database.secrets == ("p ss'w\\rd",)
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(settings.database.conninfo)["password"] == "p ss'w\\rd"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT='http' is not an integer (1..65535)"),
        ({"PORT": "70000"}, "PORT=70000 is out of range (1..65535)"),
        ({"HOST": "db"}, "HOST is set, so USER and DBNAME must be set too"),
        ({"HOST": "db", "USER": "app", "DBNAME": "x", "DBPORT": "x"}, "DBPORT='x'"),
        ({"HOST": "db", "DATABASE_URL": "postgresql://db/x"}, "not both"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MAX=2 must be at least DB_POOL_MIN=5"),
        ({"DB_HEAD_START": "301"}, "DB_HEAD_START=301 is out of range (0..300)"),
        ({"DB_HEAD_START": "2.5"}, "DB_HEAD_START='2.5' is not an integer (0..300)"),
        ({"DB_RETRY_MAX_INTERVAL": "0"}, "DB_RETRY_MAX_INTERVAL=0 is out of range (1..60)"),
    ],
)
def test_bad_settings_name_the_variable_and_what_is_allowed(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    assert message in str(error.value)


def test_invalid_database_url_error_does_not_echo_the_password() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"DATABASE_URL": "postgresql://app:hunter2@[bad/alunos"})
    assert "DATABASE_URL is not a valid PostgreSQL URL" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_describe_and_repr_never_show_the_password() -> None:
    database = Database(conninfo="postgresql://app:s3cr3t-pw@db.internal:5433/alunos")
    assert database.describe() == "app@db.internal:5433/alunos"
    assert "s3cr3t" not in repr(database)


def test_log_lines_mask_secrets_as_written_and_as_json_escapes_them() -> None:
    import logging

    formatter = JsonFormatter(secrets=['pa"ss', "p@ss"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, 'failed: pa"ss and p%40ss', (), None)
    record.fields = {"url": "postgresql://u:p@ss@h/db"}
    line = formatter.format(record)
    assert "pa" not in line.replace("path", "")
    assert "p@ss" not in line
    assert line.count("***") == 2
