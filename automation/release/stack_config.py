"""A stack's configuration as the Pulumi CLI would hand it to the program, read from the files.

Pulumi.yaml declares every project key with its type and default; Pulumi.<stack>.yaml sets what
differs. The offline plan, cost and decommission commands need the same view without the CLI, so
this applies the same rules: defaults first, stack values over them, types checked against the
declarations, unknown project keys refused (a typo must not be silently ignored).

It also holds the one answer to "is this stack production?" (`StackConfig.production`,
`is_production`) that every command uses: the deploy guard of up/preview/rollback, `check`, the
plan comment and `decommission --skip-gates`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from automation.changes import SECRET_MASK
from automation.errors import UsageProblem
from policy import rules

PRODUCTION = "production"

_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "array": list,
}


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    values: dict[str, Any]
    """Fully qualified key (`alunos-api:cpu`, `aws:region`) -> typed value."""
    secret_keys: tuple[str, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """A project key by its short name, or any fully qualified key."""
        name = key if ":" in key else f"{self.project}:{key}"
        return self.values.get(name, default)

    @property
    def production(self) -> bool:
        """Is this stack production? Its `production` flag decides (Pulumi.yaml's default, false,
        when the stack file does not set it), as `policy.rules.is_production` says for the CLI,
        the program and the policy pack alike; a stack named `prod` without the flag is a
        configuration error (exit 2) naming the key.
        """
        try:
            key = f"{self.project}:{PRODUCTION}"
            return rules.is_production(short_name(self.stack), self.get(PRODUCTION), key)
        except rules.ProductionFlagMissing as problem:
            raise UsageProblem(str(problem)) from None

    def project_values(self) -> dict[str, Any]:
        """This project's keys by short name (`cpu`), without the other namespaces."""
        prefix = f"{self.project}:"
        return {k[len(prefix) :]: v for k, v in self.values.items() if k.startswith(prefix)}

    def as_engine_config(self) -> dict[str, str]:
        """Values as the engine passes them to a program: strings, JSON for structures."""
        return {key: _engine_string(value) for key, value in self.values.items()}


def short_name(stack: str) -> str:
    """`prod` for `prod`, `acme/prod` and `acme/alunos-api/prod`: the name of its stack file."""
    return stack.rsplit("/", 1)[-1]


def _engine_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


# libyaml's safe loader when PyYAML was built with it (the wheels are): Pulumi.yaml in pure
# Python took about 80 ms of every plan.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader, C or Python)
    except FileNotFoundError:
        raise UsageProblem(f"{path} does not exist") from None
    except yaml.YAMLError as error:
        raise UsageProblem(f"{path} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageProblem(f"{path} must be a YAML mapping at the top level")
    return data


def stacks(project_dir: Path) -> list[str]:
    """Stacks that have a settings file next to Pulumi.yaml."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def is_production(project_dir: Path, stack: str) -> bool:
    """`StackConfig.production` for a stack a deploy command names (`prod`, `org/prod`...), read
    without the Pulumi CLI. A stack with no Pulumi.<stack>.yaml yet (`up --create`) gets
    Pulumi.yaml's default, as the Pulumi CLI would give it."""
    if not (project_dir / "Pulumi.yaml").is_file():
        raise UsageProblem(
            f"no Pulumi.yaml in {project_dir}: run from the repository root or pass --repo"
        )
    name = short_name(stack)
    if (project_dir / f"Pulumi.{name}.yaml").exists():
        return load(project_dir, name).production
    project, _, defaults = _project(project_dir)
    return StackConfig(project, name, defaults).production


def declarations(project_dir: Path) -> dict[str, dict[str, Any]]:
    """The keys Pulumi.yaml declares (fully qualified) and their declarations (type,
    default, description)."""
    return _project(project_dir)[1]


def _project(project_dir: Path) -> tuple[str, dict[str, dict[str, Any]], dict[str, Any]]:
    """The project's name, its declared keys, and its values before any stack file: defaults."""
    project_file = _read_yaml(project_dir / "Pulumi.yaml")
    project = project_file.get("name")
    if not isinstance(project, str) or not project:
        raise UsageProblem(f"{project_dir / 'Pulumi.yaml'} has no project name")
    declared: dict[str, dict[str, Any]] = {}
    values: dict[str, Any] = {}
    for key, declaration in (project_file.get("config") or {}).items():
        qualified = key if ":" in key else f"{project}:{key}"
        if isinstance(declaration, dict) and "type" in declaration:
            declared[qualified] = declaration
            if "default" in declaration:
                values[qualified] = declaration["default"]
        elif isinstance(declaration, dict) and "value" in declaration:
            values[qualified] = declaration["value"]
        else:
            values[qualified] = declaration
    return project, declared, values


def load(project_dir: Path, stack: str) -> StackConfig:
    project, declared, values = _project(project_dir)
    stack_path = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_path.exists():
        known = ", ".join(stacks(project_dir)) or "none"
        raise UsageProblem(f"unknown stack {stack!r}: no {stack_path.name}; known stacks: {known}")

    secret_keys: list[str] = []
    for key, value in (_read_yaml(stack_path).get("config") or {}).items():
        qualified = key if ":" in key else f"{project}:{key}"
        if qualified.startswith(f"{project}:") and qualified not in declared:
            raise UsageProblem(
                f"{stack_path.name}: {qualified} is not a key of this project; declared keys: "
                + ", ".join(sorted(k.split(":", 1)[1] for k in declared))
            )
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.append(qualified)
            value = SECRET_MASK
        values[qualified] = value

    for key, declaration in declared.items():
        if key not in values:
            raise UsageProblem(
                f"{stack_path.name}: {key} is required (no default in Pulumi.yaml); set it"
            )
        _check_type(stack_path.name, key, values[key], declaration)
    return StackConfig(project, stack, values, tuple(secret_keys))


def _check_type(where: str, key: str, value: Any, declaration: dict[str, Any]) -> None:
    kind = declaration["type"]
    expected = _TYPES.get(kind)
    if expected is None:
        raise UsageProblem(f"Pulumi.yaml: {key} has unknown type {kind!r}; use {', '.join(_TYPES)}")
    # YAML booleans are ints in Python: keep integer and boolean apart.
    wrong = not isinstance(value, expected) or (kind == "integer" and isinstance(value, bool))
    if kind == "array" and not wrong:
        item_kind = (declaration.get("items") or {}).get("type", "string")
        wrong = not all(isinstance(item, _TYPES.get(item_kind, str)) for item in value)
        kind = f"array of {item_kind}"
    if wrong:
        raise UsageProblem(f"{where}: {key} is {value!r}; allowed: a value of type {kind}")
