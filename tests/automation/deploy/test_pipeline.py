"""`up` and `rollback` end to end: a fake stack, AWS on moto, the service on a local HTTP server."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest

from automation.deploy.pipeline import (
    Console,
    DeployOutcome,
    DeploySettings,
    require_deployable,
    rollback,
    up,
)
from automation.deploy.pulumi_seam import CommandFailed, OutputValue
from automation.deploy.rollback import plan_rollback
from automation.deploy.updates import LockRetry, ReadRetry
from automation.deploy.verify import Polling, SessionFactory, VerifyTiming
from automation.errors import AutomationError, UsageProblem
from automation.release.version import BuildVersion
from infra import outputs as names
from tests.automation.fakes import PROJECT, FakeStack, deployed, key


def build(version, *, release=False, dirty=False):
    return BuildVersion(
        version=version,
        image_tag=version if release else f"{version}.gabc1234",
        revision="abc1234" + "0" * 33,
        created="2024-05-01T10:00:00Z",
        dirty=dirty,
        release=release,
    )


def in_region(region):
    """The session factory the CLI's environment hands the pipeline (moto via AWS_ENDPOINT_URL)."""
    return boto3.Session(region_name=region)


def fast_settings(**overrides):
    quick = Polling(interval_seconds=0.01)
    return DeploySettings(
        lock=LockRetry(sleep=lambda s: None),
        reads=ReadRetry(sleep=lambda s: None),
        verify=VerifyTiming.within(0.3, polling=quick),
        **overrides,
    )


class Lines:
    def __init__(self):
        self.said: list[str] = []
        self.pulumi: list[str] = []
        self.console = Console(self.said.append, self.pulumi.append)


def deploy(
    stack: FakeStack,
    version: str = "1.4.3-dev.1",
    *,
    lines: Lines | None = None,
    rollback_on_failure: bool = False,
    production: bool = False,
    settings: DeploySettings | None = None,
    sessions: SessionFactory = in_region,
) -> DeployOutcome:
    """`up` of a dev build as most tests here run it: AWS on moto, `fast_settings` (with
    `rollback_on_failure`) unless the test passes its own `settings`, which are used as they are;
    what the deploy says goes to `lines` when the test reads it."""
    return up(
        stack,
        build(version),
        production=production,
        console=(lines or Lines()).console,
        settings=settings or fast_settings(rollback_on_failure=rollback_on_failure),
        sessions=sessions,
    )


def serve_what_is_deployed(stack, service):
    stack.after_up = lambda config: setattr(service, "version", config[key("version")])


def test_up_stamps_deploys_and_verifies(stage, service):
    serve_what_is_deployed(stage, service)
    lines = Lines()
    outcome = deploy(stage, lines=lines)
    assert outcome.ok, outcome.failure
    assert stage.up_calls[0][key("version")] == "1.4.3-dev.1"
    assert stage.up_calls[0][key("imageTag")] == "1.4.3-dev.1.gabc1234"
    assert stage.up_calls[0][key("rollbackImage")] == ""
    assert outcome.verification is not None
    assert outcome.verification.ok
    assert outcome.to_json()["verification"]["ok"] is True
    assert lines.pulumi == ["Updating (dev)"]
    assert any("ok   version" in line for line in lines.said)


def test_a_deploy_that_does_not_serve_its_version_fails(stage, service):
    lines = Lines()  # the service keeps answering 1.4.2
    outcome = deploy(stage, lines=lines)
    assert not outcome.ok
    assert "reports version '1.4.2', expected '1.4.3-dev.1'" in str(outcome.failure)
    assert outcome.rolled_back_to is None
    assert len(stage.up_calls) == 1


def test_rollback_on_failure_redeploys_the_previous_image_by_digest(stage, service):
    def serve(config):
        # The new version is broken (its /version never says so); a rollback serves its image.
        if config[key("rollbackImage")]:
            service.version = config[key("version")]

    stage.after_up = serve
    lines = Lines()
    outcome = deploy(stage, lines=lines, rollback_on_failure=True)
    assert not outcome.ok  # the deploy failed, even though the rollback worked
    assert str(outcome.failure).endswith("rolled back to 1.4.2")
    assert outcome.rolled_back_to is not None
    assert outcome.rolled_back_to.version == "1.4.2"
    second = stage.up_calls[1]
    assert second[key("rollbackImage")] == f"{stage.repository_url}@{stage.digests['1.4.2']}"
    assert second[key("version")] == "1.4.2"
    assert second[key("imageTag")] == "1.4.2"
    assert service.version == "1.4.2"


