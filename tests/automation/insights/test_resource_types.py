"""The type tokens the plan's readers look for are the ones the program declares: a misspelt
constant would make cost, checks or the diagram silently find nothing."""

from __future__ import annotations

import subprocess
import sys

from infra import resource_types as types
from tests.automation.insights.know_before import (
    DEV_HTTPS_NAT_EXISTING_DB,
    ROOT,
    plan,
    plan_with,
    stack_plan,
)


def test_declared_types_are_what_the_stacks_plan() -> None:
    plans = [
        plan("dev"),
        plan("prod"),
        stack_plan("prod-rds"),
        plan_with("dev", **DEV_HTTPS_NAT_EXISTING_DB),
        plan_with(
            "prod",
            capacity="hybrid",
            ec2BaseCount=2,
            autoscalingMinCount=0,
            desiredCount=0,
            deploymentStrategy="rolling",
        ),
    ]
    # Every type but the program's own components (awsx's Vpc is a component too, a remote one).
    planned = {r.type for p in plans for r in p.resources if not r.type.startswith("alunos-api:")}
    assert planned == set(types.DECLARED)


def test_the_rules_import_only_the_standard_library_and_the_type_tokens() -> None:
    """The policy pack runs rules.py in its own virtual environment: no site-packages here."""
    script = (
        "import sys; import policy.rules; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('infra', 'policy')))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['infra', 'infra.resource_types', 'policy', 'policy.rules']"
