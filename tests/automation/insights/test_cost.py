"""The cost estimate: figures from the plan equal the arithmetic on the price file's numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from automation.cli import main
from automation.errors import UsageProblem
from automation.insights import cost
from automation.insights.cost import Estimate, Line, PriceTable
from automation.offline.engine import CapacityStrategy, Plan
from infra import resource_types as types
from tests.automation.insights.know_before import DEV_HTTPS_NAT_EXISTING_DB, edited, plan, plan_with


def ALWAYS_ON_DEV() -> Plan:
    """dev as it was before it slept (schedule empty): the figures below are a whole month's."""
    return plan_with("dev", schedule="")


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return cost.load_prices(cost.price_file("us-east-2"))


def usd(table: PriceTable, key: str) -> float:
    value = table.price(key).usd
    assert value is not None
    return value


def line(result: Estimate, component_prefix: str, item_prefix: str) -> Line:
    found = [
        line
        for line in result.lines
        if line.component.startswith(component_prefix) and line.item.startswith(item_prefix)
    ]
    assert len(found) == 1, [(line.component, line.item) for line in result.lines]
    return found[0]


def assumed(table: PriceTable, stack: str, key: str) -> float:
    return table.assumptions(stack)[key].value


def spread(item: Line) -> float:
    """How much more a line costs at the autoscaling maximum than at the minimum."""
    assert item.monthly is not None
    assert item.monthly_max is not None
    return item.monthly_max - item.monthly


def test_dev_figures_are_the_price_files_arithmetic(table: PriceTable) -> None:
    result = cost.estimate(ALWAYS_ON_DEV(), table)
    hours = table.hours_per_month
    # Dev: 0.25 vCPU / 0.5 GB tasks, autoscaled 1..2, all on Fargate Spot, with public IPs.
    vcpu = line(result, "Fargate", "vCPU, Spot")
    assert vcpu.monthly == pytest.approx(1 * 0.25 * hours * usd(table, "fargate_spot_vcpu_hour"))
    assert vcpu.monthly_max == pytest.approx(
        2 * 0.25 * hours * usd(table, "fargate_spot_vcpu_hour")
    )
    memory = line(result, "Fargate", "memory, Spot")
    assert memory.monthly == pytest.approx(0.5 * hours * usd(table, "fargate_spot_gb_hour"))
    assert not [x for x in result.lines if "on-demand" in x.item]
    ip = line(result, "Fargate", "public IPv4")
    assert (ip.monthly, ip.monthly_max) == pytest.approx(
        (hours * usd(table, "public_ipv4_hour"), 2 * hours * usd(table, "public_ipv4_hour"))
    )
    # The ALB: hours, the LCU assumption, one public address per AZ (2).
    assert line(result, "Load balancer", "ALB hours").monthly == pytest.approx(
        hours * usd(table, "alb_hour")
    )
    assert line(result, "Load balancer", "capacity").monthly == pytest.approx(
        assumed(table, "dev", "alb_lcu") * hours * usd(table, "alb_lcu_hour")
    )
    assert line(result, "Load balancer", "public IPv4").monthly == pytest.approx(
        2 * hours * usd(table, "public_ipv4_hour")
    )
    # No NAT (natGateways: None): nothing billed.
    assert line(result, "NAT gateways", "none").monthly == 0
    # RDS db.t4g.micro Single-AZ, 20 GiB gp3, its managed secret.
    micro = table.rds_instance_hour["db.t4g.micro"].usd
    assert micro is not None
    assert line(result, "RDS", "db.t4g.micro Single-AZ").monthly == pytest.approx(hours * micro)
    assert line(result, "RDS", "gp3").monthly == pytest.approx(20 * usd(table, "rds_gp3_gb_month"))
    assert line(result, "RDS", "master password").monthly == pytest.approx(
        usd(table, "secret_month")
    )
    # Logs: the ingestion assumption, kept 7 days.
    ingested = assumed(table, "dev", "logs_ingested_gb")
    assert line(result, "CloudWatch Logs", "ingestion").monthly == pytest.approx(
        ingested * usd(table, "logs_ingested_gb")
    )
    assert line(result, "CloudWatch Logs", "storage").monthly == pytest.approx(
        ingested * 7 / 30 * usd(table, "logs_stored_gb_month")
    )
    # Alarms: 3 metrics in the 5xx rate alarm + 1 each in the other 3; 2 per scaling policy.
    assert line(result, "CloudWatch alarms", "4 alarms").monthly == pytest.approx(
        6 * usd(table, "alarm_metric_month")
    )
    assert line(result, "CloudWatch alarms", "4 target tracking").monthly == pytest.approx(
        4 * usd(table, "alarm_metric_month")
    )
    # ECR: the lifecycle keeps 20 of each kind of dev build (2 kinds: infra/registry.py's
    # DEV_TAG_PATTERNS) + keepReleaseImages (10 in dev).
    assert line(result, "ECR", "image storage").monthly == pytest.approx(
        (20 + 20 + 10) * assumed(table, "dev", "ecr_gb_per_image") * usd(table, "ecr_gb_month")
    )
    assert not [x for x in result.lines if x.component.startswith(("WAF", "S3"))]
    assert result.total == pytest.approx(sum(x.monthly or 0 for x in result.lines))
    assert result.total_max - result.total == pytest.approx(
        sum(spread(x) for x in (vcpu, memory, ip))
    )
    assert result.not_priced == []


