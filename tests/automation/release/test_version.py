import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import semver
from dunamai import Version
from hypothesis import given
from hypothesis import strategies as st

from automation.cli import main
from automation.errors import UsageProblem
from automation.release.version import DOCKER_TAG, derive_version, is_release_tag


def sorts_before(a: str, b: str) -> bool:
    return semver.Version.parse(a).compare(b) < 0


def test_release_tag_at_head_is_that_version_and_a_release(repo):
    sha = repo.commit("first", date="2024-05-01T12:00:00+02:00")
    repo.tag("v1.4.2")
    build = derive_version(repo.path)
    assert build.version == "1.4.2"
    assert build.image_tag == "1.4.2"
    assert build.revision == sha
    assert len(build.revision) == 40
    assert build.created == "2024-05-01T10:00:00Z"  # the commit's time, in UTC
    assert build.release
    assert not build.dirty


def test_commits_after_a_release_are_a_dev_prerelease_of_the_next_patch(repo):
    repo.commit()
    repo.tag("v1.4.2")
    repo.commit()
    repo.commit()
    sha = repo.commit()
    build = derive_version(repo.path)
    assert build.version == "1.4.3-dev.3"
    assert build.image_tag == f"1.4.3-dev.3.g{sha[:7]}"
    assert not build.release
    assert sorts_before("1.4.2", build.version)
    assert sorts_before(build.version, "1.4.3")


def test_distance_grows_and_sorts_numerically(repo):
    repo.commit()
    repo.tag("v2.0.0")
    versions = []
    for _ in range(11):
        repo.commit()
        versions.append(derive_version(repo.path).version)
    assert versions[-1] == "2.0.1-dev.11"
    assert versions == sorted(versions, key=semver.Version.parse)


def test_after_a_prerelease_tag_dev_builds_sort_between_it_and_the_next(repo):
    repo.commit()
    repo.tag("v1.5.0-rc.1")
    assert derive_version(repo.path).version == "1.5.0-rc.1"
    for _ in range(3):
        repo.commit()
    build = derive_version(repo.path)
    assert build.version == "1.5.0-rc.1.dev.3"
    assert sorts_before("1.5.0-rc.1", build.version)
    assert sorts_before(build.version, "1.5.0-rc.2")
    assert sorts_before(build.version, "1.5.0")
    assert DOCKER_TAG.match(build.image_tag)


def test_prerelease_tag_at_head_is_a_release(repo):
    repo.commit()
    repo.tag("v1.5.0-rc.1", annotated=True)
    build = derive_version(repo.path)
    assert (build.version, build.image_tag, build.release) == ("1.5.0-rc.1", "1.5.0-rc.1", True)


def test_without_any_tag_versions_count_from_zero(repo):
    repo.commit()
    repo.commit()
    build = derive_version(repo.path)
    assert build.version == "0.0.1-dev.2"
    assert not build.release


@pytest.mark.parametrize("annotated", [False, True], ids=["lightweight", "annotated"])
def test_lightweight_and_annotated_tags_count_alike(repo, annotated):
    repo.commit()
    repo.tag("v3.1.4", annotated=annotated)
    repo.commit()
    assert derive_version(repo.path).version == "3.1.5-dev.1"


def test_non_version_tags_are_ignored(repo):
    repo.commit()
    repo.tag("v1.0.0")
    repo.commit()
    repo.tag("deploy-2024")
    repo.tag("v1.1")  # not X.Y.Z
    repo.tag("v1.2.3+build.5")  # build metadata: a Docker tag cannot carry it
    repo.tag("1.9.9")  # no v prefix
    build = derive_version(repo.path)
    assert build.version == "1.0.1-dev.1"
    assert not build.release


def test_a_dirty_tree_is_marked_and_never_a_release(repo):
    repo.commit()
    repo.tag("v1.4.2")
    (repo.path / "file.txt").write_text("edited\n")
    build = derive_version(repo.path)
    assert build.dirty
    assert build.version == "1.4.2"
    assert re.fullmatch(r"1\.4\.2\.dirty\.[0-9a-f]{8}", build.image_tag)
    assert not build.release


def test_a_dirty_dev_build_names_commit_and_dirt(repo):
    repo.commit()
    repo.tag("v1.4.2")
    sha = repo.commit()
    (repo.path / "untracked.txt").write_text("new\n")
    build = derive_version(repo.path)
    assert re.fullmatch(rf"1\.4\.3-dev\.1\.g{sha[:7]}\.dirty\.[0-9a-f]{{8}}", build.image_tag)
    assert DOCKER_TAG.match(build.image_tag)


