"""The Pulumi CLI processes the Automation API starts, kept at hand so that a signal can reach them.

`pulumi.automation` runs every CLI command through `PulumiCommand.run`, and `LocalWorkspace` takes
the `PulumiCommand` to use (`pulumi_command=`). `TrackedCommand` runs them as the SDK's does
(pulumi 3.272: `--non-interactive` first, `PULUMI_AUTOMATION_API=true`, stdout and stderr line by
line to the callbacks, `create_command_error` on a non-zero exit), with these differences:
- it holds the running process, so `interrupt()` can send it SIGINT, which the Pulumi CLI takes
  as "cancel" (pulumi/pulumi pkg/backend/cancellation_scope.go: the first SIGINT or SIGTERM
  cancels the update, which ends it and releases the stack's lock; a second one terminates at
  once). After `interrupt()` no new command starts;
- the process runs in a process group of its own: a Ctrl-C in a terminal reaches only this
  process, which sends exactly one SIGINT on (the terminal's and ours would make two: terminate);
- its stdout and stderr are files, not pipes, so this process can exit (before a CI runner kills
  it) while the CLI still winds down: the CLI is a Go program, and a Go program that writes to
  stdout or stderr once nobody reads the pipe any more exits at once with SIGPIPE (pkg.go.dev
  os/signal, "SIGPIPE"; the CLI never asks for SIGPIPE: no `signal.Notify` of it in pulumi/pulumi),
  which would cut its cancellation short and leave the stack locked. Each file is unlinked as
  soon as it is open, so nothing is left on disk; reader threads tail them (`_tail`) into the
  callbacks, line by line, until the process has exited and they have read the last byte;
- it remembers how each command ended (`ended`), so the seam can tell a failed update from a
  failed read after a successful one (the SDK's `up` reads `stack output` and `stack history`);
- while an `up` (or any command that takes the stack's lock) runs, a marker file names its pid,
  its start time and the CI run (`markers`), so that `automation unlock`, later in the same CI
  job, can tell an update still running on this machine from a lock that a killed run left
  behind, and can stop that process, and no other (`stop`).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error

from automation.errors import AutomationError

OnLine = Callable[[str], Any]

LOCKING_COMMANDS = frozenset({"up", "refresh", "destroy", "import"})
TAIL_SECONDS = 0.05
"""How often a reader looks for more output once it has read all there is."""
STOP_POLL_SECONDS = 0.1
KILL_WAIT_SECONDS = 5.0
"""After SIGKILL: how long the kernel may take to end the process."""


class Stopped(AutomationError):
    """A command was not started: the run is being interrupted."""


@dataclass(frozen=True, slots=True)
class Signalled:
    """The CLI process `interrupt()` sent SIGINT to."""

    command: str
    pid: int

    def __str__(self) -> str:
        return f"pulumi {self.command} (pid {self.pid})"


def markers() -> Path:
    """Where running updates leave their pid: the CI job's temp dir (`RUNNER_TEMP`, shared by
    the job's steps), else the system's."""
    return Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()) / "alunos-api-pulumi"


def marker_path(stack: str) -> Path:
    return markers() / (hashlib.sha256(stack.encode()).hexdigest()[:16] + ".json")


@dataclass(frozen=True, slots=True)
class Marker:
    """An update this machine started: its CLI process, and whether that still runs."""

    pid: int
    command: str
    stack: str
    started: float
    ticks: int | None = None
    """When the process started (`start_ticks`): a pid the kernel has handed to another process
    since does not match."""
    run_id: str | None = None
    """The CI run that started it (GITHUB_RUN_ID), None outside CI."""

    @property
    def alive(self) -> bool:
        """The marker's process still runs (not a later process that got its pid)."""
        if self.ticks is not None:
            return start_ticks(self.pid) == self.ticks
        return running(self.pid)


def running(pid: int) -> bool:
    """Some process runs with this pid (a zombie does not count); an invalid pid may be anyone."""
    if pid <= 0:
        return True
    if Path("/proc/self/stat").exists():
        return start_ticks(pid) is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat, proc(5));
    None when no such process runs (or it is a zombie), or on a system without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": field 3 (state) first
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])


