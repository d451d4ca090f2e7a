"""The offline plan-diff comment: the changes, then what they cost and whether they pass the
policy checks, so a reviewer sees all three before anything reaches the cloud."""

from __future__ import annotations

from pathlib import Path

from automation.insights.checks import check_markdown, run_checks
from automation.insights.cost import (
    cost_delta_markdown,
    cost_markdown,
    estimate,
    legacy_footprint,
    load_prices,
    price_file,
)
from automation.pr.plan_diff import PlanDiff
from automation.pr.render import COMMENT_LIMIT, render_markdown, size
from automation.release import stack_config


def extra_sections(found: PlanDiff, project_dir: Path) -> str:
    """Cost (base vs head when the base planned, else head alone) and the head's checks."""
    stack = found.head.stack
    config = stack_config.load(project_dir, stack)
    table = load_prices(price_file(str(config.get("aws:region") or "us-east-2")))
    if found.base.plan is not None:
        cost = cost_delta_markdown(found.base.plan, found.head, table=table)
    else:
        cost = cost_markdown(
            estimate(found.head, table, legacy=legacy_footprint(config.project_values()))
        )
    checks = check_markdown([run_checks(found.head, production=config.production)])
    return cost.rstrip("\n") + "\n\n" + checks.rstrip("\n") + "\n"


def compose(found: PlanDiff, project_dir: Path, run_url: str | None) -> str:
    """The whole comment, still within GitHub's limit: the change table gives way first."""
    extra = extra_sections(found, project_dir)
    changes = render_markdown(
        found.change_set,
        run_url=run_url,
        notes=found.notes,
        hazards=found.hazards,
        limit=COMMENT_LIMIT - size(extra) - 2,
    )
    return changes.rstrip("\n") + "\n\n" + extra