def test_rollback_on_failure_after_a_failed_update(stage, service):
    serve_what_is_deployed(stage, service)
    stage.up_failure = CommandFailed("pulumi up failed for stack 'dev': error: boom")
    outcome = deploy(stage, rollback_on_failure=True)
    assert "boom" in str(outcome.failure)
    assert outcome.rolled_back_to is not None
    assert outcome.rolled_back_to.version == "1.4.2"  # what ran before the failed update


def test_a_failed_update_without_rollback_reports_it(stage):
    stage.up_failure = CommandFailed("pulumi up failed for stack 'dev': error: boom")
    outcome = deploy(stage)
    assert outcome.failure == "pulumi up failed for stack 'dev': error: boom"
    assert outcome.verification is None


def test_skip_verify(stage):
    lines = Lines()
    outcome = deploy(stage, lines=lines, settings=DeploySettings(verify=None))
    assert outcome.ok
    assert outcome.verification is None
    assert "verification skipped (--skip-verify)" in lines.said


def roll_back(stack, *, to, lines=None, sessions=in_region):
    """`rollback --to`: plan, then carry the plan out."""
    plan = plan_rollback(stack, sessions, to=to)
    return rollback(
        stack, plan, console=(lines or Lines()).console, settings=fast_settings(), sessions=sessions
    )


def test_rollback_to_a_chosen_version(stage, service):
    serve_what_is_deployed(stage, service)
    outcome = roll_back(stage, to="1.4.1")
    assert outcome.ok, outcome.failure
    assert stage.up_calls[0][key("rollbackImage")].endswith(stage.digests["1.4.1"])
    assert stage.up_calls[0][key("revision")] == f"{1:040x}"
    assert service.version == "1.4.1"


def test_the_plan_is_made_by_reading_only(stage):
    plan = plan_rollback(stage, in_region, to=None)
    assert stage.up_calls == []
    assert plan.target.version == "1.4.1"  # the one before 1.4.2, the current
    assert plan.image == f"{stage.repository_url}@{stage.digests['1.4.1']}"
    assert plan.to_json() == {
        "stack": "dev",
        "from": "1.4.2",
        "to": {
            "version": "1.4.1",
            "image_tag": "1.4.1",
            "revision": f"{1:040x}",
            "created": "2024-05-01T10:00:00Z",
            "update": 1,
        },
        "image": plan.image,
    }
    assert (
        plan.describe()
        == f"rollback of dev: 1.4.2 -> 1.4.1 (deployed by update 1), image {plan.image}"
    )
    assert plan.config(PROJECT)[key("rollbackImage")] == plan.image


def test_rollback_when_the_image_is_gone(stage, aws):
    stage.entries.insert(0, deployed("1.5.0", update=3))
    stage.entries.insert(0, deployed("1.6.0", update=4))  # 1.5.0 was never pushed to this ECR
    with pytest.raises(AutomationError, match=r"1\.5\.0 is no longer in ECR"):
        plan_rollback(stage, in_region, to=None)
    assert stage.up_calls == []


def test_rollback_without_a_region_is_a_usage_problem(stage):
    del stage.stack_outputs[names.REGION]
    stage.config.clear()
    with pytest.raises(UsageProblem, match="no region"):
        plan_rollback(stage, in_region, to="1.4.1")


def test_the_region_falls_back_to_the_aws_region_config(stage, service):
    serve_what_is_deployed(stage, service)
    del stage.stack_outputs[names.REGION]
    outcome = roll_back(stage, to="1.4.1")
    assert outcome.ok, outcome.failure


