import os
import signal
import threading
import time

import pytest

from automation.deploy import updates
from automation.deploy.interrupts import Interrupted
from automation.deploy.pulumi_seam import CommandFailed, StackLocked
from automation.deploy.updates import (
    LockRetry,
    ReadRetry,
    UpdateSucceededUnread,
    read_after_update,
    run_preview,
    run_up,
    stamp,
)
from automation.release.version import BuildVersion
from tests.automation.fakes import FakeStack, key

BUILD = BuildVersion(
    version="1.4.3-dev.3",
    image_tag="1.4.3-dev.3.gabc1234",
    revision="abc1234" + "0" * 33,
    created="2024-05-01T10:00:00Z",
    dirty=False,
    release=False,
)


def run(stack, retry, said=None):
    return run_up(
        stack,
        stamp(stack.project, BUILD),
        message="deploy",
        output=lambda line: None,
        say=(said if said is not None else []).append,
        retry=retry,
    )


def test_stamp_sets_every_key_and_clears_the_rollback_image():
    assert stamp("alunos-api", BUILD) == {
        key("version"): "1.4.3-dev.3",
        key("imageTag"): "1.4.3-dev.3.gabc1234",
        key("revision"): BUILD.revision,
        key("created"): "2024-05-01T10:00:00Z",
        key("rollbackImage"): "",
    }


def test_a_locked_stack_is_retried_with_exponential_backoff():
    sleeps: list[float] = []
    said: list[str] = []
    stack = FakeStack(locked_times=4)
    summary = run(stack, LockRetry(retries=5, sleep=sleeps.append), said)
    assert summary.changes["update"] == 2
    assert sleeps == [10, 20, 40, 80]
    assert len(stack.up_calls) == 1
    assert sum("is locked" in line and "waiting" in line for line in said) == 4


def test_backoff_is_capped():
    assert LockRetry(retries=6).delays() == [10, 20, 40, 80, 120, 120]


def test_still_locked_after_the_last_retry_fails_with_how_to_unlock():
    sleeps: list[float] = []
    stack = FakeStack(locked_times=10)
    with pytest.raises(StackLocked, match="pulumi cancel --stack dev") as failure:
        run(stack, LockRetry(retries=3, sleep=sleeps.append))
    assert sleeps == [10, 20, 40]
    assert failure.value.exit_code == 1
    assert stack.up_calls == []


def test_zero_retries_fails_at_once():
    stack = FakeStack(locked_times=1)
    with pytest.raises(StackLocked):
        run(stack, LockRetry(retries=0, sleep=lambda seconds: pytest.fail("no retry expected")))


def test_preview_retries_a_locked_stack_too():
    sleeps: list[float] = []
    stack = FakeStack(locked_times=1)
    run_preview(
        stack,
        stamp(stack.project, BUILD),
        message="preview",
        output=lambda line: None,
        say=lambda m: None,
        retry=LockRetry(sleep=sleeps.append),
    )
    assert sleeps == [10]
    assert stack.preview_calls[0][key("version")] == BUILD.version


def signal_once_blocked(stack, signum):
    """Deliver `signum` to this process once the fake `up` is running (like Ctrl-C mid-update)."""

    def deliver():
        if stack.blocking.wait(timeout=5):
            os.kill(os.getpid(), signum)

    threading.Thread(target=deliver, daemon=True).start()


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_during_up_asks_pulumi_to_cancel_the_update(signum, code):
    """The running CLI gets one SIGINT (it cancels and releases the lock itself): no `pulumi
    cancel` racing the update it would break."""
    stack = FakeStack(block_until_cancelled=True)
    said: list[str] = []
    signal_once_blocked(stack, signum)
    with pytest.raises(Interrupted) as stopped:
        run(stack, LockRetry(), said)
    assert stack.interrupted.is_set()
    assert stack.cancel_calls == 0
    assert stopped.value.exit_code == code
    assert str(stopped.value) == (
        f"interrupted by {signal.Signals(signum).name}: update of dev cancelled, stack unlocked; "
        "resources it was changing may be half-done: run the deploy again"
    )
    assert any("sent SIGINT to pulumi up (pid 4242)" in line for line in said)


def test_handlers_are_restored_afterwards():
    before = signal.getsignal(signal.SIGTERM)
    run(FakeStack(), LockRetry())
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_update_still_stopping_at_the_deadline_says_how_to_unlock(monkeypatch):
    """Operations in flight can outlast a CI runner's patience: we exit within the budget and say
    what to run, rather than be killed mid-sentence."""
    monkeypatch.setattr(updates, "STOP_BUDGET_SECONDS", 0.5)
    stack = FakeStack(block_until_cancelled=True, ignores_interrupt=True)
    signal_once_blocked(stack, signal.SIGINT)
    try:
        with pytest.raises(Interrupted) as stopped:
            run(stack, LockRetry())
        waited = time.monotonic() - stopped.value.received_at
    finally:
        stack.released.set()
    assert 0.4 < waited < 1.0
    assert "could not confirm that the update of dev stopped" in str(stopped.value)
    assert "run `python -m automation unlock --stack dev`" in str(stopped.value)
    assert stopped.value.exit_code == 130
    assert stack.cancel_calls == 0