def test_prod_figures_are_the_price_files_arithmetic(table: PriceTable) -> None:
    result = cost.estimate(plan("prod"), table)
    hours = table.hours_per_month
    # Prod: 0.5 vCPU / 1 GB tasks, 2..6, all on-demand, private (no public IPs).
    vcpu = line(result, "Fargate", "vCPU, on-demand")
    assert (vcpu.monthly, vcpu.monthly_max) == pytest.approx(
        (
            2 * 0.5 * hours * usd(table, "fargate_vcpu_hour"),
            6 * 0.5 * hours * usd(table, "fargate_vcpu_hour"),
        )
    )
    memory = line(result, "Fargate", "memory, on-demand")
    assert (memory.monthly, memory.monthly_max) == pytest.approx(
        (
            2 * 1 * hours * usd(table, "fargate_gb_hour"),
            6 * 1 * hours * usd(table, "fargate_gb_hour"),
        )
    )
    assert not [x for x in result.lines if "Spot" in x.item or "public IPv4 per task" in x.item]
    assert line(result, "Load balancer", "capacity").monthly == pytest.approx(
        assumed(table, "prod", "alb_lcu") * hours * usd(table, "alb_lcu_hour")
    )
    # WAF: the web ACL, its 6 rules (rate limit + body limit + 4 managed groups), the requests
    # assumption; its logs are vended logs, kept 30 days.
    assert line(result, "WAF", "web ACL").monthly == pytest.approx(usd(table, "waf_web_acl_month"))
    assert line(result, "WAF", "6 rules").monthly == pytest.approx(6 * usd(table, "waf_rule_month"))
    assert line(result, "WAF", "requests").monthly == pytest.approx(
        assumed(table, "prod", "waf_million_requests") * usd(table, "waf_million_requests")
    )
    assert line(result, "CloudWatch Logs (/ecs/", "storage").monthly == pytest.approx(
        assumed(table, "prod", "logs_ingested_gb") * 90 / 30 * usd(table, "logs_stored_gb_month")
    )
    waf_logs = assumed(table, "prod", "waf_logs_gb")
    assert line(result, "CloudWatch Logs (aws-waf-logs-", "ingestion").monthly == pytest.approx(
        waf_logs * usd(table, "logs_vended_ingested_gb")
    )
    assert line(result, "CloudWatch Logs (aws-waf-logs-", "storage").monthly == pytest.approx(
        waf_logs * 30 / 30 * usd(table, "logs_stored_gb_month")
    )
    # Access logs: what is written a month, kept albAccessLogDays (90); a file per ALB node (2
    # AZs) every 5 minutes.
    assert line(result, "S3 (alunos-prod-alb-logs-", "access log storage").monthly == pytest.approx(
        assumed(table, "prod", "alb_access_logs_gb") * 90 / 30 * usd(table, "s3_standard_gb_month")
    )
    assert line(result, "S3 (alunos-prod-alb-logs-", "log file writes").monthly == pytest.approx(
        2 * 12 * hours / 1000 * usd(table, "s3_put_1k")
    )
    assert line(result, "ECR", "image storage").quantity == pytest.approx(
        (20 + 20 + 50) * assumed(table, "prod", "ecr_gb_per_image")
    )
    # The database and the VPC (with its NAT) exist already: not billed to this stack.
    assert line(result, "PostgreSQL", "not managed here").monthly == 0
    assert not [x for x in result.lines if x.component.startswith("RDS")]
    # Container Insights has no price in the file: reported, left out of the total.
    insights = line(result, "Fargate", "Container Insights")
    assert insights.monthly is None
    assert result.not_priced == [insights]
    assert result.total == pytest.approx(sum(x.monthly or 0 for x in result.lines))