def test_each_dirty_state_has_its_own_tag_and_the_same_state_the_same(repo):
    """ECR refuses a second push of a tag: two edits of the same commit must not share one,
    while running again on the same edit names the image already pushed."""
    repo.commit()
    repo.tag("v1.4.2")
    (repo.path / "file.txt").write_text("first edit\n")
    first = derive_version(repo.path).image_tag
    assert derive_version(repo.path).image_tag == first
    (repo.path / "file.txt").write_text("second edit\n")
    second = derive_version(repo.path).image_tag
    (repo.path / "new.py").write_text("print('new')\n")
    third = derive_version(repo.path).image_tag
    (repo.path / "new.py").chmod(0o755)
    fourth = derive_version(repo.path).image_tag
    assert len({first, second, third, fourth}) == 4
    (repo.path / "new.py").unlink()
    (repo.path / "file.txt").write_text("second edit\n")
    assert derive_version(repo.path).image_tag == second


def test_created_is_reproducible_for_the_same_commit(repo):
    repo.commit(date="2024-01-02T03:04:05-05:00")
    first = derive_version(repo.path)
    second = derive_version(repo.path)
    assert first == second
    assert first.created == "2024-01-02T08:04:05Z"


def test_not_a_git_repository_is_a_usage_problem(tmp_path):
    with pytest.raises(UsageProblem, match="not a usable git repository"):
        derive_version(tmp_path)


def test_a_repository_without_commits_is_a_usage_problem(repo):
    with pytest.raises(UsageProblem, match="no commits yet"):
        derive_version(repo.path)


def test_a_missing_directory_is_a_usage_problem(tmp_path):
    with pytest.raises(UsageProblem, match="not a directory"):
        derive_version(tmp_path / "nope")


def test_a_shallow_clone_is_warned_about(repo, tmp_path):
    for _ in range(3):
        repo.commit()
    clone = tmp_path / "shallow"
    repo.git("clone", "-q", "--depth", "1", f"file://{repo.path}", str(clone))
    warnings: list[str] = []
    derive_version(clone, warn=warnings.append)
    assert any("fetch-depth: 0" in w for w in warnings)


def test_cli_version_json(repo, capsys):
    sha = repo.commit()
    repo.tag("v0.3.0")
    assert main(["version", "--repo", str(repo.path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "version": "0.3.0",
        "image_tag": "0.3.0",
        "revision": sha,
        "created": printed["created"],
        "dirty": False,
        "release": True,
    }
    assert printed["created"].endswith("Z")


def test_cli_version_outside_git_exits_2(tmp_path, capsys):
    assert main(["version", "--repo", str(tmp_path)]) == 2
    assert "not a usable git repository" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "release"),
    [
        ("v1.2.3", True),
        ("v0.0.0", True),
        ("v1.5.0-rc.1", True),
        ("v1.5.0-alpha.beta-2.0", True),
        ("v01.2.3", False),
        ("v1.2.3-01", False),
        ("v1.2", False),
        ("1.2.3", False),
        ("v1.2.3+meta", False),
        ("v1.2.3-", False),
        ("release-1", False),
    ],
)
def test_release_tag_names(name, release):
    assert is_release_tag(name) is release


@given(
    major=st.integers(0, 50),
    minor=st.integers(0, 50),
    patch=st.integers(0, 50),
    distance=st.integers(1, 10_000),
    pre=st.sampled_from([None, "rc.1", "beta.2", "alpha"]),
)
def test_dev_versions_sort_after_their_tag_and_before_the_next_release(
    major, minor, patch, distance, pre
):
    """The rule itself, over many tags: no git needed, it is plain string composition."""

    from automation.release.version import _build_version

    found = Version(
        f"{major}.{minor}.{patch}",
        stage=(pre, None) if pre else None,
        distance=distance,
        commit="a" * 40,
        dirty=False,
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
    )
    build = _build_version(found)
    tag = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    next_release = f"{major}.{minor}.{patch}" if pre else f"{major}.{minor}.{patch + 1}"
    assert sorts_before(tag, build.version)
    assert sorts_before(build.version, next_release)
    assert DOCKER_TAG.match(build.image_tag)
    assert "+" not in build.image_tag


def test_path_argument_is_honoured_from_elsewhere(repo, monkeypatch, tmp_path):
    repo.commit()
    repo.tag("v9.9.9")
    monkeypatch.chdir(tmp_path)
    assert derive_version(Path(repo.path)).version == "9.9.9"
