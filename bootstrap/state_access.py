"""What the CI roles may do with a self-managed backend's state and the stacks' secrets keys:
exactly what the Pulumi CLI needs, each role for its own stack only.

The CLI keeps a stack's state under `.pulumi/` in the bucket: `stacks/<project>/<stack>.json`
(and its `.bak`), `history/<project>/<stack>/`, `backups/<project>/<stack>/` and, while an update
runs, `locks/<project>/<stack>/` (pulumi's pkg/backend/diy: backend.go, lock.go); it reads
`.pulumi/meta.yaml` and lists keys to find stacks. A deploy writes all of that; a preview reads
the stack's state and takes no lock (docs/ci.md). Each stack's secrets are encrypted with its own
KMS key (`awskms://alias/alunos-api-<stack>`): the CLI decrypts the stack's data key at every
run and encrypts one when a stack is created (pulumi's pkg/secrets/cloud/manager.go).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bootstrap.iam import Document, document, s3, statement
from bootstrap.settings import Stack


def _stack_objects(bucket: str, stack: Stack) -> list[str]:
    project, name = stack.project, stack.name
    return [
        s3(f"{bucket}/.pulumi/stacks/{project}/{name}.json*"),
        s3(f"{bucket}/.pulumi/history/{project}/{name}/*"),
        s3(f"{bucket}/.pulumi/backups/{project}/{name}/*"),
        s3(f"{bucket}/.pulumi/locks/{project}/{name}/*"),
    ]


def deploy_state(bucket: str, stack: Stack, key_arn: str) -> Document:
    """The deploy role of `stack`: its own state, read and written; its own key."""
    return document(
        [
            statement("ListState", ["s3:ListBucket"], s3(bucket)),
            statement("ReadBackendMetadata", ["s3:GetObject"], s3(f"{bucket}/.pulumi/meta.yaml")),
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
                [s3(f"{bucket}/.pulumi/meta.yaml")]
                + [
                    s3(f"{bucket}/.pulumi/stacks/{stack.project}/{stack.name}.json*")
                    for stack in stacks
                ],
            ),
            statement(
                "DecryptStackSecrets",
                ["kms:Decrypt"],
                [keys[stack.name] for stack in stacks],
            ),
        ]
    )
