"""The rollback plan: which earlier version to redeploy, and its image's digest in ECR (no
rebuild), decided by reading only (the stack's history and outputs, ECR). `pipeline.rollback`
then carries it out; `rollback --dry-run` prints it, and `up --rollback-on-failure` makes it
before deploying, so "nothing to roll back to" is known before the update, not after it failed.

The stack's update history is the record of what ran: every update carries the config the
automation stamped (`version`, `imageTag`, `revision`, `created`). The default target is the
version that ran before the current one was first deployed; so a rollback after a rollback keeps
going back (1.4.1, 1.4.2, 1.4.3, rollback -> 1.4.2, rollback -> 1.4.1) instead of returning to
the release it just left.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from automation.deploy.aws_errors import aws_call, error_code
from automation.deploy.pulumi_seam import HistoryEntry, StackHandle, plain_outputs
from automation.deploy.updates import (
    CREATED,
    IMAGE_TAG,
    REVISION,
    ROLLBACK_IMAGE,
    VERSION,
    qualified,
    stack_region,
)
from automation.deploy.verify import SessionFactory
from automation.errors import AutomationError, UsageProblem
from infra import outputs as names

HISTORY_PAGE_SIZE = 100
HISTORY_MAX_PAGES = 10  # the last 1,000 operations


@dataclass(frozen=True, slots=True)
class Deployed:
    """A version that a successful update ran."""

    version: str
    image_tag: str
    revision: str
    created: str
    update: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    """Redeploy `target` on `stack` by its image's digest, replacing `current`."""

    stack: str
    current: str
    target: Deployed
    image: str
    """`<repositoryUrl>@sha256:...`: what the tasks will run (`rollbackImage`)."""

    def config(self, project: str) -> dict[str, str]:
        """The stamps the rollback's update sets: the target's, and the image to run."""
        return {
            qualified(project, VERSION): self.target.version,
            qualified(project, IMAGE_TAG): self.target.image_tag,
            qualified(project, REVISION): self.target.revision,
            qualified(project, CREATED): self.target.created,
            qualified(project, ROLLBACK_IMAGE): self.image,
        }

    def describe(self) -> str:
        update = f"update {self.target.update}" if self.target.update is not None else "update ?"
        return (
            f"rollback of {self.stack}: {self.current} -> {self.target.version} "
            f"(deployed by {update}), image {self.image}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "from": self.current,
            "to": self.target.to_json(),
            "image": self.image,
        }


def plan_rollback(
    handle: StackHandle, sessions: SessionFactory, *, to: str | None, current: str | None = None
) -> RollbackPlan:
    """The plan, from reads only. `current`: the version being replaced (default: the newest
    deployed); `up --rollback-on-failure` passes the version it is about to deploy."""
    deployed = deployed_versions(history_entries(handle), handle.project)
    target = choose_target(deployed, current=current, to=to)
    outputs = plain_outputs(handle.outputs())
    repository_url = outputs.get(names.REPOSITORY_URL)
    if not repository_url:
        raise AutomationError(
            f"stack {handle.name} has no {names.REPOSITORY_URL} output: cannot find the images"
        )
    ecr = sessions(stack_region(handle, outputs)).client("ecr")
    digest = image_digest(ecr, str(repository_url), target.image_tag)
    return RollbackPlan(
        handle.name, current or deployed[0].version, target, f"{repository_url}@{digest}"
    )


def history_entries(handle: StackHandle) -> Iterator[HistoryEntry]:
    """The stack's operations, newest first, page by page (at most the last 1,000)."""
    for page in range(1, HISTORY_MAX_PAGES + 1):
        entries = handle.history(page_size=HISTORY_PAGE_SIZE, page=page)
        yield from entries
        if len(entries) < HISTORY_PAGE_SIZE:
            return


def deployed_versions(
    entries: Iterator[HistoryEntry] | Sequence[HistoryEntry], project: str
) -> list[Deployed]:
    """Successful updates that carry the stamped version and image tag, newest first."""
    found = []
    for entry in entries:
        if entry.kind != "update" or entry.result != "succeeded":
            continue
        version = entry.config.get(qualified(project, VERSION))
        image_tag = entry.config.get(qualified(project, IMAGE_TAG))
        if not version or not image_tag:
            continue
        found.append(
            Deployed(
                version=version,
                image_tag=image_tag,
                revision=entry.config.get(qualified(project, REVISION), ""),
                created=entry.config.get(qualified(project, CREATED), ""),
                update=entry.update,
            )
        )
    return found


def choose_target(deployed: Sequence[Deployed], *, current: str | None, to: str | None) -> Deployed:
    """The version to redeploy: `to` when given, else the one before `current` was first deployed.

    `current` defaults to the newest deployed version; `up --rollback-on-failure` passes the
    version it is about to deploy, which may never have succeeded (or be in the history).
    """
    if not deployed and (to is not None or current is None):
        raise AutomationError(
            "no earlier deployment in the stack history carries a stamped version and image tag: "
            "nothing to roll back to"
        )
    if to is not None:
        match = next((d for d in deployed if d.version == to), None)
        if match is None:
            known = ", ".join(dict.fromkeys(d.version for d in deployed[:10]))
            raise UsageProblem(
                f"--to {to}: no successful deployment of that version; recent: {known}"
            )
        return match
    current = current or deployed[0].version
    first_of_current = max(
        (index for index, d in enumerate(deployed) if d.version == current), default=-1
    )
    for earlier in deployed[first_of_current + 1 :]:
        if earlier.version != current:
            return earlier
    raise AutomationError(f"no version was deployed before {current}: nothing to roll back to")


def image_digest(ecr: Any, repository_url: str, tag: str) -> str:
    """The digest (`sha256:...`) of `repository_url:tag` in ECR."""
    registry, _, repository = repository_url.partition("/")
    if not repository:
        raise UsageProblem(
            f"stack output repositoryUrl {repository_url!r} is not <registry>/<name>"
        )
    registry_id = registry.split(".", 1)[0]
    with aws_call(f"looking up {repository}:{tag} in ECR"):
        try:
            found = ecr.describe_images(
                registryId=registry_id,
                repositoryName=repository,
                imageIds=[{"imageTag": tag}],
            )
        except ClientError as error:
            if error_code(error) == "ImageNotFoundException":
                raise AutomationError(
                    f"image {repository}:{tag} is no longer in ECR (expired by the lifecycle "
                    "policy?): roll back to a newer version with --to, or rebuild it"
                ) from error
            if error_code(error) == "RepositoryNotFoundException":
                raise AutomationError(f"ECR repository {repository} does not exist") from error
            raise
    details = found.get("imageDetails") or []
    if not details or not details[0].get("imageDigest"):
        raise AutomationError(f"ECR returned no digest for {repository}:{tag}")
    return str(details[0]["imageDigest"])
