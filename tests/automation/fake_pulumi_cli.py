"""A scripted stand-in for the `pulumi` binary, so the real seam (`LocalPulumi`, `PulumiStack`) and
Pulumi's own Automation API code run end to end in tests, minus the engine.

It answers the handful of commands the seam issues, the way the real CLI does (same arguments,
same JSON shapes, same error texts), driven by environment variables:
- FAKE_PULUMI_LOG: a file that receives each invocation's argv as one JSON line;
- FAKE_PULUMI_STACKS: comma-separated stacks that exist;
- FAKE_PULUMI_OUTPUTS: JSON {name: [value, secret]};
- FAKE_PULUMI_HISTORY: JSON list, the `pulumi stack history --json` document (with --show-secrets:
  values included; without: secret values omitted, as the CLI does);
- FAKE_PULUMI_FAIL: JSON {command: [exit code, stderr]} to make a command fail;
- FAKE_PULUMI_VERSION: the version to report (3.272.0; below 3.205 the SDK reads events from a
  file, above it serves them over gRPC: `--event-log tcp://...`);
- FAKE_PULUMI_EVENTS: an engine event log (JSON lines) that `preview`/`up` replay to the
  `--event-log` the Automation API passes (the file, or its gRPC `Events` service), as the engine
  does.

With FAKE_PULUMI_STATE (a directory) it is also a backend with a lock, like the real ones:
- `up` takes the stack's lock (`lock.json`, holding the pid) or fails as a locked stack does
  (`[409] Conflict: Another update is currently in progress.`), records an `in-progress` history
  entry (with `ci.build.id` = GITHUB_RUN_ID, as the CLI does in GitHub Actions; a self-managed
  backend, FAKE_PULUMI_BACKEND=diy, shows only finished updates), runs for FAKE_PULUMI_UP_SECONDS,
  then records `succeeded` and releases the lock;
- SIGINT (or SIGTERM) during `up`/`preview` does what the real CLI's cancellation scope does
  (pkg/backend/cancellation_scope.go): the first one cancels (prints the `^C received;
  cancelling` line, winds down for FAKE_PULUMI_CANCEL_SECONDS (or, with FAKE_PULUMI_CANCEL_UNTIL,
  until that file exists: operations in flight that end when the test says), printing the
  operations still in flight as it goes, records the update `failed`, releases the lock, exits
  255), a second one terminates at once. A `kill -9` leaves the lock and the `in-progress` entry
  behind, as a killed CLI does;
- like the real CLI, a Go program that never asks for SIGPIPE (pkg.go.dev/os/signal, "SIGPIPE"),
  it dies of SIGPIPE when it writes to a stdout or stderr pipe that nobody reads any more
  (Python would raise BrokenPipeError instead: the default action is restored);
- `cancel` ends the in-progress update and deletes the lock (on a self-managed backend
  `pulumi cancel` only deletes lock files: pkg/backend/diy/backend.go CancelCurrentUpdate);
- a self-managed backend's lock is where the real CLI keeps it (pkg/backend/diy/lock.go): with
  FAKE_PULUMI_BACKEND=diy and FAKE_PULUMI_BACKEND_URL=s3://bucket/prefix, an object
  `prefix/.pulumi/locks/organization/<project>/<stack>/<uuid>.json` holding `lockContent` (pid,
  username, hostname, timestamp), written through boto3 (a moto server in tests); `up` refuses
  while another lock file is there, and `cancel` deletes them all;
- `whoami --json` names the backend (FAKE_PULUMI_BACKEND_URL);
- `journal.jsonl` gets one line per start, signal and exit, with the time (`time.time()`), so tests
  can measure what happened when;
- FAKE_PULUMI_PAUSE_AFTER names a command (`config set-all`) after which the process pauses (a
  `paused` line in the journal), for a test to kill the run right there.
The program's language host is stood in for too: when Pulumi.yaml runs the program with
`toolchain: uv` and no `uv` is on PATH, `up`/`preview` fail with the language host's message.
"""

import functools
import getpass
import json
import os
import shutil
import signal
import socket
import sys
import time
import uuid
from pathlib import Path
from types import FrameType
from urllib.parse import urlparse

import yaml

