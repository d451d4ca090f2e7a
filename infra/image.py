"""The app's container image: built from its build context (`appContext`, app/ by default) with
pulumi-docker and pushed to ECR, or an image already in ECR run by digest, without building (a
rollback, a redeploy of a pushed tag), or a team's prebuilt image (`image`: any registry) run by
digest, its tag resolved before anything is declared.

pulumi-docker 4 builds and pushes on every create and every update of a `docker.Image` (its
Check adds a digest of the build context to the inputs, so any change to app/ is an update), and
does nothing on preview unless `buildOnPreview`. The repository's tags are IMMUTABLE: ECR refuses
a second push of a tag (ImageTagAlreadyExistsException). Hence two rules:
- every build has a tag of its own: the one the automation stamps (release version, or version
  and commit, and the dirty state's digest), or else, for a plain `pulumi up`, the version with
  the digest of everything the build reads (`source_digest`): the same sources give the same
  tag, any change a new one;
- a tag already in the repository is never built again: it is looked up (ECR's list of images)
  before anything is declared, and that image runs by digest, with no `docker.Image` at all.
Both are decided from plain values before any resource exists, so preview and up agree.

A prebuilt image is looked up the same way: by digest it is used as is; by tag, ECR's
DescribeImages (aws.ecr.get_image) or, for another registry, its manifest (pulumi-docker's
get_registry_image, the registry's Docker-Content-Digest) gives the digest the tasks run. The
tag is read at every preview and update: a tag moved in its registry is a new task definition
there, never a silent change under running tasks. Nothing is built or pushed then; the stack's
repository stays (it holds the releases a rollback to a build of this program needs, and ECR
refuses to delete a repository that still holds images).

Whatever the source, the reference the tasks run is checked: pulumi-docker reports
`<none>@<none>` when the pushed image has no digest for this repository, and a rollback could
name another repository's image. Either fails the update before the task definition changes.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from infra import validation as v
from infra.existing import lookup

PLATFORM = "linux/amd64"
SOURCE_TAG_SEPARATOR = ".src-"
SOURCE_DIGEST_LENGTH = 12
"""Hex digits of the source digest in a tag: 48 bits, no collision between two builds."""
# Bytecode caches Python writes next to the sources: never part of what a build means.
_NOT_SOURCES = ("__pycache__",)
_DIGEST_REFERENCE = re.compile(r"^(?P<repository>[^@\s]+)@sha256:[0-9a-f]{64}$")


class ImageReferenceError(pulumi.RunError):
    """The reference the tasks would run is not an image of this repository by digest."""


@dataclass
class ImageArgs:
    repository_url: pulumi.Input[str]
    """ECR repository URL (REGISTRY/NAME) to push to."""
    repository_name: str
    """The repository's name, known before it exists: where a tag is looked up."""
    registry_id: pulumi.Input[str]
    """The repository's registry (account) id, for the ECR authorization token."""
    version: str
    """SemVer baked into the image as APP_VERSION and the OCI version label."""
    stamped_tag: str
    """The tag the automation stamped (unique per build); empty: derived from `version` and
    the sources' digest."""
    revision: str
    """Git commit sha (APP_REVISION, OCI revision label)."""
    created: str
    """RFC 3339 time (APP_CREATED, OCI created label): the commit's, so rebuilds reproduce."""
    rollback_image: str
    """An image by digest to run instead of building (set by `automation rollback`); empty:
    the tag's image, built if it is not in the repository yet."""
    context: str
    """Build context directory (relative to the project directory, as for docker)."""
    dockerfile: str
    """Dockerfile path."""
    prebuilt: v.ImageReference | None
    """A team's image to run instead of building `context` (None: build)."""

    def build_args(self) -> dict[str, str]:
        return {
            "APP_VERSION": self.version,
            "APP_REVISION": self.revision,
            "APP_CREATED": self.created,
        }


