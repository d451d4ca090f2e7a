"""The run's report: per instance id, the actions, the status and the reason; as a table or JSON.

The JSON schema (`schema: 1`) is stable: fields are only ever added. `instances` is sorted by
id; each action is `{step, detail, done}` (`done` false: planned, or not carried out because the
gates refused). Exit code: 0 when every selected instance was handled (planned, done or
skipped), 1 when the gates failed or any instance was refused or failed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from automation.decommission.execute import Action
from automation.decommission.plan import Options, Status
from automation.decommission.selection import Selectors
from automation.deploy.verify import VerificationReport

SCHEMA = 1
STYLES = {
    Status.PLANNED: "cyan",
    Status.DONE: "green",
    Status.SKIPPED: "dim",
    Status.REFUSED: "yellow",
    Status.FAILED: "red",
}


@dataclass(frozen=True, slots=True)
class InstanceReport:
    instance_id: str
    name: str
    state: str
    status: Status
    reason: str
    actions: tuple[Action, ...] = ()
    selected_by: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "state": self.state,
            "status": str(self.status),
            "reason": self.reason,
            "actions": [action.to_json() for action in self.actions],
            "selected_by": list(self.selected_by),
        }


@dataclass(frozen=True, slots=True)
class Report:
    stack: str
    region: str
    execute: bool
    selectors: Selectors
    options: Options
    gates: VerificationReport | None
    """None: skipped (`--skip-gates`, allowed on non-production stacks only)."""
    instances: tuple[InstanceReport, ...]

    @property
    def proceed(self) -> bool:
        return self.gates is None or self.gates.ok

    @property
    def ok(self) -> bool:
        return self.proceed and not any(
            i.status in (Status.REFUSED, Status.FAILED) for i in self.instances
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        counted = Counter(str(i.status) for i in self.instances)
        return {str(status): counted.get(str(status), 0) for status in Status}

    def problem(self) -> str:
        """One line for the error message when the exit code is 1."""
        if not self.proceed and self.gates is not None:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in self.gates.failures())
            return f"the gates failed, nothing was changed: {failed}"
        counts = self.counts()
        return (
            f"{counts['refused']} instance(s) refused and {counts['failed']} failed "
            f"of {len(self.instances)} selected (see the report)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "stack": self.stack,
            "region": self.region,
            "mode": "execute" if self.execute else "dry-run",
            "selection": self.selectors.to_json(),
            "options": {
                "terminate_now": self.options.terminate_now,
                "retain_days": self.options.retain_days,
                "force_protected": self.options.force_protected,
            },
            "gates": (
                {"checked": False, "ok": None, "checks": []}
                if self.gates is None
                else {"checked": True, **self.gates.to_json()}
            ),
            "proceed": self.proceed,
            "ok": self.ok,
            "counts": self.counts(),
            "instances": [i.to_json() for i in self.instances],
        }


def render(report: Report, console: Console) -> None:
    mode = "execute" if report.execute else "dry run (nothing changed; --execute to carry it out)"
    console.print(
        f"[bold]decommission[/] {escape(report.stack)} in {escape(report.region)}: {mode}\n"
        f"selected: {escape(report.selectors.describe())}"
    )
    if report.gates is None:
        console.print("[yellow]gates skipped[/] (--skip-gates, non-production stack)")
    else:
        for check in report.gates.checks:
            mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
            console.print(f"  {mark} {escape(check.name)}: {escape(check.detail)}")
        if not report.gates.ok:
            console.print("[red]the gates failed: nothing is changed[/]")
    table = Table(show_lines=True)
    for column in ("instance", "state", "status", "actions", "reason"):
        table.add_column(column, overflow="fold")
    for item in report.instances:
        label = item.instance_id + (f"\n{item.name}" if item.name else "")
        actions = "\n".join(
            ("✓ " if action.done else "· ") + action.detail for action in item.actions
        )
        style = STYLES[item.status]
        table.add_row(
            escape(label),
            escape(item.state),
            f"[{style}]{item.status}[/]",
            escape(actions) or "-",
            escape(item.reason),
        )
    console.print(table)
    counts = ", ".join(f"{n} {status}" for status, n in report.counts().items() if n)
    console.print(f"{len(report.instances)} instance(s): {counts or 'none'}")
