"""`automation check`: the policy rules (policy/rules.py) over a stack's offline plan.

The same rules run in the Pulumi policy pack (policy/pack.py) during a real preview; here they
read the plan's inputs, where every id is known (the mock engine's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automation.offline.planned import Plan
from policy.rules import RULES, Context, Resource, Rule, Violation, evaluate


@dataclass(frozen=True)
class CheckReport:
    stack: str
    production: bool
    rules: tuple[Rule, ...]
    violations: list[Violation]

    @property
    def passed(self) -> bool:
        return not self.violations

    def failed_rules(self) -> set[str]:
        return {violation.rule for violation in self.violations}


def resources(plan: Plan) -> list[Resource]:
    """The plan's cloud resources (components have no properties to check)."""
    return [
        Resource(type=r.type, name=r.name, urn=r.urn, props=r.inputs)
        for r in plan.resources
        if r.custom
    ]


def run_checks(plan: Plan, *, production: bool, rules: Sequence[Rule] = RULES) -> CheckReport:
    context = Context(production=production)
    return CheckReport(
        plan.stack, production, tuple(rules), evaluate(resources(plan), context, rules)
    )


def _status(report: CheckReport, rule: Rule) -> str:
    if not rule.applies(Context(production=report.production)):
        return "skipped"
    return "failed" if rule.id in report.failed_rules() else "passed"


def to_json(report: CheckReport) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "production": report.production,
        "passed": report.passed,
        "rules": [
            {
                "id": rule.id,
                "title": rule.title,
                "description": rule.description,
                "status": _status(report, rule),
            }
            for rule in report.rules
        ],
        "violations": [
            {
                "rule": v.rule,
                "resource_type": v.resource_type,
                "resource": v.resource_name,
                "urn": v.urn,
                "why": v.why,
                "fix": v.fix,
            }
            for v in report.violations
        ],
    }


def text_report(report: CheckReport) -> str:
    """The human report: each violation with its rule, resource, why and how to fix it."""
    kind = "production" if report.production else "non-production"
    applied = [rule for rule in report.rules if rule.applies(Context(report.production))]
    lines: list[str] = []
    if report.passed:
        lines.append(
            f"check {report.stack} ({kind}): all {len(applied)} rules passed"
            + _skipped_note(report)
        )
        return "\n".join(lines) + "\n"
    lines.append(
        f"check {report.stack} ({kind}): {len(report.violations)} violation(s) of "
        f"{len(report.failed_rules())} of {len(applied)} rules" + _skipped_note(report)
    )
    for violation in report.violations:
        lines += [
            "",
            f"✗ {violation.rule}: {violation.resource_name} ({violation.resource_type})",
            f"  why: {violation.why}",
            f"  fix: {violation.fix}",
        ]
    return "\n".join(lines) + "\n"


def _skipped_note(report: CheckReport) -> str:
    skipped = [rule.id for rule in report.rules if _status(report, rule) == "skipped"]
    return f" ({', '.join(skipped)}: production only)" if skipped else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def check_markdown(reports: Sequence[CheckReport]) -> str:
    """Check results of one or more stacks for a PR comment."""
    out: list[str] = []
    for report in reports:
        kind = "production" if report.production else "non-production"
        if report.passed:
            applied = sum(1 for rule in report.rules if rule.applies(Context(report.production)))
            out.append(f"### Policy checks: `{report.stack}` ({kind}): ✅ {applied} rules passed")
        else:
            out += [
                f"### Policy checks: `{report.stack}` ({kind}): ❌ "
                f"{len(report.violations)} violation(s)",
                "",
                "| rule | resource | why | fix |",
                "|---|---|---|---|",
            ]
            out += [
                f"| `{v.rule}` | `{_cell(v.resource_name)}` | {_cell(v.why)} | {_cell(v.fix)} |"
                for v in report.violations
            ]
        skipped = [rule.id for rule in report.rules if _status(report, rule) == "skipped"]
        if skipped:
            out.append("")
            out.append(f"Production-only rules not applied: {', '.join(skipped)}.")
        out.append("")
    return "\n".join(out)