LOCKED = "error: [409] Conflict: Another update is currently in progress."
DIY_LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to "
    "end or delete the lock file with `pulumi cancel`."
)
NO_UV = "error: Could not find `uv` executable.\nInstall uv and make sure it is in your PATH."


class Journal:
    def __init__(self, state: Path | None) -> None:
        self.path = state / "journal.jsonl" if state else None

    def write(self, what: str, **fields: object) -> None:
        if self.path is not None:
            with open(self.path, "a") as out:
                out.write(
                    json.dumps({"t": time.time(), "pid": os.getpid(), "what": what, **fields})
                )
                out.write("\n")


class DiyLocks:
    """A self-managed backend's lock files for one stack, in S3, as pkg/backend/diy/lock.go keeps
    them: one `<uuid>.json` per backend instance (this process), with its lockContent."""

    def __init__(self, url: str, stack: str) -> None:
        import boto3

        parsed = urlparse(url)
        self.bucket = parsed.netloc
        prefix = parsed.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        project = (yaml.safe_load((Path.cwd() / "Pulumi.yaml").read_text()) or {})["name"]
        self.directory = f"{self.prefix}.pulumi/locks/organization/{project}/{stack}/"
        self.key = f"{self.directory}{uuid.uuid4()}.json"
        self.s3 = boto3.client("s3")

    def keys(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.directory)
        return [item["Key"] for item in listed.get("Contents", [])]

    def take(self) -> bool:
        """checkForLock, write ours (and, on a new backend, meta.yaml `version: 1`)."""
        if self.keys():
            return False
        meta = f"{self.prefix}.pulumi/meta.yaml"
        if "Contents" not in self.s3.list_objects_v2(Bucket=self.bucket, Prefix=meta):
            self.s3.put_object(Bucket=self.bucket, Key=meta, Body=b"version: 1\n")
        content = {
            "pid": os.getpid(),
            "username": getpass.getuser(),
            "hostname": socket.gethostname(),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=json.dumps(content).encode())
        return True

    def release(self, *, every: bool = False) -> None:
        for key in self.keys() if every else [self.key]:
            self.s3.delete_object(Bucket=self.bucket, Key=key)


