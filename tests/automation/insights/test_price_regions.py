"""One price table per region, found by its file name: the tables shipped, and adding one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from automation.errors import UsageProblem
from automation.insights import cost
from tests.automation.insights.know_before import plan

TABLES = sorted(cost.PRICES_DIR.glob("*.yaml"))


def test_the_shipped_regions() -> None:
    assert {path.stem for path in TABLES} >= {"us-east-1", "us-east-2", "sa-east-1"}


@pytest.mark.parametrize("path", TABLES, ids=lambda path: path.stem)
def test_each_table_is_named_by_its_region_and_has_every_price_key(path: Path) -> None:
    table = cost.load_prices(cost.price_file(path.stem))
    reference = cost.load_prices(cost.price_file("us-east-2"))
    assert table.region == path.stem
    assert table.read
    assert set(table.prices) == set(reference.prices)  # the estimate asks for every key
    assert set(table.default_assumptions) == set(reference.default_assumptions)
    for price in [*table.prices.values(), *table.rds_instance_hour.values()]:
        assert price.usd is None or (price.source or "").startswith("https://"), price.key


def test_sa_east_1_prices_fargate_spot_at_sao_paulo_rates_and_says_what_it_cannot_price() -> None:
    table = cost.load_prices(cost.price_file("sa-east-1"))
    result = cost.estimate(plan("dev"), table)
    fargate = [line for line in result.lines if line.component.startswith("Fargate")]
    assert {line.unit_price for line in fargate if line.item.startswith("vCPU")} == {0.0212609}
    assert all(line.priced for line in fargate)
    alb = {
        line.item: line.unit_price
        for line in result.lines
        if line.component.startswith("Load balancer")
    }
    assert (alb["ALB hours"], alb["capacity units (assumed)"]) == (0.034, 0.011)  # not US East's
    assert {line.component for line in result.not_priced} == {"CloudWatch alarms"}
    document = cost.to_json(result)
    assert document["region"] == "sa-east-1"
    assert document["complete"] is False
    text = cost.cost_markdown(result)
    assert "List prices for sa-east-1" in text
    assert "Not priced (the total leaves them out)" in text
    assert "Prices whose source does not state sa-east-1 itself (see sa-east-1.yaml)" in text


def test_adding_a_region_is_one_file(tmp_path: Path) -> None:
    data = yaml.safe_load(cost.price_file("us-east-2").read_text(encoding="utf-8"))
    data["region"] = "eu-west-1"
    (tmp_path / "eu-west-1.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    shutil.copy(cost.price_file("sa-east-1"), tmp_path / "sa-east-1.yaml")
    table = cost.load_prices(cost.price_file("eu-west-1", directory=tmp_path))
    assert table.region == "eu-west-1"
    with pytest.raises(UsageProblem, match=r"tables: eu-west-1, sa-east-1$"):
        cost.price_file("ap-south-1", directory=tmp_path)