@pytest.mark.parametrize(
    ("candidate", "allowed"),
    [
        (build("1.4.2", release=True), True),
        (build("1.4.3-dev.1"), False),
        (BuildVersion("1.4.2", "1.4.2.dirty", "a" * 40, "x", dirty=True, release=False), False),
    ],
)
def test_prod_deploys_only_clean_release_tags(candidate, allowed):
    if allowed:
        require_deployable("prod", candidate, production=True)
        require_deployable("acme/alunos-api/prod", candidate, production=True)
    else:
        with pytest.raises(UsageProblem, match="Production deploys only a clean checkout") as no:
            require_deployable("acme/alunos-api/prod", candidate, production=True)
        assert no.value.exit_code == 2
    require_deployable("dev", candidate, production=False)  # dev takes anything


def test_up_to_prod_refuses_a_dev_build_before_running_anything():
    stack = FakeStack(name="prod")
    with pytest.raises(UsageProblem):
        deploy(stack, production=True)
    assert stack.up_calls == []


def test_rollback_on_failure_with_nothing_to_roll_back_to_keeps_the_first_failure(stage):
    stage.entries = []  # the first deployment of this stack
    outcome = deploy(stage, "1.0.0-dev.1", rollback_on_failure=True)
    assert str(outcome.failure).startswith("verification of 1.0.0-dev.1 on dev failed")
    assert str(outcome.failure).endswith(
        "could not roll back: no version was deployed before 1.0.0-dev.1: nothing to roll back to"
    )
    assert outcome.rolled_back_to is None


def test_rollback_on_failure_says_where_it_would_go_back_before_deploying(stage, service):
    serve_what_is_deployed(stage, service)
    lines = Lines()
    outcome = deploy(stage, lines=lines, rollback_on_failure=True)
    assert outcome.ok, outcome.failure
    image = f"{stage.repository_url}@{stage.digests['1.4.2']}"
    planned = f"--rollback-on-failure: if 1.4.3-dev.1 fails, dev goes back to 1.4.2 ({image})"
    assert lines.said.index(planned) < lines.said.index(
        "deploying 1.4.3-dev.1 (1.4.3-dev.1.gabc1234) to dev"
    )
    assert outcome.to_json()["fallback"]["plan"]["to"]["version"] == "1.4.2"
    assert outcome.rolled_back_to is None  # planned, not needed


@pytest.mark.parametrize("first_deploy", [True, False], ids=["first-deploy", "image-expired"])
def test_no_way_back_is_known_at_minute_0_and_the_deploy_goes_on(stage, service, first_deploy):
    if first_deploy:
        stage.entries = []
        reason = "no version was deployed before 1.4.3-dev.1: nothing to roll back to"
    else:
        stage.entries.insert(0, deployed("1.5.0", update=3))  # never pushed to this ECR
        reason = "1.5.0 is no longer in ECR"
    serve_what_is_deployed(stage, service)
    lines = Lines()
    outcome = deploy(stage, lines=lines, rollback_on_failure=True)
    assert outcome.ok, outcome.failure  # deployable all the same
    warning = next(line for line in lines.said if line.startswith("warning: --rollback"))
    assert reason in warning
    assert "without a fallback (a failure will not be rolled back)" in warning
    assert lines.said.index(warning) < next(
        n for n, line in enumerate(lines.said) if line.startswith("deploying")
    )
    assert outcome.to_json()["fallback"]["plan"] is None
    assert reason in outcome.to_json()["fallback"]["problem"]
    assert len(stage.up_calls) == 1


def test_a_failure_without_a_way_back_is_not_rolled_back(stage, service):
    stage.entries.insert(0, deployed("1.5.0", update=3))  # its image expired from ECR
    stage.up_failure = CommandFailed("pulumi up failed for stack 'dev': error: boom")
    outcome = deploy(stage, "1.6.0-dev.1", rollback_on_failure=True)
    assert str(outcome.failure).startswith("pulumi up failed for stack 'dev': error: boom")
    assert "; could not roll back: image " in str(outcome.failure)
    assert "1.5.0 is no longer in ECR" in str(outcome.failure)
    assert len(stage.up_calls) == 1  # the failed update; no rollback attempted


