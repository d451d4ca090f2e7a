"""`python -m automation` with two of the tool's timings set by the test:
`python -m tests.automation.deploy.timed_automation STOP_BUDGET UNLOCK_POLL COMMAND...`.

test_ci_cancel.py races the tool's stop budget against a GitHub runner's cancel sequence in real
time; to spend less of it idle, most of its tests move every deadline sooner by the same amount,
the budget included (and poll `unlock --wait` more often). The values are set here, in the
test's child process, so the production code carries no test-only setting; both are module
globals read when used, so setting them takes effect (the tests check that it did).
"""

import runpy
import sys

from automation.deploy import unlock, updates


def main() -> None:
    budget, poll = float(sys.argv.pop(1)), float(sys.argv.pop(1))
    updates.STOP_BUDGET_SECONDS = budget  # how long a cancelled run waits for `pulumi` to stop
    unlock.POLL_SECONDS = poll  # how often `unlock --wait` looks whether it has ended
    runpy.run_module("automation", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
