"""The offline plan diff on a scratch copy of the project with a short git history.

History of the scratch repository (tags):
- `empty`: no project yet;
- `base`: the project as it is in this repository;
- `broken`: adds a `staging` stack whose settings file has a key the project does not declare;
- HEAD: dev gets two tasks, 512 CPU / 1024 MiB and a TLS certificate; staging is fixed.

Every offline plan takes a few seconds: the runs are shared through module-scoped fixtures.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from automation.changes import Operation
from automation.cli import main
from automation.errors import UsageProblem
from automation.offline import engine
from automation.offline.engine import Plan, PlannedResource
from automation.pr.plan_diff import BaseStatus, checkout, diff_against, diff_plans, operation_for
from automation.pr.render import render_markdown
from infra import resource_types as types
from tests.automation.conftest import ScratchRepo
from tests.automation.pr.fake_github import TOKEN, FakeGitHub

pytestmark = pytest.mark.slow  # offline plans of a scratch project at several commits

ROOT = Path(__file__).resolve().parents[3]
CERTIFICATE = "arn:aws:acm:us-east-2:123456789012:certificate/5f0c1b3e-2d7a-4c61-9d1e-0a8e6f2b7c44"
PR = 12


def copy_project(target: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(ROOT / "infra", target / "infra", ignore=shutil.ignore_patterns("__pycache__"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> ScratchRepo:
    repo = ScratchRepo(tmp_path_factory.mktemp("plan-diff") / "repo")
    repo.commit("an empty repository")
    repo.tag("empty")
    copy_project(repo.path)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "the project")
    repo.tag("base")
    staging = repo.path / "Pulumi.staging.yaml"
    shutil.copy(repo.path / "Pulumi.dev.yaml", staging)
    edit(staging, "environment: dev", "environment: staging")
    staging.write_text(staging.read_text() + "  alunos-api:desiredCnt: 2\n")  # a typo
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "staging, with a typo")
    repo.tag("broken")
    edit(staging, "  alunos-api:desiredCnt: 2\n", "")
    dev = repo.path / "Pulumi.dev.yaml"
    edit(dev, "alunos-api:desiredCount: 1", "alunos-api:desiredCount: 2")
    edit(dev, "alunos-api:cpu: 256", "alunos-api:cpu: 512")
    edit(dev, "alunos-api:memory: 512", "alunos-api:memory: 1024")
    dev.write_text(dev.read_text() + f"  alunos-api:certificateArn: {CERTIFICATE}\n")
    repo.git("commit", "-q", "-am", "dev: two tasks, more CPU, HTTPS; staging fixed")
    return repo


@pytest.fixture(scope="module")
def published(history, tmp_path_factory):
    """`plan --diff-against base --comment --json` in a pull request run, as CI runs it."""
    scratch = tmp_path_factory.mktemp("actions")
    event = scratch / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": PR}}))
    summary = scratch / "summary.md"
    out = io.StringIO()
    with FakeGitHub() as github, pytest.MonkeyPatch.context() as env:
        github.state.add_comment(PR, "<!-- alunos-api:preview:dev -->\nthe real preview")
        for name, value in {
            "GITHUB_API_URL": github.api_url,
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REPOSITORY": "acme/alunos-api",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
        }.items():
            env.setenv(name, value)
        with contextlib.redirect_stdout(out):
            code = main(
                [
                    "plan", "--stack", "dev", "--diff-against", "base",
                    "--repo", str(history.path), "--comment", "--json",
                ]
            )  # fmt: skip
        comments = list(github.state.comments[PR])
    assert code == 0
    return json.loads(out.getvalue()), comments, summary.read_text()


def by_name(printed) -> dict[str, dict]:
    """Changes by `type-suffix/name` (the IAM task role and the task definition share a name)."""
    return {f"{c['type'].rsplit(':', 1)[-1]}/{c['name']}": c for c in printed["changes"]}


def test_the_diff_names_what_the_commit_changes(published, history):
    printed, _, _ = published
    changes = by_name(printed)
    assert printed["offline"] is True
    assert printed["base"]["status"] == "planned"
    assert printed["base"]["commit"] == history.git("rev-parse", "base")
    service = changes["Service/alunos-dev-service"]
    assert (service["operation"], service["changed"]) == ("update", ["desiredCount"])
    task = changes["TaskDefinition/alunos-dev-task"]  # a new task definition revision
    assert task["operation"] == "replace"
    assert set(task["changed"]) == {"cpu", "memory"}
    assert changes["Listener/alunos-dev-https"]["operation"] == "create"
    assert changes["SecurityGroupIngressRule/alunos-dev-in-443"]["operation"] == "create"
    http = changes["Listener/alunos-dev-http"]  # now redirects to HTTPS
    assert (http["operation"], http["changed"]) == ("update", ["defaultActions"])
    stack = changes["Stack/alunos-api-dev"]
    assert (stack["operation"], stack["changed"]) == ("update", ["serviceUrl"])
    changing = {name for name, c in changes.items() if c["operation"] != "same"}
    assert changing == {
        "Service/alunos-dev-service",
        "TaskDefinition/alunos-dev-task",
        "Listener/alunos-dev-https",
        "SecurityGroupIngressRule/alunos-dev-in-443",
        "Listener/alunos-dev-http",
        "Stack/alunos-api-dev",
    }
    assert printed["counts"]["delete"] == 0


def test_the_comment_is_the_offline_plan_with_its_own_marker(published):
    printed, comments, summary = published
    assert printed["comment"]["action"] == "created"
    real, offline = comments
    assert real["body"].startswith("<!-- alunos-api:preview:dev -->")  # left alone
    body = offline["body"]
    assert body.startswith("<!-- alunos-api:plan:dev -->\n")
    assert "### Offline plan for stack <code>dev</code>" in body
    assert "[!NOTE]\n> Offline: computed with Pulumi's mock engine" in body
    assert (
        f"Compared with <code>base</code> (<code>{printed['base']['commit'][:12]}</code>)" in body
    )
    assert "**2** to create · **2** to update · **1** to replace · **0** to delete" in body
    assert "**Stack outputs that change:** <code>serviceUrl</code>" in body
    assert "<code>desiredCount</code>&#8201;→&#8201;<code>2</code>" in body
    assert "https://github.com/acme/alunos-api/actions/runs/4242" in body
    assert summary == body


def test_identical_refs_show_no_changes(history, capsys):
    assert (
        main(["plan", "--stack", "dev", "--diff-against", "HEAD", "--repo", str(history.path)]) == 0
    )
    captured = capsys.readouterr()
    assert "**No changes.**" in captured.out
    assert "**0** to create · **0** to update · **0** to replace · **0** to delete" in captured.out
    assert "no changes" in captured.err


@pytest.mark.parametrize("ref", ["no-such-branch", "--output=/tmp/x", "base~99"])
def test_a_bad_ref_exits_2_naming_it(history, capsys, ref):
    code = main(["plan", "--stack", "dev", "--diff-against", ref, "--repo", str(history.path)])
    assert code == 2
    assert repr(ref) in capsys.readouterr().err


def test_comment_without_diff_against_is_a_usage_error(history, capsys):
    assert main(["plan", "--stack", "dev", "--comment", "--repo", str(history.path)]) == 2
    assert "--comment needs --diff-against" in capsys.readouterr().err


def test_a_stack_missing_at_the_base_is_all_creates(history):
    found = diff_against(history.path, "staging", "base")
    assert found.base.status is BaseStatus.STACK_MISSING
    operations = {change.operation for change in found.change_set.changes}
    assert operations == {Operation.CREATE}
    planned = engine.run(history.path, "staging").resources
    assert len(found.change_set.changes) == len(planned)
    markdown = render_markdown(found.change_set, notes=found.notes)
    assert "The stack did not exist at <code>base</code>" in markdown
    assert "**24** to create" not in markdown  # components count too: every resource is new
    assert f"**{len(planned)}** to create · **0** to update" in markdown


def test_a_base_that_does_not_plan_shows_the_head_under_a_warning(history):
    found = diff_against(history.path, "staging", "broken")
    assert found.base.status is BaseStatus.FAILED
    assert "alunos-api:desiredCnt is not a key of this project" in (found.base.problem or "")
    assert {change.operation for change in found.change_set.changes} == {Operation.CREATE}
    markdown = render_markdown(found.change_set, notes=found.notes)
    assert "> [!WARNING]\n> The program at <code>broken</code>" in markdown
    assert "could not be planned, so this is not a difference" in markdown


def test_the_base_checkout_is_the_ref_and_is_always_removed(history, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with checkout(history.path, "broken") as (commit, base_dir):
        assert commit == history.git("rev-parse", "broken")
        assert (base_dir / "Pulumi.staging.yaml").read_text().endswith("desiredCnt: 2\n")
        assert (base_dir / "infra" / "settings.py").is_file()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt), checkout(history.path, "base"):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with checkout(history.path, "empty") as (_, base_dir):
        assert not (base_dir / "Pulumi.yaml").exists()  # no project there: all creates


def test_a_project_in_a_subdirectory_is_checked_out_alone(tmp_path):
    repo = ScratchRepo(tmp_path / "mono")
    project = repo.path / "deploy" / "stack"
    project.mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: alunos-api\n")
    (repo.path / "README.md").write_text("monorepo\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "project in a subdirectory")
    with checkout(project, "HEAD") as (_, base_dir):
        assert sorted(path.name for path in base_dir.iterdir()) == ["Pulumi.yaml"]


def test_outside_a_git_checkout_is_a_usage_problem(tmp_path):
    with pytest.raises(UsageProblem, match="find the git repository"):
        checkout(tmp_path, "main").__enter__()


# --- The comparison itself, on small hand-made plans.


def planned(name: str, type_: str, inputs: dict) -> PlannedResource:
    urn = f"urn:pulumi:dev::alunos-api::{type_}::{name}"
    return PlannedResource(urn=urn, type=type_, name=name, parent="", custom=True, inputs=inputs)


def test_replacement_follows_the_providers_force_new_properties():
    group = types.SECURITY_GROUP
    assert operation_for(group, ["tags"]) is Operation.UPDATE
    assert operation_for(group, ["tags", "description"]) is Operation.REPLACE
    task = types.TASK_DEFINITION
    assert operation_for(task, ["containerDefinitions"]) is Operation.REPLACE
    assert operation_for(task, ["tags"]) is Operation.UPDATE  # tagged in place
    database = types.RDS_INSTANCE
    assert operation_for(database, ["instanceClass", "engineVersion"]) is Operation.UPDATE
    assert operation_for(database, ["storageEncrypted"]) is Operation.REPLACE
    assert operation_for(types.TARGET_GROUP, ["port"]) is Operation.REPLACE
    assert operation_for(types.REPOSITORY, ["encryptionConfigurations"]) is Operation.REPLACE
    assert operation_for(types.SERVICE, []) is Operation.SAME


def test_only_in_the_base_is_a_delete_and_bookkeeping_keys_are_no_change():
    db = types.RDS_INSTANCE
    base = Plan(
        "dev",
        [
            planned("db", db, {"dbName": "alunos", "__defaults": ["a"]}),
            planned("old-logs", types.LOG_GROUP, {"name": "/x"}),
        ],
        outputs={"url": "http://a"},
    )
    head = Plan(
        "dev",
        [planned("db", db, {"dbName": "students", "__defaults": ["b"]})],
        outputs={"url": "http://a"},
    )
    changes = {change.name: change for change in diff_plans(base, head, "dev").changes}
    assert (changes["db"].operation, changes["db"].changed) == (Operation.REPLACE, ("dbName",))
    assert changes["old-logs"].operation is Operation.DELETE
    assert changes["old-logs"].properties == {"name": "/x"}  # what is deleted
    assert changes["alunos-api-dev"].operation is Operation.SAME  # outputs unchanged
    markdown = render_markdown(diff_plans(base, head, "dev"))
    assert "[!CAUTION]" in markdown  # the database replaced, the log group deleted


def test_the_comment_adds_the_cost_delta_and_the_policy_checks(published):
    _, comments, _ = published
    body = next(c["body"] for c in comments if c["body"].startswith("<!-- alunos-api:plan:dev -->"))
    assert len(body) <= 65_536
    cost = body[body.index("### Monthly cost: `dev`") :]
    # Twice the tasks, each twice the size: the Fargate line of the estimate changes.
    assert "vs base" in cost.splitlines()[0]
    assert any("Fargate" in line and line.startswith("| ") for line in cost.splitlines())
    assert "### Policy checks: `dev` (non-production): ✅" in body
    assert body.index("Monthly cost") > body.index("changed resources")  # changes come first


def test_a_base_without_the_stack_shows_the_head_estimate_and_checks(history):
    from automation.pr.plan_comment import compose

    found = diff_against(history.path, "staging", "base")
    body = compose(found, history.path, None)
    assert body.startswith("<!-- alunos-api:plan:staging -->")
    assert "Monthly" in body
    assert "vs base" not in body
    assert "### Policy checks: `staging`" in body


def test_the_comment_ends_with_the_heads_diagram(published):
    _, comments, _ = published
    body = next(c["body"] for c in comments if c["body"].startswith("<!-- alunos-api:plan:dev -->"))
    diagram = body[body.index("### Architecture: `dev`") :]
    assert diagram.index("```mermaid\nflowchart") < diagram.index("```\n", 10)
    assert body.index("### Architecture") > body.index("### Policy checks")


def test_report_shows_the_comment_then_fails_on_the_heads_checks(history, capsys):
    """The workflow's one step: the plan diff, cost, checks and diagram, exit 1 on a check."""
    code = main(
        ["report", "--stack", "prod", "--diff-against", "base", "--repo", str(history.path)]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert "### Policy checks: `prod`" in out
    assert "still holds the example value" in out  # the shipped prod file's example ids
    assert "### Architecture: `prod`" in out
    assert "error: check prod: the head fails its policy checks or holds example values" in err