def test_production_is_the_callers_answer_not_the_stacks_name():
    """The caller (the CLI, from the stack config) says whether it is production; the name of
    the stack plays no part here."""
    live = FakeStack(name="live")
    with pytest.raises(UsageProblem, match="Production deploys only a clean checkout"):
        deploy(live, production=True)
    assert live.up_calls == []
    prod = FakeStack(name="prod")
    assert deploy(prod, production=False, settings=DeploySettings(verify=None)).ok


# --- after a good update, a read that fails is not a failed deploy ------------------------------


def test_outputs_that_cannot_be_read_leave_a_good_update_unverified_not_rolled_back(stage, service):
    serve_what_is_deployed(stage, service)
    stage.outputs_failures = 99  # the backend keeps failing after the update succeeded
    lines = Lines()
    outcome = deploy(stage, lines=lines, rollback_on_failure=True)
    assert outcome.unverified
    assert outcome.exit_code == 3
    assert outcome.rolled_back_to is None
    assert len(stage.up_calls) == 1  # no rollback of a good update
    assert str(outcome.failure).startswith(
        "the up of dev to 1.4.3-dev.1 succeeded, but it could not be verified: reading the "
        "outputs of dev failed 4 times"
    )
    assert "Not rolled back" in str(outcome.failure)
    assert outcome.to_json()["unverified"] is True
    assert sum("retry" in line for line in lines.said) == 3


def test_a_transient_outputs_failure_is_retried_and_the_deploy_verified(stage, service):
    serve_what_is_deployed(stage, service)
    stage.outputs_failures = 2
    outcome = deploy(stage, rollback_on_failure=True)
    assert outcome.ok, outcome.failure
    assert outcome.exit_code == 0
    assert outcome.verification is not None
    assert outcome.verification.ok


def test_a_summary_unread_after_a_good_update_still_verifies(stage, service):
    serve_what_is_deployed(stage, service)
    stage.summary_unread = True
    outcome = deploy(stage, rollback_on_failure=True)
    assert outcome.ok, outcome.failure
    assert outcome.changes == {"update": 2, "same": 19}
    assert len(stage.up_calls) == 1


def scalable_from_zero(aws, cluster, service, *, max_capacity):
    """The service's desired count registered as a scalable target of 0..max_capacity."""
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{cluster}/{service}",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=0,
        MaxCapacity=max_capacity,
    )


def put_to_sleep(aws, stage, *, max_capacity):
    """What the stack's schedule does outside working hours: the scalable target at 0..0."""
    outputs = stage.stack_outputs
    cluster, service = outputs[names.CLUSTER_NAME].value, outputs[names.SERVICE_NAME].value
    scalable_from_zero(aws, cluster, service, max_capacity=max_capacity)


def test_a_deploy_to_a_sleeping_stack_is_unverified_not_failed_nor_rolled_back(aws, stage):
    put_to_sleep(aws, stage, max_capacity=0)
    lines = Lines()
    outcome = deploy(stage, lines=lines, rollback_on_failure=True)
    assert outcome.unverified
    assert outcome.exit_code == 3
    assert "is asleep" in str(outcome.failure)
    assert "Not rolled back" in str(outcome.failure)
    assert len(stage.up_calls) == 1  # no rollback
    assert outcome.verification is None


def test_an_awake_scheduled_stack_is_verified_as_usual(aws, stage, service):
    put_to_sleep(aws, stage, max_capacity=2)  # within working hours: 0..2 is not asleep
    serve_what_is_deployed(stage, service)
    outcome = deploy(stage)
    assert outcome.ok, outcome.failure
    assert outcome.verification is not None
    assert outcome.verification.ok


def make_hybrid_at_idle(aws, stage):
    """capacity hybrid between bursts: the EC2 base service serves (the stage's service), the
    autoscaled Fargate one runs no task, its scalable target 0..4 (autoscalingMinCount 0)."""
    outputs = stage.stack_outputs
    cluster, base = outputs[names.CLUSTER_NAME].value, outputs[names.SERVICE_NAME].value
    ecs = aws.client("ecs")
    family = ecs.list_task_definitions()["taskDefinitionArns"][-1]
    ecs.create_service(cluster=cluster, serviceName="burst", taskDefinition=family, desiredCount=0)
    scalable_from_zero(aws, cluster, "burst", max_capacity=4)
    outputs[names.SERVICE_NAME] = OutputValue("burst", secret=False)
    outputs[names.SERVICE_NAMES] = OutputValue([base, "burst"], secret=False)
    outputs[names.CAPACITY] = OutputValue("hybrid", secret=False)


