"""Exit codes and output of the commands, through `automation.cli.main` as CI runs them."""

import json
import os
import signal
import threading
from functools import partial

import pytest

from automation import cli
from automation.cli import main
from automation.deploy.aws_errors import CredentialsProblem, credentials_message
from automation.deploy.updates import LockRetry
from tests.automation.deploy.test_pulumi_seam import FakeCli, history_json
from tests.automation.fakes import FakeStack, deployed, key, outputs_for

SECRET = "hunter2-database-password"


@pytest.fixture
def opened(monkeypatch):
    """Replace stack selection with a fake stack; records what was asked for."""
    asked: list[tuple[str, str | None, bool]] = []
    holder: dict[str, FakeStack] = {"stack": FakeStack()}

    def open_stack(repo, stack, org, create):
        asked.append((stack, org, create))
        holder["stack"].name = stack
        return holder["stack"]

    monkeypatch.setattr(cli, "_open_stack", open_stack)
    return holder, asked


PRODUCTION = "alunos-api:production"
STACKS = {"dev": {"aws:region": "us-east-2"}, "prod": {"aws:region": "us-east-2", PRODUCTION: True}}


@pytest.fixture
def release_repo(repo):
    repo.project(**STACKS).commit()
    repo.tag("v1.4.2")
    return repo


@pytest.fixture
def dev_repo(repo):
    repo.project(**STACKS).commit()
    repo.tag("v1.4.2")
    repo.commit()
    return repo


