"""Bring your own app (issue 15, item 4): another build context, or a prebuilt image by tag or by
digest, with its own health checks, plain variables and secrets, planned through the real
program. The fixture tests/fixtures/go-app is a static Go binary on an empty base: no shell, no
Python; it is planned, never built."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from automation.offline import mocks
from infra import outputs
from infra import resource_types as types
from infra.image import image_tag, source_digest
from infra.service import PROGRAM_VARIABLES
from tests.infra.conftest import ROOT, PlanView, plan_failure

GO_APP = "tests/fixtures/go-app"
ACCOUNT = "123456789012"
DB_SECRET = f"arn:aws:secretsmanager:us-east-2:{ACCOUNT}:secret:alunos/go-db-Xy12Zw"
TOKEN_SECRET = f"arn:aws:secretsmanager:us-east-2:{ACCOUNT}:secret:alunos/api-token-Ab34Cd"
REGISTRY_SECRET = f"arn:aws:secretsmanager:us-east-2:{ACCOUNT}:secret:ghcr/pull-Ef56Gh"
# The Go service as the team runs it on EC2: its own port, a /ping route, a -healthcheck flag,
# and the database credentials in USER and PASSWORD (the EC2 deployment's variables).
GO = {
    "appContext": GO_APP,
    "containerPort": 8080,
    "healthCheckPath": "/ping",
    "containerHealthCheck": "CMD /server -healthcheck",
    "appEnvironment": ["GIN_MODE=release", "TZ=America/Sao_Paulo"],
    "appSecrets": [
        f"USER={DB_SECRET}:username::",
        f"PASSWORD={DB_SECRET}:password::",
        f"API_TOKEN={TOKEN_SECRET}",
    ],
}
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-2.amazonaws.com/alunos-go"
GHCR_IMAGE = "ghcr.io/acme/alunos-go"
DIGEST = "sha256:" + "7" * 64
ECR_IMAGE_LOOKUP = "aws:ecr/getImage:getImage"
REGISTRY_IMAGE_LOOKUP = "docker:index/getRegistryImage:getRegistryImage"


def _execution(view: PlanView) -> dict[str, Any]:
    policy = json.loads(view.one(types.ROLE_POLICY, "alunos-dev-execution")["policy"])
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def test_a_go_service_is_planned_from_its_own_context_and_dockerfile(
    stack_plan: Callable[..., PlanView],
) -> None:
    view = stack_plan("dev", GO)
    build = view.one(types.IMAGE)["build"]
    assert build["context"] == GO_APP
    assert build["dockerfile"] == f"{GO_APP}/Dockerfile"  # docker's default: the context's root
    # The tag's source digest follows the configured context, not app/.
    context = ROOT / GO_APP
    args = {"APP_VERSION": "0.0.0-dev", "APP_REVISION": "unknown", "APP_CREATED": ""}
    sources = source_digest(context, context / "Dockerfile", args)
    assert view.one(types.IMAGE)["imageName"].endswith(":" + image_tag("", "0.0.0-dev", sources))
    assert sources != source_digest(ROOT / "app", ROOT / "app" / "Dockerfile", args)

    assert view.one(types.TARGET_GROUP)["healthCheck"]["path"] == "/ping"
    assert view.outputs[outputs.HEALTH_CHECK_PATH] == "/ping"
    assert view.outputs[outputs.IMAGE_SOURCE] == outputs.BUILT
    container = view.container()
    assert container["healthCheck"]["command"] == ["CMD", "/server", "-healthcheck"]
    assert "python" not in json.dumps(container)
    assert container["portMappings"][0]["containerPort"] == 8080
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert list(environment) == [*PROGRAM_VARIABLES, "GIN_MODE", "TZ"]
    assert environment["PORT"] == "8080"
    assert environment["GIN_MODE"] == "release"
    assert container["secrets"] == [
        {"name": "API_TOKEN", "valueFrom": TOKEN_SECRET},
        {"name": "PASSWORD", "valueFrom": f"{DB_SECRET}:password::"},
        {"name": "USER", "valueFrom": f"{DB_SECRET}:username::"},
    ]
    # ECS reads them with the execution role, exactly those secrets: IAM knows the secret's ARN,
    # not ECS's :json-key:: suffix.
    statements = _execution(view)
    assert statements["ReadStartupSecrets"] == {
        "Sid": "ReadStartupSecrets",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": sorted([DB_SECRET, TOKEN_SECRET]),
    }
    assert "DecryptStartupSecrets" not in statements  # AWS managed key
    assert statements["PullImage"]["Resource"].endswith(":repository/alunos-dev-repo")
    # The task role keeps reading only the program's database secret.
    task = json.loads(view.one(types.ROLE_POLICY, "alunos-dev-task-db-secret")["policy"])
    assert [s["Sid"] for s in task["Statement"]] == ["ReadDatabaseSecret"]


def test_the_fixture_dockerfile_lints_clean() -> None:
    hadolint = Path(ROOT / ".venv" / "bin" / "hadolint")
    result = subprocess.run(
        [str(hadolint), str(ROOT / GO_APP / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_container_health_check_leaves_it_to_the_load_balancer(
    stack_plan: Callable[..., PlanView],
) -> None:
    container = stack_plan("dev", {**GO, "containerHealthCheck": "none"}).container()
    assert "healthCheck" not in container
    shell = stack_plan("dev", {"containerHealthCheck": "CMD-SHELL wget -qO- :8000/ || exit 1"})
    assert shell.container()["healthCheck"]["command"] == [
        "CMD-SHELL",
        "wget -qO- :8000/ || exit 1",
    ]


def test_the_default_stays_this_repositorys_app(dev: PlanView) -> None:
    container = dev.container()
    assert container["healthCheck"]["command"] == ["CMD", "python", "-m", "app.healthcheck"]
    assert "secrets" not in container
    assert "repositoryCredentials" not in container
    assert [item["name"] for item in container["environment"]] == list(PROGRAM_VARIABLES)
    assert set(_execution(dev)) == {"EcrLogin", "PullImage", "WriteLogs"}
    assert dev.one(types.IMAGE)["build"] == {
        "context": "app",
        "dockerfile": "app/Dockerfile",
        "platform": "linux/amd64",
        "args": {"APP_VERSION": "0.0.0-dev", "APP_REVISION": "unknown", "APP_CREATED": ""},
    }


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every prebuilt-image lookup the program makes (ECR's and the registry's), answered with
    DIGEST."""
    calls: list[dict[str, Any]] = []

    def ecr(region: str, args: dict[str, Any]) -> dict[str, Any]:
        calls.append({"lookup": "ecr", **args})
        return {"id": DIGEST, "imageDigest": DIGEST, "imageTag": args["imageTag"]}

    def registry(region: str, args: dict[str, Any]) -> dict[str, Any]:
        calls.append({"lookup": "registry", **args})
        return {"id": DIGEST, "name": args["name"], "sha256Digest": DIGEST}

    monkeypatch.setitem(mocks.CALLS, ECR_IMAGE_LOOKUP, ecr)
    monkeypatch.setitem(mocks.CALLS, REGISTRY_IMAGE_LOOKUP, registry)
    return calls


