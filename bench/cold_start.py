"""Cold start of the app on a Fargate-sized CPU: what the health checks' start periods must cover.

    python -m bench.cold_start [--cpu 0.25] [--runs 7] [--rows 1000000] [--credentials secret]

Runs the image's command (`python -m app`, app/Dockerfile's ENTRYPOINT) as ECS runs it (HOST,
DBNAME, DB_AUTH_ARN: the secret is read through boto3 from a moto server) under a CPU quota, and
measures from process start to "database ready" (migrations done) and to the first 200 from
/health, with the CPU time the process used by then. Scenarios, each `--runs` times:
- cold: a new, empty database (the first deployment of a stack creating its database);
- cold, adopted: a GORM-made `alunos` table holding `--rows` rows (the first deployment against
  the Go service's database: the indexes are built over its rows);
- warm: a database already migrated (any later task: a deployment, a scale-out, a replacement).

The quota: a cgroup of its own, CFS bandwidth `cpu.cfs_quota_us`/`cpu.cfs_period_us` (cgroup v1)
or `cpu.max` (v2) at `--cpu` x 100 ms per 100 ms, the mechanism the kernel uses for a container's
CPU limit: 0.25 is a quarter of one CPU, however many the machine has. The process joins the
cgroup before it execs the interpreter, so everything it runs is counted. PostgreSQL and the
moto server stay outside, as RDS and Secrets Manager are elsewhere. Bytecode is compiled by an
untimed first start into a cache of its own (the image compiles it at build time), so the runs
measure what a task runs. Not reproduced: the image pull and a cold page cache on Fargate, and
the difference between this machine's CPU and a Fargate vCPU (the CPU seconds are printed, so
the figures can be scaled). Needs root (to create the cgroup).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
PERIOD_US = 100_000
# The sizing: the slowest start measured times this, rounded up to 5 s. A Fargate vCPU may be up
# to twice as slow as this machine's (the CPU seconds scale), and half as much again covers what
# is not here: TLS to Secrets Manager and RDS, their network round trips, a noisy neighbour.
MARGIN = 3.0
# The target group's defaults (Pulumi.yaml): after the app answers, the ALB needs this many
# passing checks this far apart before it calls the target healthy.
HEALTHY_THRESHOLD, HEALTH_CHECK_INTERVAL_S = 2, 10
MOTO_KEY = "bench"  # moto accepts any credentials


class CpuLimit:
    """A cgroup with a CFS quota of `cpus` CPUs; `argv()` runs a command inside it."""

    def __init__(self, cpus: float) -> None:
        try:
            self._create(int(cpus * PERIOD_US))
        except OSError as error:
            raise SystemExit(
                f"cannot make a cgroup with a CPU quota (run as root): {error}"
            ) from None

    def _create(self, quota: int) -> None:
        name = f"bench-cold-start-{os.getpid()}"
        v2, v1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")
        controllers = v2 / "cgroup.controllers"
        if controllers.exists() and "cpu" in controllers.read_text().split():
            subtree = v2 / "cgroup.subtree_control"
            if "cpu" not in subtree.read_text().split():
                subtree.write_text("+cpu")  # children get cpu.max
            self.path = v2 / name
            self.path.mkdir()
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            self.version = 2
        elif (v1 / "cpu.cfs_quota_us").exists():
            self.path = v1 / name
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
            self.version = 1
        else:
            raise SystemExit(
                "no cgroup cpu controller at /sys/fs/cgroup (v2) or /sys/fs/cgroup/cpu (v1)"
            )

    def argv(self, command: list[str]) -> list[str]:
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs), *command]

    def throttled(self) -> tuple[int, float]:
        """(periods throttled, seconds throttled) so far: the proof the quota bites."""
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        seconds = (
            int(stat["throttled_usec"]) / 1e6
            if self.version == 2
            else int(stat["throttled_time"]) / 1e9
        )
        return int(stat["nr_throttled"]), seconds

    def remove(self) -> None:
        self.path.rmdir()


@dataclass
class Start:
    migrated_s: float  # process start to the "database ready" log line
    healthy_s: float  # process start to the first 200 from /health
    cpu_s: float  # CPU time (user + system) the process had used by then


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_once(argv: list[str], env: dict[str, str], port: int, timeout_s: float = 120) -> Start:
    began = time.monotonic()
    process = subprocess.Popen(  # noqa: S603  (our interpreter, our module)
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    ready: list[float] = []
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            output.append(raw.decode(errors="replace"))
            if '"database ready"' in output[-1]:
                ready.append(time.monotonic() - began)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        with httpx.Client(timeout=1) as client:
            while True:
                if process.poll() is not None or time.monotonic() - began > timeout_s:
                    raise RuntimeError(f"no 200 from /health:\n{''.join(output)}")
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        healthy = time.monotonic() - began
                        cpu = _cpu_seconds(process.pid)
                        break
                except httpx.TransportError:
                    time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        reader.join(5)
    if not ready:
        raise RuntimeError(f"no 'database ready' line:\n{''.join(output)}")
    return Start(migrated_s=ready[0], healthy_s=healthy, cpu_s=cpu)


@contextmanager
def _postgres() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset, harmless
        import pgserver  # dev dependency

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as pgdata:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


def _new_database(server: str, rows: int | None) -> str:
    """A new database; with `rows`, holding the Go service's GORM-made table and that many rows."""
    name = f"bench_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conninfo = make_conninfo(server, dbname=name)
    if rows is not None:
        with psycopg.connect(conninfo) as conn:
            conn.execute(
                'CREATE TABLE "alunos" ("id" bigserial,"created_at" timestamptz,"updated_at" '
                'timestamptz,"deleted_at" timestamptz,"nome" text,"rg" text,"cpf" text,'
                'PRIMARY KEY ("id"))'
            )
            conn.execute('CREATE INDEX "idx_alunos_deleted_at" ON "alunos" ("deleted_at")')
            conn.execute(
                "INSERT INTO alunos (created_at, updated_at, deleted_at, nome, rg, cpf) "
                "SELECT now(), now(), CASE WHEN g %% 10 = 0 THEN now() END, 'Aluno ' || g, "
                "lpad(g::text, 9, '0'), lpad(g::text, 11, '0') FROM generate_series(1, %s) g",
                (rows,),
            )
    return conninfo