def test_a_reused_vpc_has_no_nat_cost_and_says_so(table: PriceTable) -> None:
    nat = [x for x in cost.estimate(plan("prod"), table).lines if x.component.startswith("NAT")]
    assert [(x.item, x.monthly) for x in nat] == [("not managed here", 0)]
    assert "existing VPC" in nat[0].note


def test_nat_gateways_are_counted_from_the_vpc_strategy_and_azs(table: PriceTable) -> None:
    result = cost.estimate(plan_with("dev", **DEV_HTTPS_NAT_EXISTING_DB), table)
    hours = table.hours_per_month
    # OnePerAz x 2 AZs: two gateways, each with its processed data and public address.
    assert line(result, "NAT gateways", "2 gateway").monthly == pytest.approx(
        2 * hours * usd(table, "nat_gateway_hour")
    )
    assert line(result, "NAT gateways", "data processed").monthly == pytest.approx(
        2 * assumed(table, "dev", "nat_processed_gb") * usd(table, "nat_gateway_gb")
    )
    assert line(result, "NAT gateways", "public IPv4").monthly == pytest.approx(
        2 * hours * usd(table, "public_ipv4_hour")
    )
    # Private tasks: no public addresses; an existing database: no RDS.
    assert not [x for x in result.lines if "public IPv4 per task" in x.item]
    assert line(result, "PostgreSQL", "not managed here").monthly == 0


def test_spot_share_follows_the_capacity_provider_strategy(table: PriceTable) -> None:
    def split(count: int, strategy: list[dict[str, Any]]) -> tuple[float, float]:
        return CapacityStrategy(tuple(strategy)).split(count)

    assert split(1, [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]) == (0, 1)
    strategy = [
        {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 1},
    ]
    assert split(2, strategy) == (2, 0)
    assert split(6, strategy) == (4, 2)  # base 2, then 4 split 1:1
    assert split(5, [{"capacityProvider": "FARGATE", "weight": 1},
                     {"capacityProvider": "FARGATE_SPOT", "weight": 3}]) == (1.25, 3.75)  # fmt: skip

    # The same dev plan with its service moved to on-demand costs the on-demand rate...
    on_demand = edited(
        plan("dev"),
        types.SERVICE,
        lambda inputs: inputs.update(
            capacityProviderStrategies=[{"capacityProvider": "FARGATE", "weight": 1}]
        ),
    )
    spot_vcpu = line(cost.estimate(plan("dev"), table), "Fargate", "vCPU")
    od_vcpu = line(cost.estimate(on_demand, table), "Fargate", "vCPU")
    assert od_vcpu.item == "vCPU, on-demand"
    assert od_vcpu.monthly / spot_vcpu.monthly == pytest.approx(  # type: ignore[operator]
        usd(table, "fargate_vcpu_hour") / usd(table, "fargate_spot_vcpu_hour")
    )
    # ...and without a strategy of its own, the service follows the cluster's default (Spot).
    no_strategy = edited(
        plan("dev"), types.SERVICE, lambda inputs: inputs.pop("capacityProviderStrategies")
    )
    assert line(cost.estimate(no_strategy, table), "Fargate", "vCPU").item == "vCPU, Spot"


def test_multi_az_doubles_the_database(table: PriceTable) -> None:
    single = cost.estimate(plan("dev"), table)
    multi = cost.estimate(
        edited(plan("dev"), types.RDS_INSTANCE, lambda i: i.update(multiAz=True)), table
    )
    instance = line(multi, "RDS", "db.t4g.micro Multi-AZ")
    assert instance.monthly == pytest.approx(2 * line(single, "RDS", "db.t4g.micro").monthly)  # type: ignore[operator]
    assert line(multi, "RDS", "gp3").monthly == pytest.approx(
        2 * 20 * usd(table, "rds_gp3_gb_month")
    )


