"""A published history and the checkout CI makes of it: which tags sit on main decides deploys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.automation.conftest import ScratchRepo


def ci_checkout(origin: ScratchRepo, dest: Path, commit: str) -> Path:
    """What `actions/checkout` with `fetch-depth: 0` leaves: every branch of `origin` as
    `refs/remotes/origin/*`, every tag, and HEAD detached at the pushed commit."""
    origin.git("clone", "-q", "--no-checkout", str(origin.path), str(dest))
    origin.git("-C", str(dest), "checkout", "-q", "--detach", commit)
    return dest


@dataclass(frozen=True)
class History:
    """main: one (v1.4.2) - two (v2.0.0-rc.1) - three (v1.5.0, annotated); a branch `side` off
    two with a commit main never got (v9.9.9, v9.9.9-rc.1)."""

    origin: ScratchRepo
    checkout: Path
    one: str
    two: str
    three: str
    side: str


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("history")
    origin = ScratchRepo(root / "origin")
    one = origin.commit("one")
    origin.tag("v1.4.2")
    two = origin.commit("two")
    origin.tag("v2.0.0-rc.1")
    origin.git("switch", "-q", "-c", "side")
    side = origin.commit("side")
    origin.tag("v9.9.9")
    origin.tag("v9.9.9-rc.1")
    origin.git("switch", "-q", "main")
    three = origin.commit("three")
    origin.tag("v1.5.0", annotated=True)
    checkout = ci_checkout(origin, root / "checkout", three)
    return History(origin, checkout, one, two, three, side)
