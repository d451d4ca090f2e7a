"""The app's container image: built from app/ with pulumi-docker and pushed to ECR, or an
earlier image reused by digest (rollback: no rebuild)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from infra import validation as v

PLATFORM = "linux/amd64"


@dataclass
class ImageArgs:
    repository_url: pulumi.Input[str]
    """ECR repository URL (REGISTRY/NAME) to push to."""
    registry_id: pulumi.Input[str]
    """The repository's registry (account) id, for the ECR authorization token."""
    version: str
    """SemVer baked into the image as APP_VERSION and the OCI version label."""
    tag: str
    """Docker tag pushed (immutable in ECR)."""
    revision: str
    """Git commit sha (APP_REVISION, OCI revision label)."""
    created: str
    """RFC 3339 time (APP_CREATED, OCI created label): the commit's, so rebuilds reproduce."""
    rollback_image: str
    """An image by digest to run instead of building (set by `automation rollback`); empty:
    build app/."""
    context: str = "app"
    """Build context directory."""
    dockerfile: str = "app/Dockerfile"
    """Dockerfile path."""


class Image(pulumi.ComponentResource):
    """Exposes `ref`, always repo@sha256:digest: tasks never run a mutable tag."""

    image: docker.Image | None
    ref: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        v.docker_tag("tag", args.tag)
        if args.rollback_image:
            v.digest_reference("rollback_image", args.rollback_image)
        super().__init__("alunos-api:infra:Image", name, None, opts)
        if args.rollback_image:
            self.image = None
            self.ref = pulumi.Output.from_input(args.rollback_image)
        else:
            token = aws.ecr.get_authorization_token_output(
                registry_id=args.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            self.image = docker.Image(
                f"{name}-image",
                build=docker.DockerBuildArgs(
                    context=args.context,
                    dockerfile=args.dockerfile,
                    platform=PLATFORM,
                    args={
                        "APP_VERSION": args.version,
                        "APP_REVISION": args.revision,
                        "APP_CREATED": args.created,
                    },
                ),
                image_name=pulumi.Output.concat(args.repository_url, ":", args.tag),
                registry=docker.RegistryArgs(
                    server=args.repository_url,
                    username=token.user_name,
                    password=pulumi.Output.secret(token.password),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.ref = self.image.repo_digest
        self.register_outputs({"ref": self.ref})
