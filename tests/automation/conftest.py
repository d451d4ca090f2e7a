"""Shared fixtures: scratch git repositories, one moto server per session, a local HTTP service."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme
import yaml

from infra import outputs as names
from tests.automation.fakes import FakeStack, deployed, outputs_for

REGION = "us-east-2"
ROOT = Path(__file__).resolve().parents[2]


# --- git ---------------------------------------------------------------------------------------


class ScratchRepo:
    """A throwaway git repository with deterministic identities and dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self._tick = 0
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, date: str | None = None) -> str:
        env = {
            **os.environ,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }
        if date is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(self, message: str = "change", date: str | None = None) -> str:
        self._tick += 1
        (self.path / "file.txt").write_text(f"{message} {self._tick}\n")
        self.git("add", "file.txt")
        when = date or f"2024-05-0{min(self._tick, 9)}T12:00:00+02:00"
        self.git("commit", "-q", "-m", message, date=when)
        return self.git("rev-parse", "HEAD")

    def project(self, **stacks: dict[str, Any]) -> ScratchRepo:
        """The real Pulumi.yaml and a Pulumi.<stack>.yaml per keyword (its config), staged for
        the next commit: what the deploy commands read before they open a stack."""
        shutil.copy(ROOT / "Pulumi.yaml", self.path / "Pulumi.yaml")
        for stack, config in stacks.items():
            (self.path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
        self.git("add", "Pulumi.yaml", *(f"Pulumi.{stack}.yaml" for stack in stacks))
        return self

    def tag(self, name: str, *, annotated: bool = False) -> None:
        if annotated:
            self.git("tag", "-a", name, "-m", f"release {name}")
        else:
            self.git("tag", name)


@pytest.fixture
def repo(tmp_path: Path) -> ScratchRepo:
    return ScratchRepo(tmp_path / "repo")


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """dunamai runs git with our environment: keep the user's git config out of the tests."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


# --- AWS (moto) --------------------------------------------------------------------------------


@pytest.fixture
def aws(moto_endpoint: str) -> boto3.Session:
    return boto3.Session(region_name=REGION)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class EcsService:
    cluster: str
    service: str


def make_service(aws: boto3.Session, *, desired: int, running: bool) -> EcsService:
    """An ECS service; moto starts it with 0 running tasks until its desired count is updated."""
    ecs = aws.client("ecs")
    cluster = unique("cluster")
    ecs.create_cluster(clusterName=cluster)
    family = unique("task")
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "api", "image": "nginx", "memory": 512}],
    )
    service = unique("svc")
    ecs.create_service(
        cluster=cluster, serviceName=service, taskDefinition=family, desiredCount=desired
    )
    if running:
        ecs.update_service(cluster=cluster, service=service, desiredCount=desired)
    return EcsService(cluster, service)


def make_target_group(aws: boto3.Session, *, target_type: str = "ip") -> str:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = aws.client("elbv2").create_target_group(
        Name=unique("tg"), Protocol="HTTP", Port=8000, VpcId=vpc, TargetType=target_type
    )
    return str(group["TargetGroups"][0]["TargetGroupArn"])


# --- a local service answering /health and /version --------------------------------------------


@dataclass
class FakeService:
    """What the local HTTP server answers; tests change it while it runs."""

    version: str = "1.0.0"
    version_status: int = 200
    version_body: str | None = None
    health_status: int = 200
    health_body: str = '{"status": "ok"}'
    health_path: str = "/health"
    requests: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    """The Host header of each request."""
    url: str = ""


DOMAIN = "alunos.example.com"


@dataclass
class Served:
    """A running local server, and how to stop it."""

    server: ThreadingHTTPServer

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(state: FakeService, tls: ssl.SSLContext | None = None) -> Served:
    """Answer the health path and /version from `state`; over TLS when given a server context."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            state.hosts.append(self.headers.get("Host", ""))
            if self.path == state.health_path:
                self._answer(state.health_status, state.health_body)
            elif self.path == "/version":
                body = state.version_body or json.dumps(
                    {"version": state.version, "revision": "abc", "created": "2024-05-01T00:00:00Z"}
                )
                self._answer(state.version_status, body)
            else:
                self._answer(404, "{}")

        def _answer(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    return Served(server)


@pytest.fixture
def service() -> Iterator[FakeService]:
    state = FakeService()
    served = serve(state)
    yield state
    served.stop()


@pytest.fixture
def tls_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeService]:
    """The service behind an ALB that presents the team's certificate: it names DOMAIN, not the
    address the server listens on (as no certificate can name `*.elb.amazonaws.com`). The test
    CA is trusted through SSL_CERT_FILE, as httpx reads it."""
    authority = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert(DOMAIN).configure_cert(context)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    state = FakeService()
    served = serve(state, context)
    yield state
    served.stop()


@pytest.fixture
def refused_url() -> str:
    """A URL on a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_repository(aws: boto3.Session) -> str:
    """An ECR repository; returns its URL (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`)."""
    created = aws.client("ecr").create_repository(repositoryName=unique("alunos-api"))
    return str(created["repository"]["repositoryUri"])


def push_image(aws: boto3.Session, repository_url: str, tag: str) -> str:
    """Put an image manifest under `tag`; returns its digest."""
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": f"sha256:{uuid.uuid4().hex * 2}", "size": 1},
            "layers": [],
        }
    )
    pushed = aws.client("ecr").put_image(
        repositoryName=repository_url.split("/", 1)[1], imageManifest=manifest, imageTag=tag
    )
    return str(pushed["image"]["imageId"]["imageDigest"])


@pytest.fixture
def stage(aws: boto3.Session, service: FakeService) -> FakeStack:
    """A deployed stack: its ECS service, targets, ECR images and outputs, serving 1.4.2."""
    svc = make_service(aws, desired=2, running=True)
    arn = make_target_group(aws)
    aws.client("elbv2").register_targets(
        TargetGroupArn=arn, Targets=[{"Id": "10.0.1.7", "Port": 8000}]
    )
    service.version = "1.4.2"
    url = make_repository(aws)
    digests = {tag: push_image(aws, url, tag) for tag in ("1.4.1", "1.4.2", "1.4.3-dev.1.gabc1234")}
    return FakeStack(
        repository_url=url,
        digests=digests,
        entries=[deployed("1.4.2", update=2), deployed("1.4.1", update=1)],
        stack_outputs=outputs_for(
            {
                names.CLUSTER_NAME: svc.cluster,
                names.SERVICE_NAME: svc.service,
                names.TARGET_GROUP_ARN: arn,
                names.SERVICE_URL: service.url,
                names.REPOSITORY_URL: url,
                names.REGION: REGION,
            },
            secrets={"databaseUrl": "postgres://app:hunter2@db/alunos"},
        ),
    )
