"""The ECR repository the service's images live in."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags

# Dev builds are tagged X.Y.Z-dev.N.gSHA (see `automation version`); releases X.Y.Z[-pre].
DEV_TAG_PATTERN = "*-dev.*"


@dataclass
class RegistryArgs:
    keep_release_images: int
    """Release images kept; older ones expire (rollback can reach any kept one)."""
    untagged_image_days: int
    """Days before untagged images (superseded layers, failed pushes) expire."""
    force_delete: bool
    """Let `pulumi destroy` delete the repository with its images (dev only)."""
    keep_dev_images: int = 20
    """Dev builds (tags *-dev.*) kept."""


def lifecycle_policy(args: RegistryArgs) -> str:
    """ECR evaluates rules by priority; the `any` rule must come last."""
    rules = [
        {
            "rulePriority": 1,
            "description": f"Expire untagged images after {args.untagged_image_days} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": args.untagged_image_days,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"Keep the last {args.keep_dev_images} dev builds",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": [DEV_TAG_PATTERN],
                "countType": "imageCountMoreThan",
                "countNumber": args.keep_dev_images,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "description": f"Keep the last {args.keep_release_images} release images",
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": args.keep_release_images,
            },
            "action": {"type": "expire"},
        },
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
