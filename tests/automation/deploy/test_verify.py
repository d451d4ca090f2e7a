"""Verification against a moto server (ECS, ELBv2) and a real local HTTP server for /version."""

import boto3
import httpx
import pytest

from automation.deploy.verify import (
    Endpoint,
    Polling,
    VerifyTiming,
    check_health,
    check_service_steady,
    check_targets_healthy,
    check_version,
    verify_deployment,
)
from infra import outputs as names
from tests.automation.conftest import DOMAIN, REGION, make_service, make_target_group

FAST_WAITER = {"Delay": 0, "MaxAttempts": 2}


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def polling(self, interval: float = 5.0) -> Polling:
        return Polling(interval_seconds=interval, sleep=self.sleep, clock=self.clock)


@pytest.fixture
def http():
    with httpx.Client(timeout=2.0) as client:
        yield client


# --- ECS ---------------------------------------------------------------------------------------


def test_a_service_running_its_desired_count_is_steady(aws):
    svc = make_service(aws, desired=2, running=True)
    result = check_service_steady(
        aws.client("ecs"), svc.cluster, svc.service, waiter_config=FAST_WAITER
    )
    assert result.ok, result.detail
    assert "2/2" in result.detail


def test_a_service_still_starting_tasks_is_not_steady(aws):
    svc = make_service(aws, desired=2, running=False)  # moto: 0 running, 2 pending
    result = check_service_steady(
        aws.client("ecs"), svc.cluster, svc.service, waiter_config=FAST_WAITER
    )
    assert not result.ok
    assert "0 of 2 tasks running" in result.detail


def test_a_service_scaled_to_zero_serves_nothing(aws):
    svc = make_service(aws, desired=0, running=True)
    result = check_service_steady(
        aws.client("ecs"), svc.cluster, svc.service, waiter_config=FAST_WAITER
    )
    assert not result.ok
    assert "0 tasks" in result.detail


def test_a_missing_service_is_reported_not_raised(aws):
    svc = make_service(aws, desired=1, running=True)
    result = check_service_steady(
        aws.client("ecs"), svc.cluster, "no-such-service", waiter_config=FAST_WAITER
    )
    assert not result.ok
    assert "not found" in result.detail


def test_a_missing_cluster_is_reported_not_raised(aws):
    result = check_service_steady(
        aws.client("ecs"), "no-such-cluster", "svc", waiter_config=FAST_WAITER
    )
    assert not result.ok


def test_expired_credentials_are_named(moto_endpoint):
    """A real boto3 client, a real HTTP endpoint that answers 403 ExpiredToken."""
    import http.server
    import threading

    class Expired(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = b'{"__type":"ExpiredTokenException","message":"The security token is expired"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Expired)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        ecs = boto3.Session(region_name=REGION).client(
            "ecs", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}"
        )
        result = check_service_steady(ecs, "c", "s", waiter_config=FAST_WAITER)
    finally:
        server.shutdown()
        server.server_close()
    assert not result.ok
    assert "AWS credentials are missing or expired" in result.detail


# --- ELBv2 -------------------------------------------------------------------------------------


def test_registered_ip_targets_are_healthy(aws):
    arn = make_target_group(aws)
    aws.client("elbv2").register_targets(
        TargetGroupArn=arn,
        Targets=[{"Id": "10.0.1.5", "Port": 8000}, {"Id": "10.0.2.6", "Port": 8000}],
    )
    result = check_targets_healthy(aws.client("elbv2"), arn)
    assert result.ok, result.detail
    assert result.detail == "2/2 targets healthy"


def test_an_empty_target_group_is_not_healthy(aws):
    arn = make_target_group(aws)
    result = check_targets_healthy(aws.client("elbv2"), arn)
    assert not result.ok
    assert "no targets" in result.detail


