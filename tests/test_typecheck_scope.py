"""mypy skips the pulumi_aws services this project does not use (pyproject.toml): a service
the code starts using must join the checked list, or its calls would go unchecked silently."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["__main__.py", "infra", "bootstrap", "automation", "policy", "tests"]
# `aws.ecs.Service(`, `aws.ec2.get_vpc(`: a service module followed by a name in it.
USE = re.compile(r"\baws\.([a-z0-9_]+)\.[A-Za-z_]")


def checked_services() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    normal = [
        module
        for override in config["tool"]["mypy"]["overrides"]
        if override.get("follow_imports") == "normal"
        for module in override["module"]
    ]
    return {m.removeprefix("pulumi_aws.").removesuffix(".*") for m in normal if m.endswith(".*")}


def used_services() -> set[str]:
    files = [ROOT / "__main__.py"] + [
        path for source in SOURCES[1:] for path in (ROOT / source).rglob("*.py")
    ]
    found: set[str] = set()
    for path in files:
        text = path.read_text()
        if "import pulumi_aws" not in text:  # `aws` is something else there (a boto3 session)
            continue
        for line in text.splitlines():
            if "docs.aws.amazon.com" in line or "://" in line:
                continue
            found |= set(USE.findall(line))
    return found


def test_every_used_pulumi_aws_service_is_type_checked() -> None:
    used = used_services()
    assert {"ecs", "ec2", "lb"} <= used  # the scan sees the program
    assert used <= checked_services(), sorted(used - checked_services())
