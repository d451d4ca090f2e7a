"""The offline plan-diff comment: the changes, then what they cost, whether they pass the policy
checks and the head's architecture diagram, so a reviewer sees it all before anything reaches the
cloud. All of it comes from the head's one plan (`automation report --diff-against`)."""

from __future__ import annotations

from pathlib import Path

from automation.insights.cost import (
    cost_delta_markdown,
    cost_markdown,
    estimate,
    legacy_footprint,
    load_prices,
    price_file,
)
from automation.insights.diagram import markdown as diagram_markdown
from automation.insights.report import Checked, check
from automation.pr.plan_diff import PlanDiff
from automation.pr.render import COMMENT_LIMIT, render_markdown, size
from automation.release import stack_config

DIAGRAM_SHARE = 4
"""The diagram may take at most 1/DIAGRAM_SHARE of the comment; a larger one gives way to a
line saying how to draw it."""


def extra_sections(found: PlanDiff, project_dir: Path, checked: Checked | None = None) -> str:
    """Cost (base vs head when the base planned, else head alone), the head's checks (computed
    here unless given) and its diagram."""
    stack = found.head.stack
    config = stack_config.load(project_dir, stack)
    table = load_prices(price_file(str(config.get("aws:region") or "us-east-2")))
    if found.base.plan is not None:
        cost = cost_delta_markdown(found.base.plan, found.head, table=table)
    else:
        cost = cost_markdown(
            estimate(found.head, table, legacy=legacy_footprint(config.project_values()))
        )
    checks = (checked or check(found.head, project_dir, config)).markdown()
    drawing = diagram_markdown(found.head)
    if size(drawing) > COMMENT_LIMIT // DIAGRAM_SHARE:
        drawing = (
            f"The diagram ({size(drawing):,} characters) is too large for this comment: "
            f"`make diagram STACK={stack_config.short_name(stack)}` draws it.\n"
        )
    diagram = f"### Architecture: `{stack}`\n\n{drawing}"
    return "\n\n".join(part.rstrip("\n") for part in (cost, checks, diagram)) + "\n"


def compose(
    found: PlanDiff, project_dir: Path, run_url: str | None, checked: Checked | None = None
) -> str:
    """The whole comment, still within GitHub's limit: the change table gives way first."""
    extra = extra_sections(found, project_dir, checked)
    changes = render_markdown(
        found.change_set,
        run_url=run_url,
        notes=found.notes,
        hazards=found.hazards,
        limit=COMMENT_LIMIT - size(extra) - 2,
    )
    return changes.rstrip("\n") + "\n\n" + extra
