"""The image under ECR's immutable tags: every build has its own tag, a tag already pushed is
run by digest without building, and the reference the tasks run is always this repository's
image by digest (issue 13, items 2 and 3)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from automation.offline import mocks
from infra import outputs
from infra import resource_types as types
from infra.image import SOURCE_TAG_SEPARATOR, image_tag, source_digest
from tests.infra.conftest import ROOT, PlanView, plan_failure

REPOSITORY = "alunos-dev-repo"
REPOSITORY_URL = f"123456789012.dkr.ecr.us-east-2.amazonaws.com/{REPOSITORY}"
PUSHED = "sha256:" + "b" * 64
ARGS = {"APP_VERSION": "0.0.0-dev", "APP_REVISION": "unknown", "APP_CREATED": ""}
REPOSITORIES = "aws:ecr/getRepositories:getRepositories"
IMAGES = "aws:ecr/getImages:getImages"


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A copy of the real build context to edit."""
    copy = tmp_path / "app"
    shutil.copytree(ROOT / "app", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def digest(context: Path, args: dict[str, str] = ARGS) -> str:
    return source_digest(context, context / "Dockerfile", args)


def test_the_same_sources_give_the_same_tag_and_any_change_a_new_one(context: Path) -> None:
    before = digest(context)
    assert digest(context) == before
    (context / "__pycache__").mkdir()
    (context / "__pycache__" / "web.cpython-311.pyc").write_bytes(b"\0cache")
    assert digest(context) == before  # bytecode caches are not sources
    changes: list[Callable[[], object]] = [
        lambda: (context / "web.py").write_text((context / "web.py").read_text() + "# edit\n"),
        lambda: (context / "web.py").chmod(0o755),
        lambda: (context / "extra.py").write_text("x = 1\n"),
        lambda: (context / "Dockerfile").write_text("FROM scratch\n"),
    ]
    seen = {before}
    for change in changes:
        change()
        seen.add(digest(context))
    assert len(seen) == 1 + len(changes)
    assert digest(context, {**ARGS, "APP_REVISION": "abc"}) not in seen


def test_an_unstamped_tag_is_the_version_and_the_sources_digest() -> None:
    assert image_tag("", "0.0.0-dev", "9" * 64) == "0.0.0-dev.src-999999999999"
    assert image_tag("", "1.2.3+build.4", "a" * 64) == "1.2.3.build.4.src-aaaaaaaaaaaa"
    assert image_tag("1.4.2", "1.4.2", "a" * 64) == "1.4.2"  # stamped: one per build already


def _image_name(view: PlanView) -> str:
    return str(view.one(types.IMAGE)["imageName"])


def test_a_plain_up_builds_a_tag_named_after_its_sources(dev: PlanView) -> None:
    name = _image_name(dev)
    expected = image_tag("", "0.0.0-dev", digest(ROOT / "app"))
    assert name == f"{REPOSITORY_URL}:{expected}"
    assert SOURCE_TAG_SEPARATOR in name


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    """The offline ECR, filled by the test: repository name -> {tag: digest}."""
    registry: dict[str, dict[str, str]] = {}

    def repositories(region: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"id": region, "names": sorted(registry)}

    def images(region: str, args: dict[str, Any]) -> dict[str, Any]:
        tags = registry.get(str(args["repositoryName"]))
        if tags is None:
            raise mocks.NotFound("RepositoryNotFoundException")
        ids = [{"imageDigest": d, "imageTag": t} for t, d in tags.items()]
        return {"id": args["repositoryName"], "imageIds": [*ids, {"imageDigest": "sha256:0"}]}

    monkeypatch.setitem(mocks.CALLS, REPOSITORIES, repositories)
    monkeypatch.setitem(mocks.CALLS, IMAGES, images)
    return registry


def _runs(view: PlanView) -> str:
    return str(view.container()["image"])


def test_a_redeploy_of_a_pushed_release_runs_its_digest_without_building(
    stack_plan: Callable[..., PlanView], ecr: dict[str, dict[str, str]]
) -> None:
    ecr[REPOSITORY] = {"1.4.2": PUSHED, "1.4.1": "sha256:" + "1" * 64}
    view = stack_plan("dev", {"version": "1.4.2", "imageTag": "1.4.2"})
    assert types.IMAGE not in view.types()
    assert view.outputs[outputs.IMAGE_REF] == f"{REPOSITORY_URL}@{PUSHED}"
    assert _runs(view) == f"{REPOSITORY_URL}@{PUSHED}"
    # A tag not pushed yet is built, under that tag.
    built = stack_plan("dev", {"version": "1.4.3", "imageTag": "1.4.3"})
    assert _image_name(built) == f"{REPOSITORY_URL}:1.4.3"


def test_a_plain_up_after_a_code_change_builds_and_without_one_reuses(
    stack_plan: Callable[..., PlanView], ecr: dict[str, dict[str, str]]
) -> None:
    current = image_tag("", "0.0.0-dev", digest(ROOT / "app"))
    ecr[REPOSITORY] = {"0.0.0-dev.src-000000000000": PUSHED}  # the code before the change
    assert _image_name(stack_plan("dev")) == f"{REPOSITORY_URL}:{current}"
    ecr[REPOSITORY][current] = "sha256:" + "c" * 64  # that build was pushed
    again = stack_plan("dev")
    assert types.IMAGE not in again.types()
    assert _runs(again) == f"{REPOSITORY_URL}@sha256:{'c' * 64}"


def test_after_a_rollback_the_version_rolled_back_from_is_reused_not_pushed_again(
    stack_plan: Callable[..., PlanView], ecr: dict[str, dict[str, str]]
) -> None:
    """The rollback took the image resource out of the state; deploying 1.4.2 again must not
    push 1.4.2 again (ECR: ImageTagAlreadyExistsException)."""
    ecr[REPOSITORY] = {"1.4.1": "sha256:" + "1" * 64, "1.4.2": PUSHED}
    rolled_back = stack_plan(
        "dev",
        {
            "version": "1.4.1",
            "imageTag": "1.4.1",
            "rollbackImage": f"{REPOSITORY_URL}@" + "sha256:" + "1" * 64,
        },
    )
    assert types.IMAGE not in rolled_back.types()
    forward = stack_plan("dev", {"version": "1.4.2", "imageTag": "1.4.2"})
    assert types.IMAGE not in forward.types()
    assert _runs(forward) == f"{REPOSITORY_URL}@{PUSHED}"


def test_preview_and_up_decide_alike(
    stack_plan: Callable[..., PlanView],
    ecr: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def decisions() -> tuple[bool, bool]:
        ecr.clear()
        absent = types.IMAGE in stack_plan("dev", {"imageTag": "1.4.2"}).types()
        ecr[REPOSITORY] = {"1.4.2": PUSHED}
        present = types.IMAGE in stack_plan("dev", {"imageTag": "1.4.2"}).types()
        return absent, present

    up = decisions()
    real = pulumi.runtime.set_mocks
    monkeypatch.setattr(
        pulumi.runtime, "set_mocks", lambda *a, **kw: real(*a, **{**kw, "preview": True})
    )
    assert decisions() == up == (True, False)


def test_a_rollback_to_another_repositorys_image_is_refused(
    stack_plan: Callable[..., PlanView],
) -> None:
    elsewhere = "123456789012.dkr.ecr.us-east-2.amazonaws.com/other@" + PUSHED
    message = plan_failure(stack_plan, "dev", {"rollbackImage": elsewhere})
    assert message == (
        f"stack dev: image: rollbackImage gave {elsewhere!r}, an image of "
        "123456789012.dkr.ecr.us-east-2.amazonaws.com/other; allowed: an image of this stack's "
        f"repository ({REPOSITORY_URL}@sha256:<64 hex>)."
    )


@pytest.mark.parametrize(
    "reported",
    [
        "<none>@<none>",  # pulumi-docker's placeholder when the push left no digest
        f"{REPOSITORY_URL}@sha256:abc",
        "sha256:" + "d" * 64,  # a local image id (skipPush / preview)
        f"123456789012.dkr.ecr.us-east-2.amazonaws.com/other@sha256:{'d' * 64}",
    ],
)
def test_a_bad_repo_digest_fails_the_update_before_the_task_definition(
    stack_plan: Callable[..., PlanView], monkeypatch: pytest.MonkeyPatch, reported: str
) -> None:
    built = mocks.RESOURCES[types.IMAGE]

    def image(new: Any) -> mocks.Mocked:
        image_id, outputs_ = built(new)
        return image_id, {**outputs_, "repoDigest": reported}

    monkeypatch.setitem(mocks.RESOURCES, types.IMAGE, image)
    message = plan_failure(stack_plan, "dev")
    assert message.startswith("stack dev: image: pulumi-docker (the push of tag 0.0.0-dev.src-")
    assert f"gave {reported!r}" in message
    assert "not an image by digest" in message or "allowed: an image of this stack's" in message


def test_the_task_definition_runs_exactly_the_pushed_digest(dev: PlanView) -> None:
    image = dev.resource(types.IMAGE)
    task = dev.one(types.TASK_DEFINITION)
    assert json.loads(task["containerDefinitions"])[0]["image"] == dev.outputs[outputs.IMAGE_REF]
    assert dev.outputs[outputs.IMAGE_REF].startswith(f"{REPOSITORY_URL}@sha256:")
    assert image.inputs["imageName"].startswith(f"{REPOSITORY_URL}:")