def test_an_unknown_price_is_reported_not_guessed(table: PriceTable, tmp_path: Path) -> None:
    data = yaml.safe_load(table.path.read_text())
    data["rds_instance_hour"] = {}
    data["prices"]["rds_gp3_gb_month"] = {"usd": None, "unit": "GB-month"}
    changed = tmp_path / "us-east-2.yaml"
    changed.write_text(yaml.safe_dump(data))
    result = cost.estimate(ALWAYS_ON_DEV(), cost.load_prices(changed))

    unpriced = {(x.component, x.item) for x in result.not_priced}
    assert unpriced == {
        ("RDS (alunos-dev-postgres)", "db.t4g.micro Single-AZ"),
        ("RDS (alunos-dev-postgres)", "gp3 storage"),
    }
    assert result.total == pytest.approx(
        sum(x.monthly for x in result.lines if x.monthly is not None)
    )
    document = cost.to_json(result)
    assert document["complete"] is False
    assert {"component": "RDS (alunos-dev-postgres)", "item": "db.t4g.micro Single-AZ",
            "note": "no price for db.t4g.micro in the price table"} in document["not_priced"]  # fmt: skip
    text = cost.cost_markdown(result)
    assert "Not priced (the total leaves them out)" in text
    assert (
        "| RDS (alunos-dev-postgres) | db.t4g.micro Single-AZ | 730 instance-hours | not priced |"
        in text
    )


def test_legacy_comparison_prices_the_ec2_footprint(table: PriceTable) -> None:
    legacy = cost.legacy_footprint(
        {"legacyInstanceType": "t3.medium", "legacyInstanceCount": 2, "legacyVolumeGiB": 30}
    )
    assert legacy == cost.LegacyFootprint("t3.medium", 2, 30)
    result = cost.estimate(plan("prod"), table, legacy=legacy)
    medium = table.ec2_instance_hour["t3.medium"].usd
    assert medium is not None
    expected = 2 * table.hours_per_month * medium + 2 * 30 * usd(table, "ebs_gp2_gb_month")
    assert result.legacy_total == pytest.approx(expected)
    comparison = cost.to_json(result)["comparison"]
    assert comparison["legacy"] == round(expected, 2)
    assert comparison["difference_baseline"] == round(result.total - expected, 2)
    assert f"${expected:,.2f} a month" in cost.cost_markdown(result)

    unknown = cost.estimate(plan("dev"), table, legacy=cost.LegacyFootprint("m9.huge", 1, 8))
    assert [(x.component, x.item) for x in unknown.not_priced] == [("Legacy EC2", "1 x m9.huge")]
    assert cost.legacy_footprint({"legacyInstanceType": "", "legacyInstanceCount": 3}) is None
    with pytest.raises(UsageProblem, match="legacyInstanceCount is -1"):
        cost.legacy_footprint({"legacyInstanceType": "t3.small", "legacyInstanceCount": -1})


def test_json_schema(table: PriceTable) -> None:
    result = cost.estimate(plan("dev"), table, legacy=cost.LegacyFootprint("t3.small", 1, 20))
    document = json.loads(json.dumps(cost.to_json(result)))
    assert set(document) == {
        "stack", "region", "currency", "prices_read", "price_file", "hours_per_month", "total",
        "complete", "lines", "not_priced", "unconfirmed_prices", "assumptions", "legacy",
        "comparison",
    }  # fmt: skip
    assert (document["stack"], document["region"], document["currency"]) == (
        "dev",
        "us-east-2",
        "USD",
    )
    assert document["prices_read"] == table.read
    assert set(document["total"]) == {"baseline", "max"}
    assert document["total"]["baseline"] <= document["total"]["max"]
    for entry in document["lines"] + document["legacy"]["lines"]:
        assert set(entry) == {
            "component", "item", "quantity", "quantity_max", "unit", "price_key", "unit_price",
            "region_confirmed", "monthly", "monthly_max", "note",
        }  # fmt: skip
        assert isinstance(entry["monthly"], float | int)
    assert sum(entry["monthly"] for entry in document["lines"]) == pytest.approx(
        document["total"]["baseline"], abs=0.05
    )
    assert set(document["assumptions"]) == {"alb_lcu", "logs_ingested_gb", "ecr_gb_per_image"}
    assert set(document["legacy"]) == {"instance_type", "count", "volume_gib", "lines", "total"}
    assert "alb_hour" in document["unconfirmed_prices"]  # its source states US East (N. Virginia)
    assert "fargate_spot_vcpu_hour" not in document["unconfirmed_prices"]


