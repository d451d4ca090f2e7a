"""The bootstrap's environments are the workflows': each deploy job's environment has a role,
whose session outlasts what the job asks (`role-duration-seconds`), and the variables the jobs
read are the ones docs/bootstrap.md tells to set."""

from __future__ import annotations

from typing import Any

import yaml

from bootstrap.settings import ENVIRONMENTS, PREVIEW_SESSION_SECONDS
from tests.bootstrap.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def _jobs() -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        jobs += yaml.safe_load(path.read_text())["jobs"].values()
    return jobs


def _credentials(job: dict[str, Any]) -> dict[str, Any] | None:
    for step in job.get("steps", []):
        if "configure-aws-credentials" in str(step.get("uses", "")):
            return dict(step["with"])
    return None


def test_every_aws_job_has_its_role_and_session() -> None:
    sessions = {env.name: env.max_session_seconds for env in ENVIRONMENTS}
    seen = set()
    for job in _jobs():
        found = _credentials(job)
        if found is None:
            continue
        environment = job.get("environment")
        if environment is None:
            assert found["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
            assert found["role-duration-seconds"] <= PREVIEW_SESSION_SECONDS
            seen.add("preview")
        else:
            assert environment in sessions, f"no deploy role for environment {environment}"
            assert found["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
            assert found["role-duration-seconds"] <= sessions[environment]
            seen.add(environment)
    assert seen == {"preview", *sessions}


def test_the_docs_name_the_workflows_variables() -> None:
    docs = (ROOT / "docs" / "bootstrap.md").read_text()
    text = "".join(path.read_text() for path in WORKFLOWS.glob("*.yml"))
    for name in ("AWS_DEPLOY_ROLE_ARN", "AWS_PREVIEW_ROLE_ARN", "PULUMI_BACKEND_URL"):
        assert f"vars.{name}" in text
        assert f"`{name}`" in docs
    for output in ("devDeployRoleArn", "prodDeployRoleArn", "previewRoleArn", "backendUrl"):
        assert f"`{output}`" in docs
