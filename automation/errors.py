"""Errors the CLI turns into a one-line message and an exit code, never a traceback.

Exit codes are part of the CLI's contract with CI: 0 success, 1 failure, 2 usage or configuration.
"""


class AutomationError(Exception):
    """An operation failed (a deploy, a verification, a cloud call): exit 1."""

    exit_code = 1


class UsageProblem(AutomationError):
    """The caller asked for something invalid (flag, stack, config): exit 2."""

    exit_code = 2
