"""A password rotation while the app serves: a role whose password the server checks, the secret
in a moto Secrets Manager, the rotation's steps as AWS runs them, requests in a loop throughout,
and a pool recycling its connections every half second (hourly in production) so that the new
connections need the new password. Counted: failed requests."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from psycopg.conninfo import make_conninfo

from app.config import Database, load_settings
from app.credentials import Credentials, CredentialsUnavailable, SecretCredentials
from app.database import open_pool, prepare_database
from app.students import StudentStore
from app.web import create_app
from tests.app.conftest import BUILD, AppProcess, PasswordRole

pytestmark = pytest.mark.anyio

ANA = {"nome": "Ana Souza", "rg": "123456789", "cpf": "12345678901"}
StartApp = Callable[..., AppProcess]
# How long the pool keeps a connection, and how many requests precede the rotation.
LIFETIME_S = 0.5
BEFORE = 20
# Whether to stop the requests: given those answered since the rotation, and its age in seconds.
Settled = Callable[[list[int], float], bool]


def _secret(secretsmanager: Any, role: PasswordRole) -> str:
    value = json.dumps({"username": role.name, "password": role.password, "engine": "postgres"})
    name = f"alunos/{secrets.token_hex(4)}/db"
    arn: str = secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
    return arn


def _rotation(secretsmanager: Any, arn: str, role: PasswordRole) -> Callable[[], Awaitable[None]]:
    """The four steps of a Secrets Manager rotation, with the window between setSecret (the
    database takes the new password) and finishSecret (AWSCURRENT moves to it)."""

    async def rotate() -> None:
        new = secrets.token_urlsafe(16)
        current = secretsmanager.describe_secret(SecretId=arn)["VersionIdsToStages"]
        (old_version,) = [v for v, stages in current.items() if "AWSCURRENT" in stages]
        pending = secretsmanager.put_secret_value(  # createSecret
            SecretId=arn,
            SecretString=json.dumps({"username": role.name, "password": new}),
            VersionStages=["AWSPENDING"],
        )["VersionId"]
        await asyncio.to_thread(role.rotate, new)  # setSecret
        # testSecret: AWSCURRENT still holds the old password for two connection lifetimes.
        await asyncio.sleep(2 * LIFETIME_S)
        secretsmanager.update_secret_version_stage(  # finishSecret
            SecretId=arn,
            VersionStage="AWSCURRENT",
            MoveToVersionId=pending,
            RemoveFromVersionId=old_version,
        )

    return rotate


@dataclass
class Served:
    statuses: list[int]
    health: dict[str, Any]
    connections_opened: int

    @property
    def failed(self) -> int:
        return sum(status != 200 for status in self.statuses)


async def _serve_through(
    database: Database,
    rotate: Callable[[], Awaitable[None]],
    settled: Settled,
    checkout_timeout_s: float = 2,
) -> Served:
    """Requests every 10 ms; the rotation once BEFORE of them are answered; then requests until
    `settled` (at most 30 s). Connections live LIFETIME_S."""
    await prepare_database(database, timeout_s=10)
    pool = await open_pool(
        database,
        min_size=2,
        max_size=4,
        checkout_timeout_s=checkout_timeout_s,
        max_lifetime_s=LIFETIME_S,
    )
    store = StudentStore(pool)
    transport = httpx.ASGITransport(app=create_app(store, BUILD, database.status))
    statuses: list[int] = []
    under_way = asyncio.Event()
    ended: tuple[float, int] | None = None  # when the rotation ended, and how many were answered
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://alunos.test") as client:
            created = (await client.post("/alunos", json=ANA)).json()
            opened_before = pool.get_stats()["connections_num"]

            def done() -> bool:
                if ended is None:
                    return False
                at, answered = ended
                return settled(statuses[answered:], time.monotonic() - at)

            async def load() -> None:
                deadline = time.monotonic() + 30
                while not done():
                    assert time.monotonic() < deadline, statuses
                    statuses.append((await client.get(f"/alunos/{created['ID']}")).status_code)
                    if len(statuses) == BEFORE:
                        under_way.set()
                    await asyncio.sleep(0.01)

            async def rotate_later() -> None:
                nonlocal ended
                await under_way.wait()
                await rotate()
                ended = (time.monotonic(), len(statuses))

            await asyncio.gather(load(), rotate_later())
            health = (await client.get("/health")).json()
            opened = pool.get_stats()["connections_num"] - opened_before
    finally:
        await store.close()
    return Served(statuses, health, opened)


async def test_secret_credentials_come_through_a_rotation(
    password_role: PasswordRole, secretsmanager: Any, caplog: pytest.LogCaptureFixture
) -> None:
    arn = _secret(secretsmanager, password_role)
    database = Database(
        conninfo=make_conninfo(password_role.conninfo, user=None),
        credentials=SecretCredentials(arn),
    )
    with caplog.at_level(logging.INFO, logger="app.database"):
        served = await _serve_through(
            database,
            _rotation(secretsmanager, arn, password_role),
            settled=lambda _after, age: age >= 2 * LIFETIME_S,
        )
    # Every connection of the start is gone: the later ones logged in with the new password,
    # read from AWSPENDING during the window, then from AWSCURRENT.
    assert served.connections_opened >= 6
    assert len(served.statuses) > 100
    assert served.failed == 0, served.statuses
    assert served.health == {"status": "ok"}
    messages = [r.getMessage() for r in caplog.records]
    assert "database refused the credentials; secret read again, retrying" in messages
    assert "database refuses the credentials" not in messages


async def test_a_password_from_the_environment_breaks_at_the_rotation_and_health_says_so(
    password_role: PasswordRole,
) -> None:
    """What happened before: the password injected at start is refused once the pool has
    recycled its connections. /health stays 200 (no restart storm) but says why."""
    database = Database(conninfo=password_role.login())

    async def rotate() -> None:
        await asyncio.to_thread(password_role.rotate, secrets.token_urlsafe(16))

    def two_more_after_a_503(after: list[int], _age: float) -> bool:
        return 503 in after and len(after) - after.index(503) > 2

    served = await _serve_through(database, rotate, two_more_after_a_503, checkout_timeout_s=1)
    assert served.statuses[:BEFORE] == [200] * BEFORE
    # Once the old connections are gone, each request waits out the checkout timeout: 503,
    # and the two after the first one as well (nothing recovers).
    assert served.statuses[-2:] == [503, 503]
    assert set(served.statuses) == {200, 503}
    assert served.health["status"] == "degraded"
    assert served.health["database"].startswith("login refused since 20")


def test_the_app_reads_its_login_from_the_secret(
    start_app: StartApp,
    password_role: PasswordRole,
    secretsmanager: Any,
    moto_endpoint: str,
) -> None:
    """`python -m app` as ECS runs it: HOST, DBNAME and the secret's ARN, no password."""
    arn = _secret(secretsmanager, password_role)
    env = {
        "HOST": password_role.host,
        "DBPORT": password_role.port,
        "DBNAME": password_role.dbname,
        "DB_AUTH_ARN": arn,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "USER": "someone-else",  # the shell's USER: the secret names the user
    }
    app = start_app(**env)
    app.wait_healthy()
    assert httpx.post(app.url + "/alunos", json=ANA).status_code == 200
    assert httpx.get(app.url + "/health").json() == {"status": "ok"}
    assert app.stop() == 0
    output = app.output()
    assert password_role.password not in output
    assert '"migration applied"' in output