def test_hybrid_at_idle_deploys_and_rolls_back_verified(aws, stage, service):
    make_hybrid_at_idle(aws, stage)
    serve_what_is_deployed(stage, service)
    lines = Lines()
    deployed_ = deploy(stage, lines=lines)
    assert deployed_.ok, deployed_.failure
    assert any("burst at rest, 0 tasks" in line for line in lines.said)
    back = roll_back(stage, to="1.4.1")
    assert back.ok, back.failure
    assert service.version == "1.4.1"


# --- a canary release end to end -----------------------------------------------------------------


def _stage(status: str, lifecycle: str, weight: float) -> dict[str, Any]:
    """A ServiceDeployment as DescribeServiceDeployments returns it (botocore's ecs model)."""
    return {
        "status": status,
        "lifecycleStage": lifecycle,
        "targetServiceRevision": {
            "requestedTaskCount": 2,
            "runningTaskCount": 2,
            "requestedProductionTrafficWeight": weight,
        },
    }


CANARY_SUCCEEDS = [
    _stage("IN_PROGRESS", "SCALE_UP", 0.0),
    _stage("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 10.0),
    _stage("IN_PROGRESS", "BAKE_TIME", 100.0),
    _stage("SUCCESSFUL", "CLEAN_UP", 100.0),
]
CANARY_ROLLED_BACK = [
    _stage("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 10.0),
    {
        **_stage("ROLLBACK_SUCCESSFUL", "CLEAN_UP", 0.0),
        "statusReason": "alarm alunos-dev-http-5xx-rate in ALARM",
    },
]


class ServiceDeployments:
    """ECS's record of the service's releases, which moto lacks (ListServiceDeployments,
    DescribeServiceDeployments): each `pulumi up` starts one, and each read moves it a stage on.
    Listed in pages of two, oldest first."""

    def __init__(self) -> None:
        self.releases: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        self.reads = 0

    def start(self, stages: list[dict[str, Any]]) -> None:
        arn = f"arn:aws:ecs:us-east-2:123456789012:service-deployment/c/s/{len(self.releases)}"
        created = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=len(self.releases))
        self.releases.append(({"serviceDeploymentArn": arn, "createdAt": created}, list(stages)))

    def list_service_deployments(
        self, *, cluster: str, service: str, maxResults: int = 20, nextToken: str = "0"
    ) -> dict[str, Any]:
        start = int(nextToken)
        page: dict[str, Any] = {
            "serviceDeployments": [brief for brief, _ in self.releases[start : start + 2]]
        }
        if start + 2 < len(self.releases):
            page["nextToken"] = str(start + 2)
        return page

    def describe_service_deployments(self, *, serviceDeploymentArns: list[str]) -> dict[str, Any]:
        (stages,) = [s for brief, s in self.releases if brief["serviceDeploymentArn"] in serviceDeploymentArns]  # fmt: skip
        self.reads += 1
        current = stages.pop(0) if len(stages) > 1 else stages[0]
        return {"serviceDeployments": [current]}


class EcsWithDeployments:
    """The moto ECS client, with the service deployments above."""

    def __init__(self, ecs: Any, deployments: ServiceDeployments) -> None:
        self._ecs = ecs
        self.list_service_deployments = deployments.list_service_deployments
        self.describe_service_deployments = deployments.describe_service_deployments

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ecs, name)


class SessionWithDeployments:
    def __init__(self, region: str, deployments: ServiceDeployments) -> None:
        self._session = boto3.Session(region_name=region)
        self._deployments = deployments

    def client(self, name: str) -> Any:
        client = self._session.client(name)
        return EcsWithDeployments(client, self._deployments) if name == "ecs" else client