def source_digest(context: Path, dockerfile: Path, build_args: Mapping[str, str]) -> str:
    """SHA-256 of what a build reads: every file of the context (path, executable bit, content;
    Python's bytecode caches aside), the Dockerfile, the build arguments and the platform.

    A superset of what docker sends (.dockerignore is not applied): a change to an ignored file
    gives a new tag and a rebuild, never an old image for new code."""
    if not context.is_dir():
        raise v.InvalidConfig(
            f"image: the build context {context} is not a directory (from {Path.cwd()}); run "
            "the program from the project directory (appContext is relative to it)."
        )
    if not dockerfile.is_file():
        raise v.InvalidConfig(
            f"image: the Dockerfile {dockerfile} is not a file (from {Path.cwd()}); set "
            "appDockerfile, relative to the project directory, or put a Dockerfile at the root "
            "of appContext."
        )
    digest = hashlib.sha256()

    def add(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big") + data)

    # Named relative to the context (the Dockerfile too, when it is there), so the digest says
    # what is built, not where the checkout is.
    files = {_named(dockerfile, context): dockerfile}
    for root, dirs, names in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_SOURCES)
        files.update({_named(Path(root) / name, context): Path(root) / name for name in names})
    for name, path in sorted(files.items()):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            content = os.readlink(path).encode()
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        else:
            continue
        executable = "x" if info.st_mode & stat.S_IXUSR else "-"
        add(name, executable, content)
    for name, value in sorted(build_args.items()):
        add(name, value)
    add(PLATFORM)
    return digest.hexdigest()


def _named(path: Path, context: Path) -> str:
    return path.relative_to(context).as_posix() if path.is_relative_to(context) else f"../{path}"


def image_tag(stamped_tag: str, version: str, sources: str) -> str:
    """The stamped tag as is; else `<version>.src-<digest>` ('+' is not allowed in a tag)."""
    if stamped_tag:
        return stamped_tag
    tag = f"{version.replace('+', '.')}{SOURCE_TAG_SEPARATOR}{sources[:SOURCE_DIGEST_LENGTH]}"
    v.docker_tag("version (with the sources' digest, as the image tag)", tag)
    return tag


PUSH_HINT = (
    "the tasks would not run what was pushed. Check the push in the Docker output above "
    "(pulumi-docker reports <none>@<none> when the image has no digest for this repository), "
    "then run the update again."
)


def checked_reference(
    reference: str, repository_url: str, source: str, hint: str = PUSH_HINT
) -> str:
    """`reference` if it is `<repository_url>@sha256:<64 hex>`; else a failure naming what is
    wrong (the update stops before the task definition changes)."""
    match = _DIGEST_REFERENCE.match(reference or "")
    expected = f"{repository_url}@sha256:<64 hex>"
    if match is None:
        raise ImageReferenceError(
            f"image: {source} gave {reference!r}, not an image by digest ({expected}); {hint}"
        )
    if match["repository"] != repository_url:
        raise ImageReferenceError(
            f"image: {source} gave {reference!r}, an image of {match['repository']}; allowed: "
            f"an image of this stack's repository ({expected})."
        )
    return reference


def pushed_digest(
    repository_name: str, tag: str, opts: pulumi.InvokeOptions | None = None
) -> str | None:
    """The digest of `repository_name:tag` in ECR, None when the tag (or the repository: a first
    deploy) does not exist. get_image fails on a missing tag and get_images on a missing
    repository, so the repositories are listed first (get_repositories never fails on none)."""
    hint = "The deploy role needs ecr:DescribeRepositories and ecr:ListImages."
    what = f"ECR repository {repository_name}"
    names = lookup("image", what, lambda: aws.ecr.get_repositories(opts=opts), hint).names
    if repository_name not in (names or []):
        return None
    images = lookup(
        "image",
        f"tag {tag} in {what}",
        lambda: aws.ecr.get_images(repository_name=repository_name, opts=opts),
        hint,
    ).image_ids
    return next((str(i.image_digest) for i in images or [] if i.image_tag == tag), None)


