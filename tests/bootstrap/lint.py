"""Parliament, the IAM policy linter, as the bootstrap's tests call it.

parliament 1.6.4 finds its data files through `pkg_resources`, which setuptools no longer ships
(setuptools >= 81; the locked one is 84): a stand-in module with the one function it calls,
`resource_filename`, is installed before the import, answering from importlib.resources.
"""

from __future__ import annotations

import importlib.resources
import json
import sys
import types
from typing import Any

if "pkg_resources" not in sys.modules:
    _shim = types.ModuleType("pkg_resources")

    def _resource_filename(package: str, name: str) -> str:
        return str(importlib.resources.files(package) / name)

    _shim.resource_filename = _resource_filename  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = _shim

import parliament


def findings(
    document: dict[str, Any], *, allowed: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Parliament's findings on `document` (identity policy unless it has a Principal), each
    `ISSUE: detail`, minus the issue codes in `allowed` (each allowed with a reason by the caller)."""
    policy = parliament.analyze_policy_string(
        json.dumps(document),
        include_community_auditors=False,
        ignore_private_auditors=True,
    )
    return [
        f"{finding.issue}: {finding.detail} {finding.location}"
        for finding in policy.findings
        if finding.issue not in allowed
    ]
