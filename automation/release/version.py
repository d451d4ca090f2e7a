"""The build's version, derived from git with dunamai: what gets stamped into the stack and image.

Rules (SemVer 2.0 precedence is what makes them safe to sort and compare):
- a clean checkout of a release tag `vX.Y.Z[-pre]` is that version and a release;
- any other commit is a pre-release of what comes next, growing with the distance from the tag:
  `1.4.3-dev.3` three commits after v1.4.2 (sorts after 1.4.2, before 1.4.3) and
  `1.5.0-rc.1.dev.3` three commits after v1.5.0-rc.1 (sorts after rc.1, before rc.2 and 1.5.0);
  with no tag yet, counting from 0.0.0;
- the image tag is the version with the short commit appended for dev builds and, for a dirty
  tree, `.dirty.` and a digest of how the tree differs from the commit: two different builds
  never share a tag (ECR tags are immutable: a second push of a tag is refused), and the same
  tree gives the same tag, whose image the program then reuses instead of pushing again;
- `created` is the commit's time, not the wall clock: rebuilding the same commit stamps the same
  config and image labels, so rebuilds are reproducible and a re-run deploy changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from dunamai import Concern, Version, bump_version

from automation.errors import UsageProblem

# SemVer 2.0 core and pre-release (no leading zeros in numeric identifiers). Build metadata
# (`+...`) is not accepted: a Docker tag cannot carry `+`, so such a tag is not a release tag.
_NUMBER = r"(?:0|[1-9]\d*)"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
RELEASE_TAG_PATTERN = (
    rf"^v(?P<base>{_NUMBER}\.{_NUMBER}\.{_NUMBER})(?:-(?P<stage>{_PRE_ID}(?:\.{_PRE_ID})*))?$"
)
_RELEASE_TAG = re.compile(RELEASE_TAG_PATTERN)

# Docker's reference grammar for a tag.
DOCKER_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

SHORT_COMMIT = 7
DIRT_DIGEST = 8
"""Hex digits of the dirty state's digest in a tag."""


def is_release_tag(name: str) -> bool:
    """Whether a git tag name (without `refs/tags/`) is a release tag `vX.Y.Z[-pre]`."""
    return _RELEASE_TAG.match(name) is not None


@dataclass(frozen=True, slots=True)
class BuildVersion:
    """What `version --json` prints and what `preview`/`up` stamp into the stack config."""

    version: str
    image_tag: str
    revision: str
    created: str
    dirty: bool
    release: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def derive_version(repo: Path, *, warn: Callable[[str], None] | None = None) -> BuildVersion:
    """Derive the build version of the commit checked out at `repo`.

    `warn` (a callable taking a message) hears about concerns such as a shallow clone, where the
    distance to the last tag cannot be counted (CI must check out with `fetch-depth: 0`).
    """
    if not repo.is_dir():
        raise UsageProblem(f"--repo {repo}: not a directory")
    try:
        found = Version.from_git(pattern=RELEASE_TAG_PATTERN, full_commit=True, path=repo)
    except RuntimeError as error:
        raise UsageProblem(
            f"{repo} is not a usable git repository: {_first_line(error)}"
        ) from error
    if found.commit is None or found.timestamp is None:
        raise UsageProblem(f"{repo} has no commits yet: commit something before deriving a version")
    if warn is not None and Concern.ShallowRepository in found.concerns:
        warn(
            f"{repo} is a shallow clone: the distance to the last tag may be wrong "
            "(in GitHub Actions, check out with fetch-depth: 0)"
        )
    return _build_version(found, dirt=dirt_digest(repo) if found.dirty else "")


def dirt_digest(repo: Path) -> str:
    """SHA-256 of how the working tree differs from HEAD: each changed, deleted or untracked
    (not ignored) path, with its content and executable bit as they are now."""
    git = shutil.which("git")
    if git is None:
        raise UsageProblem("git is not installed (or not on PATH): the version needs it")

    def run(*args: str) -> bytes:
        done = subprocess.run(  # noqa: S603 - fixed git subcommands, no user input
            [git, *args], cwd=repo, capture_output=True, check=False
        )
        if done.returncode != 0:
            raise UsageProblem(f"git {args[0]} failed in {repo}: {done.stderr.decode().strip()}")
        return done.stdout

    top = Path(run("rev-parse", "--show-toplevel").decode().strip())
    # Porcelain paths are relative to the top; -z: NUL-separated, a rename adds its source path.
    entries = iter(run("status", "--porcelain=v1", "-z", "--untracked-files=all").split(b"\0"))
    paths: set[str] = set()
    for entry in entries:
        if not entry:
            continue
        paths.add(entry[3:].decode())
        if entry[:1] in (b"R", b"C"):
            paths.add(next(entries, b"").decode())
    digest = hashlib.sha256()
    for relative in sorted(paths):
        path = top / relative
        if path.is_symlink():
            state = b"link:" + str(path.readlink()).encode()
        elif path.is_file():
            mode = "x" if path.stat().st_mode & stat.S_IXUSR else "-"
            state = mode.encode() + hashlib.sha256(path.read_bytes()).digest()
        else:
            state = b"absent"
        digest.update(relative.encode() + b"\0" + state + b"\0")
    return digest.hexdigest()


def _build_version(found: Version, *, dirt: str = "") -> BuildVersion:
    """Apply the rules in the module docstring to what dunamai found."""
    commit = str(found.commit)
    dirty = bool(found.dirty)
    tag_version = found.base + (f"-{found.stage}" if found.stage else "")
    # dunamai counts the distance from the matched tag, or every commit when no tag matched, so
    # a distance of 0 means exactly: a release tag points at HEAD.
    at_tag = found.distance == 0
    if at_tag:
        version = tag_version
        image_tag = version
    else:
        if found.stage:
            version = f"{tag_version}.dev.{found.distance}"
        else:
            version = f"{bump_version(found.base)}-dev.{found.distance}"
        image_tag = f"{version}.g{commit[:SHORT_COMMIT]}"
    if dirty:
        image_tag += f".dirty.{dirt[:DIRT_DIGEST]}" if dirt else ".dirty"
    if not DOCKER_TAG.match(image_tag):
        raise UsageProblem(
            f"the image tag {image_tag!r} is not a valid Docker tag "
            "([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): shorten the pre-release part of the git tag"
        )
    assert found.timestamp is not None  # checked by derive_version
    created = found.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return BuildVersion(
        version=version,
        image_tag=image_tag,
        revision=commit,
        created=created,
        dirty=dirty,
        release=at_tag and not dirty,
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
