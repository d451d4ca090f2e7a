"""Example ids left in a stack file: `plan` and `cost` warn per key, `check` fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from automation.cli import main
from automation.release import placeholders
from tests.automation.release.test_stack_config import ROOT, project

# Every key the shipped Pulumi.prod.yaml fills with an example, alarmTopicArn included.
PROD_EXAMPLE_KEYS = {
    f"alunos-api:{key}"
    for key in (
        "existingVpcId",
        "existingPublicSubnetIds",
        "existingPrivateSubnetIds",
        "domainName",
        "hostedZoneId",
        "alarmTopicArn",
        "dbHost",
        "dbSecretArn",
        "dbSecurityGroupId",
    )
}


def test_the_shipped_prod_stack_lists_every_example_key_and_dev_none() -> None:
    found = placeholders.find(ROOT, "prod")
    assert {item.key for item in found} == PROD_EXAMPLE_KEYS
    vpc = next(item for item in found if item.key == "alunos-api:existingVpcId")
    assert vpc.value == "vpc-0a1b2c3d4e5f60718"
    assert "Reuse this VPC" in vpc.wanted  # Pulumi.yaml's description says what to put there
    assert placeholders.find(ROOT, "dev") == []


@pytest.mark.parametrize(
    ("value", "example"),
    [
        ("arn:aws:sns:sa-east-1:123456789012:alarms", True),
        ("subnet-0a1b2c3d4e5f60001", True),
        ("Z0123456789EXAMPLE0A", True),
        ("api.example.com", True),
        ("example.org", True),
        ("alunos.internal.example", True),
        ("arn:aws:sns:sa-east-1:210987654321:alarms", False),
        ("subnet-07c1f3e9a2b4d6f80", False),
        ("Z04112352Q7ZKV8M0QTF1", False),
        ("alunos.escola.com.br", False),
        ("myexample.com", False),
    ],
)
def test_what_counts_as_an_example(value: str, example: bool) -> None:
    assert placeholders.is_example(value) is example


def test_a_stack_with_real_ids_has_no_placeholder(tmp_path: Path) -> None:
    prod = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    prod.update(
        {
            "alunos-api:existingVpcId": "vpc-07c1f3e9a2b4d6f80",
            "alunos-api:existingPublicSubnetIds": ["subnet-0f1", "subnet-0f2"],
            "alunos-api:existingPrivateSubnetIds": ["subnet-0e1", "subnet-0e2"],
            "alunos-api:domainName": "alunos.escola.com.br",
            "alunos-api:hostedZoneId": "Z04112352Q7ZKV8M0QTF1",
            "alunos-api:alarmTopicArn": "arn:aws:sns:us-east-2:210987654321:alarms",
            "alunos-api:dbHost": "alunos-db.cx9ab8.us-east-2.rds.amazonaws.com",
            "alunos-api:dbSecretArn": "arn:aws:secretsmanager:us-east-2:210987654321:secret:db",
            "alunos-api:dbSecurityGroupId": "sg-07c1f3e9a2b4d6f81",
        }
    )
    repo = project(tmp_path / "repo", prod=prod)
    assert placeholders.find(repo, "prod") == []
    prod["alunos-api:alarmTopicArn"] = "arn:aws:sns:us-east-2:123456789012:alarms"
    (repo / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": prod}))
    assert [item.key for item in placeholders.find(repo, "prod")] == ["alunos-api:alarmTopicArn"]


def test_check_fails_on_example_values_naming_each_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--stack", "prod", "--repo", str(ROOT)]) == 1
    out = capsys.readouterr().out
    assert "check prod: 9 key(s) still hold example values:" in out
    for key in PROD_EXAMPLE_KEYS:
        assert f"Pulumi.prod.yaml: {key} still holds the example value" in out
    assert main(["check", "--stack", "prod", "--repo", str(ROOT), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["passed"] is False
    assert len(document["placeholders"]) == len(PROD_EXAMPLE_KEYS)


def test_plan_warns_once_per_key_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "prod", "--repo", str(ROOT), "--json"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout stays the plan
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == len(PROD_EXAMPLE_KEYS)
    assert any("alunos-api:alarmTopicArn still holds the example value" in w for w in warnings)
    assert main(["plan", "--stack", "dev", "--repo", str(ROOT), "--json"]) == 0
    assert "warning" not in capsys.readouterr().err
