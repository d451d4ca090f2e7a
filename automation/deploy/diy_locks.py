"""The lock files of a stack on a self-managed ("DIY") backend: who wrote each, and deleting one.

`pulumi cancel` there deletes every lock file of the stack, whoever wrote it
(`CancelCurrentUpdate`, pkg/backend/diy/backend.go), and nothing else: an update running on
another machine goes on, unlocked, and the next one may start beside it. So `automation unlock`
reads the files first and deletes only the ones a dead process of this machine left.

Where they are and what they hold (pulumi/pulumi pkg/backend/diy/lock.go): one file per running
update, `<backend>/.pulumi/locks/<stack's fully qualified name>/<uuid>.json`, holding
`lockContent`: `{"pid", "username", "hostname", "timestamp"}` (the writer's `os.Getpid()`,
`os.Hostname()`, `time.Now()`). The fully qualified name is `organization/<project>/<stack>` in
the project layout (`.pulumi/meta.yaml` `version: 1`, what a new backend gets), and `<stack>`
alone in the legacy one (no meta.yaml, or `version: 0`: pkg/backend/diy/meta.go, and
`diyBackendReference.FullyQualifiedName` in backend.go). An S3 URL's path is a key prefix
(`s3://bucket/prefix`, backend.go `New`).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

import yaml

from automation.deploy.aws_errors import aws_call
from automation.deploy.pulumi_process import running
from automation.errors import AutomationError

META = ".pulumi/meta.yaml"
LOCKS = ".pulumi/locks"
DIY_ORGANIZATION = "organization"
"""A DIY backend's one organization name (pkg/backend/diy/store.go, `ParseReference`)."""


class Unreadable(AutomationError):
    """The backend's lock files cannot be listed from here (a scheme this tool does not read)."""


@dataclass(frozen=True, slots=True)
class LockFile:
    key: str
    """From the backend's root: `.pulumi/locks/organization/<project>/<stack>/<uuid>.json`."""
    url: str
    """Where it is: the backend's URL, then the key (pulumi's `lockURLForError` shows the same)."""
    pid: int | None
    username: str
    hostname: str
    timestamp: str

    @property
    def left_here(self) -> bool:
        """Written by a process of this machine that no longer runs: nothing holds it any more."""
        return (
            self.hostname == socket.gethostname() and self.pid is not None and not running(self.pid)
        )

    def __str__(self) -> str:
        who = f"{self.username or '?'}@{self.hostname or '?'}"
        return f"{self.url} ({who}, pid {self.pid or '?'}, {self.timestamp or '?'})"


class Bucket(Protocol):
    url: str

    def keys(self, prefix: str) -> list[str]: ...

    def read(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...


def stack_locks(backend_url: str, project: str, stack: str) -> tuple[Bucket, list[LockFile]]:
    """The stack's lock files on the backend, and the bucket to delete them from."""
    bucket = open_bucket(backend_url)
    parts = stack.split("/")
    name = parts[-1]
    if len(parts) == 3:
        project = parts[1]
    directory = f"{LOCKS}/{DIY_ORGANIZATION}/{project}/{name}/"
    if _layout_version(bucket) < 1:
        directory = f"{LOCKS}/{name}/"
    return bucket, [_lock(bucket, key) for key in bucket.keys(directory) if key.endswith(".json")]


def open_bucket(backend_url: str) -> Bucket:
    scheme = backend_url.split("://", 1)[0]
    if scheme == "s3":
        return S3Bucket(backend_url)
    if scheme == "file":
        return FileBucket(backend_url)
    raise Unreadable(f"cannot read lock files on a {scheme}:// backend (only s3:// and file://)")


class S3Bucket:
    """`s3://bucket/prefix?region=...`: boto3 with the default credentials (the job's role)."""

    def __init__(self, url: str) -> None:
        import boto3

        parsed = urlparse(url)
        self.url = url.split("?", 1)[0].rstrip("/")
        self.name = parsed.netloc
        prefix = parsed.path.lstrip("/")
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        region = parse_qs(parsed.query).get("region", [None])[0]
        self.client: Any = boto3.client("s3", region_name=region)

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        with aws_call(f"listing the lock files in {self.url}/{prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=self.prefix + prefix, Delimiter="/"
            )
            for page in pages:
                found += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        return found

    def read(self, key: str) -> bytes | None:
        with aws_call(f"reading {self.url}/{key}"):
            try:
                return bytes(
                    self.client.get_object(Bucket=self.name, Key=self.prefix + key)["Body"].read()
                )
            except self.client.exceptions.NoSuchKey:
                return None

    def delete(self, key: str) -> None:
        with aws_call(f"deleting {self.url}/{key}"):
            self.client.delete_object(Bucket=self.name, Key=self.prefix + key)


class FileBucket:
    """`file:///path` (or `file://~/path`): a directory."""

    def __init__(self, url: str) -> None:
        self.url = url.split("?", 1)[0].rstrip("/")
        self.root = Path(os.path.expanduser(self.url.removeprefix("file://")))

    def keys(self, prefix: str) -> list[str]:
        directory = self.root / prefix
        if not directory.is_dir():
            return []
        return sorted(f"{prefix}{path.name}" for path in directory.iterdir() if path.is_file())

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


def _layout_version(bucket: Bucket) -> int:
    raw = bucket.read(META)
    try:
        meta = yaml.safe_load(raw) if raw else None
        return int(meta.get("version", 0)) if isinstance(meta, dict) else 0
    except (yaml.YAMLError, TypeError, ValueError):
        return 0


def _lock(bucket: Bucket, key: str) -> LockFile:
    """A lock file as written; one that cannot be read or parsed names no one (never ours)."""
    url = f"{bucket.url}/{key}"
    try:
        content = json.loads(bucket.read(key) or b"")
        pid = content.get("pid")
        return LockFile(
            key,
            url,
            int(pid) if pid is not None else None,
            str(content.get("username", "")),
            str(content.get("hostname", "")),
            str(content.get("timestamp", "")),
        )
    except (ValueError, TypeError, AttributeError):
        return LockFile(key, url, None, "", "", "")
