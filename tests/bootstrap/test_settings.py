"""The bootstrap's config: bad values stop the run with one line naming the key and what is
allowed; the main stack files give each deploy role its scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from automation.release import placeholders as ci_placeholders
from bootstrap import boundary, placeholders, read_access, settings
from bootstrap.iam import Account
from tests.bootstrap.conftest import ACCOUNT, ROOT
from tests.bootstrap.evaluate import allows


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("githubRepository", "OWNER/REPO", "githubRepository: 'OWNER/REPO' is not valid"),
        ("githubRepository", "acme", "allowed: this repository's OWNER/NAME"),
        ("githubRepository", "acme/alunos-api/extra", "is not valid"),
        ("githubRepository", "-acme/alunos-api", "is not valid"),
        ("githubRepository", "ac--me/alunos-api", "is not valid"),
        ("githubRepository", "acme/*", "is not valid"),
        ("githubOidcProviderArn", "arn:aws:iam::123:oidc-provider/x", "githubOidcProviderArn"),
        (
            "githubOidcProviderArn",
            "arn:aws:iam::123456789012:oidc-provider/gitlab.com",
            "oidc-provider/token.actions.githubusercontent.com",
        ),
        ("stateBucketName", "Acme_State", "stateBucketName: 'Acme_State' is not valid"),
        ("stateBucketName", "a..b", "3-63 lowercase letters"),
    ],
)
def test_bad_config_is_one_clear_error(bootstrap: Any, key: str, value: str, message: str) -> None:
    with pytest.raises(pulumi.RunError, match=message) as error:
        bootstrap(**{key: value})
    assert "\n" not in str(error.value)


def test_region_is_required(bootstrap: Any) -> None:
    with pytest.raises(pulumi.RunError, match="aws:region is not set"):
        bootstrap(region="")


def test_the_main_stacks_give_the_scopes(stacks: tuple[settings.Stack, ...]) -> None:
    dev, prod = stacks
    assert (dev.name, dev.prefix, dev.project) == ("dev", "alunos-dev", "alunos-api")
    assert dev.tags == {"project": "alunos-api", "environment": "dev"}
    assert not dev.issues_certificate
    assert not dev.foreign_security_group_id
    assert prod.issues_certificate
    assert prod.domain_name == "alunos.example.com"
    assert prod.foreign_security_group_id == "sg-0a1b2c3d4e5f60021"
    assert prod.legacy_tags == {"app": "alunos-api", "environment": "prod"}


def _project(tmp_path: Path, stack_file: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_file)
    return tmp_path


@pytest.mark.parametrize(
    ("stack_file", "message"),
    [
        ("config:\n  aws:region: us-east-2\n", "aws:defaultTags.tags project and environment"),
        (
            "config:\n  aws:region: us-east-2\n  aws:defaultTags:\n    tags:\n      project: p\n"
            "      environment: dev\n  alunos-api:legacyTags: [novalue]\n",
            "legacyTags item 'novalue' is not valid; allowed: KEY=VALUE",
        ),
        ("- a list\n", "must be a YAML mapping"),
    ],
)
def test_bad_main_stack_files(tmp_path: Path, stack_file: str, message: str) -> None:
    with pytest.raises(settings.BootstrapConfigError, match=message):
        settings.read_stack(settings.ENVIRONMENTS[0], _project(tmp_path, stack_file))


DEV_FILE = (
    "config:\n  aws:region: us-east-2\n  aws:defaultTags:\n    tags:\n      project: alunos-api\n"
    "      environment: dev\n"
)
APP_SECRET = "arn:aws:secretsmanager:us-east-2:123456789012:secret:alunos/app-AbCdEf"
REGISTRY_SECRET = "arn:aws:secretsmanager:us-east-2:123456789012:secret:registry-Gh12Ij"


def test_the_secrets_ecs_injects_are_described_and_within_the_boundary(tmp_path: Path) -> None:
    """appSecrets (with ECS's :json-key:stage:id suffix, which IAM does not know) and the
    registry's credentials are looked up by the program (DescribeSecret) and read by the
    execution role: the roles and the boundary name each secret by its ARN alone."""
    stack_file = DEV_FILE + (
        "  alunos-api:appSecrets:\n"
        f"    - PASSWORD={APP_SECRET}:password::\n"
        f"    - USER={APP_SECRET}:username::\n"
        f"  alunos-api:imageRegistrySecretArn: {REGISTRY_SECRET}\n"
    )
    stack = settings.read_stack(settings.ENVIRONMENTS[0], _project(tmp_path, stack_file))
    assert stack.startup_secret_arns == (APP_SECRET, REGISTRY_SECRET)
    (describe,) = [
        s
        for s in read_access.read([stack], ACCOUNT)["Statement"]
        if "secretsmanager:DescribeSecret" in s["Action"]
    ]
    assert describe["Resource"] == [APP_SECRET, REGISTRY_SECRET]
    bounded = boundary.boundary(stack, Account(ACCOUNT, stack.region))
    for arn in (APP_SECRET, REGISTRY_SECRET):
        assert allows([bounded], "secretsmanager:GetSecretValue", arn)


def test_a_secret_that_is_no_arn_is_one_clear_error(tmp_path: Path) -> None:
    stack_file = DEV_FILE + "  alunos-api:appSecrets:\n    - PASSWORD=alunos/app\n"
    with pytest.raises(settings.BootstrapConfigError, match="appSecrets names 'alunos/app'"):
        settings.read_stack(settings.ENVIRONMENTS[0], _project(tmp_path, stack_file))


def test_a_stack_file_with_example_ids_is_warned_about(
    bootstrap: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped Pulumi.prod.yaml holds example ids: the bootstrap says which keys, and that
    it must run again once they are replaced; dev's file holds none."""
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **kw: warnings.append(message))
    bootstrap()
    (warning,) = warnings
    assert warning.startswith("Pulumi.prod.yaml still holds example values in ")
    for key in ("existingVpcId", "dbSecretArn", "alarmTopicArn", "hostedZoneId"):
        assert f"alunos-api:{key}" in warning
    assert "run the bootstrap again" in warning
    assert "\n" not in warning


def test_the_example_patterns_are_the_ci_tools() -> None:
    """The bootstrap cannot import automation/ (it stands alone): its copy of the patterns must
    stay the CI tool's, and find the same keys in the committed stack files."""
    assert placeholders.EXAMPLE_FRAGMENTS.pattern == ci_placeholders._EXAMPLE_FRAGMENTS.pattern
    assert placeholders.EXAMPLE_NAME.pattern == ci_placeholders._EXAMPLE_NAME.pattern
    assert placeholders.EXAMPLE_NAME.flags == ci_placeholders._EXAMPLE_NAME.flags
    for env in settings.ENVIRONMENTS:
        found = settings.read_stack(env, ROOT).example_keys
        assert found == tuple(p.key for p in ci_placeholders.find(ROOT, env.name)), env.name
