"""Command-line entry point. Commands stay thin: parse flags, call a module, print the result.

What the commands talk to (the Pulumi backend, AWS, the terminal) is one `Environment`, passed to
`main()`: `python -m automation` builds the real one, tests pass fakes. Nothing below the CLI
builds a backend, a boto3 session or a console of its own.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from automation.deploy import interrupts
from automation.deploy.interrupts import signals_raise
from automation.errors import AutomationError, UsageProblem

if TYPE_CHECKING:
    import boto3

    from automation.cutover.command import CutoverTiming
    from automation.cutover.command import Environment as CutoverEnvironment
    from automation.decommission.aws import Waits
    from automation.decommission.command import Environment as DecommissionEnvironment
    from automation.deploy.pipeline import DeployOutcome
    from automation.deploy.pulumi_seam import StackBackend, StackHandle
    from automation.deploy.verify import SessionFactory, VerifyTiming
    from automation.offline.planned import Plan
    from automation.pr.github import Published
    from automation.release.version import BuildVersion

# Plain click help, not typer's rich panels: rich shows a `<bool>` type beside every flag
# (`--json <bool>` reads as if it took a value) and keeps the docstrings' line breaks; click
# shows flags bare and wraps help to the terminal (COLUMNS, at most 80 columns).
app = typer.Typer(
    name="python -m automation",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """CI automation for the alunos-api Pulumi stacks.

    Exit codes: 0 ok, 1 failure, 2 usage or configuration; `up` and `rollback`: 3 when the
    update succeeded but could not be verified. Offline commands (plan, cost, check, diagram,
    render, version, stack) need nothing but this checkout; the others need the Pulumi CLI
    and AWS credentials, as their help says.
    """


# Tables on stdout (plan, decommission): the terminal's width, or COLUMNS when set. Piped or in
# a CI log (not a terminal, no COLUMNS), rows would be cut at rich's default of 80: use this.
WIDE_OUTPUT_COLUMNS = 160


def _table_console() -> Console:
    """A console for tables on stdout that never wraps lines itself."""
    console = Console(soft_wrap=False)
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console
    return Console(width=WIDE_OUTPUT_COLUMNS, soft_wrap=False)


def _local_pulumi(work_dir: Path, org: str | None) -> StackBackend:
    from automation.deploy.pulumi_seam import LocalPulumi

    return LocalPulumi(work_dir, org=org)


def _boto3_session(region: str) -> boto3.Session:
    import boto3

    return boto3.Session(region_name=region)


@dataclass(frozen=True, slots=True)
class Environment:
    """What the commands talk to and how long they wait; tests replace the parts they control
    (`dataclasses.replace(Environment.real(), backend=...)`)."""

    backend: Callable[[Path, str | None], StackBackend]
    """The Pulumi backend of a project directory, for an organization (or None)."""
    session: SessionFactory
    """A boto3 session in a region: the default credential chain, `AWS_ENDPOINT_URL` honoured."""
    err: Console
    """Progress, warnings and errors: stderr, so that --json output on stdout stays parseable."""
    sleep: Callable[[float], None] = interrupts.sleep
    """How a retry waits: for a locked stack, for a read after an update (Ctrl-C still
    interrupts it)."""
    waits: Waits | None = None
    """decommission: how long its waits may last (None: the defaults)."""
    gate_timing: VerifyTiming | None = None
    """decommission: how long each gate may wait (None: the default)."""
    cutover_timing: CutoverTiming | None = None
    """cutover: its clocks (bake, TTL waits, Route 53 polling; None: real time)."""

    @classmethod
    def real(cls) -> Environment:
        """The Pulumi CLI through the Automation API, boto3, the terminal. Heavy modules
        (pulumi.automation, boto3) load on first use, so `version` and `stack` start fast."""
        # soft_wrap: never hard-wrap long lines (CI logs are wide; messages stay grep-able).
        return cls(_local_pulumi, _boto3_session, Console(stderr=True, soft_wrap=True))

    def open_stack(
        self, repo: Path, stack: str, org: str | None, *, create: bool = False
    ) -> StackHandle:
        return self.backend(repo.resolve(), org).open_stack(stack, create=create)

    def say(self, message: str) -> None:
        self.err.print(Text(message, style="cyan"))

    def decommission(self, repo: Path, stack: str, org: str | None) -> DecommissionEnvironment:
        from automation.decommission import gates
        from automation.decommission.aws import Waits
        from automation.decommission.command import Environment as ForDecommission

        return ForDecommission(
            session=self.session,
            open_stack=lambda: self.open_stack(repo, stack, org),
            say=self.say,
            waits=self.waits or Waits(),
            gate_timing=self.gate_timing or gates.GATE_TIMING,
        )

    def cutover(self, repo: Path, stack: str, org: str | None) -> CutoverEnvironment:
        from automation.cutover.command import CutoverTiming
        from automation.cutover.command import Environment as ForCutover
        from automation.cutover.progress import for_console

        return ForCutover(
            session=self.session,
            open_stack=lambda: self.open_stack(repo, stack, org),
            timing=self.cutover_timing or CutoverTiming(),
            progress=for_console(self.err, self.say),
            say=self.say,
        )

    def pulumi_line(self, line: str) -> None:
        self.err.print(Text(line), highlight=False)


def _env(ctx: typer.Context) -> Environment:
    """The environment `main()` was given (click hands `obj` down to every command)."""
    env = ctx.obj
    if not isinstance(env, Environment):
        raise TypeError("run the commands through automation.cli.main")
    return env


def emit_json(data: Any) -> None:
    """Print machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@functools.cache