def a_canary_stack(stage: FakeStack, service: Any, releases: list[list[dict[str, Any]]]) -> Any:
    """prod's strategy on the stage: each update serves its version and starts the next of
    `releases` as ECS would; returns the session factory the pipeline uses."""
    deployments = ServiceDeployments()
    deployments.start(CANARY_SUCCEEDS[-1:])  # the release that deployed 1.4.2, long over
    upcoming = list(releases)

    def after_up(config: Mapping[str, str]) -> None:
        service.version = config[key("version")]
        deployments.start(upcoming.pop(0))

    stage.after_up = after_up
    stage.stack_outputs[names.DEPLOYMENT_STRATEGY] = OutputValue("canary", secret=False)
    stage.stack_outputs[names.ROLLOUT_SECONDS] = OutputValue(1295, secret=False)

    def sessions(region: str) -> boto3.Session:
        return cast(boto3.Session, SessionWithDeployments(region, deployments))

    return sessions


def test_a_canary_is_deployed_and_rolled_back_following_each_release_to_its_end(stage, service):
    sessions = a_canary_stack(stage, service, [CANARY_SUCCEEDS, CANARY_SUCCEEDS])
    lines = Lines()
    deployed_ = deploy(stage, lines=lines, sessions=sessions)
    assert deployed_.ok, deployed_.failure
    assert deployed_.verification is not None
    assert [c.name for c in deployed_.verification.checks][:2] == [
        "ecs-rollout",
        "ecs-service-steady",
    ]
    assert "following the canary release (about 22 min)" in lines.said
    assert (
        "  rollout: IN_PROGRESS PRODUCTION_TRAFFIC_SHIFT: 10% of production traffic on the new "
        "tasks, 2/2 new tasks running"
    ) in lines.said
    lines = Lines()
    back = roll_back(stage, to="1.4.2", lines=lines, sessions=sessions)
    assert back.ok, back.failure
    assert service.version == "1.4.2"
    assert "following the canary release (about 22 min)" in lines.said
    # The rollback's own release, the third listed (the second page), followed through its
    # stages: not the deploy's, finished already.
    assert any("rollout: IN_PROGRESS PRODUCTION_TRAFFIC_SHIFT" in line for line in lines.said)
    assert any("release finished its bake" in line for line in lines.said)


def test_a_canary_the_alarms_roll_back_fails_the_deploy_and_the_way_back_is_followed_too(
    stage, service
):
    sessions = a_canary_stack(stage, service, [CANARY_ROLLED_BACK, CANARY_SUCCEEDS])
    outcome = deploy(stage, rollback_on_failure=True, sessions=sessions)
    assert not outcome.ok
    assert (
        "ecs-rollout: release did not finish (ROLLBACK_SUCCESSFUL): alarm alunos-dev-http-5xx-rate "
        "in ALARM"
    ) in str(outcome.failure)
    assert str(outcome.failure).endswith("rolled back to 1.4.2")
    assert len(stage.up_calls) == 2
    assert service.version == "1.4.2"


def test_checks_that_cannot_look_leave_a_good_release_unverified_not_rolled_back(stage, service):
    """The deploy role denied reading the canary's deployments (a permission the bootstrap once
    lacked): the release may be fine, so it is reported unverified (exit 3), never rolled back."""
    from botocore.exceptions import ClientError

    sessions = a_canary_stack(stage, service, [CANARY_SUCCEEDS])

    def denied(**_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
            "ListServiceDeployments",
        )

    class Denying:
        """The canary stack's session, whose ECS client is refused ListServiceDeployments."""

        def __init__(self, region: str) -> None:
            self._session = sessions(region)

        def client(self, name: str) -> Any:
            client = self._session.client(name)
            if name == "ecs":
                client.list_service_deployments = denied
            return client

    def denying(region: str) -> boto3.Session:
        return cast(boto3.Session, Denying(region))

    outcome = deploy(stage, rollback_on_failure=True, sessions=denying)
    assert outcome.exit_code == 3, outcome.failure
    assert outcome.rolled_back_to is None
    assert len(stage.up_calls) == 1
    assert "reading the service's deployments failed: AccessDeniedException" in str(outcome.failure)