def test_a_refused_secret_at_start_is_said_once_and_the_app_keeps_trying(
    start_app: StartApp, password_role: PasswordRole, secretsmanager: Any, moto_endpoint: str
) -> None:
    """A stale secret is no late database, but the app treats it alike: it keeps trying (the
    secret is read again at each refusal, so a fixed secret is picked up), /health says the
    login is refused, and the refusal is logged once, not once per attempt."""
    arn = _secret(secretsmanager, password_role)
    password_role.rotate(secrets.token_urlsafe(16))  # the secret is stale and stays so
    app = start_app(
        HOST=password_role.host,
        DBPORT=password_role.port,
        DBNAME=password_role.dbname,
        DB_AUTH_ARN=arn,
        DB_STARTUP_TIMEOUT="1",  # at least two refused attempts: one at the start, one past it
        DB_HEAD_START="1",
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    deadline = time.monotonic() + 30
    health: dict[str, Any] = {}
    while '"database still unreachable' not in app.output() or not health:
        assert app.process.poll() is None, app.output()
        assert time.monotonic() < deadline, app.output()
        time.sleep(0.1)
        try:  # the server comes up without the database after its head start
            health = httpx.get(app.url + "/health", timeout=1).json()
        except httpx.TransportError:
            continue
    assert health["status"] == "degraded"
    assert str(health["database"]).startswith("login refused since ")
    assert httpx.get(app.url + "/alunos").status_code == 503
    assert app.stop() == 0
    lines = [json.loads(line) for line in app.output().splitlines() if line.strip()]
    refused = [line for line in lines if line["message"] == "database refuses the credentials"]
    assert len(refused) == 1  # once, not once per retry
    assert refused[0]["source"] == arn
    (overdue,) = [line for line in lines if line["level"] == "error" and line is not refused[0]]
    assert "password authentication failed" in str(overdue["error"])


# --- the secret itself -------------------------------------------------------------------------


async def test_reads_username_and_password(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(
        Name=f"s-{secrets.token_hex(4)}", SecretString='{"username": "app", "password": "p@ss"}'
    )["ARN"]
    assert await SecretCredentials(arn).current() == Credentials("app", "p@ss")


@pytest.mark.parametrize(
    "value",
    ["not json p@ss", '["p@ss"]', '{"username": "app"}', '{"username": "", "password": "p@ss"}'],
)
async def test_a_malformed_secret_is_named_without_its_value(
    secretsmanager: Any, value: str
) -> None:
    arn = secretsmanager.create_secret(Name=f"s-{secrets.token_hex(4)}", SecretString=value)["ARN"]
    with pytest.raises(CredentialsUnavailable) as raised:
        await SecretCredentials(arn).current()
    assert str(raised.value) == f"{arn} is not a JSON object with string username and password"


async def test_a_missing_secret_is_an_error_naming_it(moto_endpoint: str) -> None:
    arn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:nowhere-AbCdEf"
    with pytest.raises(CredentialsUnavailable, match=f"cannot read {arn}: .*ResourceNotFound"):
        await SecretCredentials(arn).current()


class CountingClient:
    """Stands in for boto3's client: counts the reads, answers from a dict of stages."""

    def __init__(self, stages: dict[str, str]) -> None:
        self.stages = stages
        self.reads: list[str] = []

    def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, str]:
        self.reads.append(VersionStage)
        time.sleep(0.05)  # a real call takes a while: concurrent refusals overlap
        password = self.stages[VersionStage]
        return {"SecretString": json.dumps({"username": "app", "password": password})}


async def test_concurrent_refusals_read_the_secret_once() -> None:
    client = CountingClient({"AWSCURRENT": "old"})
    source = SecretCredentials("arn:aws:secretsmanager:us-east-2:123456789012:secret:x", client)
    old = await source.current()
    client.stages["AWSCURRENT"] = "new"
    results = await asyncio.gather(*(source.refresh(old) for _ in range(8)))
    assert {r.password for r in results} == {"new"}
    assert client.reads == ["AWSCURRENT", "AWSCURRENT"]  # the first read, then one refresh


async def test_mid_rotation_the_pending_password_is_tried() -> None:
    client = CountingClient({"AWSCURRENT": "old", "AWSPENDING": "new"})
    source = SecretCredentials("arn:aws:secretsmanager:us-east-2:123456789012:secret:x", client)
    old = await source.current()
    assert (await source.refresh(old)).password == "new"
    assert client.reads == ["AWSCURRENT", "AWSCURRENT", "AWSPENDING"]


def test_config_with_the_secret() -> None:
    arn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:alunos-api/prod/db-Ab12Cd"
    settings = load_settings(
        {"HOST": "db.internal", "DBNAME": "alunos", "DB_AUTH_ARN": arn, "USER": "root"}
    )
    database = settings.database
    assert database is not None
    assert database.credentials is not None
    assert database.credentials.secret_arn == arn
    assert database.describe() == "db.internal:5432/alunos"  # the user comes with the secret
    assert database.secrets == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DB_AUTH_ARN": "arn:aws:secretsmanager:us-east-2:123456789012:secret:x"}, "goes with HOST"),
        ({"HOST": "db", "DBNAME": "a", "DB_AUTH_ARN": "alunos/prod/db"}, "is not a Secrets Manager secret ARN"),
        (
            {"HOST": "db", "DBNAME": "a", "PASSWORD": "pw",
             "DB_AUTH_ARN": "arn:aws:secretsmanager:us-east-2:123456789012:secret:x"},
            "either PASSWORD or DB_AUTH_ARN",
        ),
        (
            {"HOST": "db", "DB_AUTH_ARN": "arn:aws:secretsmanager:us-east-2:123456789012:secret:x"},
            "DBNAME must be set",
        ),
    ],
)  # fmt: skip
def test_config_errors_with_the_secret(env: dict[str, str], message: str) -> None:
    from app.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_settings(env)
