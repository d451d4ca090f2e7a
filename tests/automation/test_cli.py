"""Exit codes and output of the commands, through `automation.cli.main` as CI runs them."""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from automation.cli import Environment, main
from automation.deploy.aws_errors import CredentialsProblem, credentials_message
from tests.automation.deploy.test_pulumi_seam import FakeCli, history_json
from tests.automation.fakes import FakeBackend, deployed, fake_environment, key, outputs_for

SECRET = "hunter2-database-password"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def backend() -> FakeBackend:
    """A fake stack behind every stack name; `backend.opened` records what was asked for."""
    return FakeBackend()


@pytest.fixture
def env(backend: FakeBackend) -> Environment:
    return fake_environment(backend)


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


def test_up_json_on_success(backend, env, dev_repo, capsys):
    code = main(
        ["up", "--stack", "dev", "--repo", str(dev_repo.path), "--skip-verify", "--json"], env
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    assert printed["ok"] is True
    assert printed["version"] == "1.4.3-dev.1"
    assert backend.opened == [("dev", None, False)]
    assert backend.stack.up_calls[0][key("version")] == "1.4.3-dev.1"


def test_up_prod_with_a_dev_build_exits_2_before_touching_the_stack(backend, env, dev_repo, capsys):
    code = main(["up", "--stack", "prod", "--repo", str(dev_repo.path)], env)
    assert code == 2
    assert "Production deploys only a clean checkout" in capsys.readouterr().err
    assert backend.opened == []


def test_up_prod_with_a_dirty_release_exits_2(backend, env, release_repo, capsys):
    (release_repo.path / "file.txt").write_text("local edit\n")
    assert main(["up", "--stack", "prod", "--repo", str(release_repo.path)], env) == 2
    assert "dirty working tree" in capsys.readouterr().err


def test_up_prod_with_a_release_tag(backend, env, release_repo, capsys):
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
        ],
        env,
    )
    assert code == 0, capsys.readouterr().err
    assert backend.opened == [("prod", "acme", False)]
    assert backend.stack.up_calls[0][key("imageTag")] == "1.4.2"


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
    backend, env, repo, capsys, command
):
    """It used to be production for `up` (by its name) and not for `check` (by its flag)."""
    repo.project(prod={"aws:region": "us-east-2"}).commit()
    repo.tag("v1.4.2")  # a clean release: only the configuration can stop it
    assert main([*command, "--stack", "prod", "--repo", str(repo.path)], env) == 2
    assert (
        "error: Pulumi.prod.yaml: alunos-api:production is false, but a stack named prod must "
        "be production: set `alunos-api:production: true`"
    ) in capsys.readouterr().err
    assert backend.opened == []  # before any stack is opened (or AWS called)


def test_the_flag_makes_a_stack_production_whatever_its_name(backend, env, repo, capsys):
    repo.project(live={PRODUCTION: True}).commit()
    repo.tag("v1.4.2")
    repo.commit()
    assert main(["up", "--stack", "live", "--repo", str(repo.path)], env) == 2
    assert "refusing to deploy 1.4.3-dev.1" in capsys.readouterr().err
    assert backend.opened == []


def test_a_new_stack_without_its_file_has_the_project_default(backend, env, dev_repo, capsys):
    """`--create`: no Pulumi.<stack>.yaml yet, so Pulumi.yaml's default (not production)..."""
    args = ["--repo", str(dev_repo.path), "--create", "--skip-verify"]
    assert main(["up", "--stack", "staging", *args], env) == 0, capsys.readouterr().err
    (dev_repo.path / "Pulumi.prod.yaml").unlink()
    # ...which a stack named prod must not silently get.
    assert main(["up", "--stack", "prod", *args], env) == 2
    assert "alunos-api:production is false, but a stack named prod" in capsys.readouterr().err


def test_org_comes_from_pulumi_org(backend, env, dev_repo, monkeypatch):
    monkeypatch.setenv("PULUMI_ORG", "acme")
    main(["up", "--stack", "dev", "--repo", str(dev_repo.path), "--skip-verify", "--create"], env)
    assert backend.opened == [("dev", "acme", True)]


def test_a_failed_verification_exits_1_with_the_reason(backend, env, dev_repo, stage, capsys):
    backend.stack = stage  # serves 1.4.2 whatever is deployed
    code = main(
        ["up", "--stack", "dev", "--repo", str(dev_repo.path), "--verify-timeout", "1", "--json"],
        env,
    )
    captured = capsys.readouterr()
    assert code == 1
    assert json.loads(captured.out)["ok"] is False
    assert "verification of 1.4.3-dev.1 on dev failed" in captured.err
    assert "reports version '1.4.2'" in captured.err
    assert SECRET not in captured.out + captured.err


def test_rollback_on_failure_through_the_cli(backend, env, dev_repo, stage, service, capsys):
    backend.stack = stage
    stage.after_up = lambda config: (
        setattr(service, "version", config[key("version")])
        if config[key("rollbackImage")]
        else None
    )
    code = main(
        [
            "up", "--stack", "dev", "--repo", str(dev_repo.path),
            "--verify-timeout", "1", "--rollback-on-failure",
        ], env)  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "rolled back to 1.4.2" in err
    assert stage.up_calls[1][key("rollbackImage")].startswith(stage.repository_url + "@sha256:")


