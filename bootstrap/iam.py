"""IAM policy documents as plain data: statements, documents, and the ARNs of one account.

Standard library only: the documents are built the same way for the program and for the tests
that lint them (tests/bootstrap/).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Document = dict[str, Any]
Statement = dict[str, Any]
Conditions = Mapping[str, Mapping[str, str | Sequence[str]]]

VERSION = "2012-10-17"
PARTITION = "aws"
"""Commercial AWS regions only (the stacks deploy to us-east-2); GovCloud and China would need
the partition from `aws.get_partition`."""


def statement(
    sid: str,
    actions: Iterable[str],
    resources: str | Iterable[str],
    conditions: Conditions | None = None,
    *,
    effect: str = "Allow",
) -> Statement:
    """One statement; actions sorted and deduplicated, so a diff of a policy reads well."""
    found: Statement = {
        "Sid": sid,
        "Effect": effect,
        "Action": sorted(set(actions)),
        "Resource": resources if isinstance(resources, str) else list(resources),
    }
    if conditions:
        found["Condition"] = {op: dict(values) for op, values in conditions.items()}
    return found


def document(statements: Iterable[Statement]) -> Document:
    return {"Version": VERSION, "Statement": list(statements)}


def size(doc: Document) -> int:
    """Characters IAM counts against a managed policy's quota: the JSON without whitespace."""
    return len(json.dumps(doc, separators=(",", ":")))


@dataclass(frozen=True)
class Account:
    """ARNs in one account and region."""

    id: str
    region: str

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{PARTITION}:{service}:{region}:{self.id}:{resource}"

    def iam(self, resource: str) -> str:
        return self.arn("iam", resource, regional=False)

    def ec2(self, *types: str) -> list[str]:
        """Every resource of these EC2 types in the account and region (`vpc/*`...)."""
        return [self.arn("ec2", f"{kind}/*") for kind in types]

    def ec2_unowned(self, *types: str) -> list[str]:
        """Every resource of these EC2 types in the region whose ARN names no account: images and
        snapshots (`arn:aws:ec2:REGION::image/ID`, Service Authorization Reference for EC2)."""
        return [f"arn:{PARTITION}:ec2:{self.region}::{kind}/*" for kind in types]


def s3(resource: str) -> str:
    """S3 ARNs name neither a region nor an account."""
    return f"arn:{PARTITION}:s3:::{resource}"


def route53(resource: str) -> str:
    """Route 53 is global: its ARNs name neither a region nor an account."""
    return f"arn:{PARTITION}:route53:::{resource}"


def public_parameter(region: str, name: str) -> str:
    """An AWS public SSM parameter (`aws/service/...`, no leading slash): AWS owns it, so its ARN
    names no account."""
    return f"arn:{PARTITION}:ssm:{region}::parameter/{name}"
