"""The one seam through which the automation calls Pulumi's Automation API (`pulumi.automation`).

Everything else talks to the `StackBackend` / `StackHandle` protocols below and sees only plain
values (no `UpdateSummary`, no `ConfigMap`): tests drive it with a fake, CI with `LocalPulumi`.
The seam also owns three guarantees:
- a stack is never created implicitly (`create=True` only when the user passed `--create`), so a
  typo such as `prdo` fails instead of making an empty stack;
- secrets never leave it: history is fetched with `show_secrets=False` and only non-secret config
  values are passed on; update summaries (`summary.config`) are never handed out;
- Automation API errors become the CLI's errors (`UsageProblem`, `StackLocked`,
  `CredentialsProblem`, `AutomationError`) with a one-line message;
- the checkout is never written to: a run's stamps go into a temporary copy of the stack's
  settings file, handed to the CLI with `--config-file` (it replaces Pulumi.<stack>.yaml for that
  run), so a run killed at any point leaves `git status` clean.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pulumi import automation as auto
from pulumi.automation import EngineEvent

from automation.changes import SECRET_MASK
from automation.deploy.aws_errors import (
    CredentialsProblem,
    credentials_marker,
    credentials_message,
)
from automation.deploy.preflight import INSTALL_PULUMI, require_pulumi, require_toolchain
from automation.deploy.pulumi_process import Signalled, Stopped, TrackedCommand
from automation.errors import AutomationError, UsageProblem

OnOutput = Callable[[str], None]
OnEvent = Callable[[EngineEvent], None]

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml", "Pulumi.json")
_STACK_NAME = re.compile(r"^(?:[A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")


class StackLocked(AutomationError):
    """Another update holds the stack's lock (Pulumi's `ConcurrentUpdateError`): retry later."""


class CommandFailed(AutomationError):
    """The Pulumi CLI ran and failed (a program error, a provider error during the update)."""


class SummaryUnread(AutomationError):
    """The update succeeded, but the reads the Automation API makes right after it
    (`stack output`, `stack history`) failed: not a failed update."""


@dataclass(frozen=True, slots=True)
class OutputValue:
    value: Any
    secret: bool


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One past operation on the stack; `config` holds only its non-secret values."""

    update: int | None
    kind: str
    result: str
    """`succeeded`, `failed`, or `in-progress` (an update that holds the stack's lock)."""
    start_time: datetime
    config: Mapping[str, str] = field(default_factory=dict)
    changes: Mapping[str, int] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    """What the CLI recorded about where it ran (`ci.build.id`: the GitHub Actions run id...)."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a preview or update changed, by operation (`create`, `update`, `same`...)."""

    changes: Mapping[str, int]


class StackHandle(Protocol):
    """A selected stack. Config keys are fully qualified (`alunos-api:version`, `aws:region`)."""

    @property
    def name(self) -> str: ...

    @property
    def project(self) -> str: ...

    def get_config(self, key: str) -> str | None:
        """The key's value, or None when it is unset or secret (secrets are not handed out)."""
        ...

    def preview(
        self,
        *,
        run_config: Mapping[str, str],
        message: str,
        on_output: OnOutput,
        on_event: OnEvent | None = None,
    ) -> RunSummary:
        """Preview with `run_config` applied for this run only (see `LocalPulumi`)."""
        ...

    def up(
        self,
        *,
        run_config: Mapping[str, str],
        message: str,
        on_output: OnOutput,
        on_event: OnEvent | None = None,
    ) -> RunSummary:
        """Update with `run_config` applied for this run only; it is recorded in the history."""
        ...

    def cancel(self) -> None:
        """`pulumi cancel`: end the update in progress (a self-managed backend: delete the
        stack's lock files)."""
        ...

    def interrupt(self) -> Signalled | None:
        """Ask the running Pulumi CLI process to cancel (SIGINT); no command starts afterwards.
        What was signalled, or None when no process was running."""
        ...

    def backend_url(self) -> str:
        """The backend the CLI is logged in to (`pulumi whoami`): https://... for Pulumi Cloud,
        s3://, file://... for a self-managed one."""
        ...

    def outputs(self) -> dict[str, OutputValue]: ...

    def history(self, *, page_size: int, page: int) -> list[HistoryEntry]:
        """Newest first, one page (pages count from 1)."""
        ...


class StackBackend(Protocol):
    def open_stack(self, stack: str, *, create: bool = False) -> StackHandle: ...


def validate_stack_name(stack: str) -> None:
    if not _STACK_NAME.match(stack):
        raise UsageProblem(
            f"--stack {stack!r}: a stack is `stack`, `org/stack` or `org/project/stack`, each "
            "part made of letters, digits, '-', '_' and '.'"
        )


