"""The CI tool: `python -m automation <command>` (see `python -m automation --help`).

One package per capability; imports only go downward in this list (import-linter checks it,
see `[tool.importlinter]` in pyproject.toml, where every package must have its layer):

- `cli`: the command line, the one module that knows every package below (`__main__` runs it);
- `decommission/`: retiring the legacy EC2 instances once the new service serves and the
  traffic has left them;
- `cutover/`: moving the API's name from the EC2 deployment to the new service by Route 53
  weights, watched by the alarms, and back;
- `pr/` and `deploy/` (independent of each other): what a pull request shows (engine events,
  offline plan diff, Markdown, GitHub comments), and running Pulumi for real (the seam,
  preview/up, verification, rollout, rollback, unlock);
- `insights/`: what a plan costs, whether it passes the policy rules, what it looks like;
- `offline/`: the program under Pulumi's mock engine, its plan, and the plan cache;
- `release/`: which version and which stacks a run is about, and their configuration;
- `changes` and `errors`: the change model every reader of a change set shares, and the errors
  the CLI turns into exit codes.
"""