def test_assumptions_layer_default_stack_and_flag(table: PriceTable) -> None:
    assert table.assumptions("dev")["alb_lcu"].value == 1
    assert table.assumptions("prod")["alb_lcu"].value == 2
    assert table.assumptions("prod", {"alb_lcu": 7})["alb_lcu"].value == 7
    result = cost.estimate(ALWAYS_ON_DEV(), table, overrides={"alb_lcu": 3})
    assert line(result, "Load balancer", "capacity").quantity == 3 * table.hours_per_month
    with pytest.raises(UsageProblem, match="unknown assumption 'lcu'"):
        table.assumptions("dev", {"lcu": 1})
    assert cost.parse_assumptions(["alb_lcu=2.5"]) == {"alb_lcu": 2.5}
    for bad in ("alb_lcu", "alb_lcu=lots", "=3", "alb_lcu=-1"):
        with pytest.raises(UsageProblem, match="KEY=NUMBER"):
            cost.parse_assumptions([bad])


def test_price_file_problems_name_the_file_and_key(table: PriceTable, tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match=r"no price table for region 'eu-west-9'.*us-east-2"):
        cost.price_file("eu-west-9")
    data = yaml.safe_load(table.path.read_text())
    data["prices"]["alb_hour"]["source"] = "somewhere"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(
        UsageProblem, match=r"prices\.alb_hour\.source is 'somewhere'; a priced entry must cite"
    ):
        cost.load_prices(broken)
    data["prices"]["alb_hour"] = {"usd": "cheap", "unit": "ALB-hour", "source": "elb-page"}
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(UsageProblem, match=r"prices\.alb_hour\.usd is 'cheap'"):
        cost.load_prices(broken)


def test_every_price_in_the_file_cites_a_source_and_a_read_date(table: PriceTable) -> None:
    assert table.region == "us-east-2"
    assert table.read
    entries = [
        *table.prices.values(),
        *table.rds_instance_hour.values(),
        *table.ec2_instance_hour.values(),
    ]
    for price in entries:
        assert price.usd is None or (price.source or "").startswith("https://"), price.key


def test_cost_delta_between_base_and_head(table: PriceTable) -> None:
    head = edited(plan("dev"), types.SCALABLE_TARGET, lambda inputs: inputs.update(minCapacity=2))
    text = cost.cost_delta_markdown(plan("dev"), head, table=table)
    before, after = cost.estimate(plan("dev"), table), cost.estimate(head, table)
    delta = after.total - before.total
    assert delta > 0
    assert text.startswith(f"### Monthly cost: `dev` ${after.total:,.2f}")
    assert f"+${delta:,.2f} vs base" in text
    assert "| Fargate (alunos-dev-service) | vCPU, Spot |" in text
    assert "| Load balancer" not in text  # unchanged lines are left out
    assert "No change to the estimate." in cost.cost_delta_markdown(
        plan("dev"), plan("dev"), table=table
    )


