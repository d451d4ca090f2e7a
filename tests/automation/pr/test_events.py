"""Reading engine event logs (recorded and generated) into the change model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pulumi.automation.events import EngineEvent

from automation.changes import Operation
from automation.cli import main
from automation.errors import UsageProblem
from automation.pr.events import change_set_from_events, event_to_json, load_change_set, mask
from tests.automation.pr.engine_events import (
    SECRET_SIG,
    fixture_logs,
    fixtures_dir,
    stack_events,
    steps,
    write_log,
)

FIXTURES = fixture_logs()


def _stack_of(log: Path) -> str:
    found = re.search(r'"urn:pulumi:([^:]+)::', log.read_text(encoding="utf-8"))
    assert found, log
    return found.group(1)


def _by_name(change_set):
    return {change.name: change for change in change_set.changes}


def test_the_shared_fixtures_are_there():
    assert len(FIXTURES) >= 19


@pytest.mark.parametrize("log", FIXTURES, ids=lambda path: path.name)
def test_every_recorded_log_reads_into_one_change_per_resource(log: Path):
    change_set = load_change_set(log, _stack_of(log))
    urns = [change.urn for change in change_set.changes]
    assert len(urns) == len(set(urns))
    step_urns = {
        json.loads(line)[kind]["metadata"]["urn"]
        for line in log.read_text(encoding="utf-8").splitlines()
        for kind in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent")
        if kind in json.loads(line)
    }
    assert set(urns) == step_urns
    for change in change_set.changes:
        text = json.dumps(dict(change.properties))
        assert "4dabf18193072939515e22adb298388d" not in text
        assert "__defaults" not in text
        assert "__meta" not in text


def test_a_replacement_in_three_steps_is_one_replaced_resource():
    change_set = load_change_set(fixtures_dir() / "not-truncated--webserver-userdata.jsonl", "dev")
    server = _by_name(change_set)["web-server-www"]
    assert server.operation is Operation.REPLACE
    assert server.type == "aws:ec2/instance:Instance"
    assert server.changed == ("userData",)
    assert server.properties["instanceType"] == "t2.micro"
    assert server.properties["getPasswordData"] == "[secret]"  # a key that looks secret
    assert [c.operation for c in change_set.changes].count(Operation.REPLACE) == 1


def test_stack_outputs_that_become_unknown_are_named_never_valued():
    change_set = load_change_set(fixtures_dir() / "not-truncated--webserver-userdata.jsonl", "dev")
    stack = _by_name(change_set)["aws-ts-webserver-dev"]
    assert stack.type == "pulumi:pulumi:Stack"
    assert stack.changed == ("publicHostName", "publicIp")
    assert stack.properties == {}


def test_resource_marks_in_new_stack_outputs_are_not_a_change():
    change_set = load_change_set(
        fixtures_dir() / "not-truncated--stack-output-resource-diff.jsonl", "dev"
    )
    assert all(change.operation is Operation.SAME for change in change_set.changes)
    assert all(change.changed == () for change in change_set.changes)


def test_a_stack_output_update_names_the_output():
    change_set = load_change_set(fixtures_dir() / "json-yaml--json-text-change.jsonl", "dev")
    (stack,) = change_set.changes
    assert (stack.operation, stack.changed) == (Operation.UPDATE, ("vehicles",))


def test_component_children_keep_their_own_type_and_delete():
    change_set = load_change_set(
        fixtures_dir() / "not-truncated--destroy-with-deep-hierarchy.jsonl", "dev"
    )
    changes = _by_name(change_set)
    assert changes["mygrandchild"].operation is Operation.DELETE
    assert changes["mygrandchild"].type == "my:component:Grandchild"
    assert changes["mygrandchild"].parent_urn.endswith("::mychild")


def test_detailed_diff_paths_fold_to_top_level_keys_and_steps_repeat_once():
    change_set = load_change_set(fixtures_dir() / "not-truncated--up-4.jsonl", "dev")
    group = _by_name(change_set)["eks-sg"]
    assert (group.operation, group.changed) == (Operation.UPDATE, ("ingress",))
    template = load_change_set(fixtures_dir() / "not-truncated--template-body.jsonl", "dev")
    updated = [c for c in template.changes if c.operation is Operation.UPDATE]
    assert [c.name for c in updated] == ["cluster-nodes"]
    assert updated[0].type == "aws:cloudformation/stack:Stack"  # not its `$` parent's type


def test_secret_signatures_are_masked_in_the_failed_stack_fixture():
    change_set = load_change_set(
        fixtures_dir() / "not-truncated--failed-stacks-dont-rewrite-operations.jsonl", "dev"
    )
    changes = _by_name(change_set)
    assert changes["test-x"].operation is Operation.UPDATE
    assert changes["test-x"].changed == ("quux",)
    # A lone delete-replaced finishes an earlier replacement: still shown as a replacement.
    assert changes["test-r"].operation is Operation.REPLACE
    assert changes["test-r"].changed == ()  # no new inputs to compare with
    assert "ciphertext" not in json.dumps([dict(c.properties) for c in change_set.changes])


def test_out_of_order_events_give_the_same_change_set(tmp_path: Path):
    events = [
        *stack_events({"serviceUrl": "http://old"}, {"serviceUrl": "http://new"}),
        *steps("create", "aws:ecs/service:Service", "api", new={"desiredCount": 2}),
        *steps(
            "replace",
            "aws:rds/instance:Instance",
            "db",
            old={"engineVersion": "15"},
            new={"engineVersion": "16"},
            diffs=["engineVersion"],
        ),
        *steps("update", "aws:iam/role:Role", "role", old={"a": 1}, new={"a": 2}),
    ]
    ordered = load_change_set(write_log(tmp_path / "a.jsonl", events), "dev")
    reversed_ = load_change_set(write_log(tmp_path / "b.jsonl", events, reverse=True), "dev")
    assert ordered == reversed_
    changes = _by_name(ordered)
    assert changes["db"].operation is Operation.REPLACE
    assert changes["db"].properties == {"engineVersion": "16"}
    assert changes["role"].changed == ("a",)  # no diff keys: found by comparing inputs
    assert changes["alunos-api-dev"].changed == ("serviceUrl",)


def test_in_memory_engine_events_take_the_same_path_as_the_file(tmp_path: Path):
    events = [
        *steps("delete", "aws:cloudwatch/logGroup:LogGroup", "logs", old={"name": "x"}),
        *steps("create", "aws:s3/bucket:Bucket", "b", new={"bucket": "b"}),
    ]
    log = write_log(tmp_path / "e.jsonl", events, config={"alunos-api:version": "2.0.0"})
    delivered = [EngineEvent.from_json(json.loads(line)) for line in log.read_text().splitlines()]
    from_memory = change_set_from_events(delivered, "dev")
    assert from_memory == load_change_set(log, "dev")
    assert from_memory.version == "2.0.0"  # the stamped config, from the prelude event
    assert _by_name(from_memory)["logs"].properties == {"name": "x"}  # a delete shows old inputs


def test_secrets_never_reach_the_change_model(tmp_path: Path):
    inputs = {
        "__defaults": ["name"],
        "name": "db",
        "password": "hunter2-plain",
        "masterUserPassword": {**SECRET_SIG, "value": "hunter3-signed"},
        "settings": {"nested": {"apiToken": "tok-4", "other": {**SECRET_SIG, "ciphertext": "c5"}}},
        "environment": [{"name": "DB_PASSWORD", "value": "hunter6-env"}],
        "url": "postgres://app:hunter7-url@db:5432/alunos",
        "ref": {
            "4dabf18193072939515e22adb298388d": "5cf8f73096256a8f31e491e813e4eb8e",
            "urn": "urn:pulumi:dev::p::t::r",
        },
        "computed": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    }
    log = write_log(
        tmp_path / "e.jsonl",
        steps("update", "aws:rds/instance:Instance", "db", old=inputs, new=inputs, diffs=["x"]),
    )
    (change,) = load_change_set(log, "dev").changes
    text = json.dumps(dict(change.properties))
    for secret in ("hunter", "tok-4", "c5"):
        assert secret not in text
    assert change.properties["url"] == "postgres://app:[secret]@db:5432/alunos"
    assert change.properties["ref"] == "urn:pulumi:dev::p::t::r"
    assert change.properties["computed"] == "[unknown]"
    assert "__defaults" not in change.properties


def test_mask_hides_an_unknown_signature_and_secret_output_values():
    assert mask({"4dabf18193072939515e22adb298388d": "new-kind", "value": "s"}) == "[secret]"
    output = {"4dabf18193072939515e22adb298388d": "d0e6a833031e9bbcd3f4e8bde6ca49a4"}
    assert mask({**output, "value": "v", "secret": True}) == "[secret]"
    assert mask({**output, "value": "v"}) == "v"
    assert mask(output) == "[unknown]"


def test_an_empty_log_is_no_changes(tmp_path: Path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    change_set = load_change_set(empty, "dev")
    assert change_set.changes == []
    assert change_set.version is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not a JSON engine event"),
        ("[1, 2]", "expected a JSON object"),
        ('{"sequence": 3, "resourcePreEvent": {"metadata": {"op": "explode"}}}', "explode"),
        (
            '{"sequence": 3, "resourcePreEvent": {"metadata": {"op": "create", "urn": "nope"}}}',
            "is not a Pulumi URN",
        ),
        (
            '{"sequence": 3, "resourcePreEvent": {"metadata": {"op": "update", '
            '"urn": "urn:pulumi:dev::p::t::n", "type": "t", "diffs": 5}}}',
            "diffs must be a list",
        ),
        ('{"sequence": 3, "resourcePreEvent": "oops"}', "wrong type"),
    ],
)
def test_a_malformed_line_is_named_by_number(tmp_path: Path, line: str, message: str):
    log = tmp_path / "bad.jsonl"
    good = '{"sequence": 0, "preludeEvent": {"config": {}}}'
    log.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(UsageProblem, match=re.escape(f"{log}:3: ")) as raised:
        load_change_set(log, "dev")
    assert message in str(raised.value)


def test_cli_exits_2_with_the_line_number(tmp_path: Path, capsys):
    log = tmp_path / "bad.jsonl"
    log.write_text('{"sequence": 0, "preludeEvent": {"config": {}}}\ngarbage\n')
    assert main(["render", "--stack", "dev", "--events", str(log)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_missing_file_and_wrong_stack_are_usage_problems(tmp_path: Path):
    with pytest.raises(UsageProblem, match="does not exist"):
        load_change_set(tmp_path / "missing.jsonl", "dev")
    log = write_log(tmp_path / "e.jsonl", steps("create", "aws:s3/bucket:Bucket", "b"))
    with pytest.raises(UsageProblem, match="preview of stack 'dev', not 'prod'"):
        load_change_set(log, "prod")
    assert load_change_set(log, "acme/alunos-api/dev").stack == "acme/alunos-api/dev"


@pytest.mark.parametrize("log", FIXTURES, ids=lambda path: path.name)
def test_sdk_event_objects_and_the_file_fold_alike_on_every_recorded_log(log: Path):
    stack = _stack_of(log)
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    delivered = [EngineEvent.from_json(json.loads(line)) for line in lines]
    assert change_set_from_events(delivered, stack) == load_change_set(log, stack)
    # Back to the engine's JSON: the SDK reads it back to the same event.
    for event in delivered:
        again = event_to_json(EngineEvent.from_json(event_to_json(event)))
        assert again == event_to_json(event)


def test_event_to_json_writes_the_engines_field_names():
    line = {
        "sequence": 7,
        "timestamp": 1,
        "resOutputsEvent": {
            "metadata": {
                "op": "update",
                "urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b",
                "type": "aws:s3/bucket:Bucket",
                "provider": "",
                "old": {"type": "t", "urn": "u", "id": "i", "parent": "", "provider": ""},
                "detailedDiff": {"tags.a": {"diffKind": "update", "inputDiff": True}},
                "logical": True,
            },
            "planning": True,
        },
    }
    converted = event_to_json(EngineEvent.from_json(line))
    metadata = converted["resOutputsEvent"]["metadata"]
    assert metadata["op"] == "update"
    assert metadata["detailedDiff"] == {"tags.a": {"diffKind": "update", "inputDiff": True}}
    assert metadata["old"]["id"] == "i"
    assert "new" not in metadata
    summary = {"sequence": 9, "timestamp": 1, "summaryEvent": {"PolicyPacks": {"p": "1"}}}
    assert event_to_json(EngineEvent.from_json(summary))["summaryEvent"]["PolicyPacks"] == {
        "p": "1"
    }