def test_up_json_on_success(opened, dev_repo, capsys):
    holder, asked = opened
    code = main(["up", "--stack", "dev", "--repo", str(dev_repo.path), "--skip-verify", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    assert printed["ok"] is True
    assert printed["version"] == "1.4.3-dev.1"
    assert asked == [("dev", None, False)]
    assert holder["stack"].up_calls[0][key("version")] == "1.4.3-dev.1"


def test_up_prod_with_a_dev_build_exits_2_before_touching_the_stack(opened, dev_repo, capsys):
    _, asked = opened
    code = main(["up", "--stack", "prod", "--repo", str(dev_repo.path)])
    assert code == 2
    assert "Production deploys only a clean checkout" in capsys.readouterr().err
    assert asked == []


def test_up_prod_with_a_dirty_release_exits_2(opened, release_repo, capsys):
    (release_repo.path / "file.txt").write_text("local edit\n")
    assert main(["up", "--stack", "prod", "--repo", str(release_repo.path)]) == 2
    assert "dirty working tree" in capsys.readouterr().err


def test_up_prod_with_a_release_tag(opened, release_repo, capsys):
    holder, asked = opened
    code = main(
        [
            "up",
            "--stack",
            "prod",
            "--repo",
            str(release_repo.path),
            "--skip-verify",
            "--org",
            "acme",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert asked == [("prod", "acme", False)]
    assert holder["stack"].up_calls[0][key("imageTag")] == "1.4.2"


# --- "is this stack production?": the stack config's answer, the same for every command -------


@pytest.mark.parametrize(
    "command",
    [
        ["up"],
        ["preview"],
        ["rollback"],
        ["check"],
        ["plan", "--diff-against", "HEAD"],
        ["decommission"],
        ["decommission", "--skip-gates"],
    ],
    ids=lambda words: " ".join(words),
)
def test_a_stack_named_prod_without_the_flag_is_a_configuration_error_everywhere(
    opened, repo, capsys, command
):
    """It used to be production for `up` (by its name) and not for `check` (by its flag)."""
    repo.project(prod={"aws:region": "us-east-2"}).commit()
    repo.tag("v1.4.2")  # a clean release: only the configuration can stop it
    _, asked = opened
    assert main([*command, "--stack", "prod", "--repo", str(repo.path)]) == 2
    assert (
        "error: Pulumi.prod.yaml: alunos-api:production is false, but a stack named prod must "
        "be production: set `alunos-api:production: true`"
    ) in capsys.readouterr().err
    assert asked == []  # before any stack is opened (or AWS called)


def test_the_flag_makes_a_stack_production_whatever_its_name(opened, repo, capsys):
    repo.project(live={PRODUCTION: True}).commit()
    repo.tag("v1.4.2")
    repo.commit()
    _, asked = opened
    assert main(["up", "--stack", "live", "--repo", str(repo.path)]) == 2
    assert "refusing to deploy 1.4.3-dev.1" in capsys.readouterr().err
    assert asked == []


def test_a_new_stack_without_its_file_has_the_project_default(opened, dev_repo, capsys):
    """`--create`: no Pulumi.<stack>.yaml yet, so Pulumi.yaml's default (not production)..."""
    args = ["--repo", str(dev_repo.path), "--create", "--skip-verify"]
    assert main(["up", "--stack", "staging", *args]) == 0, capsys.readouterr().err
    (dev_repo.path / "Pulumi.prod.yaml").unlink()
    # ...which a stack named prod must not silently get.
    assert main(["up", "--stack", "prod", *args]) == 2
    assert "alunos-api:production is false, but a stack named prod" in capsys.readouterr().err


def test_org_comes_from_pulumi_org(opened, dev_repo, monkeypatch):
    _, asked = opened
    monkeypatch.setenv("PULUMI_ORG", "acme")
    main(["up", "--stack", "dev", "--repo", str(dev_repo.path), "--skip-verify", "--create"])
    assert asked == [("dev", "acme", True)]


def test_a_failed_verification_exits_1_with_the_reason(opened, dev_repo, stage, capsys):
    holder, _ = opened
    holder["stack"] = stage  # serves 1.4.2 whatever is deployed
    code = main(
        ["up", "--stack", "dev", "--repo", str(dev_repo.path), "--verify-timeout", "1", "--json"]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert json.loads(captured.out)["ok"] is False
    assert "verification of 1.4.3-dev.1 on dev failed" in captured.err
    assert "reports version '1.4.2'" in captured.err
    assert SECRET not in captured.out + captured.err


def test_rollback_on_failure_through_the_cli(opened, dev_repo, stage, service, capsys):
    holder, _ = opened
    holder["stack"] = stage
    stage.after_up = lambda config: (
        setattr(service, "version", config[key("version")])
        if config[key("rollbackImage")]
        else None
    )
    code = main(
        [
            "up", "--stack", "dev", "--repo", str(dev_repo.path),
            "--verify-timeout", "1", "--rollback-on-failure",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "rolled back to 1.4.2" in err
    assert stage.up_calls[1][key("rollbackImage")].startswith(stage.repository_url + "@sha256:")


def test_missing_credentials_exit_1_and_say_so(opened, dev_repo, capsys):
    holder, _ = opened
    holder["stack"].up_failure = CredentialsProblem(credentials_message("ExpiredToken"))
    code = main(["up", "--stack", "dev", "--repo", str(dev_repo.path), "--skip-verify"])
    assert code == 1
    assert "AWS credentials are missing or expired (ExpiredToken)" in capsys.readouterr().err


def test_a_locked_stack_is_retried_then_gives_up(opened, dev_repo, capsys, monkeypatch):
    holder, _ = opened
    holder["stack"].locked_times = 99
    sleeps: list[float] = []
    monkeypatch.setattr(
        "automation.deploy.updates.LockRetry", partial(LockRetry, sleep=sleeps.append)
    )
    code = main(
        [
            "up",
            "--stack",
            "dev",
            "--repo",
            str(dev_repo.path),
            "--lock-retries",
            "2",
            "--skip-verify",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("waiting") == 2
    assert sleeps == [10, 20]
    assert "still locked after 2 retries" in err


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_during_up_cancels_and_exits_with_the_signal_code(
    opened, dev_repo, capsys, signum, code
):
    holder, _ = opened
    stack = holder["stack"]
    stack.block_until_cancelled = True

    def deliver():
        if stack.blocking.wait(timeout=5):
            os.kill(os.getpid(), signum)

    threading.Thread(target=deliver, daemon=True).start()
    assert main(["up", "--stack", "dev", "--repo", str(dev_repo.path), "--skip-verify"]) == code
    assert stack.cancel_calls == 1
    assert "cancelled: the stack is unlocked" in capsys.readouterr().err


def test_preview_json(opened, dev_repo, capsys):
    holder, _ = opened
    assert main(["preview", "--stack", "prod", "--repo", str(dev_repo.path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "stack": "prod",
        "version": "1.4.3-dev.1",
        "image_tag": printed["image_tag"],
        "changes": {"update": 1, "same": 20},
    }
    assert holder["stack"].preview_calls[0][key("rollbackImage")] == ""


def test_outputs_mask_secrets(opened, capsys):
    holder, _ = opened
    holder["stack"].stack_outputs = outputs_for(
        {"serviceUrl": "http://alb"}, {"databaseUrl": SECRET}
    )
    assert main(["outputs", "--stack", "dev", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "serviceUrl": "http://alb",
        "databaseUrl": "[secret]",
    }
    assert main(["outputs", "--stack", "dev"]) == 0
    captured = capsys.readouterr()
    assert "databaseUrl: [secret]" in captured.out
    assert SECRET not in captured.out + captured.err


def test_rollback_to_an_unknown_version_exits_2(opened, capsys):
    holder, _ = opened
    holder["stack"].entries = [deployed("1.0.1", update=2), deployed("1.0.0", update=1)]
    assert main(["rollback", "--stack", "dev", "--to", "0.9.0"]) == 2
    assert "--to 0.9.0" in capsys.readouterr().err


def test_preview_outside_a_pulumi_project_exits_2(tmp_path, repo, capsys):
    repo.commit()
    assert main(["preview", "--stack", "dev", "--repo", str(repo.path)]) == 2
    assert "no Pulumi.yaml" in capsys.readouterr().err


def test_an_invalid_flag_exits_2(capsys):
    assert main(["up", "--stack", "dev", "--lock-retries", "-1"]) == 2


# --- the real seam, the scripted pulumi CLI, moto's ECR: secrets never printed -------------------


def test_rollback_through_the_real_seam_never_prints_secrets(tmp_path, monkeypatch, aws, capsys):
    from tests.automation.conftest import REGION, make_repository, push_image

    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: alunos-api\nruntime: python\n")
    fake = FakeCli(tmp_path, monkeypatch)
    url = make_repository(aws)
    digest = push_image(aws, url, "1.0.0")
    secret_config = {"value": SECRET, "secret": True}

    def stamped(version):
        return {
            key("version"): {"value": version, "secret": False},
            key("imageTag"): {"value": version, "secret": False},
            key("dbPassword"): secret_config,
        }

    fake.set("HISTORY", history_json((2, stamped("1.1.0")), (1, stamped("1.0.0"))))
    fake.set(
        "OUTPUTS",
        {"repositoryUrl": [url, False], "region": [REGION, False], "databaseUrl": [SECRET, True]},
    )
    code = main(["rollback", "--stack", "dev", "--repo", str(project), "--skip-verify", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    assert printed["rolled_back_to"]["version"] == "1.0.0"
    assert SECRET not in captured.out + captured.err
    set_all = next(c for c in fake.calls() if c[:2] == ["config", "set-all"])
    assert f"{key('rollbackImage')}={url}@{digest}" in set_all
    assert all("--show-secrets" not in c for c in fake.calls() if c[:2] == ["stack", "history"])


def test_a_signal_while_verifying_exits_cleanly_without_cancelling(
    opened, dev_repo, stage, service, capsys
):
    holder, _ = opened
    holder["stack"] = stage  # keeps serving 1.4.2: verification would poll for a long time

    def deliver():
        for _ in range(500):
            if "/version" in service.requests:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            threading.Event().wait(0.01)

    threading.Thread(target=deliver, daemon=True).start()
    code = main(["up", "--stack", "dev", "--repo", str(dev_repo.path), "--verify-timeout", "60"])
    assert code == 143
    assert stage.cancel_calls == 0  # the update had finished: nothing to cancel
    assert "interrupted by SIGTERM" in capsys.readouterr().err
