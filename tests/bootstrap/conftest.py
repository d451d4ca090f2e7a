"""Helpers: the bootstrap program under the offline mock engine, and its policy documents as
plain data for the linter."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from automation.offline import engine, mocks
from automation.offline.engine import Plan
from automation.offline.mocks import ACCOUNT
from bootstrap import settings

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "bootstrap" / "__main__.py"
PROJECT = "alunos-api-bootstrap"
REPOSITORY = "acme/alunos-api"


KMS_KEY = "aws:kms/key:Key"
IAM_POLICY = "aws:iam/policy:Policy"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"


def _key(new: Any) -> tuple[str, dict[str, Any]]:
    key_id = f"{new.short}-0000-4000-8000-{new.short}00000"
    return key_id, new.outputs(keyId=key_id, arn=new.arn("kms", f"key/{key_id}"))


def _policy(new: Any) -> tuple[str, dict[str, Any]]:
    arn = f"arn:aws:iam::{ACCOUNT}:policy/{new.physical}"
    return arn, new.outputs(arn=arn)


def _provider(new: Any) -> tuple[str, dict[str, Any]]:
    host = str(new.inputs.get("url", "")).removeprefix("https://")
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"
    return arn, new.outputs(arn=arn)


BOOTSTRAP_RESOURCES = {KMS_KEY: _key, IAM_POLICY: _policy, OIDC_PROVIDER: _provider}
"""The types only the bootstrap declares: their ARNs, which the policies and outputs name."""


def run_bootstrap(region: str = "us-east-2", **config: str) -> Plan:
    """Run bootstrap/__main__.py with these project keys (short names) over a valid base; an
    empty `region` leaves aws:region unset."""
    values = {f"{PROJECT}:githubRepository": REPOSITORY}
    if region:
        values["aws:region"] = region
    values.update({f"{PROJECT}:{key}": value for key, value in config.items()})

    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    with mock.patch.dict(mocks.RESOURCES, BOOTSTRAP_RESOURCES):
        return engine.execute(
            program,
            project=PROJECT,
            stack="bootstrap",
            config=values,
        )


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "dev": ("dev", {}),
    "prod": ("prod", {}),
    "dev-ec2": (
        "dev",
        {"capacity": "ec2", "natGateways": "Single", "spotPercent": 0, "schedule": ""},
    ),
    "dev-blue-green": ("dev", {"deploymentStrategy": "blue_green", "deploymentBakeMinutes": 0}),
    "prod-hybrid": (
        "prod",
        {
            "capacity": "hybrid",
            "ec2BaseCount": 2,
            "autoscalingMinCount": 0,
            "desiredCount": 0,
            "deploymentStrategy": "rolling",
        },
    ),
}
"""A stack and its config overrides (tests/infra/test_capacity.py, test_rollout.py): each plans
a different set of resource types."""


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    return {
        name: engine.run(ROOT, stack, overrides) for name, (stack, overrides) in VARIANTS.items()
    }


@pytest.fixture(scope="session")
def stacks() -> tuple[settings.Stack, ...]:
    """The main stacks as their committed config files describe them."""
    return tuple(settings.read_stack(env, ROOT) for env in settings.ENVIRONMENTS)


@pytest.fixture(scope="session")
def self_managed() -> Plan:
    return run_bootstrap(selfManagedBackend="true")


@pytest.fixture
def bootstrap() -> Callable[..., Plan]:
    return run_bootstrap


__all__ = ["ACCOUNT", "REPOSITORY", "ROOT"]
