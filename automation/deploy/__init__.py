"""Running Pulumi for real, and making sure what it deployed serves.

Modules, from the bottom up: `aws_errors` (AWS errors and missing credentials in one line),
`interrupts` (Ctrl-C and SIGTERM as exceptions), `preflight` (`pulumi` and `uv` on PATH),
`pulumi_process` (the CLI processes the Automation API starts, held so a signal can reach them),
`pulumi_seam` (the one place that calls `pulumi.automation`), `updates` (stamped config, lock
retries, stopping `pulumi` on a signal, reads after an update), `diy_locks` (a self-managed
backend's lock files and who wrote them), `unlock` (a lock a cancelled run left), `verify`
(service steady, targets healthy, `/version`), `rollout` (following an ECS canary, linear or
blue/green deployment through its bake), `rollback` (the plan, by reading only: which earlier
version, its image by digest), `pipeline` (preview, up and rollback end to end).

May import `automation.release`, `automation.changes`, `automation.errors`, `infra.outputs` and
`infra.rollout` (the strategies' timings); never `automation.pr` (the two are independent) nor
anything above.
"""