def _command() -> typer.core.TyperGroup:
    """The click command typer builds from the commands' annotations, once per process: building
    it takes tens of milliseconds, and the tests call `main` about a thousand times."""
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    return command


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI against `env` (default: the real one); map known errors to a clean message
    and exit code."""
    env = env or Environment.real()
    try:
        _command().main(args=argv, prog_name="python -m automation", standalone_mode=True, obj=env)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except AutomationError as error:
        env.err.print(Text.assemble(("error: ", "bold red"), str(error)))
        return error.exit_code
    return 0


# --- Commands. Heavy modules (pulumi.automation, boto3) are imported inside the commands that
# need them, so `version` and `stack` start fast.

RepoOption = Annotated[
    Path, typer.Option("--repo", help="The repository (git checkout with Pulumi.yaml).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
StackOption = Annotated[str, typer.Option("--stack", help="Stack name (dev, prod, org/dev).")]
OrgOption = Annotated[
    str | None,
    typer.Option(
        "--org", envvar="PULUMI_ORG", help="Organization: selects the stack as org/project/stack."
    ),
]
CreateOption = Annotated[
    bool, typer.Option("--create", help="Create the stack if it does not exist (never implicit).")
]
LockRetriesOption = Annotated[
    int,
    typer.Option(
        "--lock-retries",
        min=0,
        max=20,
        help="Retries while another update holds the stack (backoff 10 s doubling, 120 s cap).",
    ),
]

SkipVerifyOption = Annotated[
    bool, typer.Option("--skip-verify", help="Do not verify the deployment afterwards.")
]
VerifyTimeoutOption = Annotated[
    float,
    typer.Option(
        "--verify-timeout",
        min=1,
        help="Seconds each verification check may wait (ECS steady state, targets, HTTP).",
    ),
]

EventsOption = Annotated[
    Path,
    typer.Option(
        "--events", help="Engine event log: the file `pulumi preview --event-log FILE` wrote."
    ),
]
VersionOption = Annotated[
    str | None,
    typer.Option(
        "--version", help="Version shown in the header (default: the stamped stack config)."
    ),
]
NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Run the program under the mock engine even when the plan cache (.cache/plans) "
        "holds its plan for these inputs.",
    ),
]
RunUrlOption = Annotated[
    str | None,
    typer.Option(
        "--run-url",
        help="Link to the full log (default: this GitHub Actions run, from GITHUB_* variables).",
    ),
]
CommentOption = Annotated[
    bool,
    typer.Option(
        "--comment",
        help="With --diff-against: upsert it as this pull request's comment, and job summary.",
    ),
]


def _preview_markdown(stack: str, events: Path, version: str | None, run_url: str | None) -> str:
    from automation.pr.events import load_change_set
    from automation.pr.github import run_url_from_env
    from automation.pr.render import check_stack_name, render_markdown

    change_set = load_change_set(events, check_stack_name(stack), version)
    return render_markdown(change_set, run_url=run_url or run_url_from_env(os.environ))


def _offline_plan(repo: Path, stack: str, no_cache: bool) -> Plan:
    """The stack's offline plan, from the plan cache when it holds one for these inputs."""
    from automation.offline import cache

    use_cache = not no_cache and cache.enabled(os.environ)
    return cache.plan(repo.resolve(), stack, use_cache=use_cache)


def _warn_placeholders(env: Environment, repo: Path, stack: str) -> None:
    """One stderr line per key still holding an example id: the offline commands take them like
    real ids, and a deploy would fail at AWS minutes later (`check` fails on them)."""
    from automation.release import placeholders

    for found in placeholders.find(repo.resolve(), stack):
        env.err.print(Text.assemble(("warning: ", "bold yellow"), found.message(stack)))


@app.command()
def render(
    stack: StackOption,
    events: EventsOption,
    version: VersionOption = None,
    run_url: RunUrlOption = None,
) -> None:
    """Print a preview's changes as the Markdown a pull request comment shows."""
    sys.stdout.write(_preview_markdown(stack, events, version, run_url))


@app.command()
def comment(
    ctx: typer.Context,
    stack: StackOption,
    events: EventsOption,
    version: VersionOption = None,
    run_url: RunUrlOption = None,
) -> None:
    """Upsert the preview comment for STACK on this pull request, and the job summary."""
    _publish(_env(ctx).err, _preview_markdown(stack, events, version, run_url))


def _publish(
    err: Console, markdown: str, stdout_is_json: bool = False, kind: str = "preview"
) -> Published:
    """Upsert the PR comment and the job summary; a 403 (fork PR) is a warning, not a failure.

    The warning is also a `::warning::` workflow command (an annotation on the run), on stdout,
    or on stderr when stdout carries JSON (the runner reads commands from both)."""
    from automation.pr.github import publish, warning_command

    published = publish(markdown, os.environ)
    if published.warning:
        (sys.stderr if stdout_is_json else sys.stdout).write(warning_command(published.warning))
        err.print(f"[yellow]warning:[/] {escape(published.warning)}")
    else:
        err.print(f"{published.action} the {kind} comment: {published.comment_url or '?'}")
    if published.summary_written:
        err.print(f"appended the {kind} to the job summary")
    return published


