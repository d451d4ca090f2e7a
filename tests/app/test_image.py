"""What the image is built from, checked without a Docker engine: the pinned requirements match
uv.lock, carry hashes, hold runtime dependencies only; the Dockerfile keeps its contract with the
infrastructure (build-arg names, labels, port, non-root user, exec-form entry point)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.app.conftest import ROOT

DOCKERFILE = (ROOT / "app" / "Dockerfile").read_text()
REQUIREMENTS = (ROOT / "app" / "requirements.txt").read_text()
EXPORT = ["export", "--frozen", "--only-group", "app", "--no-emit-project", "--no-header"]


def _uv() -> str:
    for candidate in (shutil.which("uv"), str(ROOT / ".tools" / "bin" / "uv")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("uv not found (make installs it into .tools/bin)")


def _requirements(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_requirements_match_uv_lock() -> None:
    exported = subprocess.run(
        [_uv(), *EXPORT], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert _requirements(REQUIREMENTS) == _requirements(exported), (
        "app/requirements.txt is stale: run "
        "`uv export --frozen --only-group app --no-emit-project -o app/requirements.txt`"
    )


def test_requirements_are_pinned_with_hashes_and_runtime_only() -> None:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==[^ ;]+(?: ;[^\\]*)? \\$", REQUIREMENTS, re.MULTILINE)
    assert {"starlette", "uvicorn", "psycopg", "psycopg-pool"} <= set(pins)
    assert not {"pgserver", "pytest", "hypothesis", "moto", "ruff", "mypy"} & set(pins)
    assert len(re.findall(r"^[^#\s]\S*==", REQUIREMENTS, re.MULTILINE)) == len(pins)  # all seen
    assert REQUIREMENTS.count("--hash=sha256:") >= len(pins)


def test_dockerfile_keeps_the_contract_with_the_infrastructure() -> None:
    for arg in ("APP_VERSION", "APP_REVISION", "APP_CREATED"):
        assert re.search(rf"^ARG {arg}=", DOCKERFILE, re.MULTILINE)
        assert f"{arg}=${{{arg}}}" in DOCKERFILE  # exported to the app as ENV
    for label in ("version", "revision", "created", "source"):
        assert f"org.opencontainers.image.{label}=" in DOCKERFILE
    assert re.search(
        r"^FROM python:|^ARG PYTHON_IMAGE=python:[\d.]+-slim-\w+@sha256:[0-9a-f]{64}$",
        DOCKERFILE,
        re.MULTILINE,
    )
    assert "--require-hashes" in DOCKERFILE
    from infra.service import CONTAINER_USER, HEALTH_CHECK_COMMAND

    assert re.search(rf"^USER {CONTAINER_USER}$", DOCKERFILE, re.MULTILINE)  # the task's user
    assert re.search(r'^VOLUME \["/tmp"\]$', DOCKERFILE, re.MULTILINE)  # the task's tmp mount
    assert HEALTH_CHECK_COMMAND[1:] == ["python", "-m", "app.healthcheck"]
    assert (ROOT / "app" / "healthcheck.py").exists()
    assert re.search(r"^EXPOSE 8000$", DOCKERFILE, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["python", "-m", "app"\]$', DOCKERFILE, re.MULTILINE)
    assert DOCKERFILE.count("\nFROM ") >= 2  # multi-stage: the build tools stay behind