def read_marker(stack: str) -> Marker | None:
    try:
        data = json.loads(marker_path(stack).read_text())
        ticks, run_id = data.get("ticks"), data.get("run_id")
        return Marker(
            int(data["pid"]),
            str(data["command"]),
            str(data["stack"]),
            data["started"],
            None if ticks is None else int(ticks),
            None if run_id is None else str(run_id),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def clear_marker(stack: str) -> None:
    marker_path(stack).unlink(missing_ok=True)


def _subcommand(args: list[str]) -> str:
    words = [a for a in args[:3] if not a.startswith("-")]
    return " ".join(words[:2]) if words[:1] in (["stack"], ["config"]) else " ".join(words[:1])


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args[:-1] else None


class TrackedCommand(PulumiCommand):
    """`PulumiCommand` that keeps its running process (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()  # runs `pulumi version`: FileNotFoundError without the CLI
        self._guard = threading.Lock()
        self._running: subprocess.Popen[bytes] | None = None
        self._running_name = ""
        self._stopping = False
        self.ended: list[tuple[str, int]] = []
        """(subcommand, exit code) of every command run, in order."""

    def interrupt(self) -> Signalled | None:
        """SIGINT to the running CLI process, once; no command starts after this. Returns what
        was signalled, or None when nothing was running."""
        with self._guard:
            if self._stopping:
                return None
            self._stopping = True
            process = self._running
            if process is None or process.poll() is not None:
                return None
            process.send_signal(signal.SIGINT)
            return Signalled(self._running_name, process.pid)

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnLine | None = None,
        on_error: OnLine | None = None,
    ) -> CommandResult:
        name = _subcommand(args)
        separator = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:separator]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env["PATH"]])
        stdout: list[str] = []
        stderr: list[str] = []
        with self._guard:
            if self._stopping:
                raise Stopped(f"not starting `pulumi {name}`: the run is being interrupted")
            with _spool() as (out_fd, out), _spool() as (err_fd, err):
                process = subprocess.Popen(  # noqa: S603 - the SDK's command and arguments
                    [self.command, *args],
                    stdout=out_fd,
                    stderr=err_fd,
                    cwd=cwd,
                    env=env,
                    process_group=0,
                )
            self._running, self._running_name = process, name
        stack = _option(args, "--stack")
        marked = name in LOCKING_COMMANDS and stack is not None
        if marked and stack is not None:
            _write_marker(stack, process.pid, name)
        exited = threading.Event()
        readers = [
            threading.Thread(target=_tail, args=(out, exited, on_output, stdout), daemon=True),
            threading.Thread(target=_tail, args=(err, exited, on_error, stderr), daemon=True),
        ]
        try:
            for reader in readers:
                reader.start()
            code = process.wait()
        finally:
            exited.set()
            for reader in readers:
                reader.join()
            with self._guard:
                self._running = None
            if marked and stack is not None and process.poll() is not None:
                clear_marker(stack)
        self.ended.append((name, code))
        result = CommandResult(stdout="\n".join(stdout), stderr="\n".join(stderr), code=code)
        if code != 0:
            raise create_command_error(result)
        return result


@contextmanager
def _spool() -> Iterator[tuple[int, BinaryIO]]:
    """A file for the CLI to write to (its descriptor, closed here once the CLI has its copy) and
    a reader of it. It is unlinked at once: it lives as long as someone holds it open."""
    fd, path = tempfile.mkstemp(prefix="alunos-api-pulumi-")
    try:
        reader = open(path, "rb")  # noqa: SIM115 - closed by _tail, or below on failure
    except OSError:
        os.close(fd)
        raise
    finally:
        os.unlink(path)
    try:
        yield fd, reader
    except BaseException:
        reader.close()
        raise
    finally:
        os.close(fd)


def _tail(
    spool: BinaryIO, exited: threading.Event, callback: OnLine | None, lines: list[str]
) -> None:
    """Each line the CLI writes, as it comes, until the process has exited and all is read."""
    partial = b""
    try:
        while True:
            done = exited.is_set()  # before the read: whatever was written by then gets read
            chunk = spool.readline()
            if chunk.endswith(b"\n"):
                _line(partial + chunk, callback, lines)
                partial = b""
            elif done:
                break
            else:
                partial += chunk
                exited.wait(TAIL_SECONDS)
        if partial + chunk:
            _line(partial + chunk, callback, lines)
    finally:
        spool.close()


def _line(raw: bytes, callback: OnLine | None, lines: list[str]) -> None:
    line = raw.decode("utf-8", errors="replace").rstrip()
    if callback is not None:
        callback(line)
    lines.append(line)


def stop(
    marker: Marker,
    *,
    grace: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """End the marker's CLI process: SIGTERM (the CLI's cancellation scope cancels on a first
    signal and terminates on a second), then, if it still runs after `grace` seconds, SIGKILL to
    its process group (it was started as a group leader: its plugins and language host go too).
    Only the marker's own process is ever signalled: `alive` checks its start time, and the group
    is signalled only while it still leads it. True once it is gone."""
    if not marker.alive:
        return True
    with suppress(ProcessLookupError):
        os.kill(marker.pid, signal.SIGTERM)
    if _gone(marker, grace, sleep, clock):
        return True
    with suppress(ProcessLookupError):
        if marker.alive:
            if os.getpgid(marker.pid) == marker.pid:
                os.killpg(marker.pid, signal.SIGKILL)
            else:
                os.kill(marker.pid, signal.SIGKILL)
    return _gone(marker, KILL_WAIT_SECONDS, sleep, clock)


def _gone(
    marker: Marker, seconds: float, sleep: Callable[[float], None], clock: Callable[[], float]
) -> bool:
    deadline = clock() + seconds
    while marker.alive:
        if clock() >= deadline:
            return False
        sleep(STOP_POLL_SECONDS)
    return True


def _write_marker(stack: str, pid: int, command: str) -> None:
    path = marker_path(stack)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "pid": pid,
            "command": command,
            "stack": stack,
            "started": time.time(),
            "ticks": start_ticks(pid),
            "run_id": os.environ.get("GITHUB_RUN_ID") or None,
        }
        path.write_text(json.dumps(record))
    except OSError:
        pass  # only `automation unlock` reads it, and it copes with no marker
