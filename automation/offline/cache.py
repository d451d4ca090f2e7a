"""The plan cache: a stack's offline plan computed once per set of inputs, then read back.

A plan depends only on files, and computing one costs the provider SDKs' imports (about a second)
and the mock run; reading one back costs milliseconds. So the offline commands (plan, cost,
check, diagram, report) read `.cache/plans/<stack>-<key>.json` of the project when its key
matches, without importing the Pulumi SDKs at all. The key is a SHA-256 of:

- the program: every file under infra/, __main__.py and policy/*.py (infra imports the rules);
- the image's build context and Dockerfile (their contents make the image tag);
- the config: Pulumi.yaml and Pulumi.<stack>.yaml;
- uv.lock (the SDK versions) and the Python version;
- the code here that shapes a plan (automation/offline, the config loader, the change model);
- FORMAT, the layout of an entry.

An entry is checked before it is used: one that is not JSON, not this layout or FORMAT, or whose
key or stack inside is not the one asked for is a miss, and the fresh plan overwrites it.
`AUTOMATION_PLAN_CACHE=off` (the test suite sets it) or `--no-cache` bypasses the cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from automation import changes
from automation.offline.planned import Plan, PlannedResource
from automation.release import stack_config

FORMAT = 1
"""Bump it when an entry's layout or what a plan records changes."""
DIRECTORY = Path(".cache") / "plans"
KEEP = 4
"""Entries kept per stack (the newest): a branch switched back and forth hits both."""
SWITCH = "AUTOMATION_PLAN_CACHE"
_OFF = frozenset({"off", "0", "false", "no"})
_NOT_SOURCES = frozenset({"__pycache__"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Resource(_Strict):
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool
    ignore_changes: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    dependencies: tuple[str, ...]


class Entry(_Strict):
    """One cached plan, with the key and stack it was computed for."""

    format: int
    key: str
    stack: str
    resources: list[_Resource]
    outputs: dict[str, Any]

    @classmethod
    def of(cls, plan: Plan, key: str) -> Entry:
        return cls(
            format=FORMAT,
            key=key,
            stack=plan.stack,
            resources=[_Resource(**asdict(r)) for r in plan.resources],
            outputs=plan.outputs,
        )

    def plan(self) -> Plan:
        return Plan(
            stack=self.stack,
            resources=[PlannedResource(**r.model_dump()) for r in self.resources],
            outputs=self.outputs,
        )


def enabled(environ: Mapping[str, str]) -> bool:
    return environ.get(SWITCH, "").strip().lower() not in _OFF


def plan(project_dir: Path, stack: str, *, use_cache: bool = True) -> Plan:
    """The stack's offline plan: the cached one when its key matches, else a run of the program
    under the mock engine (stored for next time). Both come back through the entry's JSON form,
    so a hit and a miss show the same plan."""
    if not use_cache:
        return Entry.of(_run(project_dir, stack), key="").plan()
    key = plan_key(project_dir, stack)
    path = entry_path(project_dir, stack, key)
    cached = read(path, key=key, stack=stack)
    if cached is not None:
        return cached.plan()
    entry = Entry.of(_run(project_dir, stack), key)
    write(path, entry)
    return entry.plan()


def _run(project_dir: Path, stack: str) -> Plan:
    from automation.offline import engine  # the Pulumi SDKs: only on a miss

    return engine.run(project_dir, stack)


def entry_path(project_dir: Path, stack: str, key: str) -> Path:
    return project_dir / DIRECTORY / f"{_file_stem(stack)}-{key}.json"


def _file_stem(stack: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stack)


def read(path: Path, *, key: str, stack: str) -> Entry | None:
    """The entry at `path` if it is one, of this FORMAT, for this key and stack; else None."""
    try:
        entry = Entry.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
    if entry.format != FORMAT or entry.key != key or entry.stack != stack:
        return None
    return entry


def write(path: Path, entry: Entry) -> None:
    """Store `entry` atomically (a reader sees the old file or the new, never half of one), and
    drop the stack's older entries beyond KEEP. Best effort: a cache that cannot be written (a
    read-only checkout) only means the next plan runs the program again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(entry.model_dump_json().encode())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        older = sorted(
            (p for p in path.parent.glob(f"{_file_stem(entry.stack)}-*.json") if p != path),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for stale in older[KEEP - 1 :]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass


def plan_key(project_dir: Path, stack: str) -> str:
    """SHA-256 of everything a plan of `stack` depends on (see the module's docstring)."""
    digest = hashlib.sha256()

    def add(part: str | bytes) -> None:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)

    add(f"format {FORMAT}")
    add(f"stack {stack}")
    add(f"python {sys.version} {sys.implementation.cache_tag}")
    config = stack_config.load(project_dir, stack)  # an invalid config stops here, as a run would
    for label, path in _inputs(project_dir, stack, config):
        add(label)
        try:
            add(path.read_bytes())
        except OSError:
            add("\0missing")
    return digest.hexdigest()


def _inputs(
    project_dir: Path, stack: str, config: stack_config.StackConfig
) -> Iterator[tuple[str, Path]]:
    """(label, file) for every file a plan reads, in a stable order."""
    for name in ("__main__.py", "Pulumi.yaml", f"Pulumi.{stack_config.short_name(stack)}.yaml"):
        yield name, project_dir / name
    yield "uv.lock", project_dir / "uv.lock"
    yield from _tree("program", project_dir / "infra")
    for path in sorted((project_dir / "policy").glob("*.py")):
        yield f"program policy/{path.name}", path
    here = Path(__file__).parent
    for path in sorted(here.glob("*.py")):
        yield f"code offline/{path.name}", path
    for module in (stack_config, changes):
        yield f"code {module.__name__}", Path(str(module.__file__))
    # The image's sources, as infra/image.py reads them: relative to the working directory.
    context, dockerfile = config.get("appContext"), config.get("appDockerfile")
    if isinstance(context, str) and context:
        yield from _tree("context", Path(context))
        if not (isinstance(dockerfile, str) and dockerfile):
            dockerfile = f"{context.rstrip('/')}/Dockerfile"
    if isinstance(dockerfile, str) and dockerfile:
        yield "dockerfile", Path(dockerfile)


def _tree(label: str, root: Path) -> Iterator[tuple[str, Path]]:
    """Every file under `root` but bytecode caches, named relative to it; none if no directory."""
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in _NOT_SOURCES)
        for name in sorted(names):
            path = Path(directory) / name
            if path.is_file():
                yield f"{label} {path.relative_to(root).as_posix()}", path
