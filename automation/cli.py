"""Command-line entry point. Commands stay thin: parse flags, call a module, print the result."""

from __future__ import annotations

import json
import sys
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
