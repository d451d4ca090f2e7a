"""The Pulumi SDK's private names the offline engine relies on (automation/offline/
pulumi_internals.py) are tied to the pulumi release uv.lock pins: when the pin moves, or a name
disappears, these fail and say what to read again.

The shim is read as text (its imports, its CHECKED_PULUMI_VERSION), not imported: a private name
gone from the SDK would otherwise surface as a bare ImportError while collecting the tests.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import tomllib
from pathlib import Path

import pulumi.runtime.mocks

ROOT = Path(__file__).resolve().parents[3]
SHIM = ROOT / "automation" / "offline" / "pulumi_internals.py"
TREE = ast.parse(SHIM.read_text(encoding="utf-8"))

PULUMI_IMPORTS = [
    f"{node.module}.{alias.name}"
    for node in TREE.body
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pulumi")
    for alias in node.names
]
CHECKED = next(
    str(node.value.value)
    for node in TREE.body
    if isinstance(node, ast.Assign)
    and isinstance(node.targets[0], ast.Name)
    and node.targets[0].id == "CHECKED_PULUMI_VERSION"
    and isinstance(node.value, ast.Constant)
)
WHAT_TO_CHECK = (
    "read pulumi.runtime.mocks.test in that release (the shim does what it does) and check that "
    f"{', '.join(PULUMI_IMPORTS)} still exist and behave the same, then set "
    "CHECKED_PULUMI_VERSION in automation/offline/pulumi_internals.py to that release"
)


def test_the_locked_pulumi_is_the_release_the_shim_was_checked_against() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked = next(package["version"] for package in lock["package"] if package["name"] == "pulumi")
    installed = importlib.metadata.version("pulumi")
    assert locked == installed == CHECKED, (
        f"uv.lock pins pulumi {locked} (installed: {installed}) but the offline engine's private "
        f"runtime calls were checked against {CHECKED}: {WHAT_TO_CHECK}"
    )


def test_the_private_names_the_shim_imports_exist() -> None:
    assert PULUMI_IMPORTS, f"{SHIM} imports nothing from pulumi: this test reads the wrong file"
    missing = []
    for dotted in PULUMI_IMPORTS:
        module, _, name = dotted.rpartition(".")
        try:
            found = hasattr(importlib.import_module(module), name)
        except ImportError:
            found = False
        if not found:
            missing.append(dotted)
    installed = importlib.metadata.version("pulumi")
    assert not missing, f"pulumi {installed} has no {', '.join(missing)}: {WHAT_TO_CHECK}"


def test_the_sdk_still_runs_code_under_mocks_the_way_the_shim_does() -> None:
    source = inspect.getsource(pulumi.runtime.mocks.test)
    steps = ("SETTINGS.rpc_manager.clear()", "SETTINGS.outputs.clear()", "_sync_await(")
    changed = [step for step in (*steps, "run_pulumi_func(") if step not in source]
    installed = importlib.metadata.version("pulumi")
    assert not changed, (
        f"pulumi {installed}'s pulumi.runtime.mocks.test no longer calls {', '.join(changed)}: "
        f"{WHAT_TO_CHECK}"
    )