class LocalPulumi:
    """The real backend: a `LocalWorkspace` on the repository (its Pulumi.yaml, its backend).

    Whatever backend the user configured is honoured, because every command runs the Pulumi CLI
    in `work_dir` with the caller's environment: `PULUMI_BACKEND_URL`, `pulumi login` state,
    `PULUMI_ACCESS_TOKEN`, `PULUMI_CONFIG_PASSPHRASE`. With an organization the stack is selected
    by its fully qualified name `org/project/stack`, which no other project's stack can shadow.
    """

    def __init__(self, work_dir: Path, *, org: str | None = None) -> None:
        if not any((work_dir / name).is_file() for name in PROJECT_FILES):
            raise UsageProblem(
                f"no Pulumi.yaml in {work_dir}: run from the repository root or pass --repo"
            )
        self.work_dir = work_dir
        self.org = org or None

    def open_stack(self, stack: str, *, create: bool = False) -> PulumiStack:
        validate_stack_name(stack)
        if "/" in stack and self.org:
            raise UsageProblem(
                f"--stack {stack!r} already names its organization: drop --org (or PULUMI_ORG)"
            )
        require_pulumi()
        workspace = _local_workspace(self.work_dir)
        project = workspace.project_settings().name
        name = auto.fully_qualified_stack_name(self.org, project, stack) if self.org else stack
        with translated(name, "stack select"):
            if create:
                selected = auto.Stack.create_or_select(name, workspace)
            else:
                selected = auto.Stack.select(name, workspace)
        return PulumiStack(selected, project, self.work_dir)


def _local_workspace(work_dir: Path) -> auto.LocalWorkspace:
    try:
        return auto.LocalWorkspace(work_dir=str(work_dir), pulumi_command=TrackedCommand())
    except FileNotFoundError as error:
        raise AutomationError(INSTALL_PULUMI) from error
    except auto.InvalidVersionError as error:
        raise AutomationError(f"unsupported Pulumi CLI: {error}") from error


