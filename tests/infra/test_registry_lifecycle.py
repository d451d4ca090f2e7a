"""The ECR lifecycle policy against the tags the release tooling really pushes: every git state
`automation version` handles, stamped as the deploy commands stamp it, lands in the rule meant
for it (releases kept keepReleaseImages, dev builds kept 20, untagged expired by age).

ECR's evaluation, as documented: rules apply by rulePriority, lowest first, and an image is taken
by the first rule whose tag selection it matches (a lower rule cannot expire it); in a
tagPatternList every pattern must match one of the image's tags, `*` matching any run of
characters.
https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html#lp_evaluation_rules
https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from automation.offline import plan as plan_table
from automation.release.version import derive_version, is_release_tag
from infra.registry import DEV_TAG_PATTERNS, RegistryArgs, lifecycle_policy
from infra.resource_types import IMAGE, LIFECYCLE_POLICY
from tests.automation.conftest import ScratchRepo
from tests.infra.conftest import PlanView

ARGS = RegistryArgs(keep_release_images=30, untagged_image_days=7, force_delete=False)
POLICY: dict[str, Any] = json.loads(lifecycle_policy(ARGS))


def ecr_pattern_matches(pattern: str, tag: str) -> bool:
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), tag) is not None


def rule_taking(tags: list[str], policy: dict[str, Any] = POLICY) -> str:
    """The description of the rule ECR applies to an image with these tags."""
    for rule in sorted(policy["rules"], key=lambda rule: rule["rulePriority"]):
        selection = rule["selection"]
        status = selection["tagStatus"]
        if status == "any":
            return str(rule["description"])
        if status == "untagged":
            if not tags:
                return str(rule["description"])
            continue
        patterns = selection["tagPatternList"]
        if tags and all(any(ecr_pattern_matches(p, tag) for tag in tags) for p in patterns):
            return str(rule["description"])
    raise AssertionError(f"no rule takes {tags}")


RELEASES = "Keep the last 30 release images"
DEV = "Keep the last 20 dev builds (*dev*)"
DIRTY = "Keep the last 20 builds of a dirty tree at a release tag (*.dirty.*)"
UNTAGGED = "Expire untagged images after 7 days"


def _after_commits(repo: ScratchRepo) -> None:
    repo.commit()
    repo.commit()


def _dirty(repo: ScratchRepo) -> None:
    (repo.path / "file.txt").write_text("edited, not committed\n")


def _tagged(name: str) -> Callable[[ScratchRepo], None]:
    def tag(repo: ScratchRepo) -> None:
        repo.tag(name)

    return tag


# (git state, the steps that make it on a fresh repo with one commit, the image tag's shape,
# the rule that must take it)
STATES: list[tuple[str, list[Callable[[ScratchRepo], None]], str, str]] = [
    ("release tag", [_tagged("v1.4.2")], r"1\.4\.2", RELEASES),
    ("pre-release tag", [_tagged("v1.5.0-rc.1")], r"1\.5\.0-rc\.1", RELEASES),
    ("commits after a release", [_tagged("v1.4.2"), _after_commits],
     r"1\.4\.3-dev\.2\.g[0-9a-f]{7}", DEV),
    ("commits after a pre-release", [_tagged("v1.5.0-rc.1"), _after_commits],
     r"1\.5\.0-rc\.1\.dev\.2\.g[0-9a-f]{7}", DEV),
    ("dirty tree at a release", [_tagged("v1.4.2"), _dirty], r"1\.4\.2\.dirty\.[0-9a-f]{8}", DIRTY),
    ("dirty tree at a pre-release", [_tagged("v1.5.0-rc.1"), _dirty],
     r"1\.5\.0-rc\.1\.dirty\.[0-9a-f]{8}", DIRTY),
    ("dirty tree after a release", [_tagged("v1.4.2"), _after_commits, _dirty],
     r"1\.4\.3-dev\.2\.g[0-9a-f]{7}\.dirty\.[0-9a-f]{8}", DEV),
    ("dirty tree after a pre-release", [_tagged("v1.5.0-rc.1"), _after_commits, _dirty],
     r"1\.5\.0-rc\.1\.dev\.2\.g[0-9a-f]{7}\.dirty\.[0-9a-f]{8}", DEV),
    ("no tag yet", [_after_commits], r"0\.0\.1-dev\.3\.g[0-9a-f]{7}", DEV),
    ("no tag yet, dirty", [_dirty], r"0\.0\.1-dev\.1\.g[0-9a-f]{7}\.dirty\.[0-9a-f]{8}", DEV),
]  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScratchRepo:
    # dunamai runs git with our environment: keep the user's git config out of it.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return ScratchRepo(tmp_path / "repo")


@pytest.mark.parametrize(("state", "steps", "shape", "rule"), STATES, ids=[s[0] for s in STATES])
def test_each_git_state_lands_in_its_rule(
    repo: ScratchRepo,
    state: str,
    steps: list[Callable[[ScratchRepo], None]],
    shape: str,
    rule: str,
) -> None:
    repo.commit()
    for step in steps:
        step(repo)
    build = derive_version(repo.path)
    assert re.fullmatch(shape, build.image_tag), build.image_tag
    assert build.release == (rule == RELEASES)
    assert rule_taking([build.image_tag]) == rule


def test_the_program_pushes_the_stamped_tag_and_the_unstamped_default(
    stack_plan: Callable[..., PlanView],
) -> None:
    """The docker tag rule of infra/image.py: the stamped imageTag as is; with nothing stamped,
    Pulumi.yaml's version 0.0.0-dev with a digest of the sources, a dev build too."""

    def pushed(view: PlanView) -> str:
        return str(view.one(IMAGE)["imageName"]).rsplit(":", 1)[1]

    unstamped = pushed(stack_plan("dev"))
    assert re.fullmatch(r"0\.0\.0-dev\.src-[0-9a-f]{12}", unstamped)
    assert rule_taking([unstamped]) == DEV
    stamped = pushed(
        stack_plan("dev", {"version": "1.5.0-rc.1.dev.2", "imageTag": "1.5.0-rc.1.dev.2.gabc1234"})
    )
    assert stamped == "1.5.0-rc.1.dev.2.gabc1234"
    assert rule_taking([stamped]) == DEV