def test_a_second_signal_while_pulumi_winds_down_is_not_passed_on(monkeypatch):
    """A CI runner follows SIGINT with SIGTERM: a second SIGINT to the CLI would terminate it
    mid-operation, so only the first is passed on."""
    monkeypatch.setattr(updates, "STOP_BUDGET_SECONDS", 0.6)
    stack = FakeStack(block_until_cancelled=True, ignores_interrupt=True)
    interrupts: list[int] = []
    original = stack.interrupt

    def counted():
        interrupts.append(1)
        return original()

    stack.interrupt = counted  # type: ignore[method-assign]

    def deliver():
        if stack.blocking.wait(timeout=5):
            os.kill(os.getpid(), signal.SIGINT)
            stack.interrupted.wait(timeout=5)
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=deliver, daemon=True).start()
    try:
        with pytest.raises(Interrupted) as stopped:
            run(stack, LockRetry())
    finally:
        stack.released.set()
    assert interrupts == [1]
    assert stopped.value.exit_code == 130  # the first signal's


class SlowPreview(FakeStack):
    def preview(self, **kwargs):
        self.blocking.set()
        self.interrupted.wait(timeout=5)
        raise CommandFailed("pulumi preview failed for stack 'dev': error: preview canceled")


def test_an_interrupted_preview_stops_its_pulumi_too():
    stack = SlowPreview()
    signal_once_blocked(stack, signal.SIGTERM)
    with pytest.raises(Interrupted, match="preview of dev stopped; nothing changed") as stopped:
        run_preview(
            stack,
            {},
            message="preview",
            output=lambda line: None,
            say=lambda m: None,
            retry=LockRetry(),
        )
    assert stack.interrupted.is_set()
    assert stopped.value.exit_code == 143


# --- reads after a successful update ------------------------------------------------------------


def test_a_summary_unread_after_a_good_update_is_read_again_not_failed():
    stack = FakeStack(summary_unread=True)
    said: list[str] = []
    summary = run(stack, LockRetry(), said)
    assert summary.changes == {"update": 2, "same": 19}  # from the history, read again
    assert len(stack.up_calls) == 1  # not deployed twice
    assert any("succeeded, but reading its summary failed; reading it again" in s for s in said)


def test_reads_after_an_update_retry_with_backoff_then_give_up_as_unverified():
    sleeps: list[float] = []
    flaky = FakeStack(outputs_failures=2)
    retry = ReadRetry(sleep=sleeps.append)
    said: list[str] = []
    assert read_after_update(flaky.outputs, what="reading", retry=retry, say=said.append) == {}
    assert sleeps == [2, 4]
    broken = FakeStack(outputs_failures=99)
    with pytest.raises(UpdateSucceededUnread, match=r"failed 4 times: .*502 Bad Gateway") as gave:
        read_after_update(broken.outputs, what="reading", retry=retry, say=said.append)
    assert gave.value.exit_code == 3
    assert broken.outputs_calls == 4


def test_only_a_failing_cli_call_is_retried():
    calls = []

    def read():
        calls.append(1)
        raise StackLocked("locked")

    with pytest.raises(StackLocked):
        read_after_update(read, what="r", retry=ReadRetry(sleep=lambda s: None), say=print)
    assert calls == [1]


def test_a_signal_while_waiting_for_the_lock_exits_without_cancelling():
    stack = FakeStack(locked_times=5)

    def sleep(seconds):
        os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Interrupted) as stopped:
        run(stack, LockRetry(sleep=sleep))
    assert stack.cancel_calls == 0
    assert stopped.value.exit_code == 143


def test_a_signal_delivered_to_the_worker_thread_still_interrupts_promptly():
    """The kernel may hand a process signal to any thread: the main thread must still act on it
    while the update runs, not once it ends."""
    from automation.deploy.interrupts import Background, signals_raise

    worker: list[int] = []
    release = threading.Event()
    finished = threading.Event()

    def long_update():
        worker.append(threading.get_ident())
        release.wait(timeout=10)
        finished.set()
        return "done"

    def deliver_to_worker():
        while not worker:
            threading.Event().wait(0.01)
        signal.pthread_kill(worker[0], signal.SIGTERM)

    threading.Thread(target=deliver_to_worker, daemon=True).start()
    try:
        with pytest.raises(Interrupted), signals_raise():
            Background(long_update, name="test-update").result()
        assert not finished.is_set()  # interrupted while the update was still running
    finally:
        release.set()
