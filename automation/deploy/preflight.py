"""What must be on PATH before Pulumi starts, checked up front, with how to fix it.

- `pulumi`: the Automation API runs the CLI found on PATH.
- the program's toolchain: Pulumi.yaml runs the program with `runtime.options.toolchain: uv`, so
  at every `preview`/`up` Pulumi's Python language host looks `uv` up on the PATH it inherits from
  us (pulumi/pulumi sdk/python/toolchain/uv.go, `newUv`: `exec.LookPath("uv")`, else "Could not
  find `uv` executable. Install uv and make sure it is in your PATH.") and the run fails after
  Pulumi has started, selected the stack and, for `up`, locked it. Checked here, the same problem
  is a usage error (exit 2) before anything starts.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from automation.errors import UsageProblem

INSTALL_PULUMI = (
    "the Pulumi CLI is not installed or not on PATH; install it "
    "(https://www.pulumi.com/docs/iac/download-install/, e.g. "
    "`curl -fsSL https://get.pulumi.com | sh`) and make sure `pulumi version` runs"
)

INSTALL_UV = (
    "`make setup` installs it into .tools/bin: add that to PATH "
    '(`export PATH="$PWD/.tools/bin:$PATH"`; in GitHub Actions use astral-sh/setup-uv, or '
    '`echo "$PWD/.tools/bin" >> "$GITHUB_PATH"` after `make setup`)'
)


def require_pulumi() -> None:
    if shutil.which("pulumi", path=os.environ.get("PATH")) is None:
        raise UsageProblem(INSTALL_PULUMI)


def require_toolchain(work_dir: Path) -> None:
    """`uv` is on PATH when the program runs with it (the language host looks for it there)."""
    if _runtime_options(work_dir).get("toolchain") != "uv":
        return
    if shutil.which("uv", path=os.environ.get("PATH")) is None:
        raise UsageProblem(
            "Pulumi.yaml runs the program with uv (runtime.options.toolchain: uv), but `uv` is "
            "not on PATH, so Pulumi's Python language host would stop with \"Could not find "
            f'`uv` executable"; {INSTALL_UV}'
        )


def _runtime_options(work_dir: Path) -> dict[str, Any]:
    for name in ("Pulumi.yaml", "Pulumi.yml", "Pulumi.json"):
        path = work_dir / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            project = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            runtime = (project or {}).get("runtime")
            options = runtime.get("options") if isinstance(runtime, dict) else None
            return dict(options or {})
    return {}
