"""The Markdown a reviewer reads: counts, callouts, the detail table, secrets, escaping, limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from automation.changes import Change, ChangeSet, Operation
from automation.cli import main
from automation.errors import UsageProblem
from automation.pr.events import load_change_set, mask
from automation.pr.render import (
    CALLOUTS_PER_RISK,
    CLASSIFICATION,
    COMMENT_LIMIT,
    Risk,
    render_markdown,
    size,
)
from tests.automation.pr.engine_events import (
    SECRET_SIG,
    fixture_logs,
    fixtures_dir,
    stack_events,
    steps,
    write_log,
)

RUN = "https://github.com/acme/alunos-api/actions/runs/42"
ROW = re.compile(r"^\| (🟢 create|🟡 update|🟠 replace|🔴 delete|🔵 import) \|", re.M)


def rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if ROW.match(line)]


def left_out(markdown: str) -> int:
    found = re.search(r"\*\*(\d+) of (\d+) changed resources are not listed\*\*", markdown)
    return int(found.group(1)) if found else 0


def change(op: Operation, type_: str, name: str, **kwargs) -> Change:
    urn = f"urn:pulumi:dev::alunos-api::{type_}::{name}"
    return Change(urn=urn, type=type_, name=name, operation=op, **kwargs)


@pytest.fixture
def realistic(tmp_path: Path) -> Path:
    """A preview of this project: the move to Fargate, with a database replaced."""
    events = [
        *stack_events(
            {"serviceUrl": "http://legacy.example.com", "version": "1.3.0"},
            {"serviceUrl": "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "version": "1.4.0"},
        ),
        *steps("create", "aws:ecs/cluster:Cluster", "alunos-cluster", new={"name": "alunos"}),
        *steps(
            "create",
            "aws:ecs/service:Service",
            "alunos-service",
            new={"desiredCount": 2, "launchType": "FARGATE"},
            parents=["alunos-api:infra:Service"],
        ),
        *steps(
            "create",
            "aws:lb/targetGroup:TargetGroup",
            "alunos-tg",
            new={"port": 8000, "targetType": "ip"},
        ),
        *steps(
            "update",
            "aws:ecs/taskDefinition:TaskDefinition",
            "alunos-task",
            old={"cpu": "256"},
            new={"cpu": "512", "containerDefinitions": '[{"image": "x"}]'},
            diffs=["cpu", "containerDefinitions"],
        ),
        *steps(
            "replace",
            "aws:rds/instance:Instance",
            "alunos-db",
            old={"engineVersion": "15", "password": {**SECRET_SIG, "value": "s3cr3t-pw"}},
            new={"engineVersion": "16", "password": {**SECRET_SIG, "value": "s3cr3t-pw"}},
            diffs=["engineVersion"],
        ),
        *steps(
            "delete",
            "aws:lb/listener:Listener",
            "legacy-http",
            old={"port": 80},
        ),
        *steps("same", "aws:ecr/repository:Repository", "alunos-repo", old={}, new={}),
    ]
    return write_log(tmp_path / "preview.jsonl", events, config={"alunos-api:version": "1.4.0"})


def test_a_realistic_preview_renders_everything_a_reviewer_needs(realistic: Path):
    markdown = render_markdown(load_change_set(realistic, "dev"), run_url=RUN)
    lines = markdown.splitlines()
    assert lines[0] == "<!-- alunos-api:preview:dev -->"
    assert "stack <code>dev</code> · version <code>1.4.0</code>" in markdown
    assert (
        "**3** to create · **1** to update · **1** to replace · **1** to delete · 1 unchanged"
        in markdown
    )
    assert "<code>serviceUrl</code>, <code>version</code>" in markdown
    caution = markdown.split("> [!CAUTION]")[1].split("\n\n")[0]
    assert "1 stateful resource will be replaced" in caution
    assert "**replace** <code>alunos-db</code> (database" in caution
    warning = markdown.split("> [!WARNING]")[1].split("\n\n")[0]
    assert "**delete** <code>legacy-http</code> (listener" in warning
    assert "alunos-service" not in warning  # created, not replaced: no callout
    assert "<details>" in markdown
    assert "<summary>6 changed resources</summary>" in markdown
    assert len(rows(markdown)) == 6
    assert rows(markdown)[0].startswith("| 🔴 delete")  # riskiest first
    assert "<code>cpu</code>&#8201;→&#8201;<code>512</code>" in markdown
    assert f"[the workflow run]({RUN})" in markdown
    assert "s3cr3t" not in markdown


def test_every_operation_has_its_row_and_count():
    changes = [
        change(Operation.CREATE, "aws:s3/bucket:Bucket", "c"),
        change(Operation.UPDATE, "aws:s3/bucket:Bucket", "u", changed=("tags",)),
        change(Operation.REPLACE, "aws:s3/bucket:Bucket", "r", changed=("bucket",)),
        change(Operation.DELETE, "aws:s3/bucket:Bucket", "d"),
        change(Operation.IMPORT, "aws:s3/bucket:Bucket", "i"),
        change(Operation.READ, "aws:s3/bucket:Bucket", "data-source"),
        change(Operation.SAME, "aws:s3/bucket:Bucket", "s"),
        change(Operation.CREATE, "pulumi:providers:aws", "default_7_0_0"),
    ]
    markdown = render_markdown(ChangeSet("dev", changes, version="1.0.0"))
    assert "**2** to create · **1** to update · **1** to replace · **1** to delete" in markdown
    assert "**1** to import · 1 unchanged" in markdown
    labels = [row.split(" | ")[0] for row in rows(markdown)]
    assert labels == [
        "| 🔴 delete",
        "| 🟠 replace",
        "| 🟡 update",
        "| 🟢 create",
        "| 🟢 create",
        "| 🔵 import",
    ]
    assert "data-source" not in markdown  # a read changes nothing
    callout = markdown.split("> [!CAUTION]")[1]
    assert "**replace** <code>r</code>" in callout
    assert "**delete** <code>d</code>" in callout
    assert "<code>u</code>" not in callout.split("<details>")[0]  # an update is not risky


@pytest.mark.parametrize("log", fixture_logs(), ids=lambda path: path.name)
def test_every_recorded_log_renders_within_the_limit(log: Path):
    found = re.search(r'"urn:pulumi:([^:]+)::', log.read_text())
    assert found is not None, f"{log.name} names no stack"
    stack = found.group(1)
    markdown = render_markdown(load_change_set(log, stack), run_url=RUN)
    assert markdown.startswith(f"<!-- alunos-api:preview:{stack} -->\n")
    assert size(markdown) <= COMMENT_LIMIT
    assert "ciphertext" not in markdown
    assert "1b47061264138c4ac30d75fd1eb44270" not in markdown


def test_the_replaced_server_of_the_webserver_fixture_gets_a_warning():
    change_set = load_change_set(fixtures_dir() / "not-truncated--webserver-userdata.jsonl", "dev")
    markdown = render_markdown(change_set)
    assert "> [!WARNING]" in markdown
    assert "**replace** <code>web-server-www</code>" in markdown
    assert "**0** to create · **0** to update · **1** to replace · **0** to delete" in markdown


def test_deleted_stateful_fixture_resources_get_a_caution():
    path = fixtures_dir() / "not-truncated--destroy-with-custom-resource-parent.jsonl"
    markdown = render_markdown(load_change_set(path, "dev"))
    assert "> [!CAUTION]" in markdown
    assert "**delete** <code>mybucket</code> (S3 bucket" in markdown


def test_an_empty_preview_says_no_changes(tmp_path: Path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["render", "--stack", "dev", "--events", str(empty)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!-- alunos-api:preview:dev -->\n")
    assert "**No changes.**" in out
    assert "<details>" not in out


def test_the_offline_plan_says_so_and_has_its_own_marker():
    markdown = render_markdown(
        ChangeSet("prod", [change(Operation.CREATE, "aws:s3/bucket:Bucket", "b")], offline=True)
    )
    assert markdown.startswith("<!-- alunos-api:plan:prod -->\n")
    assert "### Offline plan for stack <code>prod</code>" in markdown
    assert "> [!NOTE]\n> Offline:" in markdown


def test_secret_values_never_appear_whatever_the_key_or_nesting(tmp_path: Path):
    inputs = {
        "plain": {**SECRET_SIG, "value": "pw-JJJJ"},
        "password": "pw-AAAA",
        "dbPassword": "pw-BBBB",
        "secretString": {**SECRET_SIG, "value": "pw-CCCC"},
        "auth": {"apiToken": "pw-DDDD", "nested": [{"privateKey": "pw-EEEE"}]},
        "environment": [{"name": "API_SECRET", "value": "pw-FFFF"}],
        "connectionString": "Server=db;Password=pw-GGGG",
        "dsn": "postgres://u:pw-HHHH@db/alunos",
        "keyMaterial": "pw-IIII",
    }
    keys = list(inputs)
    log = write_log(
        tmp_path / "e.jsonl",
        steps("update", "aws:rds/instance:Instance", "db", old={}, new=inputs, diffs=keys),
    )
    markdown = render_markdown(load_change_set(log, "dev"))
    assert "pw-" not in markdown
    assert "<code>password</code>" in markdown  # the key is named, the value is not
    assert "<code>plain</code>&#8201;→&#8201;<code>&#91;secret&#93;</code>" in markdown
    assert "+1 more" in markdown  # nine changed keys, eight shown


def test_a_short_secret_value_under_an_innocent_key_is_masked_by_its_signature():
    properties = mask({"image": {**SECRET_SIG, "value": "registry/secret-image"}})
    assert properties == {"image": "[secret]"}


def test_names_cannot_break_the_table_or_inject_html():
    hostile = [
        "a|b|c",
        "`code` and ``more``",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "line\nbreak\r\n| fake | row |",
        "@octocat #1 [link](http://evil) **bold** $x$",
        "<!-- alunos-api:preview:prod -->",
        "-->",
    ]
    changes = [
        change(Operation.DELETE, "aws:rds/instance:Instance", name, changed=(name,))
        for name in hostile
    ]
    markdown = render_markdown(ChangeSet("dev", changes))
    table = rows(markdown)
    assert len(table) == len(hostile)
    for row in table:
        assert row.count("|") == 5  # four cells, none split
    for forbidden in ("<script", "<img", "`", "@octocat", "[link]", "**bold**", "$x$"):
        assert forbidden not in markdown
    assert markdown.count("<!--") == 1  # only the real marker
    assert "alert&#40;1&#41;" in markdown  # shown, as text


def test_callouts_are_capped_with_a_count():
    changes = [
        change(Operation.DELETE, "aws:dynamodb/table:Table", f"table-{index:05}")
        for index in range(3_000)
    ]
    markdown = render_markdown(ChangeSet("dev", changes))
    caution = markdown.split("> [!CAUTION]")[1].split("\n\n")[0]
    assert "**3000 stateful resources will be replaced or deleted" in caution
    bullets = [line for line in caution.splitlines() if line.startswith("> - **delete**")]
    assert len(bullets) == CALLOUTS_PER_RISK
    assert f"…and {3_000 - CALLOUTS_PER_RISK} more" in caution
    assert size(markdown) <= COMMENT_LIMIT


def test_the_classification_covers_the_brief():
    for type_, risk in [
        ("aws:rds/instance:Instance", Risk.DATA),
        ("aws:ecr/repository:Repository", Risk.DATA),
        ("aws:cloudwatch/logGroup:LogGroup", Risk.DATA),
        ("aws:secretsmanager/secret:Secret", Risk.DATA),
        ("aws:efs/fileSystem:FileSystem", Risk.DATA),
        ("aws:dynamodb/table:Table", Risk.DATA),
        ("aws:s3/bucket:Bucket", Risk.DATA),
        ("aws:kms/key:Key", Risk.DATA),
        ("aws:lb/loadBalancer:LoadBalancer", Risk.TRAFFIC),
        ("aws:lb/listener:Listener", Risk.TRAFFIC),
        ("aws:lb/targetGroup:TargetGroup", Risk.TRAFFIC),
        ("aws:ec2/vpc:Vpc", Risk.TRAFFIC),
        ("aws:ec2/subnet:Subnet", Risk.TRAFFIC),
        ("awsx:ec2:Vpc", Risk.TRAFFIC),
    ]:
        assert CLASSIFICATION[type_].risk is risk, type_


def test_a_huge_preview_is_trimmed_with_an_honest_count_and_a_link():
    changes = [
        change(Operation.CREATE, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"r-{i}")
        for i in range(20_000)
    ]
    markdown = render_markdown(ChangeSet("dev", changes), run_url=RUN)
    assert size(markdown) <= COMMENT_LIMIT
    shown = len(rows(markdown))
    assert 100 < shown < 20_000
    assert left_out(markdown) == 20_000 - shown
    assert f"({shown} listed)" in markdown
    assert f"The full preview is in [the workflow run]({RUN})." in markdown


def test_a_bad_run_url_or_stack_name_is_a_usage_problem():
    change_set = ChangeSet("dev", [])
    with pytest.raises(UsageProblem, match="--run-url"):
        render_markdown(change_set, run_url="javascript:alert(1)")
    with pytest.raises(UsageProblem, match="not a Pulumi stack name"):
        render_markdown(ChangeSet("dev --><script>", []))


OPERATIONS = [Operation.CREATE, Operation.UPDATE, Operation.REPLACE, Operation.DELETE]
TYPES = [*list(CLASSIFICATION)[:6], "aws:iam/role:Role", "alunos-api:infra:Service"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    count=st.integers(min_value=0, max_value=60) | st.integers(min_value=1_000, max_value=4_000),
    names=st.lists(st.text(max_size=400), min_size=1, max_size=5),
    keys=st.lists(st.text(min_size=1, max_size=80), max_size=12),
    version=st.none() | st.text(max_size=200),
    run_url=st.none() | st.just(RUN),
)
def test_truncation_keeps_the_essentials_and_counts_what_it_leaves_out(
    count, names, keys, version, run_url
):
    changes = [
        change(
            OPERATIONS[index % 4],
            TYPES[index % len(TYPES)],
            f"{names[index % len(names)]}{index}",
            changed=tuple(keys),
            properties=dict.fromkeys(keys, "v|`<b>" * (index % 3)),
        )
        for index in range(count)
    ]
    markdown = render_markdown(ChangeSet("dev", changes, version=version), run_url=run_url)
    assert len(markdown) <= COMMENT_LIMIT
    assert size(markdown) <= COMMENT_LIMIT
    assert markdown.startswith("<!-- alunos-api:preview:dev -->\n")
    per_op = {op: sum(1 for c in changes if c.operation is op) for op in OPERATIONS}
    assert (
        f"**{per_op[Operation.CREATE]}** to create · **{per_op[Operation.UPDATE]}** to update · "
        f"**{per_op[Operation.REPLACE]}** to replace · **{per_op[Operation.DELETE]}** to delete"
    ) in markdown
    for risk in Risk:
        risky = sum(
            1
            for c in changes
            if c.operation in (Operation.REPLACE, Operation.DELETE)
            and c.type in CLASSIFICATION
            and CLASSIFICATION[c.type].risk is risk
        )
        assert (f"> [!{risk.value}]" in markdown) == (risky > 0)
        if risky:
            assert re.search(
                rf"> \*\*{risky} (stateful|traffic-carrying) resources? will", markdown
            )
    shown = len(rows(markdown))
    assert shown + left_out(markdown) == count
    event("trimmed" if left_out(markdown) else "complete")
    for row in rows(markdown):
        assert row.count("|") == 5


def test_an_unmasked_change_set_from_elsewhere_still_shows_no_secret():
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    changes = [
        change(
            Operation.UPDATE,
            "aws:ssm/parameter:Parameter",
            "p",
            changed=("value", "password"),
            properties={"value": {**secret, "value": "pw-x"}, "password": "pw-y"},
        )
    ]
    markdown = render_markdown(ChangeSet("dev", changes, offline=True))
    assert "pw-" not in markdown
    assert "<code>value</code>&#8201;→&#8201;<code>&#91;secret&#93;</code>" in markdown


def test_the_comment_says_how_a_release_rolls_out() -> None:
    from automation.changes import Change, ChangeSet, Operation
    from automation.pr.render import release_line, render_markdown

    canary = {
        "deploymentConfiguration": {
            "strategy": "CANARY",
            "bakeTimeInMinutes": "10",
            "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": "10"},
        }
    }
    group = {"healthCheck": {"interval": 10, "healthyThreshold": 2}, "deregistrationDelay": 15}
    service = Change("urn:svc", "aws:ecs/service:Service", "alunos-prod-service", Operation.UPDATE,
                     ("taskDefinition",), canary)  # fmt: skip
    tg = Change("urn:tg", "aws:lb/targetGroup:TargetGroup", "alunos-prod-tg", Operation.SAME,
                (), group)  # fmt: skip
    changes = ChangeSet("prod", [service, tg], version="1.5.0")
    line = "**Release:** canary: 10% of requests to the new tasks for 10 min, then all; 10 min bake · about 22 min"
    assert release_line(changes) == line
    assert line in render_markdown(changes)
    # A rolling release without the target group's inputs; no release without a service change.
    rolling = Change("urn:svc", "aws:ecs/service:Service", "s", Operation.CREATE, (), {})
    assert release_line(ChangeSet("dev", [rolling])) == (
        "**Release:** rolling: each new task takes requests once healthy, replacing an old one"
        " · a few minutes (tasks start and pass their health checks)"
    )
    assert release_line(ChangeSet("prod", [tg])) is None