@app.command()
def plan(
    ctx: typer.Context,
    stack: StackOption,
    as_json: JsonOption = False,
    repo: RepoOption = Path("."),
    diff_against: Annotated[
        str | None,
        typer.Option(
            "--diff-against",
            metavar="REF",
            help="Show what changes against the program at this git ref (branch, tag, sha), "
            "as the Markdown a pull request comment shows.",
        ),
    ] = None,
    comment: CommentOption = False,
    run_url: RunUrlOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Offline plan: run the program under the mock engine and show what it would create."""
    from automation.offline import plan as planning

    if diff_against is not None:
        diff = _DiffRequest(diff_against, comment, run_url, no_cache)
        _plan_diff(_env(ctx).err, stack, repo, diff, as_json)
        return
    if comment:
        raise UsageProblem("--comment needs --diff-against REF (the comment shows a difference)")
    _warn_placeholders(_env(ctx), repo, stack)
    result = _offline_plan(repo, stack, no_cache)
    if as_json:
        emit_json(planning.to_json(result))
    else:
        planning.print_table(result, _table_console())


@dataclass(frozen=True)
class _DiffRequest:
    """plan/report --diff-against REF [--comment] [--run-url URL] [--no-cache]."""

    ref: str
    comment: bool
    run_url: str | None
    no_cache: bool
    fail_on_checks: bool = False
    """report: exit 1 when the head fails its checks (as `check` does), once the comment is out."""


def _plan_diff(err: Console, stack: str, repo: Path, request: _DiffRequest, as_json: bool) -> None:
    from automation.insights.report import check
    from automation.offline import cache
    from automation.pr.github import commenting_context, run_url_from_env
    from automation.pr.plan_comment import compose
    from automation.pr.plan_diff import diff_against
    from automation.pr.render import check_stack_name, is_shown, validate_run_url
    from automation.release import stack_config

    ref, comment = request.ref, request.comment
    check_stack_name(stack)
    stack_config.is_production(repo.resolve(), stack)  # its checks ask: a misconfigured prod stops
    given_url = request.run_url
    run_url = validate_run_url(given_url) if given_url else run_url_from_env(os.environ)
    if comment:
        commenting_context(os.environ)  # fail before planning, not after
    use_cache = not request.no_cache and cache.enabled(os.environ)
    found = diff_against(repo.resolve(), stack, ref, use_cache=use_cache)
    checked = check(found.head, repo.resolve(), stack_config.load(repo.resolve(), stack))
    markdown = compose(found, repo.resolve(), run_url, checked)
    shown = [change for change in found.change_set.changes if is_shown(change)]
    tally = Counter(str(change.operation) for change in shown)
    summary = ", ".join(f"{op} {n}" for op, n in sorted(tally.items())) or "no changes"
    err.print(
        Text(
            f"offline plan of {stack} against {ref} ({found.base.commit[:12]}, "
            f"base {found.base.status}): {summary}",
            style="cyan",
        )
    )
    result = found.to_json()
    if request.fail_on_checks:
        result["check"] = checked.to_json()
    if comment:
        published = _publish(err, markdown, as_json, kind="offline plan")
        result["comment"] = {
            "action": published.action,
            "url": published.comment_url,
            "warning": published.warning,
        }
    if as_json:
        emit_json(result)
    elif not comment:
        sys.stdout.write(markdown)
    if found.refused:
        names = ", ".join(sorted({hazard.name for hazard in found.refused}))
        raise AutomationError(
            f"refused: the change would lose data or traffic on the deployed stack {stack} "
            f"({names}); the comment says why and what to do instead"
        )
    if request.fail_on_checks and not checked.passed:
        raise AutomationError(
            f"check {stack}: the head fails its policy checks or holds example values "
            "(the checks section says which)"
        )


def _build_version(env: Environment, repo: Path) -> BuildVersion:
    from automation.release.version import derive_version

    return derive_version(
        repo.resolve(), warn=lambda message: env.err.print(Text(f"warning: {message}"))
    )


@app.command()
def version(ctx: typer.Context, repo: RepoOption = Path("."), as_json: JsonOption = False) -> None:
    """The build version from git: X.Y.Z at a release tag vX.Y.Z, else a -dev pre-release."""
    build = _build_version(_env(ctx), repo)
    if as_json:
        emit_json(build.to_json())
    else:
        sys.stdout.write(build.version + "\n")


@app.command()
def stack(as_json: JsonOption = False) -> None:
    """Which stacks this GitHub Actions run previews or deploys (from GITHUB_* variables)."""
    from automation.release.ci_context import context_from_env, decide

    decision = decide(context_from_env())
    if as_json:
        emit_json(decision.to_json())
    else:
        stacks = ", ".join(decision.stacks) or "no stack"
        sys.stdout.write(f"{decision.operation}: {stacks} ({decision.reason})\n")


@app.command()
def preview(
    ctx: typer.Context,
    stack: StackOption,
    repo: RepoOption = Path("."),
    org: OrgOption = None,
    create: CreateOption = False,
    lock_retries: LockRetriesOption = 5,
    comment: Annotated[
        bool,
        typer.Option(
            "--comment",
            help="Upsert the changes as this pull request's comment for STACK, and job summary.",
        ),
    ] = False,
    events_out: Annotated[
        Path | None,
        typer.Option(
            "--events-out",
            help="Also save the engine events as an event log (JSON lines, values masked).",
        ),
    ] = None,
    run_url: RunUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Preview a stack with the version stamped (progress on stderr).

    Needs the Pulumi CLI, its backend login and AWS credentials; not Docker (pulumi-docker 4
    builds no image on preview). Exit 0: previewed; 1: failed; 2: usage or configuration.
    """
    from automation.deploy import pipeline
    from automation.deploy.updates import LockRetry
    from automation.pr.event_recorder import recording
    from automation.pr.github import commenting_context, run_url_from_env
    from automation.pr.render import check_stack_name, render_markdown, validate_run_url
    from automation.release import stack_config

    env = _env(ctx)
    stack_config.is_production(repo.resolve(), stack)  # a misconfigured prod stops here (exit 2)
    if comment:  # everything the comment needs is checked before minutes of preview
        check_stack_name(stack)
        run_url = validate_run_url(run_url) if run_url else run_url_from_env(os.environ)
        commenting_context(os.environ)
    build = _build_version(env, repo)
    handle = env.open_stack(repo, stack, org, create=create)
    with signals_raise(), recording(events_out) as recorder:
        summary = pipeline.preview(
            handle,
            build,
            console=pipeline.Console(env.say, env.pulumi_line),
            settings=pipeline.DeploySettings(lock=LockRetry(retries=lock_retries, sleep=env.sleep)),
            on_event=recorder if comment or events_out else None,
        )
    result: dict[str, Any] = {
        "stack": handle.name,
        "version": build.version,
        "image_tag": build.image_tag,
        "changes": dict(summary.changes),
    }
    if events_out is not None:
        env.err.print(f"saved the engine events to {events_out}")
    if comment:
        change_set = recorder.change_set(stack, build.version)
        published = _publish(env.err, render_markdown(change_set, run_url=run_url), as_json)
        result["comment"] = {
            "action": published.action,
            "url": published.comment_url,
            "warning": published.warning,
        }
    if as_json:
        emit_json(result)
    else:
        counts = ", ".join(f"{op} {n}" for op, n in sorted(summary.changes.items())) or "none"
        env.say(f"preview of {handle.name} at {build.version}: {counts}")


@app.command()
def up(
    ctx: typer.Context,
    stack: StackOption,
    repo: RepoOption = Path("."),
    org: OrgOption = None,
    create: CreateOption = False,
    lock_retries: LockRetriesOption = 5,
    rollback_on_failure: Annotated[
        bool,
        typer.Option(
            "--rollback-on-failure",
            help="If the update or verification fails, redeploy the previous version. It is "
            "looked up before the update: when there is none (a first deploy, an expired "
            "image) a warning says so and the deploy goes on.",
        ),
    ] = False,
    skip_verify: SkipVerifyOption = False,
    verify_timeout: VerifyTimeoutOption = 600,
    as_json: JsonOption = False,
) -> None:
    """Deploy the checked-out version to a stack, then verify it serves that version.

    Needs the Pulumi CLI, its backend login, AWS credentials and Docker (to build and push the
    image, unless its tag is already in ECR). Exit 0: deployed and verified; 1: failed; 2: usage
    or configuration; 3: updated but not verified.
    """
    from automation.deploy import pipeline
    from automation.deploy.updates import LockRetry, ReadRetry
    from automation.deploy.verify import VerifyTiming
    from automation.release import stack_config

    env = _env(ctx)
    build = _build_version(env, repo)
    production = stack_config.is_production(repo.resolve(), stack)
    pipeline.require_deployable(stack, build, production=production)
    handle = env.open_stack(repo, stack, org, create=create)
    settings = pipeline.DeploySettings(
        lock=LockRetry(retries=lock_retries, sleep=env.sleep),
        reads=ReadRetry(sleep=env.sleep),
        verify=None if skip_verify else VerifyTiming.within(verify_timeout),
        rollback_on_failure=rollback_on_failure,
    )
    with signals_raise():  # Ctrl-C/SIGTERM while verifying: a clean exit 130/143, no traceback
        outcome = pipeline.up(
            handle,
            build,
            production=production,
            console=pipeline.Console(env.say, env.pulumi_line),
            settings=settings,
            sessions=env.session,
        )
    _finish(env, outcome, as_json)


@app.command()
def rollback(
    ctx: typer.Context,
    stack: StackOption,
    to: Annotated[
        str | None,
        typer.Option("--to", help="The version to redeploy (default: the one before the current)."),
    ] = None,
    repo: RepoOption = Path("."),
    org: OrgOption = None,
    lock_retries: LockRetriesOption = 5,
    skip_verify: SkipVerifyOption = False,
    verify_timeout: VerifyTimeoutOption = 600,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (the version, its image by digest) and change nothing.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Redeploy an earlier version's image from ECR (by digest, no rebuild), then verify it.

    Needs the Pulumi CLI, its backend login and AWS credentials; not Docker (nothing is built).
    Exit 0: rolled back and verified; 1: failed; 2: usage or no such version; 3: updated but
    not verified.
    """
    from automation.deploy import pipeline
    from automation.deploy.rollback import plan_rollback
    from automation.deploy.updates import LockRetry, ReadRetry
    from automation.deploy.verify import VerifyTiming
    from automation.release import stack_config

    env = _env(ctx)
    stack_config.is_production(repo.resolve(), stack)  # a misconfigured prod stops here (exit 2)
    handle = env.open_stack(repo, stack, org)
    settings = pipeline.DeploySettings(
        lock=LockRetry(retries=lock_retries, sleep=env.sleep),
        reads=ReadRetry(sleep=env.sleep),
        verify=None if skip_verify else VerifyTiming.within(verify_timeout),
    )
    with signals_raise():
        plan = plan_rollback(handle, env.session, to=to)
        if dry_run:
            if as_json:
                emit_json(plan.to_json())
            else:
                sys.stdout.write(f"{plan.describe()}\n")
            env.say("dry run: nothing changed (run it without --dry-run to roll back)")
            return
        outcome = pipeline.rollback(
            handle,
            plan,
            console=pipeline.Console(env.say, env.pulumi_line),
            settings=settings,
            sessions=env.session,
        )
    _finish(env, outcome, as_json)


def _finish(env: Environment, outcome: DeployOutcome, as_json: bool) -> None:
    from automation.deploy.updates import UpdateSucceededUnread

    if as_json:
        emit_json(outcome.to_json())
    if outcome.failure is not None:
        raise (UpdateSucceededUnread if outcome.unverified else AutomationError)(outcome.failure)
    env.say(f"{outcome.operation} of {outcome.stack} to {outcome.version}: done")


@app.command()
def unlock(
    ctx: typer.Context,
    stack: StackOption,
    repo: RepoOption = Path("."),
    org: OrgOption = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            envvar="GITHUB_RUN_ID",
            help="The CI run whose left-over update may be cancelled (default: this run).",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            max=270,
            metavar="SECONDS",
            help="How long to wait for an update still running on this machine to end.",
        ),
    ] = 120,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Cancel an update in progress that another run (or a person) started.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Say whether STACK is locked by an update, and release a lock a cancelled run left behind.

    For the workflows' `if: cancelled() || failure()` step. An update still running on this
    machine is waited for, never cancelled while it runs; in CI, one this run started that
    outlives the wait is stopped (SIGTERM, SIGKILL after 10 s). An update in progress that this
    CI run started and whose process is gone is cancelled (`pulumi cancel`); one started
    elsewhere is left alone unless --force. On a self-managed backend (s3://, file://) only the
    lock files a dead process of this machine wrote are deleted; others are named and left
    unless --force (`pulumi cancel`). Needs the Pulumi CLI and its backend login.
    Exit 0: unlocked (or released); 1: still running or refused; 2: usage.
    """
    from automation.deploy.unlock import UnlockSettings
    from automation.deploy.unlock import unlock as release

    env = _env(ctx)
    handle = env.open_stack(repo, stack, org)
    with signals_raise():
        report = release(
            handle, UnlockSettings(run_id=run_id, wait_seconds=wait, force=force), env.say
        )
    if as_json:
        emit_json(report.to_json())
    if report.exit_code:
        raise AutomationError(f"{report.state}: {report.detail}")
    env.say(f"{report.state}: {report.detail}")


@app.command()
def outputs(
    ctx: typer.Context,
    stack: StackOption,
    repo: RepoOption = Path("."),
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """The stack's outputs; secret outputs are masked, never printed.

    Needs the Pulumi CLI and its backend login. Exit 0: printed; 1: failed; 2: usage.
    """
    from automation.deploy.pulumi_seam import masked_outputs

    shown = masked_outputs(_env(ctx).open_stack(repo, stack, org).outputs())
    if as_json:
        emit_json(shown)
    else:
        for key, value in sorted(shown.items()):
            sys.stdout.write(f"{key}: {value}\n")


# --- Know before you deploy: cost, policy checks, architecture diagram (offline plan) -----------


@app.command()
def cost(
    ctx: typer.Context,
    stack: StackOption,
    as_json: JsonOption = False,
    repo: RepoOption = Path("."),
    prices: Annotated[
        Path | None,
        typer.Option(
            "--prices",
            help="Price file (default: automation/insights/prices/<the stack's region>.yaml; "
            "one file per region, see docs/regions.md).",
        ),
    ] = None,
    assume: Annotated[
        list[str] | None,
        typer.Option(
            "--assume",
            metavar="KEY=VALUE",
            help="Override a usage assumption of the price file, e.g. --assume alb_lcu=3.",
        ),
    ] = None,
    no_cache: NoCacheOption = False,
    compare_capacity: Annotated[
        bool,
        typer.Option(
            "--compare-capacity",
            help="Estimate the stack on each capacity (fargate, ec2, hybrid), with the config "
            "changes each one takes, side by side (one mock run each, never cached).",
        ),
    ] = False,
) -> None:
    """Monthly cost estimate from the offline plan, with the legacy EC2 footprint beside it."""
    from automation.insights import cost as costing
    from automation.insights import report
    from automation.release import stack_config

    overrides = costing.parse_assumptions(assume or [])
    config = stack_config.load(repo.resolve(), stack)
    _warn_placeholders(_env(ctx), repo, stack)
    if compare_capacity:
        from automation.offline import engine

        results = {}
        for mode in costing.CAPACITY_MODES:
            changes = costing.capacity_overrides(config.project_values(), mode)
            planned = engine.run(repo.resolve(), stack, overrides=changes)
            results[mode] = (report.cost(planned, config, prices, overrides), changes)
        if as_json:
            emit_json(
                {
                    mode: {"estimate": costing.to_json(r), "changes": c}
                    for mode, (r, c) in results.items()
                }
            )
        else:
            sys.stdout.write(costing.compare_capacity_markdown(stack, results))
        return
    result = report.cost(_offline_plan(repo, stack, no_cache), config, prices, overrides)
    if as_json:
        emit_json(costing.to_json(result))
    else:
        sys.stdout.write(costing.cost_markdown(result))


@app.command()
def check(
    stack: StackOption,
    as_json: JsonOption = False,
    repo: RepoOption = Path("."),
    no_cache: NoCacheOption = False,
) -> None:
    """Security and reliability rules over the offline plan, and no example id left in the
    stack's config (exit 1 on a violation or an example value)."""
    from automation.insights import report
    from automation.release import stack_config

    config = stack_config.load(repo.resolve(), stack)
    _ = config.production  # a misconfigured prod stops here, before planning (exit 2)
    checked = report.check(_offline_plan(repo, stack, no_cache), repo.resolve(), config)
    if as_json:
        emit_json(checked.to_json())
    else:
        sys.stdout.write(checked.text())
    if not checked.passed:
        raise typer.Exit(code=1)


@app.command()
def diagram(
    ctx: typer.Context,
    stack: StackOption,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the diagram to FILE, not stdout.")
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Plain Mermaid, without the ```mermaid fence.")
    ] = False,
    readme: Annotated[
        Path | None,
        typer.Option("--readme", help="Regenerate the stack's diagram section in this README."),
    ] = None,
    repo: RepoOption = Path("."),
    no_cache: NoCacheOption = False,
) -> None:
    """Architecture diagram (Mermaid) of a stack, drawn from its offline plan."""
    from automation.insights import diagram as drawing

    planned = _offline_plan(repo, stack, no_cache)
    text = drawing.mermaid(planned) if raw else drawing.markdown(planned)
    if readme is not None:
        try:
            current = readme.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageProblem(f"--readme {readme}: cannot read: {error.strerror}") from None
        output, text = readme, drawing.replace_in_readme(current, stack, planned)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageProblem(f"--output {output}: cannot write: {error.strerror}") from None
    _env(ctx).err.print(f"wrote the {stack} diagram to {output}")


@app.command()
def report(
    ctx: typer.Context,
    stack: StackOption,
    as_json: JsonOption = False,
    repo: RepoOption = Path("."),
    no_cache: NoCacheOption = False,
    diff_against: Annotated[
        str | None,
        typer.Option(
            "--diff-against",
            metavar="REF",
            help="The pull request comment instead: the changes against the program at this git "
            "ref, then the cost (base vs head), the checks and the diagram.",
        ),
    ] = None,
    comment: CommentOption = False,
    run_url: RunUrlOption = None,
) -> None:
    """cost, check and diagram from one offline plan (one mock run, none on a cache hit).

    Exit 1 when a check fails or the config holds example values (as `check`), after
    printing (or commenting) everything; with --diff-against also when `plan --diff-against`
    refuses the change.
    """
    from automation.insights.report import report as compute
    from automation.release import stack_config

    if diff_against is not None:
        diff = _DiffRequest(diff_against, comment, run_url, no_cache, fail_on_checks=True)
        _plan_diff(_env(ctx).err, stack, repo, diff, as_json)
        return
    if comment:
        raise UsageProblem("--comment needs --diff-against REF (the comment shows a difference)")
    config = stack_config.load(repo.resolve(), stack)  # the check's section names example ids
    _ = config.production  # a misconfigured prod stops here, before planning (exit 2)
    found = compute(_offline_plan(repo, stack, no_cache), repo.resolve(), config)
    if as_json:
        emit_json(found.to_json())
    else:
        sys.stdout.write(found.text())
    if not found.passed:
        raise typer.Exit(code=1)


@app.command()
def decommission(
    ctx: typer.Context,
    stack: StackOption,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            help="KEY=VALUE, repeatable: instances carrying all of them. With --tag or "
            "--instance-id the stack config's legacyTags/legacyInstanceIds are not used.",
        ),
    ] = None,
    instance_id: Annotated[
        list[str] | None,
        typer.Option("--instance-id", help="An instance (i-...) to decommission, repeatable."),
    ] = None,
    execute: Annotated[
        bool,
        typer.Option("--execute", help="Carry out the plan (default: a dry run, nothing changes)."),
    ] = False,
    terminate_now: Annotated[
        bool,
        typer.Option(
            "--terminate-now", help="Terminate in this run instead of a later one (no retention)."
        ),
    ] = False,
    retain_days: Annotated[
        int,
        typer.Option(
            "--retain-days",
            min=0,
            max=3650,
            help="Days a stopped instance is kept before a later run terminates it.",
        ),
    ] = 7,
    force_protected: Annotated[
        bool,
        typer.Option(
            "--force-protected",
            help="Remove termination/stop protection and go on (default: refuse such instances).",
        ),
    ] = False,
    skip_gates: Annotated[
        bool,
        typer.Option(
            "--skip-gates",
            help="Do not check that the new service serves first. Refused (exit 2) on a "
            "production stack: its config sets `production: true` (a stack named prod must).",
        ),
    ] = False,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Gate: ECS cluster (default: stack output).")
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Gate: ECS service (default: stack output).")
    ] = None,
    target_group_arn: Annotated[
        str | None,
        typer.Option("--target-group-arn", help="Gate: the service's target group ARN."),
    ] = None,
    alternate_target_group_arn: Annotated[
        str | None,
        typer.Option(
            "--alternate-target-group-arn",
            help="Gate: the second target group of a canary, linear or blue/green strategy "
            "(stack output alternateTargetGroupArn); the tasks may sit in either.",
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Gate: the service URL (/health, /version).")
    ] = None,
    expected_version: Annotated[
        str | None,
        typer.Option("--expected-version", help="Gate: the version /version must report."),
    ] = None,
    alb_dns_name: Annotated[
        str | None,
        typer.Option(
            "--alb-dns-name",
            help="Gate, with a domain: the ALB the HTTP checks reach directly (stack output).",
        ),
    ] = None,
    zone_id: Annotated[
        str | None,
        typer.Option(
            "--zone-id", help="Traffic gate: the name's Route 53 zone (config hostedZoneId)."
        ),
    ] = None,
    record: Annotated[
        str | None,
        typer.Option(
            "--record",
            metavar="NAME",
            help="Traffic gate: the name clients call (config domainName). With a name, the "
            "legacy record must have weight 0 and the instances next to no traffic first.",
        ),
    ] = None,
    quiet_for: Annotated[
        float,
        typer.Option(
            "--quiet-for",
            min=60,
            metavar="SECONDS",
            help="Traffic gate: how long the legacy weight must have been 0, and the window "
            "the instances' traffic is measured over.",
        ),
    ] = 300,
    max_legacy_requests: Annotated[
        int,
        typer.Option(
            "--max-legacy-requests",
            min=0,
            help="Traffic gate: requests the legacy load balancers may still have served.",
        ),
    ] = 5,
    max_legacy_bytes: Annotated[
        int,
        typer.Option(
            "--max-legacy-bytes",
            min=0,
            help="Traffic gate: NetworkIn bytes an instance behind no load balancer may get.",
        ),
    ] = 256 * 1024,
    repo: RepoOption = Path("."),
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Retire the legacy EC2 instances once the Fargate service serves (dry run by default).

    Per instance, with --execute: out of its load balancers (drained), out of its Auto Scaling
    group, an AMI backup, stopped; a later run terminates it after --retain-days and releases its
    Elastic IPs. Progress is tagged on the instance, so any run can be repeated or resumed.
    Needs AWS credentials, and the Pulumi CLI for the stack's outputs unless the gate flags give
    them. Exit 0: every selected instance handled; 1: gates failed or an instance refused or
    failed; 2: usage or configuration (no instance selected, --skip-gates on a production stack).
    """
    from automation.decommission import command
    from automation.decommission.plan import Options
    from automation.decommission.report import render
    from infra import outputs as names

    request = command.Request(
        stack=stack,
        repo=repo.resolve(),
        tags=tuple(tag or ()),
        instance_ids=tuple(instance_id or ()),
        execute=execute,
        options=Options(
            terminate_now=terminate_now, retain_days=retain_days, force_protected=force_protected
        ),
        skip_gates=skip_gates,
        gate_flags={
            names.CLUSTER_NAME: cluster,
            names.SERVICE_NAME: service,
            names.TARGET_GROUP_ARN: target_group_arn,
            names.ALTERNATE_TARGET_GROUP_ARN: alternate_target_group_arn,
            names.SERVICE_URL: url,
            names.VERSION: expected_version,
            names.ALB_DNS_NAME: alb_dns_name,
        },
        zone_id=zone_id,
        record=record,
        quiet_seconds=quiet_for,
        max_requests=max_legacy_requests,
        max_bytes=max_legacy_bytes,
    )
    env = _env(ctx)
    with signals_raise():  # Ctrl-C between steps: a clean exit; the tags say where to resume
        report = command.run(request, env.decommission(repo, stack, org))
    if as_json:
        emit_json(report.to_json())
    else:
        render(report, _table_console())
    if report.exit_code:
        raise AutomationError(report.problem())


@app.command()
def cutover(
    ctx: typer.Context,
    stack: StackOption,
    status: Annotated[
        bool, typer.Option("--status", help="Show the records, their weights and since when.")
    ] = False,
    to: Annotated[
        int | None,
        typer.Option(
            "--to",
            min=0,
            max=100,
            metavar="PERCENT",
            help="Send PERCENT % of the name's answers to the new service (0: all back to EC2).",
        ),
    ] = None,
    finish: Annotated[
        bool,
        typer.Option(
            "--finish",
            help="Remove the legacy record: only at 100 % to the new service, after a bake.",
        ),
    ] = False,
    execute: Annotated[
        bool,
        typer.Option("--execute", help="Make the change (default: a dry run, nothing changes)."),
    ] = False,
    bake: Annotated[
        float,
        typer.Option(
            "--bake",
            min=0,
            max=86400,
            metavar="SECONDS",
            help="After a move towards the new service, watch its alarms this long; on ALARM "
            "the previous weights come back and the command exits 1.",
        ),
    ] = 300,
    max_ttl_wait: Annotated[
        float,
        typer.Option(
            "--max-ttl-wait",
            min=0,
            metavar="SECONDS",
            help="Wait at most this long for the old TTL to pass in this run; a longer wait "
            "ends the run (exit 0) saying when to run it again.",
        ),
    ] = 900,
    zone_id: Annotated[
        str | None,
        typer.Option(
            "--zone-id", help="Route 53 hosted zone (default: stack config hostedZoneId)."
        ),
    ] = None,
    record: Annotated[
        str | None,
        typer.Option("--record", metavar="NAME", help="The name (default: config domainName)."),
    ] = None,
    alb_dns_name: Annotated[
        str | None,
        typer.Option("--alb-dns-name", help="The new service's ALB (default: stack output)."),
    ] = None,
    alb_zone_id: Annotated[
        str | None,
        typer.Option("--alb-zone-id", help="The ALB's canonical hosted zone id (stack output)."),
    ] = None,
    alarm: Annotated[
        list[str] | None,
        typer.Option(
            "--alarm",
            metavar="NAME",
            help="An alarm the bake watches, repeatable (default: the stack's alarmNames).",
        ),
    ] = None,
    repo: RepoOption = Path("."),
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move the API's name from the EC2 deployment to the new service, gradually and reversibly.

    Route 53 weights, one atomic change batch per move: the first turns the name's record into
    a weighted pair `legacy` + `fargate` (its TTL lowered to 60 s first); --to 0 sends
    everything back. Each move towards the new service bakes while its alarms are watched.
    A dry run unless --execute. Needs AWS credentials; the identifiers come from the flags, else
    the stack config and outputs (the Pulumi CLI). Exit 0: done or nothing to do; 1: refused,
    reverted or failed; 2: usage or configuration (unknown zone, no such record, a record the
    cutover cannot carry over, a name routed by something else).
    """
    from automation.cutover import command
    from automation.cutover.report import render

    chosen = [
        name
        for name, given in (("--status", status), ("--to", to is not None), ("--finish", finish))
        if given
    ]
    if len(chosen) != 1:
        raise UsageProblem(
            "give exactly one of --status, --to PERCENT or --finish "
            f"(got {', '.join(chosen) or 'none'})"
        )
    if status and execute:
        raise UsageProblem("--status changes nothing: drop --execute")
    action = (
        command.Action.STATUS
        if status
        else command.Action.FINISH
        if finish
        else command.Action.MOVE
    )
    request = command.Request(
        stack=stack,
        repo=repo.resolve(),
        action=action,
        percent=to,
        execute=execute,
        bake_seconds=bake,
        ttl_wait_limit=max_ttl_wait,
        identifiers=command.Identifiers(
            zone_id=zone_id,
            record=record,
            alb_dns_name=alb_dns_name,
            alb_zone_id=alb_zone_id,
            alarms=tuple(alarm or ()),
        ),
    )
    env = _env(ctx)
    with signals_raise():  # Ctrl-C during a wait or a bake: the next run resumes from Route 53
        report = command.run(request, env.cutover(repo, stack, org))
    if as_json:
        emit_json(report.to_json())
    else:
        render(report, Console(soft_wrap=True))
    if report.exit_code:
        raise AutomationError(report.reason)


MIGRATION_STEPS = ("status", "finish", "decommission")


@app.command()
def migrate(
    ctx: typer.Context,
    stack: StackOption,
    step: Annotated[
        str,
        typer.Option(
            "--step",
            metavar="STEP",
            help="status; a share of traffic for the new service, 0..100 (10, 50, 100; 0 sends "
            "everything back to EC2); finish (remove the legacy record); decommission.",
        ),
    ],
    execute: Annotated[
        bool,
        typer.Option(
            "--execute",
            envvar="MIGRATE_EXECUTE",
            help="Make the change (default: a dry run, nothing changes). The workflow passes "
            "its checkbox as MIGRATE_EXECUTE=true/false.",
        ),
    ] = False,
    repo: RepoOption = Path("."),
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """One step of the migration from EC2, as the `migrate` workflow runs it: `cutover` for the
    traffic steps, `decommission` for the instances, with their defaults (bake 300 s, gates).

    Once the migration is finished (the legacy record removed and no legacy instance left),
    every step has nothing to do: it says so and exits 0. Needs AWS credentials and the stack's
    outputs (the Pulumi CLI). Exit codes as `cutover` and `decommission`.
    """
    from automation.cutover import command as cut
    from automation.cutover.records import Phase
    from automation.decommission import command as retire

    percent = None
    if step not in MIGRATION_STEPS:
        if not step.isdigit() or not 0 <= int(step) <= 100:
            raise UsageProblem(
                f"--step {step!r}: allowed: {', '.join(MIGRATION_STEPS)} or a share 0..100"
            )
        percent = int(step)
    env = _env(ctx)
    where = repo.resolve()
    status = cut.run(cut.Request(stack, where, cut.Action.STATUS), env.cutover(repo, stack, org))
    cutover_done = status.before is not None and status.before.phase is Phase.FINISHED

    def finished(reason: str) -> None:
        env.say(f"the migration is finished: {reason}; nothing to do")
        if as_json:
            emit_json(
                {"schema": 1, "stack": stack, "step": step, "status": "finished", "reason": reason}
            )

    if step == "decommission":
        from automation.decommission.report import render as show

        retirement = retire.Request(stack=stack, repo=where, execute=execute)
        try:
            with signals_raise():
                report = retire.run(retirement, env.decommission(repo, stack, org))
        except retire.NothingSelected:
            if not cutover_done:
                raise
            finished("the legacy record is gone and no legacy instance is left")
            return
        if as_json:
            emit_json(report.to_json())
        else:
            show(report, _table_console())
        if report.exit_code:
            raise AutomationError(report.problem())
        return
    if cutover_done and step != "status":
        way_back = (
            " (to send traffic back to EC2 now, recreate the legacy record by hand first: "
            'docs/cutover.md, "Going back after --finish")'
        )
        finished(status.reason + (way_back if percent is not None else ""))
        return
    from automation.cutover.report import render

    if step == "status":
        result = status
    else:
        action = cut.Action.FINISH if step == "finish" else cut.Action.MOVE
        move = cut.Request(stack, where, action, percent=percent, execute=execute)
        with signals_raise():
            result = cut.run(move, env.cutover(repo, stack, org))
    if as_json:
        emit_json(result.to_json())
    else:
        render(result, Console(soft_wrap=True))
    if result.exit_code:
        raise AutomationError(result.reason)