def _app_env(
    conninfo: str, port: int, credentials: str, secret_arn: str, pycache: Path
) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PORT=str(port), PYTHONPYCACHEPREFIX=str(pycache), DB_STARTUP_TIMEOUT="60")
    parts = conninfo_to_dict(conninfo)
    if credentials == "url":
        env["DATABASE_URL"] = conninfo
    else:  # as ECS runs it
        env.update(
            HOST=str(parts.get("host") or "127.0.0.1"),
            DBPORT=str(parts.get("port") or 5432),
            DBNAME=str(parts["dbname"]),
            DB_AUTH_ARN=secret_arn,
            AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"],
            AWS_ACCESS_KEY_ID=MOTO_KEY,
            AWS_SECRET_ACCESS_KEY=MOTO_KEY,
        )
    return env


@contextmanager
def _secret(server: str) -> Iterator[str]:
    """A moto Secrets Manager holding the login (the embedded server trusts local logins)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    import boto3

    client = boto3.client(
        "secretsmanager",
        region_name="us-east-2",
        aws_access_key_id=MOTO_KEY,
        aws_secret_access_key=MOTO_KEY,
    )
    user = conninfo_to_dict(server).get("user") or "postgres"
    value = json.dumps({"username": user, "password": "bench"})
    try:
        yield str(client.create_secret(Name="alunos/bench/db", SecretString=value)["ARN"])
    finally:
        moto.stop()


def _summary(name: str, starts: list[Start]) -> str:
    def both(values: list[float]) -> str:
        return f"{statistics.median(values):6.2f} {max(values):6.2f}"

    return (
        f"{name:28} {both([s.migrated_s for s in starts])}     "
        f"{both([s.healthy_s for s in starts])}   {both([s.cpu_s for s in starts])}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cpu", type=float, default=0.25, help="CPUs of the quota (0.25 = 256 units)"
    )
    parser.add_argument("--runs", type=int, default=7, help="starts per scenario")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the adopted table")
    parser.add_argument("--credentials", choices=["secret", "url"], default="secret")
    args = parser.parse_args()
    if args.runs < 1 or not 0 < args.cpu <= (os.cpu_count() or 1):
        parser.error("--runs must be >= 1 and --cpu between 0 and the machine's CPUs")
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    limit = CpuLimit(args.cpu)
    print(
        f"{model}; quota {args.cpu} CPU (cgroup v{limit.version}); credentials: {args.credentials}"
    )
    scenarios: dict[str, list[Start]] = {
        "cold: new database": [],
        f"cold: adopted, {args.rows} rows": [],
        "warm: migrated": [],
    }
    try:
        with (
            _postgres() as server,
            _secret(server) as secret_arn,
            tempfile.TemporaryDirectory() as pycache,
        ):
            port = _free_port()
            argv = limit.argv([sys.executable, "-m", "app"])

            def env(conninfo: str) -> dict[str, str]:
                return _app_env(conninfo, port, args.credentials, secret_arn, Path(pycache))

            warm = _new_database(server, None)
            start_once(argv, env(warm), port)  # untimed: compiles the bytecode, migrates `warm`
            throttled_before = limit.throttled()
            for _ in range(args.runs):
                for name, rows in zip(list(scenarios)[:2], (None, args.rows), strict=True):
                    scenarios[name].append(start_once(argv, env(_new_database(server, rows)), port))
                scenarios["warm: migrated"].append(start_once(argv, env(warm), port))
            throttled = [a - b for a, b in zip(limit.throttled(), throttled_before, strict=True)]
    finally:
        limit.remove()

    columns = "median    max"
    print(f"\n{'':28} {'migrated (s)':>13}   {'/health 200 (s)':>15}   {'CPU used (s)':>13}")
    print(f"{f'scenario, {args.runs} runs':28} {columns:>13}   {columns:>15}   {columns:>13}")
    for name, starts in scenarios.items():
        print(_summary(name, starts))
    print(f"\nthe quota held the app back {throttled[0]:.0f} times, {throttled[1]:.1f} s in all")
    worst = max(s.healthy_s for starts in scenarios.values() for s in starts)
    start_period = 5 * math.ceil(worst * MARGIN / 5)
    grace = start_period + HEALTHY_THRESHOLD * HEALTH_CHECK_INTERVAL_S
    print(
        f"slowest start {worst:.2f} s; x{MARGIN:g} rounded up to 5 s: startPeriod {start_period} s"
        f"; plus {HEALTHY_THRESHOLD} ALB checks {HEALTH_CHECK_INTERVAL_S} s apart: grace period "
        f"{grace} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
