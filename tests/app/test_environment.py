"""A `DATABASE_URL` (or AWS profile, Pulumi token...) in the developer's shell changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELL = {
    "DATABASE_URL": "postgresql://someone:secret@127.0.0.1:9/their_real_database",
    "AWS_PROFILE": "production-admin",
    "PULUMI_ACCESS_TOKEN": "pul-0000",
    "GITHUB_TOKEN": "ghp_0000",
}


def test_the_database_is_the_tests_own(pg_server: str) -> None:
    assert "DATABASE_URL" not in os.environ
    assert "their_real_database" not in pg_server
    with psycopg.connect(pg_server) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.slow
def test_a_database_url_in_the_shell_does_not_change_the_database_the_tests_use() -> None:
    """The test above, in a pytest run started from a shell that exports DATABASE_URL (a server
    nothing listens on: used, it would fail to connect) and other credentials."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{Path(__file__).relative_to(ROOT)}::test_the_database_is_the_tests_own",
        ],
        cwd=ROOT,
        env={**os.environ, **SHELL},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
