"""The bootstrap's config: bad values stop the run with one line naming the key and what is
allowed; the main stack files give each deploy role its scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from bootstrap import settings
from tests.bootstrap.conftest import ROOT


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
