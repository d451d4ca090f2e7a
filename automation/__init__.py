"""The CI tool: `python -m automation <command>` (see `python -m automation --help`)."""
