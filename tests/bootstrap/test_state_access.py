"""The state policies against every request the Pulumi CLI makes to a self-managed backend
(tests/bootstrap/diy_layout.py derives them from the CLI's source): each deploy role may update,
read the history of and cancel its own stack and touch nothing of the other's; the preview role
may read every stack and write nothing; the layout file is the bootstrap's to write."""

from __future__ import annotations

from typing import Any

import pytest

from automation.offline.engine import Plan
from bootstrap.settings import ENVIRONMENTS
from tests.bootstrap.diy_layout import META_PATH, Access, DiyStack
from tests.bootstrap.evaluate import allows
from tests.bootstrap.test_policies import policies

BUCKET = "alunos-api-pulumi-state-123456789012-us-east-2"
PROJECT = "alunos-api"
STACKS = [env.name for env in ENVIRONMENTS]


def _denied(doc: dict[str, Any], accesses: list[Access]) -> list[Access]:
    return [a for a in accesses if not allows([doc], a.action, a.resource)]


def _writes(accesses: list[Access]) -> list[Access]:
    return [a for a in accesses if a.action in {"s3:PutObject", "s3:DeleteObject"}]


def test_the_layout_is_the_clis() -> None:
    """The keys as pulumi's own tests see them (pkg/backend/diy/backend_test.go:1301: the fully
    qualified name of a project-scoped diy stack is organization/<project>/<stack>)."""
    stack = DiyStack(BUCKET, "project", "foo")
    assert stack.fully_qualified_name() == "organization/project/foo"
    assert stack.lock_path("id") == ".pulumi/locks/organization/project/foo/id.json"
    assert stack.checkpoint() == ".pulumi/stacks/project/foo.json"
    assert stack.tags() == ".pulumi/stacks/project/foo.pulumi-tags"
    assert stack.history_dir() == ".pulumi/history/project/foo"
    assert stack.backup_dir() == ".pulumi/backups/project/foo"


@pytest.mark.parametrize("name", STACKS)
def test_a_deploy_role_runs_every_cli_operation_on_its_own_stack(
    self_managed: Plan, name: str
) -> None:
    doc = policies(self_managed)[f"deploy-{name}-state"]
    stack = DiyStack(BUCKET, PROJECT, name)
    for operation in (stack.update, stack.preview, stack.history, stack.cancel):
        denied = _denied(doc, operation())
        assert not denied, f"deploy-{name} cannot `{operation.__name__}`: {denied}"


@pytest.mark.parametrize("name", STACKS)
def test_a_deploy_role_touches_nothing_of_another_stack(self_managed: Plan, name: str) -> None:
    doc = policies(self_managed)[f"deploy-{name}-state"]
    for other in STACKS:
        if other == name:
            continue
        stack = DiyStack(BUCKET, PROJECT, other)
        objects = [a for a in stack.update() + stack.history() if a.action != "s3:ListBucket"]
        foreign = [a for a in objects if a.resource != f"arn:aws:s3:::{BUCKET}/{META_PATH}"]
        allowed = [a for a in foreign if allows([doc], a.action, a.resource)]
        assert not allowed, f"deploy-{name} reaches {other}'s state: {allowed}"


def test_the_preview_role_reads_every_stack_and_writes_nothing(self_managed: Plan) -> None:
    doc = policies(self_managed)["preview-state"]
    for name in STACKS:
        stack = DiyStack(BUCKET, PROJECT, name)
        assert not _denied(doc, stack.preview()), name
        writes = [
            a
            for a in _writes(stack.update() + stack.cancel())
            if allows([doc], a.action, a.resource)
        ]
        assert not writes, f"the preview role may write {writes}"


def test_no_ci_role_writes_the_layout_the_bootstrap_writes(self_managed: Plan) -> None:
    """The CLI writes meta.yaml into an empty bucket at login (pkg/backend/diy/meta.go:65-112):
    the bootstrap writes it first, version 1 (project-scoped stacks), so no CI role needs to."""
    (layout,) = self_managed.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert layout.inputs["key"] == META_PATH
    assert layout.inputs["content"] == "version: 1\n"
    meta = f"arn:aws:s3:::{BUCKET}/{META_PATH}"
    for name, doc in policies(self_managed).items():
        if name.endswith("-state"):
            assert allows([doc], "s3:GetObject", meta), name
            assert not allows([doc], "s3:PutObject", meta), name
