"""What the README and the docs tell a newcomer to type for the bootstrap works with it: every
key it requires is set, a self-managed backend is logged into as the policies expect, the
bootstrap is run again once prod's ids are real, and the session figures are the workflows'."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from tests.bootstrap.conftest import ROOT
from tests.bootstrap.test_workflows_match import _credentials, _jobs
from tests.markdown_docs import shell_blocks

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

REQUIRED_OUTSIDE_THE_SCHEMA = {"aws:region"}
"""The provider's region: bootstrap/settings.py refuses to run without it
(test_settings.test_region_is_required)."""
BACKEND_KEY = "selfManagedBackend"
"""The runbook's backend is S3 (README step 1 logs into the bootstrap's bucket)."""


def _required_keys() -> set[str]:
    project = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.yaml").read_text())
    schema = {key for key, declaration in project["config"].items() if "default" not in declaration}
    return schema | REQUIRED_OUTSIDE_THE_SCHEMA | {BACKEND_KEY}


def _bootstrap_block_keys(path: Path) -> set[str]:
    (block,) = [
        b for b in shell_blocks(path) if any(c.text.startswith("cd bootstrap") for c in b.commands)
    ]
    keys = set()
    for command in block.commands:
        words = shlex.split(command.text, comments=True)
        if words[:3] == ["pulumi", "config", "set"]:
            keys.add(words[3])
    return keys


def test_the_bootstrap_blocks_set_every_key_it_requires() -> None:
    for path in (README, ROOT / "docs" / "bootstrap.md"):
        lacking = _required_keys() - _bootstrap_block_keys(path)
        assert not lacking, f"{path.name}'s bootstrap block never sets {sorted(lacking)}"


def test_a_self_managed_backend_is_logged_into_by_its_bucket_alone() -> None:
    """The state policies cover `<bucket>/.pulumi/...` (bootstrap/state_access.py): a login to
    s3://BUCKET/PREFIX would put every key under PREFIX/, where no role may write."""
    logins = [
        word
        for path in (README, *DOCS)
        for block in shell_blocks(path)
        for command in block.commands
        for word in shlex.split(command.text, comments=True)
        if word.startswith("s3://")
    ]
    assert logins
    for url in logins:
        assert "/" not in url.removeprefix("s3://"), f"`pulumi login {url}`: no path allowed"


def test_the_runbook_runs_the_bootstrap_again_once_prods_ids_are_real() -> None:
    text = README.read_text()
    step3 = text[text.index("### 3. ") : text.index("### 4. ")]
    assert "run the bootstrap again" in step3


def test_the_session_figures_in_docs_ci_are_the_workflows() -> None:
    text = (ROOT / "docs" / "ci.md").read_text()
    start = text.index("## Credentials that outlive the job")
    section = text[start : text.index("\n## ", start + 1)]
    figures = {int(n) for n in re.findall(r"\b(\d+) s\b", section)}
    asked = {
        int(found["role-duration-seconds"])
        for job in _jobs()
        if (found := _credentials(job)) is not None
    }
    assert figures == asked