def prebuilt_reference(image: v.ImageReference, opts: pulumi.InvokeOptions | None = None) -> str:
    """`image` by digest: as given, or its tag resolved in its registry (a plain value: preview
    and up resolve it alike, and the plan shows the digest the tasks will run)."""
    if image.digest:
        return f"{image.repository}@{image.digest}"
    key = f"{pulumi.get_project()}:image"
    ecr = image.ecr
    if ecr is not None:
        found = lookup(
            key,
            f"{image.text} in ECR",
            lambda: aws.ecr.get_image(
                repository_name=ecr.name,
                image_tag=image.tag,
                registry_id=ecr.account,
                region=ecr.region,
                opts=opts,
            ),
            "The deploy role needs ecr:DescribeImages on that repository (from another account, "
            "its repository policy must allow it too).",
        )
        digest = str(found.image_digest)
    else:
        registry = lookup(
            key,
            f"{image.text} in its registry",
            lambda: docker.get_registry_image(name=image.text, opts=opts),
            "The registry must answer where pulumi runs; for a private one, log docker in to it "
            "(docker login, or the docker:registryAuth provider config).",
        )
        digest = str(registry.sha256_digest)
    return f"{image.repository}@{digest}"


class Image(pulumi.ComponentResource):
    """Exposes `ref`, always `<repository>@sha256:<digest>` (this stack's repository, or the
    prebuilt image's): tasks never run a mutable tag; `tag`, the tag built, reused or resolved;
    `image`, the build (None when nothing is built)."""

    image: docker.Image | None
    tag: str
    ref: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if args.stamped_tag:
            v.docker_tag("stamped_tag", args.stamped_tag)
        if args.rollback_image:
            v.digest_reference("rollback_image", args.rollback_image)
        if args.prebuilt is not None and args.rollback_image:
            raise v.fail(
                "rollback_image", args.rollback_image, "none with a prebuilt image (prebuilt)"
            )
        super().__init__("alunos-api:infra:Image", name, None, opts)
        self.image = None
        expected: pulumi.Input[str] = args.repository_url
        reference: pulumi.Input[str]
        if args.prebuilt is not None:
            self.tag = args.prebuilt.tag
            reference = prebuilt_reference(args.prebuilt, pulumi.InvokeOptions(parent=self))
            expected = args.prebuilt.repository
            source = f"image {args.prebuilt.text}"
        elif args.rollback_image:
            self.tag = args.stamped_tag
            reference = args.rollback_image
            source = "rollbackImage"
        else:
            sources = source_digest(Path(args.context), Path(args.dockerfile), args.build_args())
            self.tag = image_tag(args.stamped_tag, args.version, sources)
            invoke = pulumi.InvokeOptions(parent=self)
            digest = pushed_digest(args.repository_name, self.tag, invoke)
            if digest is not None:
                reference = pulumi.Output.concat(args.repository_url, "@", digest)
                source = f"ECR (tag {self.tag}, already pushed)"
            else:
                self.image = self._build(name, args)
                reference = self.image.repo_digest
                source = f"pulumi-docker (the push of tag {self.tag})"
        hint = PUSH_HINT if args.prebuilt is None else "its registry answered no sha256 digest."
        self.ref = pulumi.Output.all(reference, expected).apply(
            lambda values: checked_reference(values[0], values[1], source, hint)
        )
        self.register_outputs({"ref": self.ref, "tag": self.tag})

    def _build(self, name: str, args: ImageArgs) -> docker.Image:
        token = aws.ecr.get_authorization_token_output(
            registry_id=args.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return docker.Image(
            f"{name}-image",
            build=docker.DockerBuildArgs(
                context=args.context,
                dockerfile=args.dockerfile,
                platform=PLATFORM,
                args=args.build_args(),
            ),
            image_name=pulumi.Output.concat(args.repository_url, ":", self.tag),
            registry=docker.RegistryArgs(
                server=args.repository_url,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