PREBUILT = {
    "containerPort": 8080,
    "healthCheckPath": "/ping",
    "containerHealthCheck": "CMD /server -healthcheck",
}


def test_a_prebuilt_ecr_image_by_tag_runs_its_digest_without_building(
    stack_plan: Callable[..., PlanView], resolved: list[dict[str, Any]]
) -> None:
    view = stack_plan("dev", {**PREBUILT, "image": f"{ECR_IMAGE}:1.4.2"})
    assert resolved == [
        {
            "lookup": "ecr",
            "repositoryName": "alunos-go",
            "imageTag": "1.4.2",
            "registryId": ACCOUNT,
            "region": "us-east-2",
        }
    ]
    assert types.IMAGE not in view.types()
    assert view.container()["image"] == f"{ECR_IMAGE}@{DIGEST}"
    assert view.outputs[outputs.IMAGE_REF] == f"{ECR_IMAGE}@{DIGEST}"
    assert view.outputs[outputs.IMAGE_SOURCE] == outputs.PREBUILT
    # The execution role pulls that repository, not the stack's own (which stays, for rollbacks
    # to a build of this program).
    statements = _execution(view)
    assert statements["PullImage"]["Resource"] == (
        f"arn:aws:ecr:us-east-2:{ACCOUNT}:repository/alunos-go"
    )
    assert statements["EcrLogin"]["Resource"] == "*"
    assert view.resource(types.REPOSITORY)
    assert view.outputs[outputs.REPOSITORY_URL].endswith("/alunos-dev-repo")