class Backend:
    """The stack's lock and history, in FAKE_PULUMI_STATE (or only in the environment)."""

    def __init__(self, state: Path | None, stack: str = "") -> None:
        self.state = state
        self.diy = os.environ.get("FAKE_PULUMI_BACKEND") == "diy"
        url = os.environ.get("FAKE_PULUMI_BACKEND_URL", "")
        self.in_s3 = self.diy and url.startswith("s3://")
        self.stack = stack.rsplit("/", 1)[-1]

    @functools.cached_property
    def diy_locks(self) -> DiyLocks | None:
        return DiyLocks(os.environ["FAKE_PULUMI_BACKEND_URL"], self.stack) if self.in_s3 else None

    @property
    def lock(self) -> Path | None:
        return self.state / "lock.json" if self.state and not self.in_s3 else None

    def history(self) -> list[dict]:
        stored = self.state / "history.json" if self.state else None
        if stored is not None and stored.exists():
            return json.loads(stored.read_text())
        return json.loads(os.environ.get("FAKE_PULUMI_HISTORY", "[]"))

    def save(self, history: list[dict]) -> None:
        if self.state is not None:
            # Whole or not at all: a test reads it while this process writes it.
            partial = self.state / "history.json.partial"
            partial.write_text(json.dumps(history))
            partial.replace(self.state / "history.json")

    def begin(self, config: dict) -> bool:
        """Record the update as in progress and take the lock; False when already locked.

        The record comes first, so whoever sees the lock also sees its update, as with the
        service, where the update is the lock (a test killing the CLI right after the lock
        appears must not find a lock with no update behind it)."""
        if self.diy_locks is not None and self.diy_locks.keys():
            return False
        if self.lock is None and self.diy_locks is None:
            return True
        if self.lock is not None and self.lock.exists():
            return False
        before = self.history()
        history = list(before)
        environment = {"exec.kind": "auto.local"}
        if os.environ.get("GITHUB_RUN_ID"):
            environment.update({"ci.system": "GitHub", "ci.build.id": os.environ["GITHUB_RUN_ID"]})
        history.insert(
            0,
            {
                "kind": "update",
                "startTime": now(),
                "message": "",
                "environment": environment,
                "config": config,
                "result": "in-progress",
                "version": max((e.get("version", 0) for e in history), default=0) + 1,
            },
        )
        self.save(history)
        if self.diy_locks is not None:
            if not self.diy_locks.take():
                self.save(before)
                return False
            return True
        assert self.lock is not None
        try:
            fd = os.open(self.lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:  # another update took it in between
            self.save(before)
            return False
        with os.fdopen(fd, "w") as lock:
            lock.write(json.dumps({"pid": os.getpid()}))
        return True

    def end(self, result: str, *, every_lock: bool = False) -> None:
        """Record the in-progress update's result and release the lock (`cancel`: every lock)."""
        history = self.history()
        for entry in history:
            if entry.get("result") == "in-progress":
                entry.update(result=result, endTime=now(), resourceChanges={"update": 1, "same": 3})
        self.save(history)
        if self.lock is not None:
            self.lock.unlink(missing_ok=True)
        if self.diy_locks is not None:
            self.diy_locks.release(every=every_lock)

    def shown_history(self) -> list[dict]:
        # A self-managed backend writes an update's history entry when it ends.
        return [e for e in self.history() if not (self.diy and e.get("result") == "in-progress")]


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class Signals:
    """The real CLI's cancellation scope: the first SIGINT/SIGTERM cancels, a second terminates."""

    def __init__(self, journal: Journal) -> None:
        self.received: list[str] = []
        self.journal = journal
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        self.journal.write("signal", signal=name)
        if len(self.received) == 1:
            shown = "^C" if signum == signal.SIGINT else name
            print(f"{shown} received; cancelling. If you would like to terminate immediately, "
                  f"press ^C again.", flush=True)  # fmt: skip
        else:
            print(f"{name} received; terminating", flush=True)
            self.journal.write("exit", code=255)
            os._exit(255)


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def stack_file(args: list[str]) -> Path:
    given = option(args, "--config-file")
    if given:
        return Path(given)
    short = (option(args, "--stack") or "").rsplit("/", 1)[-1]
    return Path.cwd() / f"Pulumi.{short}.yaml"


def read_config(path: Path) -> dict:
    document = yaml.safe_load(path.read_text()) if path.is_file() else None
    return dict((document or {}).get("config") or {})


def replay_events(target: str) -> None:
    """What the engine streams: the recorded log, to the file or to the SDK's gRPC server."""
    events = os.environ.get("FAKE_PULUMI_EVENTS")
    if not events:
        return
    lines = [line for line in Path(events).read_text().splitlines() if line.strip()]
    if not target.startswith("tcp://"):
        Path(target).write_text("".join(line + "\n" for line in lines))
        return
    import grpc
    from pulumi.runtime.proto import events_pb2, events_pb2_grpc

    with grpc.insecure_channel(target.removeprefix("tcp://")) as channel:
        stub = events_pb2_grpc.EventsStub(channel)
        stub.StreamEvents(events_pb2.EventRequest(event=line) for line in lines)


def uv_missing() -> bool:
    project = yaml.safe_load((Path.cwd() / "Pulumi.yaml").read_text()) or {}
    runtime = project.get("runtime")
    options = (runtime.get("options") or {}) if isinstance(runtime, dict) else {}
    return options.get("toolchain") == "uv" and shutil.which("uv") is None


def wait(seconds: float, signals: Signals) -> bool:
    """Sleep like an engine at work; True when a signal cut it short."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if signals.received:
            return True
        time.sleep(0.01)
    return bool(signals.received)


def wind_down(seconds: float, until: Path | None) -> None:
    """The engine waiting for the operations in flight, saying so now and then, as the CLI's
    display does."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not (until and until.exists()):
        print(f"    aws:ecs:Service alunos-api-service updating ({left:.1f}s left)", flush=True)
        time.sleep(min(0.25, left))


def run_program(command: str, args: list[str], backend: Backend, journal: Journal) -> int:
    """`up` and `preview`: the engine's side, with the lock, the events and cancellation."""
    signals = Signals(journal)
    if uv_missing():
        print(NO_UV, file=sys.stderr)
        return 255
    config = {
        k: {"value": str(v), "secret": False} for k, v in read_config(stack_file(args)).items()
    }
    updating = command == "up"
    if updating and not backend.begin(config):
        print(DIY_LOCKED if backend.diy else LOCKED, file=sys.stderr)
        return 255
    print(
        f"{'Updating' if updating else 'Previewing update'} ({option(args, '--stack')})", flush=True
    )
    target = option(args, "--event-log")
    if target:
        replay_events(target)
    seconds = float(os.environ.get("FAKE_PULUMI_UP_SECONDS", "0")) if updating else 0.0
    if wait(seconds, signals):
        # Winding down (in-flight operations finish); a second signal terminates meanwhile.
        until = os.environ.get("FAKE_PULUMI_CANCEL_UNTIL")
        wind_down(
            float(os.environ.get("FAKE_PULUMI_CANCEL_SECONDS", "0.2")),
            Path(until) if until else None,
        )
        if updating:
            backend.end("failed")
        print("error: update canceled", file=sys.stderr)
        return 255
    if updating:
        backend.end("succeeded")
    print(f"{command} done")
    return 0


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--non-interactive"]
    log = os.environ.get("FAKE_PULUMI_LOG")
    if log:
        with open(log, "a") as out:
            out.write(json.dumps(args) + "\n")
    if args[:1] == ["version"]:
        print("v" + os.environ.get("FAKE_PULUMI_VERSION", "3.272.0"))
        return 0
    state = Path(os.environ["FAKE_PULUMI_STATE"]) if os.environ.get("FAKE_PULUMI_STATE") else None
    journal = Journal(state)
    backend = Backend(state, option(args, "--stack") or "")
    command = " ".join(a for a in args[:2] if not a.startswith("-"))
    journal.write("start", command=command)
    failures = json.loads(os.environ.get("FAKE_PULUMI_FAIL", "{}"))
    for failing, (code, stderr) in failures.items():
        if command.startswith(failing):
            print(stderr, file=sys.stderr)
            return int(code)
    stack = option(args, "--stack") or ""
    if command == "stack select":
        known = os.environ.get("FAKE_PULUMI_STACKS", "").split(",")
        if stack not in known:
            print(f"error: no stack named '{stack}' found", file=sys.stderr)
            return 255
        return 0
    if command == "stack init":
        return 0
    if command == "whoami":
        url = os.environ.get("FAKE_PULUMI_BACKEND_URL", "https://api.pulumi.com")
        print(json.dumps({"user": "ci", "organizations": ["acme"], "url": url}))
        return 0
    if command == "config set-all":
        path = stack_file(args)
        document = yaml.safe_load(path.read_text()) if path.is_file() else None
        document = document or {}
        config = document.setdefault("config", {}) or {}
        document["config"] = config
        for pair in (args[i + 1] for i, a in enumerate(args) if a == "--plaintext"):
            name, _, value = pair.partition("=")
            config[name] = value
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return 0
    if command == "stack output":
        outputs = json.loads(os.environ.get("FAKE_PULUMI_OUTPUTS", "{}"))
        show = "--show-secrets" in args
        print(
            json.dumps({k: v if (show or not s) else "[secret]" for k, (v, s) in outputs.items()})
        )
        return 0
    if command == "stack history":
        history = backend.shown_history()
        if "--show-secrets" not in args:
            for entry in history:
                for value in entry.get("config", {}).values():
                    if value.get("secret"):
                        value.pop("value", None)
        size = option(args, "--page-size")
        if size:
            page = int(option(args, "--page") or "1")
            history = history[(page - 1) * int(size) : page * int(size)]
        print(json.dumps(history))
        return 0
    if command in ("up", "preview"):
        code = run_program(command, args, backend, journal)
        journal.write("exit", code=code)
        return code
    if command == "cancel":
        backend.end("failed", every_lock=True)
        print(f"The currently running update for '{stack}' has been canceled!")
        return 0
    print(f"fake pulumi: unsupported command {args}", file=sys.stderr)
    return 2


def paused(argv: list[str]) -> int:
    code = main(argv)
    args = [a for a in argv if a != "--non-interactive"]
    command = " ".join(a for a in args[:2] if not a.startswith("-"))
    if os.environ.get("FAKE_PULUMI_PAUSE_AFTER") == command:
        state = os.environ.get("FAKE_PULUMI_STATE")
        Journal(Path(state) if state else None).write("paused", command=command)
        time.sleep(60)
    return code


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(paused(sys.argv[1:]))
