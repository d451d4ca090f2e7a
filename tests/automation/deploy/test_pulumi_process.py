"""`stop`: how `automation unlock` ends the CLI process a cancelled CI step left running, and why
it can only ever be that process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from automation.deploy.pulumi_process import Marker, start_ticks, stop

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a CLI that does not end on SIGTERM
plugin = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(plugin.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def processes():
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def spawn(processes, code: str) -> subprocess.Popen[str]:
    """A stand-in CLI, started as `TrackedCommand` starts one: leader of its own group."""
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, process_group=0
    )
    processes.append(process)
    return process


def marker_of(pid: int, ticks: int | None) -> Marker:
    return Marker(pid, "up", "dev", time.time(), ticks, "8123456789")


def test_a_cli_that_ignores_sigterm_is_killed_with_its_plugins_after_the_grace(processes):
    cli = spawn(processes, STUBBORN)
    assert cli.stdout is not None
    plugin = int(cli.stdout.readline())
    marker = marker_of(cli.pid, start_ticks(cli.pid))
    started = time.monotonic()
    assert stop(marker, grace=0.5)
    assert time.monotonic() - started >= 0.5  # SIGTERM first, SIGKILL only after the grace
    assert cli.wait(timeout=5) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while start_ticks(plugin) is not None:  # its group went with it
        assert time.monotonic() < deadline, "the plugin outlived its CLI"
        time.sleep(0.02)


def test_a_cli_that_cancels_on_sigterm_gets_only_sigterm(processes):
    cli = spawn(processes, "import time; print(flush=True); time.sleep(60)")
    assert cli.stdout is not None
    cli.stdout.readline()
    assert stop(marker_of(cli.pid, start_ticks(cli.pid)), grace=5)
    assert cli.wait(timeout=5) == -signal.SIGTERM


def test_a_pid_now_held_by_another_process_is_never_signalled(processes):
    """A marker outlives its process when the tool is killed; the kernel may give the pid to a
    new process. Its start time differs, so it is not the marker's: nothing is sent to it."""
    other = spawn(processes, "import time; print(flush=True); time.sleep(60)")
    assert other.stdout is not None
    other.stdout.readline()
    ticks = start_ticks(other.pid)
    assert ticks is not None
    stale = marker_of(other.pid, ticks - 1)
    assert not stale.alive
    assert stop(stale, grace=0.1)
    assert other.poll() is None  # still running: never signalled