def test_a_prebuilt_image_of_another_registry_is_resolved_there_and_pulled_with_its_secret(
    stack_plan: Callable[..., PlanView], resolved: list[dict[str, Any]]
) -> None:
    view = stack_plan(
        "dev",
        {
            **PREBUILT,
            "image": f"{GHCR_IMAGE}:1.4.2",
            "imageRegistrySecretArn": REGISTRY_SECRET,
            "appSecrets": [f"PASSWORD={DB_SECRET}:password::"],
        },
    )
    assert resolved == [{"lookup": "registry", "name": f"{GHCR_IMAGE}:1.4.2"}]
    container = view.container()
    assert container["image"] == f"{GHCR_IMAGE}@{DIGEST}"
    assert container["repositoryCredentials"] == {"credentialsParameter": REGISTRY_SECRET}
    statements = _execution(view)
    # No ECR permission at all: the image is not in ECR.
    assert set(statements) == {"WriteLogs", "ReadStartupSecrets"}
    assert statements["ReadStartupSecrets"]["Resource"] == sorted([DB_SECRET, REGISTRY_SECRET])


def test_a_prebuilt_image_by_digest_is_used_as_is(
    stack_plan: Callable[..., PlanView], resolved: list[dict[str, Any]]
) -> None:
    digest = "sha256:" + "a" * 64
    for image in (f"{GHCR_IMAGE}@{digest}", f"{ECR_IMAGE}:1.4.2@{digest}"):
        view = stack_plan("dev", {**PREBUILT, "image": image})
        expected = image.split(":1.4.2")[0].split("@")[0] + "@" + digest  # a digest beats a tag
        assert view.container()["image"] == expected
        assert view.outputs[outputs.IMAGE_REF] == expected
    assert resolved == []  # nothing looked up


def test_the_offline_engine_resolves_a_tag_to_a_digest_of_its_own(
    stack_plan: Callable[..., PlanView],
) -> None:
    """Without a test's answer, the mocks give each image:tag its own stable digest."""
    first = stack_plan("dev", {**PREBUILT, "image": f"{GHCR_IMAGE}:1.4.2"}).container()["image"]
    again = stack_plan("dev", {**PREBUILT, "image": f"{GHCR_IMAGE}:1.4.2"}).container()["image"]
    other = stack_plan("dev", {**PREBUILT, "image": f"{GHCR_IMAGE}:1.4.3"}).container()["image"]
    assert first == again != other
    assert first.startswith(f"{GHCR_IMAGE}@sha256:")


def test_a_tag_missing_from_its_registry_fails_the_preview_naming_the_key(
    stack_plan: Callable[..., PlanView], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(region: str, args: dict[str, Any]) -> dict[str, Any]:
        raise mocks.NotFound(
            f"ImageNotFoundException: The image with imageId {{imageTag:'{args['imageTag']}'}} "
            "does not exist within the repository with name 'alunos-go'"
        )

    monkeypatch.setitem(mocks.CALLS, ECR_IMAGE_LOOKUP, missing)
    message = plan_failure(stack_plan, "dev", {**PREBUILT, "image": f"{ECR_IMAGE}:9.9.9"})
    assert message.startswith(
        f"stack dev: alunos-api:image: looking up {ECR_IMAGE}:9.9.9 in ECR failed: "
        "ImageNotFoundException"
    )
    assert "ecr:DescribeImages" in message


def test_startup_secrets_under_a_customer_managed_key_may_be_decrypted_through_secrets_manager(
    stack_plan: Callable[..., PlanView], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    original = mocks.CALLS["aws:secretsmanager/getSecret:getSecret"]

    def under_a_key(region: str, args: dict[str, Any]) -> dict[str, Any]:
        found = original(region, args)
        return {**found, "kmsKeyId": key} if args["arn"] == TOKEN_SECRET else found

    monkeypatch.setitem(mocks.CALLS, "aws:secretsmanager/getSecret:getSecret", under_a_key)
    statement = _execution(stack_plan("dev", GO))["DecryptStartupSecrets"]
    assert statement == {
        "Sid": "DecryptStartupSecrets",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": [key],
        "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-2.amazonaws.com"}},
    }


