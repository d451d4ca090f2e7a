"""The ECR repository the service's images live in."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags

# Tags of builds that are not releases, as `automation version` (automation/release/version.py)
# and __main__.py stamp them, each kind with its own lifecycle rule: in one rule's tagPatternList
# an image must match *every* pattern, so alternatives need rules of their own. `*` matches any
# run of characters (none too), at most 4 per pattern.
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html
DEV_TAG_PATTERNS: tuple[tuple[str, str], ...] = (
    # X.Y.Z-dev.N.gSHA (after a release tag, or with none yet), X.Y.Z-PRE.dev.N.gSHA (after a
    # pre-release tag), either with .dirty.<digest of the edits>, and 0.0.0-dev.src-<digest of
    # app/> (Pulumi.yaml's version when nothing stamps one, see infra/image.py). "dev" is the
    # word version.py marks them with: a release tagged with it
    # (v2.0.0-dev.1) would be kept as a dev build, so release tags do without it.
    ("*dev*", "dev builds"),
    # X.Y.Z[-PRE].dirty.<8 hex>: a dirty tree checked out at a release tag.
    ("*.dirty.*", "builds of a dirty tree at a release tag"),
)


@dataclass
class RegistryArgs:
    keep_release_images: int
    """Release images kept; older ones expire (rollback can reach any kept one)."""
    untagged_image_days: int
    """Days before untagged images (superseded layers, failed pushes) expire."""
    force_delete: bool
    """Let `pulumi destroy` delete the repository with its images (dev only)."""
    keep_dev_images: int = 20
    """Images kept of each kind of non-release tag (DEV_TAG_PATTERNS)."""


def lifecycle_policy(args: RegistryArgs) -> str:
    """One rule per kind of image, by priority. ECR applies to an image only the first rule
    (lowest rulePriority) whose tag selection it matches, and the `any` rule must come last, so
    releases are what no earlier rule took. That last rule counts every image, though (ECR's
    evaluation rules: lower rules "identify" images taken by higher ones without expiring them),
    so keep_release_images bounds the newest images of all kinds, of which only releases expire.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html#lp_evaluation_rules
    """
    untagged = {
        "description": f"Expire untagged images after {args.untagged_image_days} days",
        "selection": {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": args.untagged_image_days,
        },
    }
    dev = [
        {
            "description": f"Keep the last {args.keep_dev_images} {kind} ({pattern})",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": [pattern],
                "countType": "imageCountMoreThan",
                "countNumber": args.keep_dev_images,
            },
        }
        for pattern, kind in DEV_TAG_PATTERNS
    ]
    releases = {
        "description": f"Keep the last {args.keep_release_images} release images",
        "selection": {
            "tagStatus": "any",
            "countType": "imageCountMoreThan",
            "countNumber": args.keep_release_images,
        },
    }
    rules = [
        {"rulePriority": priority, **rule, "action": {"type": "expire"}}
        for priority, rule in enumerate([untagged, *dev, releases], start=1)
    ]
    return json.dumps({"rules": rules}, sort_keys=True)


class Registry(pulumi.ComponentResource):
    """Immutable tags, so a version always names the same image and rollback is exact."""

    repository: aws.ecr.Repository
    lifecycle: aws.ecr.LifecyclePolicy
    repository_name: str
    """Known before the repository exists (not auto-named): the image looks its tags up by it."""

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        v.IMAGES_KEPT.check("keep_release_images", args.keep_release_images)
        v.IMAGES_KEPT.check("keep_dev_images", args.keep_dev_images)
        v.UNTAGGED_IMAGE_DAYS.check("untagged_image_days", args.untagged_image_days)
        super().__init__("alunos-api:infra:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository_name = f"{name}-repo"
        self.repository = aws.ecr.Repository(
            f"{name}-repo",
            name=self.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")
            ],
            force_delete=args.force_delete,
            tags=tags(f"{name}-repo"),
            opts=child,
        )
        self.lifecycle = aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=lifecycle_policy(args),
            opts=child,
        )
        self.register_outputs(
            {
                "repositoryUrl": self.repository.repository_url,
                "repositoryArn": self.repository.arn,
            }
        )
