"""Database credentials read from a Secrets Manager secret, and read again when they go stale.

RDS rotates a managed master password every 7 days, and a team's own secret may rotate too. ECS
injects secrets only when a task starts, so an injected password dies with the rotation and every
connection the pool opens afterwards is refused. Here the task gets the secret's ARN instead
(`DB_AUTH_ARN`) and the permission to read it; the app reads the secret when it first connects,
keeps the value, and reads it again when PostgreSQL refuses it (see `app.database.connect`).

A rotation changes the password in the database before it moves the AWSCURRENT label to the new
value (the createSecret, setSecret, testSecret, finishSecret steps): in between, AWSCURRENT still
holds the old password. So when AWSCURRENT is the value just refused, the AWSPENDING one is tried.

boto3 is imported on first use: local runs with DATABASE_URL never load it.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.logs import mask_secret

# arn:<partition>:secretsmanager:<region>:<account>:secret:<name>, the form GetSecretValue
# accepts as SecretId; the region is read from it, so no other setting is needed.
SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):\d{12}:secret:\S+")
CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"


class CredentialsUnavailable(Exception):
    """The secret could not be read or does not hold a username and a password."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


class CredentialsStatus:
    """Whether PostgreSQL refuses the app's credentials now, and since when: for `/health`."""

    def __init__(self) -> None:
        self.refused_since: datetime | None = None

    def refused(self) -> bool:
        """Record a refusal; True for the first one since the credentials last worked."""
        first = self.refused_since is None
        if first:
            self.refused_since = datetime.now(UTC)
        return first

    def accepted(self) -> None:
        self.refused_since = None


class SecretCredentials:
    """The username and password of a JSON secret (`{"username": ..., "password": ...}`).

    Read once and kept: a connection costs no Secrets Manager call unless PostgreSQL refused the
    kept value. Concurrent refusals trigger one read, not one each.
    """

    def __init__(self, secret_arn: str, client: Any = None) -> None:
        match = SECRET_ARN.fullmatch(secret_arn)
        if match is None:
            raise ValueError(f"not a Secrets Manager secret ARN: {secret_arn!r}")
        self.secret_arn = secret_arn
        self._region = match.group(1)
        self._client = client
        self._kept: Credentials | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> Credentials:
        """The kept credentials, read from the secret the first time."""
        async with self._lock:
            if self._kept is None:
                self._kept = await self._read_current()
            return self._kept

    async def refresh(self, refused: Credentials) -> Credentials:
        """What to try after PostgreSQL refused `refused`: equal to it when nothing newer exists."""
        async with self._lock:
            if self._kept is not None and self._kept != refused:
                return self._kept  # another connection has already read the new value
            fresh = await self._read_current()
            if fresh == refused:
                fresh = await self._read(PENDING) or fresh  # mid-rotation
            self._kept = fresh
            return fresh

    async def _read_current(self) -> Credentials:
        credentials = await self._read(CURRENT)
        assert credentials is not None  # without an AWSCURRENT version, _read raises
        return credentials

    async def _read(self, stage: str) -> Credentials | None:
        return await asyncio.to_thread(self._read_blocking, stage)

    def _read_blocking(self, stage: str) -> Credentials | None:
        """GetSecretValue of one stage; None when the secret has no version with that stage."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = self._client or self._new_client()
            self._client = client
            response = client.get_secret_value(SecretId=self.secret_arn, VersionStage=stage)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if stage != CURRENT and code == "ResourceNotFoundException":
                return None
            raise CredentialsUnavailable(f"cannot read {self.secret_arn}: {error}") from None
        except BotoCoreError as error:
            raise CredentialsUnavailable(f"cannot read {self.secret_arn}: {error}") from None
        return self._parse(response.get("SecretString"))

    def _parse(self, text: str | None) -> Credentials:
        # Never quote the value in a message: it is the password.
        expected = f"{self.secret_arn} is not a JSON object with string username and password"
        try:
            value = json.loads(text or "")
        except ValueError:
            raise CredentialsUnavailable(expected) from None
        user = value.get("username") if isinstance(value, dict) else None
        password = value.get("password") if isinstance(value, dict) else None
        if not (isinstance(user, str) and user and isinstance(password, str) and password):
            raise CredentialsUnavailable(expected)
        mask_secret(password)
        return Credentials(user, password)

    def _new_client(self) -> Any:
        import boto3
        from botocore.config import Config

        # Bounded: a request waiting for a connection waits for this read (5 s pool checkout).
        config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard"})
        return boto3.client("secretsmanager", region_name=self._region, config=config)
