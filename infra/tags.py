"""Tag layering: common tags come from the aws provider's defaultTags (stack config); each
resource adds its Name, then its own tags. Only deploy-scoped resources carry the version, so a
release does not rewrite the tags of every resource in the stack."""

from __future__ import annotations

from collections.abc import Mapping


def tags(name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"Name": name, **(extra or {})}
