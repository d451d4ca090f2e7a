"""Command-line entry point. Commands stay thin: parse flags, call a module, print the result."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from automation.errors import AutomationError

app = typer.Typer(
    name="python -m automation",
    help="CI automation for the alunos-api Pulumi stacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """CI automation for the alunos-api Pulumi stacks (exit codes: 0 ok, 1 failure, 2 usage)."""


# Human output and progress go to stderr so that --json output on stdout stays parseable.
err = Console(stderr=True)


def emit_json(data: Any) -> None:
    """Print machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map known errors to a clean message and exit code."""
    try:
        app(args=argv, prog_name="python -m automation", standalone_mode=True)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except AutomationError as error:
        err.print(Text.assemble(("error: ", "bold red"), str(error)))
        return error.exit_code
    return 0


StackOption = Annotated[str, typer.Option("--stack", help="Stack name (dev, prod, org/dev).")]
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
RunUrlOption = Annotated[
    str | None,
    typer.Option(
        "--run-url",
        help="Link to the full log (default: this GitHub Actions run, from GITHUB_* variables).",
    ),
]


def _preview_markdown(stack: str, events: Path, version: str | None, run_url: str | None) -> str:
    from automation.events import load_change_set
    from automation.github import run_url_from_env
    from automation.render import check_stack_name, render_markdown

    change_set = load_change_set(events, check_stack_name(stack), version)
    return render_markdown(change_set, run_url=run_url or run_url_from_env(os.environ))


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
    stack: StackOption,
    events: EventsOption,
    version: VersionOption = None,
    run_url: RunUrlOption = None,
) -> None:
    """Upsert the preview comment for STACK on this pull request, and the job summary."""
    from automation.github import publish, warning_command

    published = publish(_preview_markdown(stack, events, version, run_url), os.environ)
    if published.warning:
        sys.stdout.write(warning_command(published.warning))
        err.print(f"[yellow]warning:[/] {escape(published.warning)}")
    else:
        err.print(f"{published.action} the preview comment: {published.comment_url or '?'}")
    if published.summary_written:
        err.print("appended the preview to the job summary")


@app.command()
def plan(
    stack: StackOption,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    project_dir: Annotated[
        Path, typer.Option("--project-dir", help="Directory holding Pulumi.yaml and __main__.py.")
    ] = Path("."),
) -> None:
    """Offline plan: run the program under the mock engine and show what it would create."""
    from automation import offline
    from automation import plan as planning

    result = offline.run(project_dir.resolve(), stack)
    if as_json:
        emit_json(planning.to_json(result))
    else:
        planning.print_table(result, Console(width=max(160, Console().width)))