def test_rollback_dry_run_prints_the_plan_and_changes_nothing(
    backend, env, dev_repo, stage, capsys
):
    backend.stack = stage
    args = ["rollback", "--stack", "dev", "--repo", str(dev_repo.path), "--dry-run"]
    assert main([*args, "--json"], env) == 0, capsys.readouterr().err
    image = f"{stage.repository_url}@{stage.digests['1.4.1']}"
    printed = json.loads(capsys.readouterr().out)
    assert printed["from"] == "1.4.2"
    assert printed["to"]["version"] == "1.4.1"
    assert printed["image"] == image
    assert main(args, env) == 0
    captured = capsys.readouterr()
    assert (
        captured.out == f"rollback of dev: 1.4.2 -> 1.4.1 (deployed by update 1), image {image}\n"
    )
    assert "dry run: nothing changed" in captured.err
    assert stage.up_calls == []


def test_a_first_deploy_with_rollback_on_failure_warns_and_deploys(backend, env, dev_repo, capsys):
    args = ["up", "--stack", "dev", "--repo", str(dev_repo.path), "--rollback-on-failure"]
    assert main([*args, "--skip-verify", "--json"], env) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["fallback"] == {
        "plan": None,
        "problem": "no version was deployed before 1.4.3-dev.1: nothing to roll back to",
    }
    assert captured.err.index("warning: --rollback-on-failure") < captured.err.index("deploying")
    assert len(backend.stack.up_calls) == 1


def test_missing_credentials_exit_1_and_say_so(backend, env, dev_repo, capsys):
    backend.stack.up_failure = CredentialsProblem(credentials_message("ExpiredToken"))
    code = main(["up", "--stack", "dev", "--repo", str(dev_repo.path), "--skip-verify"], env)
    assert code == 1
    assert "AWS credentials are missing or expired (ExpiredToken)" in capsys.readouterr().err


def test_an_update_that_cannot_be_verified_exits_3_and_is_not_rolled_back(
    backend, env, dev_repo, stage, capsys
):
    backend.stack = stage
    stage.outputs_failures = 99
    args = ["up", "--stack", "dev", "--repo", str(dev_repo.path), "--rollback-on-failure"]
    code = main([*args, "--json"], fake_environment(backend, sleep=lambda s: None))
    captured = capsys.readouterr()
    assert code == 3, captured.err
    printed = json.loads(captured.out)
    assert (printed["ok"], printed["unverified"], printed["rolled_back_to"]) == (False, True, None)
    assert "succeeded, but it could not be verified" in captured.err
    assert len(stage.up_calls) == 1


def test_a_locked_stack_is_retried_then_gives_up(backend, dev_repo, capsys):
    backend.stack.locked_times = 99
    sleeps: list[float] = []
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
        ],
        fake_environment(backend, sleep=sleeps.append),
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("waiting") == 2
    assert sleeps == [10, 20]
    assert "still locked after 2 retries" in err


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_during_up_stops_pulumi_and_exits_with_the_signal_code(
    backend, env, dev_repo, capsys, signum, code
):
    stack = backend.stack
    stack.block_until_cancelled = True

    def deliver():
        if stack.blocking.wait(timeout=5):
            os.kill(os.getpid(), signum)

    threading.Thread(target=deliver, daemon=True).start()
    assert (
        main(["up", "--stack", "dev", "--repo", str(dev_repo.path), "--skip-verify"], env) == code
    )
    assert stack.interrupted.is_set()
    assert stack.cancel_calls == 0
    assert "update of dev cancelled, stack unlocked" in capsys.readouterr().err


def test_preview_json(backend, env, dev_repo, capsys):
    assert main(["preview", "--stack", "prod", "--repo", str(dev_repo.path), "--json"], env) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "stack": "prod",
        "version": "1.4.3-dev.1",
        "image_tag": printed["image_tag"],
        "changes": {"update": 1, "same": 20},
    }
    assert backend.stack.preview_calls[0][key("rollbackImage")] == ""


def test_outputs_mask_secrets(backend, env, capsys):
    backend.stack.stack_outputs = outputs_for({"serviceUrl": "http://alb"}, {"databaseUrl": SECRET})
    assert main(["outputs", "--stack", "dev", "--json"], env) == 0
    assert json.loads(capsys.readouterr().out) == {
        "serviceUrl": "http://alb",
        "databaseUrl": "[secret]",
    }
    assert main(["outputs", "--stack", "dev"], env) == 0
    captured = capsys.readouterr()
    assert "databaseUrl: [secret]" in captured.out
    assert SECRET not in captured.out + captured.err


def test_rollback_to_an_unknown_version_exits_2(backend, env, dev_repo, capsys):
    backend.stack.entries = [deployed("1.0.1", update=2), deployed("1.0.0", update=1)]
    assert (
        main(["rollback", "--stack", "dev", "--to", "0.9.0", "--repo", str(dev_repo.path)], env)
        == 2
    )
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
    backend, env, dev_repo, stage, service, capsys
):
    backend.stack = stage  # keeps serving 1.4.2: verification would poll for a long time

    def deliver():
        for _ in range(500):
            if "/version" in service.requests:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            threading.Event().wait(0.01)

    threading.Thread(target=deliver, daemon=True).start()
    code = main(
        ["up", "--stack", "dev", "--repo", str(dev_repo.path), "--verify-timeout", "60"], env
    )
    assert code == 143
    assert stage.cancel_calls == 0  # the update had finished: nothing to cancel
    assert "interrupted by SIGTERM" in capsys.readouterr().err


@pytest.mark.slow
def test_python_m_automation_runs_with_the_real_environment(dev_repo):
    """The entry point builds the real environment; the commands get it from `main()`."""
    done = subprocess.run(
        [sys.executable, "-m", "automation", "version", "--repo", str(dev_repo.path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1.4.3-dev.1\n"
