"""Example values a stack file still holds, and what to put there instead.

The shipped `Pulumi.prod.yaml` shows the shape of a real stack with made-up ids: AWS's example
account 123456789012, `vpc-0a1b2c3d4e5f6...`, `alunos.example.com`. The offline plan takes them
like any id, and a deploy fails at AWS minutes later; so `plan` and `cost` warn once per key
and `check` fails, each line naming the key and (from Pulumi.yaml's description) what it wants.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automation.release import stack_config

# Fragments only an example carries: AWS's documentation account id, the hex runs of this
# repository's sample ids (vpc-, subnet-, sg-, the RDS endpoint), Route 53's sample zone ids.
_EXAMPLE_FRAGMENTS = re.compile(r"123456789012|0a1b2c3d4e5f6|c1a2b3c4d5e6|EXAMPLE")
# Names reserved for documentation (RFC 2606): example.com/.net/.org and the .example TLD.
_EXAMPLE_NAME = re.compile(r"(^|\.)example\.(com|net|org)\.?$|\.example\.?$", re.IGNORECASE)


@dataclass(frozen=True)
class Placeholder:
    key: str
    """Fully qualified (`alunos-api:existingVpcId`)."""
    value: str
    """The example value found (the first, for a list)."""
    wanted: str
    """What the key takes: its Pulumi.yaml description, or a generic hint."""

    def message(self, stack: str) -> str:
        return (
            f"Pulumi.{stack_config.short_name(stack)}.yaml: {self.key} still holds the example "
            f"value {self.value}; replace it with your account's: {self.wanted}"
        )


def is_example(value: str) -> bool:
    return bool(_EXAMPLE_FRAGMENTS.search(value) or _EXAMPLE_NAME.search(value.strip()))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def find(project_dir: Path, stack: str) -> list[Placeholder]:
    """Every key of the stack's config holding an example value, in the file's order."""
    config = stack_config.load(project_dir, stack)
    declared = stack_config.declarations(project_dir)
    found = []
    for key, value in config.values.items():
        example = next((text for text in _strings(value) if is_example(text)), None)
        if example is None:
            continue
        wanted = str(declared.get(key, {}).get("description") or "the real value for this stack")
        found.append(Placeholder(key, example, wanted))
    return found