def test_a_stopped_instance_target_fails_and_is_named(aws):
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    arn = make_target_group(aws, target_type="instance")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2)["Instances"]
    ]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i, "Port": 8000} for i in ids])
    ec2.stop_instances(InstanceIds=[ids[0]])
    clock = FakeTime()
    result = check_targets_healthy(
        elbv2, arn, deadline_seconds=12, polling=clock.polling(interval=5)
    )
    assert not result.ok
    assert f"{ids[0]}:8000 unused (Target.InvalidState)" in result.detail
    assert "1 of 2" in result.detail
    assert clock.sleeps == [5, 5, 2]  # polled until the deadline, never past it


def test_an_unknown_target_group_is_reported(aws):
    arn = make_target_group(aws).replace("targetgroup/", "targetgroup/x")
    result = check_targets_healthy(aws.client("elbv2"), arn)
    assert not result.ok
    assert "describing target health failed" in result.detail


# --- HTTP --------------------------------------------------------------------------------------


def test_the_right_version_passes(service, http):
    service.version = "1.4.3-dev.3"
    result = check_version(service.url, "1.4.3-dev.3", client=http)
    assert result.ok
    assert service.requests == ["/version"]


def test_a_wrong_version_fails_after_retrying_until_the_deadline(service, http):
    service.version = "1.4.2"
    clock = FakeTime()
    result = check_version(
        service.url, "1.4.3", client=http, deadline_seconds=10, polling=clock.polling()
    )
    assert not result.ok
    assert "reports version '1.4.2', expected '1.4.3'" in result.detail
    assert len(service.requests) == 3  # t=0, 5, 10


def test_the_version_arriving_late_passes(service, http):
    """The ALB may keep routing to the old tasks for a moment after a deploy."""
    service.version = "1.0.0"
    clock = FakeTime()

    def sleep(seconds):
        clock.sleep(seconds)
        service.version = "2.0.0"

    polling = Polling(interval_seconds=5, sleep=sleep, clock=clock.clock)
    result = check_version(service.url, "2.0.0", client=http, deadline_seconds=60, polling=polling)
    assert result.ok
    assert len(service.requests) == 2


def test_a_server_error_fails_with_the_status(service, http):
    service.version_status = 500
    result = check_version(service.url, "1.0.0", client=http)
    assert not result.ok
    assert "HTTP 500" in result.detail


def test_a_body_without_a_version_fails(service, http):
    service.version_body = '{"build": "x"}'
    result = check_version(service.url, "1.0.0", client=http)
    assert not result.ok
    assert "no `version` field" in result.detail


def test_a_non_json_body_fails(service, http):
    service.version_body = "<html>hello</html>"
    result = check_version(service.url, "1.0.0", client=http)
    assert not result.ok
    assert "not JSON" in result.detail


def test_connection_refused_is_reported_not_raised(refused_url, http):
    clock = FakeTime()
    result = check_version(
        refused_url, "1.0.0", client=http, deadline_seconds=4, polling=clock.polling()
    )
    assert not result.ok
    assert "ConnectError" in result.detail
    assert "after 2 attempts" in result.detail


def test_health_checks_status(service, http):
    assert check_health(service.url, client=http).ok
    service.health_status = 503
    result = check_health(service.url + "/", client=http)
    assert not result.ok
    assert "HTTP 503" in result.detail


def test_a_release_that_never_reaches_its_database_is_not_healthy(service, http):
    """The app answers its health check 200 while it waits for its database (so tasks outlive a
    database that wakes after them): a release stuck there must fail verification and be rolled
    back, not pass on the 200. A body that says nothing of the kind (an image of the team's own)
    is judged by the status alone."""
    clock = FakeTime()
    service.health_body = '{"status": "starting", "database": "not reached yet, since 12:00:00Z"}'
    result = check_health(service.url, client=http, deadline_seconds=4, polling=clock.polling())
    assert not result.ok
    assert "starting: database not reached yet, since 12:00:00Z" in result.detail
    service.health_body = '{"status": "degraded", "database": "login refused since 12:00:00Z"}'
    assert not check_health(service.url, client=http).ok
    service.health_body = "OK"
    assert check_health(service.url, client=http).ok


