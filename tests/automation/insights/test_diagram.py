"""The architecture diagram: drawn from the plan, so it follows the config; README kept in sync."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from automation.cli import main
from automation.errors import UsageProblem
from automation.insights import cost, diagram
from infra import resource_types as types
from tests.automation.insights.know_before import (
    DEV_HTTPS_NAT_EXISTING_DB,
    PROD_WITH_RDS,
    ROOT,
    edited,
    plan,
    plan_with,
)


def test_dev_diagram_shows_what_dev_plans() -> None:
    text = diagram.mermaid(plan("dev"))
    assert text.startswith("flowchart LR\n")
    assert 'subgraph vpc ["new VPC 10.0.0.0/16<br/>2 AZs, no NAT"]' in text
    assert 'listener_80("HTTP :80<br/>forward")' in text
    assert "listener_443" not in text
    assert "waf" not in text
    assert "nat" not in text
    assert 'internet -->|"HTTP :80"| alb' in text
    # Tasks share the public subnets (no NAT) and get public IPs; RDS in isolated subnets.
    public = text.split("subgraph public", 1)[1].split("\n        end\n", 1)[0]
    assert (
        "ECS service alunos-dev-service<br/>1–2 tasks #40;autoscaled#41; across 2 subnets" in public
    )
    assert "100% Fargate Spot<br/>public IPs" in public
    assert (
        'database[("RDS PostgreSQL 16<br/>db.t4g.micro, Single-AZ<br/>20 GiB gp3, encrypted")]'
        in text
    )
    assert 'ecr -.->|"image by digest"| tasks' in text
    assert 'logs["CloudWatch Logs /ecs/alunos-dev<br/>7 days"]' in text
    assert "sns_" not in text  # dev's alarms notify nobody


def test_prod_diagram_shows_waf_https_private_tasks_and_the_existing_database() -> None:
    text = diagram.mermaid(plan("prod"))
    assert 'subgraph vpc ["existing VPC vpc-0a1b2c3d4e5f60718<br/>not managed here"]' in text
    assert 'internet -->|"HTTP :80, HTTPS :443"| waf' in text
    assert 'waf -->|"allowed requests"| alb' in text
    assert "rate limit 2000 requests / 5 min per IP" in text
    assert 'listener_80 -.->|"301"| listener_443' in text
    assert 'listener_443 -->|"forward"| target_group' in text
    assert 'subgraph private ["private subnets x2<br/>no public IPs"]' in text
    assert "2–6 tasks" in text
    assert "<br/>public IPs" not in text
    assert "alunos-db.c1a2b3c4d5e6.us-east-2.rds.amazonaws.com:5432<br/>not managed here" in text
    assert 'alarms -.->|"notify"| sns_0' in text
    assert "SNS alunos-api-prod-alarms" in text


def test_the_diagram_follows_the_config() -> None:
    """dev behind HTTPS, with a NAT gateway per AZ and an existing database instead of RDS."""
    before = diagram.mermaid(plan("dev"))
    after = diagram.mermaid(plan_with("dev", **DEV_HTTPS_NAT_EXISTING_DB))
    assert after != before
    assert 'listener_443("HTTPS :443<br/>forward<br/>ELBSecurityPolicy-TLS13-1-2-2021-06")' in after
    assert 'listener_80("HTTP :80<br/>redirect to HTTPS :443")' in after
    assert "2 AZs, 2 NAT gateways" in after
    assert 'tasks -.->|"HTTPS to AWS APIs"| nat' in after
    assert 'subgraph private ["private subnets x2<br/>no public IPs"]' in after
    assert "RDS PostgreSQL" not in after
    assert "legacy-db.internal.example.com:5432" in after
    # ...and prod creating its own database grows the isolated tier.
    with_rds = diagram.mermaid(plan_with("prod", **PROD_WITH_RDS))
    assert "RDS PostgreSQL 16" in with_rds
    assert "existing PostgreSQL" not in with_rds


def test_diagram_and_cost_read_one_capacity_strategy() -> None:
    """Both ask the plan for the service's strategy: the diagram's words match the cost's split."""
    mixed = plan_with("prod", spotPercent=75, onDemandBase=3)
    assert "3 on-demand, then 75% Fargate Spot" in diagram.mermaid(mixed)
    table = cost.load_prices(cost.price_file("us-east-2"))
    (spot,) = [x for x in cost.estimate(mixed, table).lines if x.item == "vCPU, Spot"]
    # 2 to 6 tasks: the baseline fits in the on-demand base, 3 x 75% of the rest is on Spot.
    assert (spot.quantity, spot.quantity_max) == (0, 2.25 * 0.5 * table.hours_per_month)

    # Without a strategy of the service's or the cluster's, both fall back to on-demand.
    def no_strategy(inputs: dict[str, Any]) -> None:
        inputs.pop("capacityProviderStrategies", None)
        inputs.pop("defaultCapacityProviderStrategies", None)

    bare = edited(
        edited(plan("dev"), types.SERVICE, no_strategy), types.CAPACITY_PROVIDERS, no_strategy
    )
    assert "Fargate on-demand" in diagram.mermaid(bare)
    assert {
        x.item for x in cost.estimate(bare, table).lines if x.component.startswith("Fargate")
    } >= {
        "vCPU, on-demand",
        "memory, on-demand",
    }


