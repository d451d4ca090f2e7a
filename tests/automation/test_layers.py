"""The package layout's import contracts (pyproject.toml) hold, and they catch what they forbid."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, check=False
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for package in ("automation", "infra", "policy", "app", "bootstrap"):
        shutil.copytree(ROOT / package, tmp_path / package)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_repository_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


def test_a_package_importing_the_cli_breaks_the_layers(copy: Path) -> None:
    with (copy / "automation/release/version.py").open("a") as module:
        module.write("\nfrom automation import cli  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "automation.release is not allowed to import automation.cli" in result.stdout


def test_pr_and_deploy_stay_independent(copy: Path) -> None:
    with (copy / "automation/pr/render.py").open("a") as module:
        module.write("\nfrom automation.deploy import verify  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "automation.pr is not allowed to import automation.deploy" in result.stdout


def test_a_cycle_inside_a_package_is_refused(copy: Path) -> None:
    with (copy / "automation/deploy/pulumi_seam.py").open("a") as module:
        module.write("\nfrom automation.deploy import pipeline  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "No cycles are allowed in automation.deploy" in result.stdout


def test_the_program_never_imports_the_ci_tool(copy: Path) -> None:
    with (copy / "infra/outputs.py").open("a") as module:
        module.write("\nfrom automation import errors  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "infra.outputs -> automation.errors" in result.stdout


def test_the_bootstrap_never_imports_the_ci_tool(copy: Path) -> None:
    with (copy / "bootstrap/settings.py").open("a") as module:
        module.write("\nfrom automation import errors  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "bootstrap.settings -> automation.errors" in result.stdout


def test_a_new_package_must_be_given_a_layer(copy: Path) -> None:
    (copy / "automation/newcomer").mkdir()
    (copy / "automation/newcomer/__init__.py").write_text('"""A package nobody placed."""\n')
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "automation.newcomer" in result.stdout + result.stderr


PACKAGES = sorted(
    path.parent
    for path in (ROOT / "automation").glob("*/__init__.py")
    if path.parent.name != "prices"
)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: path.name)
def test_each_package_docstring_names_its_modules(package: Path) -> None:
    """A newcomer reads a package's `__init__` first: it names every module the package holds, so
    a module added later without a word there fails here instead of drifting silently."""
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert docstring, f"{package.name}/__init__.py has no docstring"
    modules = sorted(path.stem for path in package.glob("*.py") if path.stem != "__init__")
    missing = [name for name in modules if f"`{name}`" not in docstring]
    assert not missing, f"{package.name}/__init__.py does not name {missing}"


def test_the_root_docstring_names_every_package() -> None:
    docstring = ast.get_docstring(ast.parse((ROOT / "automation/__init__.py").read_text()))
    assert docstring
    missing = [package.name for package in PACKAGES if f"`{package.name}/`" not in docstring]
    assert not missing, f"automation/__init__.py does not name {missing}"
