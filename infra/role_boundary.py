"""Every IAM role the program creates carries the stack's permissions boundary.

The bootstrap (bootstrap/boundary.py) lets CI's deploy role create a role, or write a role's
policy, only with the stack's boundary attached (`iam:PermissionsBoundary`): without it a deploy
role could create an administrator role and pass it to a task. So the program must set it on
every role, the ones components create today and any a later component adds: one stack
transformation does that in one place, as the CDK's `PermissionsBoundary.of(scope).apply()` does,
instead of a field threaded through each component's arguments.

A transformation sees the resources this program declares in Python (the stack's components
and their children), not the children of multi-language components such as awsx's; the stack
uses none of those that create roles (awsx's VPC creates none).
"""

from __future__ import annotations

import pulumi

from infra import resource_types as types


def bound_every_role(boundary_arn: str) -> None:
    """From here on, each `aws.iam.Role` declared gets `permissions_boundary=boundary_arn`."""

    def transformation(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != types.ROLE:
            return None
        props = {**args.props, "permissions_boundary": boundary_arn}
        return pulumi.ResourceTransformationResult(props, args.opts)

    pulumi.runtime.register_stack_transformation(transformation)
