"""A cutover run for people: the records, the steps (planned or done, with their Route 53 change
ids), the bake, and the outcome. `Report.to_json` is the machine form (`schema: 1`)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from automation.cutover import records
from automation.cutover.command import Outcome, Report
from automation.cutover.records import Layout

STYLES = {
    Outcome.DONE: "green",
    Outcome.NOTHING: "green",
    Outcome.PLANNED: "cyan",
    Outcome.WAITING: "yellow",
    Outcome.REFUSED: "yellow",
    Outcome.REVERTED: "red",
    Outcome.FAILED: "red",
}


def _records_table(layout: Layout, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("record", "weight", "TTL", "answers with"):
        table.add_column(column)
    for record in (layout.legacy, layout.fargate):
        if record is None:
            continue
        table.add_row(
            record.set_identifier or "(plain)",
            "-" if record.weight is None else str(record.weight),
            "alias" if record.ttl is None else f"{record.ttl} s",
            escape(f"{record.type} {record.target}"),
        )
    return table


def render(report: Report, console: Console) -> None:
    console.print(
        f"cutover {escape(report.stack)}: {escape(report.record)} in zone {report.zone_id}"
        + ("" if report.execute or report.action.value == "status" else " (dry run)")
    )
    shown = report.after or report.before
    if shown is not None:
        console.print(_records_table(shown, "records now" if report.after else "records"))
    for number, done in enumerate(report.steps, 1):
        mark = "done" if done.done else "planned"
        line = f"{number}. [{mark}] {escape(done.step.summary)}"
        if done.submitted is not None:
            line += f" (change {done.submitted.change_id})"
        console.print(line)
        for change in done.changes:
            console.print(f"     {escape(records.describe_change(change))}")
    if report.bake is not None:
        result = "passed" if report.bake.passed else "breached"
        console.print(
            f"bake: {result} after {report.bake.watched_seconds:.0f} s "
            f"({report.bake.looks} looks at {len(report.alarms)} alarm(s))"
        )
    style = STYLES[report.outcome]
    console.print(f"[{style}]{report.outcome.value}[/{style}]: {escape(report.reason)}")