def test_a_secret_that_does_not_exist_fails_the_preview_naming_the_key(
    stack_plan: Callable[..., PlanView], monkeypatch: pytest.MonkeyPatch
) -> None:
    def gone(region: str, args: dict[str, Any]) -> dict[str, Any]:
        raise mocks.NotFound(f"Secrets Manager Secret ({args['arn']}) not found")

    monkeypatch.setitem(mocks.CALLS, "aws:secretsmanager/getSecret:getSecret", gone)
    message = plan_failure(stack_plan, "dev", {"appSecrets": [f"API_TOKEN={TOKEN_SECRET}"]})
    assert message == (
        f"stack dev: alunos-api:appSecrets: looking up {TOKEN_SECRET} failed: Secrets Manager "
        f"Secret ({TOKEN_SECRET}) not found."
    )


def test_the_python_check_on_another_app_is_warned_about(
    stack_plan: Callable[..., PlanView], monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **kw: warnings.append(message))
    stack_plan("dev", {"appContext": GO_APP})
    assert len(warnings) == 1
    assert "alunos-api:containerHealthCheck is still this repository's" in warnings[0]
    warnings.clear()
    stack_plan("dev", GO)
    assert warnings == []


SECRET_VALUE = "arn:aws:secretsmanager:us-east-2:123456789012:secret:x-AbCdEf"
BAD_APP_CONFIG = [
    # image
    pytest.param({"image": "ghcr.io/acme/alunos-go"}, ["alunos-api:image", "with a tag or a sha256 digest"], id="image-no-tag"),
    pytest.param({"image": "ghcr.io/acme/alunos-go:latest"}, ["alunos-api:image", "not latest"], id="image-latest"),
    pytest.param({"image": "ghcr.io/Acme/alunos-go:1.0"}, ["alunos-api:image", "lower-case path"], id="image-upper-case"),
    pytest.param({"image": "ghcr.io/acme/alunos-go@sha256:abc"}, ["alunos-api:image", "@sha256:<64 hex>"], id="image-short-digest"),
    pytest.param({"image": "ghcr.io/acme/alunos-go:1.0", "appContext": GO_APP}, ["alunos-api:appContext: 'tests/fixtures/go-app' shapes a build", "runs the prebuilt ghcr.io/acme/alunos-go:1.0", "appContext unset with image"], id="image-with-context"),
    pytest.param({"image": "ghcr.io/acme/alunos-go:1.0", "appDockerfile": "x/Dockerfile"}, ["alunos-api:appDockerfile: 'x/Dockerfile' shapes a build"], id="image-with-dockerfile"),
    pytest.param({"image": "ghcr.io/acme/alunos-go:1.0", "rollbackImage": f"{ECR_IMAGE}@{DIGEST}"}, ["alunos-api:rollbackImage is set but alunos-api:image runs a prebuilt image", "set image to the earlier digest"], id="image-with-rollback"),
    # registry credentials
    pytest.param({"imageRegistrySecretArn": REGISTRY_SECRET}, ["alunos-api:imageRegistrySecretArn is set but alunos-api:image is empty"], id="registry-secret-without-image"),
    pytest.param({"image": f"{ECR_IMAGE}:1.0", "imageRegistrySecretArn": REGISTRY_SECRET}, ["alunos-api:image is in ECR", "execution role's IAM permissions"], id="registry-secret-with-ecr"),
    pytest.param({"image": f"{GHCR_IMAGE}:1.0", "imageRegistrySecretArn": f"{REGISTRY_SECRET}:username::"}, ["alunos-api:imageRegistrySecretArn", "the full ARN of a Secrets Manager secret"], id="registry-secret-json-key"),
    # build context
    pytest.param({"appContext": "tests/fixtures/none"}, ["the build context tests/fixtures/none is not a directory"], id="context-missing"),
    pytest.param({"appContext": "/srv/app"}, ["alunos-api:appContext: '/srv/app'", "relative to the project directory"], id="context-absolute"),
    pytest.param({"appDockerfile": "app/Dockerfile.go"}, ["the Dockerfile app/Dockerfile.go is not a file", "appDockerfile"], id="dockerfile-missing"),
    # health checks
    pytest.param({"healthCheckPath": "health"}, ["alunos-api:healthCheckPath: 'health'", "starting with /"], id="path-relative"),
    pytest.param({"healthCheckPath": "/health check"}, ["alunos-api:healthCheckPath", "no spaces"], id="path-space"),
    pytest.param({"healthCheckPath": "/" + "a" * 1024}, ["alunos-api:healthCheckPath", "at most 1024"], id="path-long"),
    pytest.param({"containerHealthCheck": "curl -f localhost:8000/health"}, ["alunos-api:containerHealthCheck", "CMD <program> [args...]", "CMD-SHELL <command>", "none"], id="check-no-form"),
    pytest.param({"containerHealthCheck": "CMD"}, ["alunos-api:containerHealthCheck: 'CMD' is not valid"], id="check-empty"),
    pytest.param({"containerHealthCheck": "CMD /server -check 'x"}, ["alunos-api:containerHealthCheck", "No closing quotation"], id="check-quote"),
    # plain variables
    pytest.param({"appEnvironment": ["GIN_MODE"]}, ["alunos-api:appEnvironment", "NAME=VALUE"], id="env-no-value"),
    pytest.param({"appEnvironment": ["9LIVES=1"]}, ["alunos-api:appEnvironment: '9LIVES'", "not starting with a digit"], id="env-name"),
    pytest.param({"appEnvironment": ["PORT=9000"]}, ["alunos-api:appEnvironment: 'PORT'", "not one the program sets (PORT, APP_VERSION"], id="env-program-name"),
    pytest.param({"appEnvironment": ["A=1", "A=2"]}, ["alunos-api:appEnvironment: 'A'", "a name set once"], id="env-twice"),
    pytest.param({"appEnvironment": ["API_TOKEN=abc"]}, ["alunos-api:appEnvironment: API_TOKEN has a credential's name and its value in plain text", "alunos-api:appSecrets"], id="env-credential-name"),
    pytest.param({"appEnvironment": ["DATABASE_URL=postgres://alunos:s3cret@db:5432/alunos"]}, ["alunos-api:appEnvironment: DATABASE_URL holds what looks like a credential"], id="env-credential-value"),
    # secrets
    pytest.param({"appSecrets": [f"PASSWORD={SECRET_VALUE}:password"]}, ["alunos-api:appSecrets: PASSWORD", ":JSON_KEY::"], id="secret-json-key-without-colons"),
    pytest.param({"appSecrets": ["PASSWORD=arn:aws:secretsmanager:us-east-2:123456789012:secret:x"]}, ["alunos-api:appSecrets: PASSWORD", "with the six characters Secrets Manager appends"], id="secret-partial-arn"),
    pytest.param({"appSecrets": ["PASSWORD=arn:aws:ssm:us-east-2:123456789012:parameter/x"]}, ["alunos-api:appSecrets: PASSWORD", "Secrets Manager"], id="secret-not-secrets-manager"),
    pytest.param({"appSecrets": [f"DB_AUTH_ARN={SECRET_VALUE}"]}, ["alunos-api:appSecrets: 'DB_AUTH_ARN'", "not one the program sets"], id="secret-program-name"),
    pytest.param({"appEnvironment": ["USER=alunos"], "appSecrets": [f"USER={SECRET_VALUE}:username::"]}, ["alunos-api:appSecrets: 'USER'", "nor one of the other list"], id="secret-and-env"),
    pytest.param({"appSecrets": [SECRET_VALUE.replace("us-east-2", "eu-west-1").join(["X=", ""])]}, ["alunos-api:appSecrets: X names a secret in eu-west-1", "a secret in us-east-2"], id="secret-other-region"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "fragments"), BAD_APP_CONFIG)
def test_each_app_key_is_validated_with_the_key_and_what_is_allowed(
    stack_plan: Callable[..., PlanView], overrides: dict[str, Any], fragments: list[str]
) -> None:
    message = plan_failure(stack_plan, "dev", overrides)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", 142),
        ("appEnvironment", "GIN_MODE=release"),
        ("appSecrets", {"PASSWORD": SECRET_VALUE}),
        ("containerHealthCheck", ["CMD", "/server"]),
    ],
)
def test_the_schema_types_are_checked_like_the_pulumi_cli(
    stack_plan: Callable[..., PlanView], key: str, value: object
) -> None:
    message = plan_failure(stack_plan, "dev", {key: value})
    assert f"alunos-api:{key}" in message
    assert "allowed: a value of type" in message
