"""What one offline plan tells before a deploy: its monthly cost, the policy checks (with the
example ids its config still holds) and its architecture diagram.

`cost`, `check` and `diagram` each show one of them; `report` (and the pull request's plan-diff
comment) shows all three, computed from a single plan: one mock run, or none on a cache hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automation.insights import checks, diagram
from automation.insights import cost as costing
from automation.offline.planned import Plan
from automation.release import placeholders
from automation.release.stack_config import StackConfig


@dataclass(frozen=True)
class Checked:
    """The policy rules' report, and the config's keys still holding example ids (each fails
    the check: a deploy would fail at AWS with them)."""

    report: checks.CheckReport
    examples: list[str]

    @property
    def passed(self) -> bool:
        return self.report.passed and not self.examples

    def text(self) -> str:
        out = checks.text_report(self.report)
        if self.examples:
            out += (
                f"check {self.report.stack}: {len(self.examples)} key(s) still hold example "
                "values:\n" + "".join(f"  {line}\n" for line in self.examples)
            )
        return out

    def markdown(self) -> str:
        out = checks.check_markdown([self.report]).rstrip("\n") + "\n"
        if self.examples:
            out += (
                f"\n**Example values** ({len(self.examples)} key(s); the check fails on them):\n"
                + "".join(f"- {line}\n" for line in self.examples)
            )
        return out

    def to_json(self) -> dict[str, Any]:
        document = checks.to_json(self.report)
        document["placeholders"] = self.examples
        document["passed"] = self.passed
        return document


def check(plan: Plan, project_dir: Path, config: StackConfig) -> Checked:
    examples = [found.message(plan.stack) for found in placeholders.find(project_dir, plan.stack)]
    return Checked(checks.run_checks(plan, production=config.production), examples)


def cost(
    plan: Plan,
    config: StackConfig,
    prices: Path | None = None,
    overrides: Mapping[str, float] | None = None,
) -> costing.Estimate:
    """The estimate with the stack region's price file (or `prices`), the legacy EC2 beside it."""
    region = str(config.get("aws:region") or plan.outputs.get("region") or "")
    table = costing.load_prices(prices or costing.price_file(region))
    legacy = costing.legacy_footprint(config.project_values())
    return costing.estimate(plan, table, legacy=legacy, overrides=overrides or {})


@dataclass(frozen=True)
class Report:
    """cost, check and diagram of one plan."""

    estimate: costing.Estimate
    checked: Checked
    mermaid: str

    @property
    def passed(self) -> bool:
        return self.checked.passed

    def text(self) -> str:
        return "\n".join(
            (
                costing.cost_markdown(self.estimate),
                self.checked.text(),
                f"### Architecture\n\n```mermaid\n{self.mermaid}```\n",
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.checked.report.stack,
            "cost": costing.to_json(self.estimate),
            "check": self.checked.to_json(),
            "diagram": self.mermaid,
            "passed": self.passed,
        }


def report(plan: Plan, project_dir: Path, config: StackConfig) -> Report:
    return Report(cost(plan, config), check(plan, project_dir, config), diagram.mermaid(plan))
