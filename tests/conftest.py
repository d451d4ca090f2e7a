"""The suite runs the same in any shell: variables a developer's shell may carry, which the app,
the automation or boto3 read, are removed before anything is collected. Tests that need one set
their own (monkeypatch, a subprocess's env).

`DATABASE_URL` is one of them: the app's tests start their own PostgreSQL. To run them against a
server of your choice instead, set `ALUNOS_TEST_DATABASE_URL` (docs/testing.md).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from typing import Any

import botocore.client
import botocore.session
import pytest

# The app's database settings (app/config.py), its build stamps, and what the automation reads.
ISOLATED = frozenset(
    {"DATABASE_URL", "HOST", "DBNAME", "PASSWORD", "DB_AUTH_ARN", "COLUMNS", "MIGRATE_EXECUTE"}
)
ISOLATED_PREFIXES = ("AWS_", "PULUMI_", "GITHUB_", "GH_", "APP_")


def isolated(name: str) -> bool:
    return name in ISOLATED or name.startswith(ISOLATED_PREFIXES)


def pytest_configure(config: pytest.Config) -> None:
    """Before collection and before any session fixture reads the environment."""
    for name in [name for name in os.environ if isolated(name)]:
        del os.environ[name]
    # No plan cache (automation/offline/cache.py) unless a test turns it on: a run would write
    # into the repository's .cache/, and a hit would skip the engine a test replaced.
    os.environ["AUTOMATION_PLAN_CACHE"] = "off"
    # One botocore loader per worker: each boto3.Session otherwise parses the service models
    # (JSON, megabytes for EC2) again, and the tests make a session per test and per command.
    # What a loader caches depends only on its search path, the argument it is cached by.
    botocore.session.create_loader = functools.cache(botocore.session.create_loader)  # type: ignore[attr-defined]
    # Likewise the client classes: botocore builds one per client, a method per operation (EC2
    # has about 700), though it depends only on the service's model and the handlers boto3
    # registers alike in every session.
    botocore.client.ClientCreator._create_client_class = _cached_client_class  # type: ignore[method-assign]


_CLIENT_CLASSES: dict[tuple[str, str], type] = {}
_create_client_class = botocore.client.ClientCreator._create_client_class


def _cached_client_class(
    creator: botocore.client.ClientCreator, service_name: str, service_model: Any
) -> type:
    key = (service_name, service_model.api_version)
    if key not in _CLIENT_CLASSES:
        _CLIENT_CLASSES[key] = _create_client_class(creator, service_name, service_model)
    return _CLIENT_CLASSES[key]


REGION = "us-east-2"
"""The region of the tests' AWS (the stacks' region)."""


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (real HTTP, one per test worker) for the app's and the automation's AWS
    calls; boto3 reaches it through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log in captured stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.delenv("AWS_PROFILE", raising=False)
        yield endpoint
    server.stop()
