"""The plan diff's hazards: what a change would cost a deployed stack, refused or to review.

First through the command CI runs (`plan --diff-against`) on a scratch history of the real
project, then rule by rule on small hand-made plans.

History of the scratch repository (branches off `base`, the project as it is):
- `rename-db`: dev's dbName changes (the RDS instance would be replaced: refused);
- `grow`: dev gets NAT, a third AZ, another container port, PostgreSQL 17 and a bigger class
  (nothing replaced that serves; two changes to review);
- `move-vpc`: dev moves to an existing VPC (the target group would be replaced: refused).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from automation.changes import Operation
from automation.cli import main
from automation.offline.engine import Plan, PlannedResource
from automation.pr import hazards
from automation.pr.hazards import Hazard
from automation.pr.plan_diff import REPLACE_ON, diff_plans
from automation.pr.render import render_markdown
from infra import resource_types as types
from tests.automation.conftest import ScratchRepo
from tests.automation.pr.test_plan_diff import copy_project

EXISTING_VPC = {
    "alunos-api:existingVpcId": "vpc-0a1b2c3d4e5f60718",
    "alunos-api:existingPublicSubnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
    "alunos-api:existingPrivateSubnetIds": ["subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012"],
}


def set_dev(repo: ScratchRepo, changes: dict[str, Any]) -> None:
    """Edit Pulumi.dev.yaml: set keys (None removes one)."""
    path = repo.path / "Pulumi.dev.yaml"
    source = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        qualified = key if ":" in key else f"alunos-api:{key}"
        if value is None:
            source["config"].pop(qualified, None)
        else:
            source["config"][qualified] = value
    path.write_text(yaml.safe_dump(source))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> ScratchRepo:
    repo = ScratchRepo(tmp_path_factory.mktemp("hazards") / "repo")
    copy_project(repo.path)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "the project")
    repo.tag("base")
    branches: dict[str, dict[str, Any]] = {
        "rename-db": {"dbName": "students"},
        "grow": {
            "natGateways": "Single",
            "availabilityZones": 3,
            "containerPort": 9000,
            "dbEngineVersion": "17",
            "dbInstanceClass": "db.t4g.small",
        },
        "move-vpc": {
            "natGateways": None,
            "vpcCidr": None,
            "availabilityZones": None,
            **EXISTING_VPC,
        },
    }
    for branch, changes in branches.items():
        repo.git("checkout", "-q", "-b", branch, "base")
        set_dev(repo, changes)
        repo.git("commit", "-q", "-am", branch)
    return repo


def plan_diff(repo: ScratchRepo, branch: str) -> tuple[int, dict[str, Any], str]:
    """`plan --stack dev --diff-against base --json` on `branch`: exit code, JSON, stderr."""
    repo.git("checkout", "-q", branch)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            ["plan", "--stack", "dev", "--diff-against", "base", "--repo", str(repo.path), "--json"]
        )
    return code, json.loads(out.getvalue()), err.getvalue()


def by_name(printed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{c['type'].rsplit(':', 1)[-1]}/{c['name']}": c for c in printed["changes"]}


@pytest.mark.slow
def test_a_new_db_name_is_refused_it_would_replace_the_database(history: ScratchRepo) -> None:
    code, printed, err = plan_diff(history, "rename-db")
    assert code == 1
    database = by_name(printed)["Instance/alunos-dev-postgres"]
    # The final snapshot's name follows dbName: the old instance's snapshot keeps its own.
    assert database["operation"] == "replace"
    assert database["changed"] == ["dbName", "finalSnapshotIdentifier"]
    (refused,) = [h for h in printed["hazards"] if h["refused"]]
    assert refused["name"] == "alunos-dev-postgres"
    assert refused["what"].startswith("dbName can only be set when RDS creates the instance")
    assert "new, empty one" in refused["what"]
    assert "refused: the change would lose data or traffic on the deployed stack dev" in err
    assert "alunos-dev-postgres" in err


@pytest.mark.slow
def test_nat_an_az_a_port_and_a_major_upgrade_replace_nothing_that_serves(
    history: ScratchRepo,
) -> None:
    code, printed, _ = plan_diff(history, "grow")
    assert code == 0
    changes = by_name(printed)
    vpc = changes["Vpc/alunos-dev-vpc"]
    assert vpc["operation"] == "update"  # public and isolated subnets keep their blocks
    assert {"natGateways", "numberOfAvailabilityZones", "subnetSpecs"} <= set(vpc["changed"])
    assert changes["TargetGroup/alunos-dev-tg"]["operation"] == "same"
    assert changes["Listener/alunos-dev-http"]["operation"] == "same"
    # The port's rules: a new one before the deployment, the old one deleted after it.
    assert changes["SecurityGroupIngressRule/alunos-dev-in-alb"]["operation"] == "replace"
    assert changes["SecurityGroupEgressRule/alunos-dev-alb-out"]["operation"] == "replace"
    assert changes["Instance/alunos-dev-postgres"]["operation"] == "update"
    # To review, not refused: dev applies database changes at once.
    assert [(h["name"], h["refused"]) for h in printed["hazards"]] == [
        ("alunos-dev-postgres", False),
        ("alunos-dev-postgres", False),
    ]
    major, resize = (h["what"] for h in printed["hazards"])
    assert major.startswith("PostgreSQL 16 -> 17 is a major upgrade, applied as soon as")
    assert resize.startswith("changing instanceClass takes effect as soon as `pulumi up` runs")


@pytest.mark.slow
def test_moving_to_another_vpc_is_refused_it_would_replace_the_target_group(
    history: ScratchRepo,
) -> None:
    code, printed, _ = plan_diff(history, "move-vpc")
    assert code == 1
    group = by_name(printed)["TargetGroup/alunos-dev-tg"]
    assert (group["operation"], group["changed"]) == ("replace", ["vpcId"])
    refused = {h["name"]: h["what"] for h in printed["hazards"] if h["refused"]}
    assert "alunos-dev-tg" in refused
    assert "answer 503 until ECS has started tasks in it" in refused["alunos-dev-tg"]
    assert "Do it in two steps instead" in refused["alunos-dev-tg"]


@pytest.mark.slow
def test_the_comment_calls_refusals_out_before_anything_else(history: ScratchRepo) -> None:
    history.git("checkout", "-q", "rename-db")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            ["plan", "--stack", "dev", "--diff-against", "base", "--repo", str(history.path)]
        )
    assert code == 1
    body = out.getvalue()
    assert "> [!CAUTION]\n> **Refused: 1 change would lose data or traffic" in body
    assert (
        "> - <code>alunos-dev-postgres</code> (<code>aws&#58;rds/instance&#58;Instance</code>)"
        in body
    )
    assert body.index("Refused: 1 change") < body.index("stateful resource will be replaced")


# --- Rule by rule, on hand-made plans.


def planned(name: str, type_: str, inputs: dict[str, Any], **options: Any) -> PlannedResource:
    urn = f"urn:pulumi:dev::alunos-api::{type_}::{name}"
    return PlannedResource(urn, type_, name, "", True, inputs, **options)


def found(before: PlannedResource, after: PlannedResource) -> tuple[Operation, list[Hazard]]:
    base, head = Plan("dev", [before]), Plan("dev", [after])
    change_set = diff_plans(base, head, "dev")
    (change,) = [c for c in change_set.changes if c.name == after.name]
    return change.operation, hazards.find(base, head, change_set, REPLACE_ON)


DB = {"engine": "postgres", "engineVersion": "16", "instanceClass": "db.t4g.micro",
      "dbName": "alunos", "applyImmediately": False}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "operation", "refused", "fragment"),
    [
        ({"username": "admin"}, Operation.REPLACE, True, "username can only be set when RDS"),
        ({"engineVersion": "17"}, Operation.UPDATE, False,
         "PostgreSQL 16 -> 17 is a major upgrade, applied at the next maintenance window"),
        ({"instanceClass": "db.r7g.large"}, Operation.UPDATE, False,
         "changing instanceClass takes effect at the next maintenance window: until then"),
        ({"applyImmediately": True, "allocatedStorage": 50}, Operation.UPDATE, False,
         "changing allocatedStorage takes effect as soon as `pulumi up` runs"),
    ],
)  # fmt: skip
def test_database_changes(
    change: dict[str, Any], operation: Operation, refused: bool, fragment: str
) -> None:
    got, (hazard,) = found(
        planned("db", types.RDS_INSTANCE, DB), planned("db", types.RDS_INSTANCE, DB | change)
    )
    assert (got, hazard.refused) == (operation, refused)
    assert fragment in hazard.what


def test_a_minor_version_or_a_tag_is_no_hazard() -> None:
    before = planned("db", types.RDS_INSTANCE, DB | {"engineVersion": "16.3"})
    after = planned("db", types.RDS_INSTANCE, DB | {"engineVersion": "16.4", "tags": {"a": "b"}})
    assert found(before, after) == (Operation.UPDATE, [])


def vpc(**tiers: list[str] | None) -> dict[str, Any]:
    """awsx VPC inputs with these tiers (None: an unpinned spec, laid out by awsx)."""
    specs = [{"type": t} | ({"cidrBlocks": b} if b else {"cidrMask": 24}) for t, b in tiers.items()]
    return {"cidrBlock": "10.0.0.0/16", "subnetSpecs": specs}


@pytest.mark.parametrize(
    ("before", "after", "operation", "refused"),
    [
        # NAT adds the private tier, a third AZ its own blocks: nothing moves.
        (vpc(Public=["10.0.16.0/21", "10.0.48.0/21"]),
         vpc(Public=["10.0.16.0/21", "10.0.48.0/21", "10.0.80.0/21"],
             Private=["10.0.0.0/20", "10.0.32.0/20", "10.0.64.0/20"]),
         Operation.UPDATE, None),
        # A block moves, or an AZ goes away: its subnets would be replaced.
        (vpc(Public=["10.0.16.0/21", "10.0.48.0/21"]), vpc(Public=["10.0.16.0/21", "10.0.56.0/21"]),
         Operation.REPLACE, True),
        (vpc(Public=["10.0.16.0/21", "10.0.48.0/21"]), vpc(Public=["10.0.16.0/21"]),
         Operation.REPLACE, True),
        # A layout awsx computed itself cannot be compared offline: replaced, to check.
        (vpc(Public=None), vpc(Public=["10.0.16.0/21", "10.0.48.0/21"]), Operation.REPLACE, False),
    ],
)  # fmt: skip
def test_vpc_subnet_layout_changes(
    before: dict[str, Any], after: dict[str, Any], operation: Operation, refused: bool | None
) -> None:
    got, found_hazards = found(planned("v", types.VPC, before), planned("v", types.VPC, after))
    assert got is operation
    assert [h.refused for h in found_hazards] == ([] if refused is None else [refused])
    if refused:
        assert "existing subnets would move (Public AZ 2: 10.0.48.0/21 -> " in found_hazards[0].what


def test_the_programs_replace_on_changes_and_alarm_names_force_a_replacement() -> None:
    rule: Callable[[int], PlannedResource] = lambda port: planned(  # noqa: E731
        "in", types.INGRESS_RULE, {"fromPort": port}, replace_on_changes=("fromPort", "toPort")
    )
    assert found(rule(8000), rule(9000))[0] is Operation.REPLACE
    assert found(rule(8000), rule(8000))[0] is Operation.SAME
    alarm = types.METRIC_ALARM
    assert found(planned("a", alarm, {"name": "x"}), planned("a", alarm, {"name": "y"}))[0] is (
        Operation.REPLACE
    )


def test_hazards_render_escaped_and_within_budget() -> None:
    many = [
        Hazard(f"db-{i}", types.RDS_INSTANCE, "|<@all> " + "x" * 700, refused=True)
        for i in range(40)
    ]
    body = render_markdown(diff_plans(None, Plan("dev", []), "dev"), hazards=many)
    assert "> **Refused: 40 changes would lose data or traffic" in body
    assert "@all" not in body
    assert "|<" not in body
    assert "more: see the --json output." in body
    assert len(body) < 20_000


def test_a_stack_new_at_the_base_has_no_hazards() -> None:
    # Only a create: nothing deployed can be lost.
    base, head = Plan("dev", []), Plan("dev", [planned("db", types.RDS_INSTANCE, DB)])
    assert hazards.find(base, head, diff_plans(base, head, "dev"), REPLACE_ON) == []
