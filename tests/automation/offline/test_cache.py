"""The plan cache: a hit only for the same inputs, never for an entry it cannot trust, and without
the Pulumi SDKs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from automation.cli import main
from automation.offline import cache
from automation.offline.planned import Plan, PlannedResource

ROOT = Path(__file__).resolve().parents[3]
SDKS = ("pulumi", "pulumi_aws", "pulumi_awsx", "pulumi_docker")


def copy_project(target: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py", "uv.lock"):
        shutil.copy(ROOT / name, target / name)
    for name in ("infra", "policy", "app"):
        shutil.copytree(
            ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "venv")
        )
    return target


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project as the working directory (the image's build context is relative
    to it), with the cache on."""
    copy_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(cache.SWITCH)
    return tmp_path


def tiny_plan(stack: str, marker: str = "one") -> Plan:
    resource = PlannedResource(
        urn=f"urn:pulumi:{stack}::alunos-api::aws:s3/bucket:Bucket::{marker}",
        type="aws:s3/bucket:Bucket",
        name=marker,
        parent="",
        custom=True,
        inputs={"bucket": marker, "count": 2, "nested": {"list": [1.5, None, True]}},
        ignore_changes=("tags",),
        dependencies=("urn:a",),
    )
    return Plan(stack=stack, resources=[resource], outputs={"url": "http://x"})


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stacks the mock engine was asked to run (a small plan stands in for its result)."""
    seen: list[str] = []

    def run(project_dir: Path, stack: str) -> Plan:
        seen.append(stack)
        return tiny_plan(stack, marker=f"run{len(seen)}")

    monkeypatch.setattr(cache, "_run", run)
    return seen


def entries(project: Path) -> list[Path]:
    return sorted((project / cache.DIRECTORY).glob("*.json"))


def test_a_second_plan_with_the_same_inputs_is_read_back_whole(project, runs):
    first = cache.plan(project, "dev")
    second = cache.plan(project, "dev")
    assert runs == ["dev"]
    assert second == first == tiny_plan("dev", "run1")  # tuples, nesting, numbers intact
    [entry] = entries(project)
    assert entry.name == f"dev-{cache.plan_key(project, 'dev')}.json"
    assert not list(entry.parent.glob("*.tmp"))  # written through a temporary file


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


EDITS: dict[str, Callable[[Path], object]] = {
    "infra": lambda root: append(root / "infra" / "tags.py", "\n# edited\n"),
    "new file in infra": lambda root: (root / "infra" / "extra.json").write_text("{}"),
    "__main__.py": lambda root: append(root / "__main__.py", "\n# edited\n"),
    "Pulumi.dev.yaml": lambda root: append(root / "Pulumi.dev.yaml", "# edited\n"),
    "Pulumi.yaml": lambda root: append(root / "Pulumi.yaml", "# edited\n"),
    "uv.lock": lambda root: append(root / "uv.lock", "\n# edited\n"),
    "policy": lambda root: append(root / "policy" / "rules.py", "\n# edited\n"),
    "the image's build context": lambda root: append(root / "app" / "config.py", "\n# edited\n"),
}


@pytest.mark.parametrize("edited", sorted(EDITS))
def test_any_change_to_an_input_is_a_miss(project, runs, edited):
    cache.plan(project, "dev")
    EDITS[edited](project)
    assert cache.plan(project, "dev") == tiny_plan("dev", "run2")
    assert runs == ["dev", "dev"]
    assert cache.plan(project, "dev") == tiny_plan("dev", "run2")  # and that is cached in turn
    assert runs == ["dev", "dev"]


def test_bytecode_and_modification_times_are_not_inputs(project):
    key = cache.plan_key(project, "dev")
    (project / "infra" / "__pycache__").mkdir()
    (project / "infra" / "__pycache__" / "tags.cpython-311.pyc").write_bytes(b"\0")
    os.utime(project / "infra" / "tags.py", (1, 1))
    assert cache.plan_key(project, "dev") == key


def test_the_python_version_and_the_stack_are_inputs(project, monkeypatch):
    key = cache.plan_key(project, "dev")
    shutil.copy(project / "Pulumi.dev.yaml", project / "Pulumi.qa.yaml")
    assert cache.plan_key(project, "qa") != key
    monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    assert cache.plan_key(project, "dev") != key


CORRUPTIONS: dict[str, Callable[[dict], object]] = {
    "not JSON": lambda entry: "{not json",
    "not an object": lambda entry: [entry],
    "a field missing": lambda entry: {k: v for k, v in entry.items() if k != "outputs"},
    "a field more": lambda entry: {**entry, "extra": 1},
    "a wrong type": lambda entry: {**entry, "resources": [{**entry["resources"][0], "custom": 1}]},
    "another format": lambda entry: {**entry, "format": cache.FORMAT + 1},
    "another key inside": lambda entry: {**entry, "key": "0" * 64},
    "another stack inside": lambda entry: {**entry, "stack": "prod"},
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_or_foreign_entry_is_ignored_and_overwritten(project, runs, corruption):
    cache.plan(project, "dev")
    [path] = entries(project)
    bad = CORRUPTIONS[corruption](json.loads(path.read_text()))
    path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
    assert cache.plan(project, "dev") == tiny_plan("dev", "run2")  # run again, never trusted
    assert runs == ["dev", "dev"]
    assert cache.read(path, key=cache.plan_key(project, "dev"), stack="dev") is not None


def test_each_stack_keeps_its_newest_entries(project, runs):
    for edit in range(cache.KEEP + 2):
        append(project / "Pulumi.dev.yaml", f"# edit {edit}\n")
        cache.plan(project, "dev")
    assert len(entries(project)) == cache.KEEP
    assert cache.entry_path(project, "dev", cache.plan_key(project, "dev")) in entries(project)


def test_no_cache_and_the_switch_bypass_it(project, runs, monkeypatch, capsys):
    cache.plan(project, "dev")
    assert main(["plan", "--stack", "dev", "--json", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["resources"][0]["name"] == "run2"
    monkeypatch.setenv(cache.SWITCH, "off")
    assert main(["plan", "--stack", "dev", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resources"][0]["name"] == "run3"
    monkeypatch.delenv(cache.SWITCH)
    assert main(["plan", "--stack", "dev", "--json"]) == 0  # the first run's entry, untouched
    assert json.loads(capsys.readouterr().out)["resources"][0]["name"] == "run1"
    assert len(entries(project)) == 1


def test_an_unwritable_cache_only_means_no_cache(project, runs):
    (project / ".cache").write_text("a file where the directory would be")
    assert cache.plan(project, "dev") == tiny_plan("dev", "run1")
    assert cache.plan(project, "dev") == tiny_plan("dev", "run2")


# Python run in a child: which modules a hit loads, and what it prints.
HIT = """
import sys
from automation.cli import main
code = main(sys.argv[1:])
sdks = sorted(m for m in sys.modules if m.split(".")[0] in {sdks!r})
print("SDKS", sdks, file=sys.stderr)
sys.exit(code)
"""


def test_a_hit_loads_no_pulumi_sdk_and_still_warns_about_example_ids(project):
    """The real engine, once: the miss imports the SDKs, the hit none."""
    config = project / "Pulumi.dev.yaml"
    append(config, "  alunos-api:alarmTopicArn: arn:aws:sns:us-east-2:123456789012:alarms\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop(cache.SWITCH, None)
    command = [sys.executable, "-c", HIT.format(sdks=SDKS), "plan", "--stack", "dev", "--json"]
    done = [
        subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
        for _ in range(2)
    ]
    miss, hit = done
    assert (miss.returncode, hit.returncode) == (0, 0), miss.stderr + hit.stderr
    assert "SDKS []" not in miss.stderr  # the miss ran the program
    assert "SDKS []" in hit.stderr
    assert hit.stdout == miss.stdout
    for run in done:
        assert "alarmTopicArn still holds the example value" in run.stderr
