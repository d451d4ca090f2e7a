"""IAM's decision on one request against identity policies, as far as these tests need it: an
explicit Deny wins, otherwise an Allow must match. Actions match case-insensitively and resources
case-sensitively, `*` standing for any run of characters and `?` for one
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).

Conditions are not evaluated: an Allow with conditions counts as matching, a Deny with conditions
as not matching. So `allows` answers "may this be allowed", and a test that relies on a condition
asserts the condition itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(stmt: dict[str, Any], action: str, resource: str) -> bool:
    return any(
        fnmatchcase(action.lower(), pattern.lower()) for pattern in _listed(stmt["Action"])
    ) and any(fnmatchcase(resource, pattern) for pattern in _listed(stmt["Resource"]))


def allows(docs: Iterable[dict[str, Any]], action: str, resource: str) -> bool:
    statements = [stmt for doc in docs for stmt in doc["Statement"]]
    if any(
        stmt["Effect"] == "Deny" and "Condition" not in stmt and _matches(stmt, action, resource)
        for stmt in statements
    ):
        return False
    return any(
        stmt["Effect"] == "Allow" and _matches(stmt, action, resource) for stmt in statements
    )


def allowed_actions(docs: Iterable[dict[str, Any]]) -> list[str]:
    """Every action (or wildcard) an Allow statement of `docs` names."""
    return [
        action
        for doc in docs
        for stmt in doc["Statement"]
        if stmt["Effect"] == "Allow"
        for action in _listed(stmt["Action"])
    ]


def missing(needed: Iterable[str], allowed: list[str]) -> list[str]:
    """The calls no allowed action (wildcards as IAM matches them, case-insensitively) covers."""
    return [
        call
        for call in needed
        if not any(fnmatchcase(call.lower(), pattern.lower()) for pattern in allowed)
    ]
