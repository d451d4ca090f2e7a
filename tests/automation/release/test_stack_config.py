"""'Is this stack production?': one answer, from the stack config, for every command."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from automation.errors import UsageProblem
from automation.release.stack_config import is_production, load

ROOT = Path(__file__).resolve().parents[3]
KEY = "alunos-api:production"


def project(path: Path, **stacks: dict[str, Any]) -> Path:
    path.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", path / "Pulumi.yaml")
    for stack, config in stacks.items():
        (path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return path


def test_the_flag_decides_whatever_the_name(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo", live={KEY: True}, dev={}, qa={KEY: False})
    assert load(repo, "live").production is True
    assert is_production(repo, "acme/alunos-api/live") is True
    assert load(repo, "dev").production is False  # Pulumi.yaml's default
    assert is_production(repo, "qa") is False


@pytest.mark.parametrize("config", [{}, {KEY: False}], ids=["unset", "false"])
def test_a_stack_named_prod_without_the_flag_is_a_configuration_error(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    repo = project(tmp_path / "repo", prod=config)
    expected = (
        f"Pulumi.prod.yaml: {KEY} is false, but a stack named prod must be production: "
        f"set `{KEY}: true`"
    )
    for ask in (lambda: load(repo, "prod").production, lambda: is_production(repo, "org/prod")):
        with pytest.raises(UsageProblem) as error:
            ask()
        assert str(error.value).startswith(expected)
        assert error.value.exit_code == 2
    assert is_production(project(tmp_path / "ok", prod={KEY: True}), "prod") is True


def test_a_stack_without_its_file_gets_the_project_default(tmp_path: Path) -> None:
    """`up --create` of a new stack: the Pulumi CLI would hand the program Pulumi.yaml's
    defaults, so the guard reads the same."""
    repo = project(tmp_path / "repo")
    assert is_production(repo, "staging") is False
    with pytest.raises(UsageProblem, match=f"{KEY} is false, but a stack named prod"):
        is_production(repo, "prod")
    declared = yaml.safe_load((repo / "Pulumi.yaml").read_text())
    declared["config"]["production"]["default"] = True
    (repo / "Pulumi.yaml").write_text(yaml.safe_dump(declared))
    assert is_production(repo, "staging") is True


def test_a_project_without_pulumi_yaml_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match=r"no Pulumi.yaml in .*: run from the repository root"):
        is_production(tmp_path, "dev")


def test_the_project_yaml_of_this_repository_agrees_with_its_stacks() -> None:
    assert is_production(ROOT, "prod") is True
    assert is_production(ROOT, "dev") is False
