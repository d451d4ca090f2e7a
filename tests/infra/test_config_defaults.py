"""Pulumi.yaml is the one source of the config's defaults (issue 19, item 3): a component's
argument that the program fills from the stack config has no default of its own, which could
drift from Pulumi.yaml's and would silently apply wherever a caller forgets the field.

Which arguments are config-backed is read from `__main__.py` itself: a keyword argument of an
`...Args(...)` call whose value reads the settings (`cfg`, or a name bound to a part of it such
as `lb = cfg.load_balancer`). So a new config-backed field is covered without editing this test.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib

import pytest

from tests.infra.conftest import ROOT

# Every component module whose arguments __main__.py fills from the settings.
MODULES = (
    "infra.access_logs",
    "infra.alarms",
    "infra.autoscaling",
    "infra.capacity",
    "infra.certificate",
    "infra.database",
    "infra.image",
    "infra.load_balancer",
    "infra.network",
    "infra.registry",
    "infra.rollout",
    "infra.deployment_strategy",
    "infra.service",
    "infra.schedule",
    "infra.waf",
)


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def config_backed_fields() -> set[tuple[str, str]]:
    """(Args class name, field) for every argument `__main__.py` fills from the settings."""
    tree = ast.parse((ROOT / "__main__.py").read_text())
    settings = {"cfg"}
    assignments = [node for node in ast.walk(tree) if isinstance(node, ast.Assign)]
    for node in assignments:  # names bound to a part of the settings: app = cfg.app
        if isinstance(node.value, ast.Attribute) and _root_name(node.value) in settings:
            settings |= {t.id for t in node.targets if isinstance(t, ast.Name)}

    def reads_settings(value: ast.expr) -> bool:
        return any(
            isinstance(part, ast.Attribute) and _root_name(part) in settings
            for part in ast.walk(value)
        )

    return {
        (node.func.id, keyword.arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.endswith("Args")
        for keyword in node.keywords
        if keyword.arg is not None and reads_settings(keyword.value)
    }


def test_the_reader_finds_the_config_backed_fields() -> None:
    """Guards the test below against passing on an empty set."""
    found = config_backed_fields()
    assert {
        ("ImageArgs", "context"),
        ("ImageArgs", "dockerfile"),
        ("LoadBalancerArgs", "health_check_path"),
        ("WafArgs", "log_retention_days"),
        ("DatabaseArgs", "production"),
        ("AutoscalingArgs", "scale_from_zero"),
    } <= found
    assert ("WafArgs", "max_body_bytes") not in found  # the app's constant, not config


@pytest.mark.parametrize("module_name", MODULES)
def test_config_backed_arguments_have_no_default(module_name: str) -> None:
    module = importlib.import_module(module_name)
    backed = config_backed_fields()
    args_classes = [
        value
        for name, value in vars(module).items()
        if name.endswith("Args")
        and isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == module_name
    ]
    defaulted = [
        f"{cls.__name__}.{field.name}"
        for cls in args_classes
        for field in dataclasses.fields(cls)
        if (cls.__name__, field.name) in backed
        and (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
    ]
    assert defaulted == [], (
        f"{module_name}: {defaulted} are filled from the stack config, whose defaults live in "
        "Pulumi.yaml only: make them required"
    )