def test_cost_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--stack", "prod", "--json", "--assume", "alb_lcu=4"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["stack"] == "prod"
    assert document["assumptions"]["alb_lcu"]["value"] == 4
    assert document["legacy"]["instance_type"] == "t3.medium"  # from Pulumi.prod.yaml
    assert main(["cost", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### Monthly cost estimate: `dev`")
    assert "**Legacy EC2** (1 x t3.small" in out
    assert main(["cost", "--stack", "dev", "--assume", "nope=1"]) == 2
    assert "unknown assumption 'nope'" in capsys.readouterr().err
    assert main(["cost", "--stack", "dev", "--prices", "/nonexistent/prices.yaml"]) == 2
    assert "price file /nonexistent/prices.yaml does not exist" in capsys.readouterr().err


def test_cost_compare_capacity_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`cost --compare-capacity`: each capacity planned with the changes it needs, side by side;
    fargate (no change) is the stack as it is, priced as `cost` prices it."""
    assert main(["cost", "--stack", "dev", "--json"]) == 0
    as_is = json.loads(capsys.readouterr().out)["total"]
    assert main(["cost", "--stack", "dev", "--compare-capacity", "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert set(compared) == {"fargate", "ec2", "hybrid"}
    assert compared["fargate"] == {
        "estimate": compared["fargate"]["estimate"],
        "changes": {"capacity": "fargate"},
    }
    assert compared["fargate"]["estimate"]["total"] == as_is
    assert compared["ec2"]["changes"] == {
        "capacity": "ec2", "natGateways": "Single", "spotPercent": 0, "onDemandBase": 0,
    }  # fmt: skip
    assert compared["hybrid"]["changes"]["schedule"] == ""
    ec2_lines = compared["ec2"]["estimate"]["lines"]
    assert any(line["component"].startswith("EC2 capacity") for line in ec2_lines)
    assert main(["cost", "--stack", "dev", "--compare-capacity"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### Capacity comparison: `dev`")
    rows = [row for row in out.splitlines() if row.startswith("| ") and "---" not in row]
    assert [row.split("|")[1].strip() for row in rows] == ["capacity", "fargate", "ec2", "hybrid"]
    baseline = as_is["baseline"]
    assert rows[1].split("|")[2].strip().startswith(f"${baseline:.2f}")
    assert "natGateways: 'Single', spotPercent: 0, onDemandBase: 0" in rows[2]
    assert "Legacy EC2: $17.18 a month." in out


def test_dev_asleep_outside_working_hours_pays_for_its_hours(table: PriceTable) -> None:
    """MON-FRI 08:00-20:00: 60 of 168 hours a week. Tasks, capacity units and the database's
    instance hours follow (the database's from its start, 20 minutes before the tasks'); the
    load balancer's hours and the storage do not."""
    awake = 60 / 168
    db_awake = (60 + 5 * 20 / 60) / 168
    hours = table.hours_per_month
    asleep = cost.estimate(plan("dev"), table)
    always = cost.estimate(ALWAYS_ON_DEV(), table)
    for component, item, share in (("Fargate", "vCPU, Spot", awake), ("Fargate", "public IPv4", awake),
                                   ("Load balancer", "capacity", awake),
                                   ("RDS", "db.t4g.micro", db_awake)):  # fmt: skip
        whole_month = line(always, component, item).monthly
        assert whole_month is not None
        assert line(asleep, component, item).monthly == pytest.approx(share * whole_month)
    for component, item in (("Load balancer", "ALB hours"), ("RDS", "gp3 storage")):
        assert line(asleep, component, item).monthly == line(always, component, item).monthly
    assert line(asleep, "RDS", "db.t4g.micro").quantity == pytest.approx(db_awake * hours)
    assert asleep.total < always.total - 15


def test_ec2_capacity_is_priced_by_instance_hours_and_ebs(table: PriceTable) -> None:
    result = cost.estimate(
        plan_with("dev", capacity="ec2", natGateways="Single", spotPercent=0, schedule=""), table
    )
    hours = table.hours_per_month
    small = table.ec2_instance_hour["t3.small"].usd
    assert small is not None
    # 1..2 tasks, one per instance (assumption ec2_tasks_per_instance), 30 GiB gp3 each.
    instances = line(result, "EC2 capacity", "t3.small instances")
    assert (instances.monthly, instances.monthly_max) == pytest.approx(
        (hours * small, 2 * hours * small)
    )
    ebs = line(result, "EC2 capacity", "EBS gp3")
    assert ebs.monthly == pytest.approx(30 * usd(table, "ebs_gp3_gb_month"))
    assert not [x for x in result.lines if x.component.startswith("Fargate")]


def test_hybrid_prices_the_base_on_ec2_and_the_bursts_on_fargate(table: PriceTable) -> None:
    result = cost.estimate(
        plan_with(
            "prod",
            capacity="hybrid",
            ec2BaseCount=2,
            autoscalingMinCount=0,
            desiredCount=0,
            deploymentStrategy="rolling",
        ),
        table,
    )
    hours = table.hours_per_month
    medium_base = line(result, "EC2 capacity", "t3.small instances")
    assert medium_base.monthly == medium_base.monthly_max  # the base does not scale
    assert medium_base.quantity == pytest.approx(2 * hours)
    vcpu = line(result, "Fargate", "vCPU, on-demand")
    assert vcpu.monthly == 0
    assert vcpu.monthly_max == pytest.approx(6 * 0.5 * hours * usd(table, "fargate_vcpu_hour"))


def test_capacity_overrides_are_the_fewest_changes_each_mode_needs() -> None:
    dev = {"natGateways": "None", "autoscalingMinCount": 1, "spotPercent": 100}
    assert cost.capacity_overrides(dev, "fargate") == {"capacity": "fargate"}
    assert cost.capacity_overrides(dev, "ec2") == {
        "capacity": "ec2", "natGateways": "Single", "spotPercent": 0, "onDemandBase": 0,
    }  # fmt: skip
    prod = {"existingVpcId": "vpc-0a1b2c3d4e5f60718", "autoscalingMinCount": 2}
    hybrid = cost.capacity_overrides(prod, "hybrid")
    assert hybrid["ec2BaseCount"] == 2
    assert hybrid["autoscalingMinCount"] == 0
    assert "natGateways" not in hybrid
