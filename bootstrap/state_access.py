"""What the CI roles may do with a self-managed backend's state and the stacks' secrets keys:
exactly what the Pulumi CLI needs, each role for its own stack only.

The CLI keeps a project-scoped stack's state under `.pulumi/` in the bucket (pulumi/pulumi
pkg/backend/diy; tests/bootstrap/diy_layout.py derives every key the way the CLI does and cites
the lines): the checkpoint `stacks/<project>/<stack>.json` (its `.bak`, compressed and retained
copies share the prefix) and the stack's tags `stacks/<project>/<stack>.pulumi-tags`, read at every
preview and update; `history/<project>/<stack>/` and `backups/<project>/<stack>/`, written after
each update; and, while an update runs, its lock under `locks/organization/<project>/<stack>/`:
the lock directory is named after the stack's fully qualified name, whose organization is always
`organization` in a diy backend. Every login reads `.pulumi/meta.yaml` (the state layout); the
bootstrap writes it (state_backend), so no CI role ever does. A deploy writes all of the stack's
keys; a preview reads its checkpoint and tags and takes no lock (docs/ci.md). Each stack's secrets
are encrypted with its own KMS key (`awskms://alias/alunos-api-<stack>`): the CLI decrypts the
stack's data key at every run and encrypts one when a stack is created (pulumi's
pkg/secrets/cloud/manager.go).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bootstrap.iam import Document, document, s3, statement
from bootstrap.settings import Stack

STATE_ROOT = ".pulumi"
META_KEY = f"{STATE_ROOT}/meta.yaml"
DIY_ORGANIZATION = "organization"
"""A diy backend's only organization: the first part of a stack's fully qualified name."""


def _read_objects(bucket: str, stack: Stack) -> list[str]:
    """What a preview of `stack` reads: its checkpoint (and the copies beside it) and tags."""
    base = f"{bucket}/{STATE_ROOT}/stacks/{stack.project}/{stack.name}"
    return [s3(f"{base}.json*"), s3(f"{base}.pulumi-tags")]


def _stack_objects(bucket: str, stack: Stack) -> list[str]:
    project, name = stack.project, stack.name
    return [
        *_read_objects(bucket, stack),
        s3(f"{bucket}/{STATE_ROOT}/history/{project}/{name}/*"),
        s3(f"{bucket}/{STATE_ROOT}/backups/{project}/{name}/*"),
        s3(f"{bucket}/{STATE_ROOT}/locks/{DIY_ORGANIZATION}/{project}/{name}/*"),
    ]


def deploy_state(bucket: str, stack: Stack, key_arn: str) -> Document:
    """The deploy role of `stack`: its own state, read and written; its own key."""
    return document(
        [
            statement("ListState", ["s3:ListBucket"], s3(bucket)),
            statement("ReadBackendMetadata", ["s3:GetObject"], s3(f"{bucket}/{META_KEY}")),
            statement(
                "ReadWriteStackState",
                ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                _stack_objects(bucket, stack),
            ),
            statement(
                "StackSecrets",
                ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                key_arn,
            ),
        ]
    )


def preview_state(bucket: str, stacks: Sequence[Stack], keys: Mapping[str, str]) -> Document:
    """The preview role: every stack's state read, never written; their secrets decrypted."""
    return document(
        [
            statement("ListState", ["s3:ListBucket"], s3(bucket)),
            statement(
                "ReadStackState",
                ["s3:GetObject"],
                [s3(f"{bucket}/{META_KEY}")]
                + [arn for stack in stacks for arn in _read_objects(bucket, stack)],
            ),
            statement(
                "DecryptStackSecrets",
                ["kms:Decrypt"],
                [keys[stack.name] for stack in stacks],
            ),
        ]
    )