def test_labels_are_mermaid_safe() -> None:
    assert diagram.label('say "hi" [x] (y) {z} <b> | #1; `c`') == (
        '"say #quot;hi#quot; #91;x#93; #40;y#41; #123;z#125; #lt;b#gt; #124; #35;1; #96;c#96;"'
    )
    assert diagram.label("a", "", "b") == '"a<br/>b"'
    hostile = copy.deepcopy(plan("prod"))
    for resource in hostile.resources:
        resource.name += ' "x" [y]'
    text = diagram.mermaid(hostile)
    for line in text.splitlines()[1:]:
        stripped = line.strip()
        if stripped == "end":
            continue
        # Quotes only delimit labels: an even number per line, none inside a label.
        for quoted in re.findall(r'"([^"]*)"', stripped.replace("<br/>", " ")):
            assert not set(quoted) & set("[]{}()<>|`"), stripped


def readme_block(stack: str) -> str:
    start, end = diagram.readme_markers(stack)
    doc = diagram.ARCHITECTURE_DOC
    readme = (ROOT / doc).read_text()
    assert start in readme, f"{doc} lost its {stack} diagram markers"
    assert end in readme, f"{doc} lost its {stack} diagram markers"
    return readme.split(start, 1)[1].split(end, 1)[0].strip("\n")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_readme_diagrams_are_up_to_date(stack: str) -> None:
    fresh = diagram.markdown(plan(stack)).strip("\n")
    assert readme_block(stack) == fresh, (
        f"{diagram.ARCHITECTURE_DOC}'s {stack} diagram is out of date; run `make diagrams`"
    )


def test_replace_in_readme_needs_its_markers() -> None:
    start, end = diagram.readme_markers("dev")
    updated = diagram.replace_in_readme(f"intro\n{start}\nold\n{end}\nrest\n", "dev", plan("dev"))
    assert updated == f"intro\n{start}\n{diagram.markdown(plan('dev'))}{end}\nrest\n"
    with pytest.raises(UsageProblem, match="no <!-- diagram:dev"):
        diagram.replace_in_readme("no markers", "dev", plan("dev"))


def test_diagram_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "prod.md"
    assert main(["diagram", "--stack", "prod", "--output", str(target)]) == 0
    assert target.read_text() == diagram.markdown(plan("prod"))
    assert main(["diagram", "--stack", "prod", "--raw"]) == 0
    assert capsys.readouterr().out == diagram.mermaid(plan("prod"))
    assert main(["diagram", "--stack", "prod", "--output", str(tmp_path / "no" / "dir.md")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_hybrid_shows_the_ec2_base_beside_the_fargate_bursts() -> None:
    from tests.automation.insights.know_before import PROD_HYBRID, plan_with

    text = diagram.mermaid(plan_with("prod", **PROD_HYBRID))
    assert "ECS service alunos-prod-base-service<br/>2 tasks across 2 subnets" in text
    assert "EC2 t3.small #40;Auto Scaling group, ECS-optimized AL2023#41;" in text
    assert "ECS service alunos-prod-service<br/>0–6 tasks #40;autoscaled#41;" in text
    assert 'target_group -->|"port 8000"| base_tasks_0' in text