# --- all together ------------------------------------------------------------------------------


def healthy_outputs(aws, url):
    svc = make_service(aws, desired=2, running=True)
    arn = make_target_group(aws)
    aws.client("elbv2").register_targets(
        TargetGroupArn=arn, Targets=[{"Id": "10.0.1.9", "Port": 8000}]
    )
    return {
        names.CLUSTER_NAME: svc.cluster,
        names.SERVICE_NAME: svc.service,
        names.TARGET_GROUP_ARN: arn,
        names.SERVICE_URL: url,
        names.REGION: REGION,
    }


def fast_timing():
    return VerifyTiming.within(2, polling=FakeTime().polling())


def test_a_healthy_deployment_verifies(aws, service):
    service.version = "3.0.0"
    report = verify_deployment(
        healthy_outputs(aws, service.url), "3.0.0", aws, timing=fast_timing()
    )
    assert report.ok, report.to_json()
    assert [c.name for c in report.checks] == [
        "ecs-service-steady",
        "alb-targets-healthy",
        "health",
        "version",
    ]


def test_every_failure_is_reported_at_once(aws, refused_url):
    outputs = healthy_outputs(aws, refused_url)
    outputs[names.SERVICE_NAME] = make_service(aws, desired=1, running=False).service
    report = verify_deployment(outputs, "3.0.0", aws, timing=fast_timing())
    assert not report.ok
    assert {c.name for c in report.failures()} == {"ecs-service-steady", "health", "version"}


def test_a_prebuilt_image_is_checked_on_its_own_health_path_and_not_asked_for_a_version(
    aws, service
):
    service.health_path = "/ping"
    service.version = "something else"
    outputs = {
        **healthy_outputs(aws, service.url),
        names.HEALTH_CHECK_PATH: "/ping",
        names.IMAGE_SOURCE: names.PREBUILT,
    }
    report = verify_deployment(outputs, "3.0.0", aws, timing=fast_timing())
    assert report.ok, report.to_json()
    assert [c.name for c in report.checks] == [
        "ecs-service-steady",
        "alb-targets-healthy",
        "health",
    ]
    assert service.requests == ["/ping"]
    # A build of this program with a custom path is still asked for its version.
    built = verify_deployment(
        {**outputs, names.IMAGE_SOURCE: names.BUILT}, "3.0.0", aws, timing=fast_timing()
    )
    assert [c.name for c in built.failures()] == ["version"]


def test_missing_outputs_fail_clearly(aws):
    report = verify_deployment({names.SERVICE_URL: "http://x"}, "1.0.0", aws)
    assert not report.ok
    assert "clusterName" in report.checks[0].detail


# --- a service with its own domain: the ALB reached directly, TLS for the domain ----------------


def domain_outputs(aws, service):
    """Stack outputs of a stack with `domainName`: its ALB is the local TLS server."""
    outputs = healthy_outputs(aws, f"https://{DOMAIN}")
    outputs[names.DOMAIN_NAME] = DOMAIN
    outputs[names.ALB_DNS_NAME] = service.url.removeprefix("https://")
    return outputs


def test_the_alb_is_checked_with_tls_for_the_domain(aws, tls_service):
    tls_service.version = "3.1.0"
    report = verify_deployment(domain_outputs(aws, tls_service), "3.1.0", aws, timing=fast_timing())
    assert report.ok, report.to_json()
    assert tls_service.hosts == [DOMAIN, DOMAIN]  # Host: the domain, on the ALB's address
    assert f"(TLS and Host {DOMAIN})" in report.checks[-1].detail


def test_the_albs_own_name_fails_certificate_verification(aws, tls_service):
    """Why: the certificate names the domain, never the ALB's own DNS name."""
    result = check_health(tls_service.url, client=httpx.Client())
    assert not result.ok
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail


def test_a_certificate_for_another_name_fails(aws, tls_service):
    result = check_health(
        Endpoint(tls_service.url, host="other.example.com"), client=httpx.Client()
    )
    assert not result.ok
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail


def test_every_service_behind_the_target_group_must_be_steady(aws, service):
    """capacity hybrid: the EC2 base service and the autoscaled Fargate one (serviceNames)."""
    service.version = "3.0.0"
    outputs = healthy_outputs(aws, service.url)
    ecs = aws.client("ecs")
    family = ecs.list_task_definitions()["taskDefinitionArns"][-1]
    ecs.create_service(
        cluster=outputs[names.CLUSTER_NAME], serviceName="base", taskDefinition=family,
        desiredCount=1,
    )  # fmt: skip
    outputs[names.SERVICE_NAMES] = ["base", outputs[names.SERVICE_NAME]]
    report = verify_deployment(outputs, "3.0.0", aws, timing=fast_timing())
    steady = [c for c in report.checks if c.name == "ecs-service-steady"]
    assert len(steady) == 2
    assert [c.ok for c in steady] == [False, True], report.to_json()
    assert not report.ok
    ecs.update_service(cluster=outputs[names.CLUSTER_NAME], service="base", desiredCount=1)
    assert verify_deployment(outputs, "3.0.0", aws, timing=fast_timing()).ok


def _hybrid(aws, service, *, burst_min: int | None):
    """capacity hybrid: an EC2 base service serving, and the Fargate one at 0 tasks, with a
    scalable target of burst_min..4 (None: no scalable target)."""
    service.version = "3.0.0"
    outputs = healthy_outputs(aws, service.url)
    ecs = aws.client("ecs")
    cluster = outputs[names.CLUSTER_NAME]
    family = ecs.list_task_definitions()["taskDefinitionArns"][-1]
    ecs.create_service(cluster=cluster, serviceName="burst", taskDefinition=family, desiredCount=0)
    if burst_min is not None:
        aws.client("application-autoscaling").register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=f"service/{cluster}/burst",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=burst_min,
            MaxCapacity=4,
        )
    outputs[names.SERVICE_NAMES] = [outputs[names.SERVICE_NAME], "burst"]
    outputs[names.SERVICE_NAME] = "burst"
    return outputs


def test_a_service_that_may_scale_to_zero_rests_at_zero_while_another_serves(aws, service):
    """Hybrid at idle: the Fargate service runs no task between bursts (autoscalingMinCount 0),
    the EC2 base service serves. Up, rollback and the decommission gates must pass."""
    report = verify_deployment(
        _hybrid(aws, service, burst_min=0), "3.0.0", aws, timing=fast_timing()
    )
    assert report.ok, report.to_json()
    steady = [c for c in report.checks if c.name == "ecs-service-steady"]
    assert [c.ok for c in steady] == [True, True]
    assert "burst at rest, 0 tasks" in steady[1].detail
    assert "allows 0..4 tasks" in steady[1].detail


@pytest.mark.parametrize("burst_min", [1, None], ids=["min-1", "no-scalable-target"])
def test_a_service_at_zero_that_should_run_fails(aws, service, burst_min):
    report = verify_deployment(
        _hybrid(aws, service, burst_min=burst_min), "3.0.0", aws, timing=fast_timing()
    )
    assert not report.ok
    (failed,) = report.failures()
    assert failed.detail == "service burst wants 0 tasks: nothing serves traffic"


def test_services_all_at_rest_serve_nothing(aws, service):
    outputs = _hybrid(aws, service, burst_min=0)
    ecs = aws.client("ecs")
    base = outputs[names.SERVICE_NAMES][0]
    ecs.update_service(cluster=outputs[names.CLUSTER_NAME], service=base, desiredCount=0)
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{outputs[names.CLUSTER_NAME]}/{base}",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=0,
        MaxCapacity=2,
    )
    report = verify_deployment(outputs, "3.0.0", aws, timing=fast_timing())
    steady = [c for c in report.checks if c.name == "ecs-service-steady"]
    assert [c.ok for c in steady] == [False, False]
    assert all("no other service runs a task" in c.detail for c in steady)