def test_untagged_images_expire_by_age_and_nothing_else_does() -> None:
    assert rule_taking([]) == UNTAGGED
    (untagged,) = [r for r in POLICY["rules"] if r["selection"]["tagStatus"] == "untagged"]
    assert untagged["selection"]["countType"] == "sinceImagePushed"


@pytest.mark.parametrize(
    "tag", ["v0.1.0", "v1.0.0", "v2.0.0-beta.2", "v1.0.0-alpha", "v10.20.30-rc.11", "v3.0.0-0.3.7"]
)
def test_release_tags_are_kept_as_releases(tag: str) -> None:
    assert is_release_tag(tag)
    assert rule_taking([tag.removeprefix("v")]) == RELEASES


def test_the_rules_are_ordered_and_sized_as_ecr_requires() -> None:
    rules = sorted(POLICY["rules"], key=lambda rule: rule["rulePriority"])
    assert len({rule["rulePriority"] for rule in rules}) == len(rules)
    # The `any` rule comes last; each pattern has at most 4 wildcards; one pattern per rule
    # (several would all have to match).
    assert [rule["selection"]["tagStatus"] for rule in rules] == [
        "untagged",
        *["tagged"] * len(DEV_TAG_PATTERNS),
        "any",
    ]
    for rule in rules[1:-1]:
        (pattern,) = rule["selection"]["tagPatternList"]
        assert pattern.count("*") <= 4


def test_the_plan_shows_what_each_rule_keeps(stack_plan: Callable[..., PlanView]) -> None:
    lifecycle = stack_plan("dev").resource(LIFECYCLE_POLICY)
    assert plan_table.summarize(lifecycle) == (
        "4 rules: untagged expire after 7 days; *dev* keep 20; *.dirty.* keep 20; any keep 10"
    )
