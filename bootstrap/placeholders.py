"""Example values a main stack file may still hold. The shipped Pulumi.prod.yaml shows a real
stack's shape with made-up ids (AWS's example account 123456789012, `vpc-0a1b2c3d4e5f6...`,
`alunos.example.com`): the bootstrap would scope prod's deploy role to them without a word, and
the first prod deploy would be denied. It warns instead, naming each key, until they are replaced
and the bootstrap is run again (README, step 3).

The same patterns as the CI tool's (automation/release/placeholders.py), which the bootstrap
may not import (it stands alone: pyproject.toml's import contracts); tests/bootstrap keeps the
two equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

EXAMPLE_FRAGMENTS = re.compile(r"123456789012|0a1b2c3d4e5f6|c1a2b3c4d5e6|EXAMPLE")
EXAMPLE_NAME = re.compile(r"(^|\.)example\.(com|net|org)\.?$|\.example\.?$", re.IGNORECASE)


def is_example(value: str) -> bool:
    return bool(EXAMPLE_FRAGMENTS.search(value) or EXAMPLE_NAME.search(value.strip()))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict) and set(value) != {"secure"}:
        for item in value.values():
            yield from _strings(item)


def example_keys(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys whose value holds an example, in the config's order."""
    return tuple(key for key, value in values.items() if any(map(is_example, _strings(value))))
