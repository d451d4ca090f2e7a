"""Command-line entry point. Commands stay thin: parse flags, call a module, print the result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
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


@app.command()
def plan(
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name (dev, prod)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    project_dir: Path = typer.Option(
        Path("."), "--project-dir", help="Directory holding Pulumi.yaml and __main__.py."
    ),
) -> None:
    """Offline plan: run the program under the mock engine and show what it would create."""
    from automation import offline
    from automation import plan as planning

    result = offline.run(project_dir.resolve(), stack)
    if as_json:
        emit_json(planning.to_json(result))
    else:
        planning.print_table(result, Console(width=max(160, Console().width)))