class PulumiStack:
    """`StackHandle` over an `auto.Stack`."""

    def __init__(self, stack: auto.Stack, project: str, work_dir: Path) -> None:
        self._stack = stack
        self._project = project
        self._work_dir = work_dir
        command = stack.workspace.pulumi_command
        if not isinstance(command, TrackedCommand):
            raise TypeError("PulumiStack needs a workspace running a TrackedCommand")
        self._command = command

    @property
    def name(self) -> str:
        return self._stack.name

    @property
    def project(self) -> str:
        return self._project

    def get_config(self, key: str) -> str | None:
        with translated(self.name, "config get"):
            try:
                value = self._stack.get_config(key)
            except auto.CommandError as error:
                if "configuration key" in str(error) and "not found" in str(error):
                    return None
                raise
        return None if value.secret else value.value

    def preview(
        self,
        *,
        run_config: Mapping[str, str],
        message: str,
        on_output: OnOutput,
        on_event: OnEvent | None = None,
    ) -> RunSummary:
        require_toolchain(self._work_dir)
        with self._stamped(run_config) as config_file, translated(self.name, "preview"):
            try:
                result = self._stack.preview(
                    message=message,
                    color="never",
                    on_output=on_output,
                    on_error=on_output,
                    on_event=on_event,
                    config_file=config_file,
                )
            except (
                RuntimeError
            ) as error:  # builtin, not a CommandError: "summary event never found"
                raise AutomationError(f"pulumi preview of {self.name}: {error}") from error
        return RunSummary(changes={str(op): n for op, n in (result.change_summary or {}).items()})

    def up(
        self,
        *,
        run_config: Mapping[str, str],
        message: str,
        on_output: OnOutput,
        on_event: OnEvent | None = None,
    ) -> RunSummary:
        require_toolchain(self._work_dir)
        with self._stamped(run_config) as config_file, translated(self.name, "up"):
            started = len(self._command.ended)
            try:
                result = self._stack.up(
                    message=message,
                    color="never",
                    show_secrets=False,
                    on_output=on_output,
                    on_error=on_output,
                    on_event=on_event,
                    config_file=config_file,
                )
            except (auto.CommandError, Stopped) as error:
                if ("up", 0) in self._command.ended[started:]:
                    raise SummaryUnread(
                        f"the update of {self.name} succeeded, but reading its summary failed: "
                        f"{_tail(str(error))}"
                    ) from error
                raise
        changes = result.summary.resource_changes or {}
        return RunSummary(changes={str(op): n for op, n in changes.items()})

    def cancel(self) -> None:
        with translated(self.name, "cancel"):
            self._stack.cancel()

    def interrupt(self) -> Signalled | None:
        return self._command.interrupt()

    def backend_url(self) -> str:
        with translated(self.name, "whoami"):
            return self._stack.workspace.who_am_i().url or ""

    def outputs(self) -> dict[str, OutputValue]:
        with translated(self.name, "stack output"):
            raw = self._stack.outputs()
        return {key: OutputValue(value=out.value, secret=out.secret) for key, out in raw.items()}

    def history(self, *, page_size: int, page: int) -> list[HistoryEntry]:
        with translated(self.name, "stack history"):
            summaries = self._stack.history(page_size=page_size, page=page, show_secrets=False)
        return [
            HistoryEntry(
                update=summary.version,
                kind=summary.kind,
                result=summary.result,
                start_time=summary.start_time,
                config={
                    key: str(value.value)
                    for key, value in summary.config.items()
                    if not value.secret
                },
                changes={str(op): n for op, n in (summary.resource_changes or {}).items()},
                environment={str(k): str(v) for k, v in (summary.environment or {}).items()},
            )
            for summary in summaries
        ]

    @contextmanager
    def _stamped(self, values: Mapping[str, str]) -> Iterator[str]:
        """A temporary copy of the stack's settings file with `values` set, for one run.

        `pulumi up --config-file FILE` takes the stack's configuration from FILE instead of
        Pulumi.<stack>.yaml, and `pulumi config set-all --config-file FILE` writes there: the
        tracked file is never opened for writing, so a run killed at any point leaves the
        checkout clean (a dirty one would make the next prod `up` refuse). The copy lives outside
        the repository. The values still reach the backend with the update and stay in the
        stack's history, where `rollback` reads them.
        """
        short = self.name.rsplit("/", 1)[-1]
        tracked = next(
            (
                self._work_dir / f"Pulumi.{short}{ext}"
                for ext in (".yaml", ".yml", ".json")
                if (self._work_dir / f"Pulumi.{short}{ext}").is_file()
            ),
            self._work_dir / f"Pulumi.{short}.yaml",
        )
        scratch = Path(tempfile.mkdtemp(prefix="alunos-api-config-"))
        copy = scratch / tracked.name
        try:
            if tracked.is_file():
                shutil.copyfile(tracked, copy)
            if values:
                with translated(self.name, "config set-all"):
                    self._stack.workspace.cli_api.config_set_all(
                        stack=self.name,
                        config_file=str(copy),
                        plaintext=[f"{key}={value}" for key, value in values.items()],
                        cwd=str(self._work_dir),
                    )
            yield str(copy)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def translated(stack: str, action: str) -> Iterator[None]:
    """Turn Automation API errors into the CLI's errors, each with a message a person can act on."""
    try:
        yield
    except auto.StackNotFoundError as error:
        raise UsageProblem(
            f"stack {stack!r} does not exist in the configured backend "
            "(PULUMI_BACKEND_URL or `pulumi login`): check the name and --org, "
            "or pass --create to create it"
        ) from error
    except auto.ConcurrentUpdateError as error:
        raise StackLocked(
            f"stack {stack!r} is locked: another update is in progress ({action})"
        ) from error
    except auto.CommandError as error:
        text = str(error)
        marker = credentials_marker(text)
        if marker is not None:
            raise CredentialsProblem(
                f"pulumi {action} failed for stack {stack!r}: {credentials_message(marker)}"
            ) from error
        raise CommandFailed(f"pulumi {action} failed for stack {stack!r}: {_tail(text)}") from error


def masked_outputs(outputs: Mapping[str, OutputValue]) -> dict[str, Any]:
    """Outputs fit to print: a secret output shows as `[secret]`, never its value."""
    return {key: SECRET_MASK if out.secret else out.value for key, out in outputs.items()}


def plain_outputs(outputs: Mapping[str, OutputValue]) -> dict[str, Any]:
    """The non-secret outputs' values, for code that needs them (verification, rollback)."""
    return {key: out.value for key, out in outputs.items() if not out.secret}


def _tail(command_error_text: str, lines: int = 8) -> str:
    """The last lines the CLI printed: stderr when there is any, else stdout (already masked)."""
    _, _, stderr = command_error_text.partition("\n stderr: ")
    stdout = command_error_text.partition("\n stdout: ")[2].partition("\n stderr: ")[0]
    source = stderr if stderr.strip() else stdout
    kept = [line.strip() for line in source.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "no output (see the log above)"
