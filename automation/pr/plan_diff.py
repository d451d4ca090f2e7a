"""The offline plan diff: what a change to the program does to a stack, without cloud credentials.

The program at a git ref (the base) and on the working tree (the head) each run under the mock
engine with the stack's config from their own files; the two plans are compared resource by
resource (by URN, as the engine does) into the shared change model:

- only in the head: create; only in the base: delete;
- in both with different inputs: update, naming the top-level inputs that differ, or replace when
  one of them is a property the provider can only set by creating a new resource (`REPLACE_ON`)
  or one the program replaces on (`replace_on_changes`), or when awsx's VPC would renumber
  subnets;
- the stack's outputs that differ are named, like a real preview does;
- when the stack exists at the base (taken as deployed), the hazards of the change
  (`automation.pr.hazards`): a refused one makes the command exit 1.

The base runs in a child process (`python -m automation plan --json` on a temporary extract of
the ref, with this working tree's automation code): an older program may fail in any way (a config
key it no longer accepts, an import error), and a child process contains that. A base that does
not plan is not an error of the head: the head's plan is shown in full, as creates, under a
warning that says why (the same happens, with a note, when the stack or the project did not exist
at the ref).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import automation
from automation.changes import Change, ChangeSet, Operation
from automation.errors import AutomationError, UsageProblem
from automation.offline import cache, plan, planned
from automation.pr import hazards
from automation.pr.events import STACK_TYPE, is_hidden_key, mask
from automation.pr.hazards import Hazard
from automation.pr.render import code, escape
from infra import resource_types as types

# Input properties whose change makes the provider replace the resource (create the new one, then
# delete the old), for the resource types this program declares. Source: the `ForceNew` attributes
# of the Terraform AWS provider schema that pulumi-aws bridges (internal/service/<svc>/<res>.go),
# camelCased as Pulumi names them (aws_cloudwatch_metric_alarm's alarm_name is Pulumi's `name`).
# Types not listed are updated in place.
REPLACE_ON: Mapping[str, frozenset[str]] = {
    types.SECURITY_GROUP: frozenset({"name", "namePrefix", "description", "vpcId"}),
    types.INGRESS_RULE: frozenset({"securityGroupId"}),
    types.EGRESS_RULE: frozenset({"securityGroupId"}),
    types.LOAD_BALANCER: frozenset(
        {"name", "namePrefix", "internal", "loadBalancerType", "customerOwnedIpv4Pool"}
    ),
    types.TARGET_GROUP: frozenset(
        {
            "name",
            "namePrefix",
            "port",
            "protocol",
            "protocolVersion",
            "targetType",
            "vpcId",
            "ipAddressType",
        }
    ),
    types.LISTENER: frozenset({"loadBalancerArn"}),
    types.REPOSITORY: frozenset({"name", "encryptionConfigurations"}),
    types.LIFECYCLE_POLICY: frozenset({"repository"}),
    types.LOG_GROUP: frozenset({"name", "namePrefix", "logGroupClass"}),
    types.CLUSTER: frozenset({"name"}),
    types.SERVICE: frozenset(
        {"name", "cluster", "launchType", "iamRole", "schedulingStrategy", "deploymentController"}
    ),
    types.ROLE: frozenset({"name", "namePrefix", "path"}),
    types.ROLE_POLICY: frozenset({"name", "namePrefix", "role"}),
    types.RDS_SUBNET_GROUP: frozenset({"name", "namePrefix"}),
    # pulumi-random: every input forces new bytes.
    types.RANDOM_ID: frozenset({"keepers", "byteLength", "prefix"}),
    types.METRIC_ALARM: frozenset({"name"}),
    types.RDS_INSTANCE: frozenset(
        {
            "identifier",
            "identifierPrefix",
            "engine",
            "dbName",
            "storageEncrypted",
            "kmsKeyId",
            "username",
            "availabilityZone",
            "characterSetName",
            "ncharCharacterSetName",
            "timezone",
            "snapshotIdentifier",
            "restoreToPointInTime",
            "customIamInstanceProfile",
        }
    ),
    # A component, so the plan sees only its inputs: these re-lay the VPC or its subnets, which
    # the component replaces inside (aws_vpc.cidr_block and aws_subnet.cidr_block are ForceNew).
    # A subnetSpecs change that keeps every pinned CIDR block (NAT's private tier, another AZ)
    # only adds subnets: see `operation_of`.
    types.VPC: frozenset(
        {
            "cidrBlock",
            "instanceTenancy",
            "ipv4IpamPoolId",
            "subnetSpecs",
            "subnetStrategy",
            "availabilityZoneNames",
            "availabilityZoneCidrMask",
        }
    ),
}

# ECS task definitions are immutable revisions: every change registers a new one (shown as a
# replacement), except for these, which are changed on the current revision.
IN_PLACE_ON_TASK_DEFINITION = frozenset({"tags", "skipDestroy", "trackLatest"})

BASE_PLAN_TIMEOUT = 600  # seconds: a plan takes seconds; this only bounds a hung program


class BaseStatus(StrEnum):
    """What became of the base plan."""

    PLANNED = "planned"
    STACK_MISSING = "stack-missing"  # no Pulumi.<stack>.yaml at the ref
    PROJECT_MISSING = "project-missing"  # no Pulumi.yaml (or no project directory) at the ref
    FAILED = "failed"  # the program at the ref did not plan


@dataclass
class Base:
    ref: str
    commit: str
    status: BaseStatus
    plan: planned.Plan | None = None
    problem: str | None = None  # why the base did not plan (FAILED)


@dataclass
class PlanDiff:
    base: Base
    head: planned.Plan
    change_set: ChangeSet
    notes: list[str] = field(default_factory=list)
    hazards: list[Hazard] = field(default_factory=list)

    @property
    def refused(self) -> list[Hazard]:
        return [hazard for hazard in self.hazards if hazard.refused]

    def to_json(self) -> dict[str, Any]:
        counts = self.change_set.counts()
        return {
            "stack": self.change_set.stack,
            "offline": True,
            "base": {
                "ref": self.base.ref,
                "commit": self.base.commit,
                "status": str(self.base.status),
                "problem": self.base.problem,
            },
            "counts": {str(op): counts[op] for op in counts},
            "changes": [
                {
                    "urn": change.urn,
                    "type": change.type,
                    "name": change.name,
                    "operation": str(change.operation),
                    "changed": list(change.changed),
                }
                for change in self.change_set.changes
            ],
            "hazards": [
                {"name": h.name, "type": h.type, "what": h.what, "refused": h.refused}
                for h in self.hazards
            ],
        }


def diff_against(project_dir: Path, stack: str, ref: str, *, use_cache: bool = True) -> PlanDiff:
    """Plan `stack` at `ref` and on the working tree (from the plan cache when `use_cache` and
    it holds the head's plan), and compare the two."""
    with checkout(project_dir, ref) as (commit, base_dir):
        running = _BasePlan.start(base_dir, stack) if _has_stack(base_dir, stack) else None
        try:
            # Through the same JSON as the base's plan, so equal inputs compare equal.
            head = plan.from_json(
                json.loads(
                    json.dumps(
                        plan.to_json(cache.plan(project_dir, stack, use_cache=use_cache)),
                        default=str,
                    )
                )
            )
            base = _base(ref, commit, base_dir, stack, running)
        finally:
            if running is not None:
                running.stop()
    change_set = diff_plans(base.plan, head, stack)
    found = hazards.find(base.plan, head, change_set, REPLACE_ON) if base.plan else []
    return PlanDiff(base, head, change_set, notes=_notes(base), hazards=found)


def diff_plans(base: planned.Plan | None, head: planned.Plan, stack: str) -> ChangeSet:
    """The structural difference of two plans of one stack (no base: everything is created)."""
    old = {resource.urn: resource for resource in base.resources} if base else {}
    new = {resource.urn: resource for resource in head.resources}
    changes: list[Change] = []
    if base is not None:
        changes.append(_stack_change(base, head))
    for urn, resource in new.items():
        before = old.get(urn)
        if before is None:
            changes.append(_change(resource, Operation.CREATE))
            continue
        changed = differing_keys(before.inputs, resource.inputs)
        changes.append(_change(resource, operation_of(before, resource, changed), changed))
    for urn, resource in old.items():
        if urn not in new:
            changes.append(_change(resource, Operation.DELETE))
    return ChangeSet(stack=stack, changes=changes, offline=True)


def operation_for(resource_type: str, changed: list[str]) -> Operation:
    """Update, or replace when a changed input is one the provider cannot update in place."""
    if not changed:
        return Operation.SAME
    if resource_type == types.TASK_DEFINITION:
        new_revision = any(key not in IN_PLACE_ON_TASK_DEFINITION for key in changed)
        return Operation.REPLACE if new_revision else Operation.UPDATE
    if REPLACE_ON.get(resource_type, frozenset()).intersection(changed):
        return Operation.REPLACE
    return Operation.UPDATE


def operation_of(
    before: planned.PlannedResource, after: planned.PlannedResource, changed: list[str]
) -> Operation:
    """`operation_for`, plus what only the two plans know: the program's replace_on_changes, and
    whether awsx's VPC keeps its subnets' CIDR blocks when its subnet specs change."""
    if changed and {"*", *changed} & set(after.replace_on_changes):
        return Operation.REPLACE
    if after.type == types.VPC and (REPLACE_ON[types.VPC] & set(changed)) == {"subnetSpecs"}:
        moved = hazards.renumbered_subnets(before.inputs, after.inputs)
        return Operation.REPLACE if moved is None or moved else Operation.UPDATE
    return operation_for(after.type, changed)


def differing_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Top-level input keys whose values differ (bookkeeping keys such as `__defaults` aside)."""
    keys = dict.fromkeys([*new, *old])
    return [key for key in keys if not is_hidden_key(key) and old.get(key) != new.get(key)]


def _change(
    resource: planned.PlannedResource, operation: Operation, changed: list[str] | None = None
) -> Change:
    return Change(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        operation=operation,
        changed=tuple(changed or ()),
        properties=mask(resource.inputs),
        parent_urn=resource.parent or None,
    )


def _stack_change(base: planned.Plan, head: planned.Plan) -> Change:
    """The stack itself, naming the outputs that differ (never their values)."""
    changed = differing_keys(base.outputs, head.outputs)
    urn = _stack_urn(head) or _stack_urn(base) or ""
    return Change(
        urn=urn,
        type=STACK_TYPE,
        name=urn.rsplit("::", 1)[-1],
        operation=Operation.UPDATE if changed else Operation.SAME,
        changed=tuple(changed),
    )


def _stack_urn(planned: planned.Plan) -> str | None:
    """`urn:pulumi:STACK::PROJECT::pulumi:pulumi:Stack::PROJECT-STACK`, from any resource's URN."""
    for resource in planned.resources:
        parts = resource.urn.split("::", 2)
        if len(parts) == 3 and parts[0].startswith("urn:pulumi:"):
            stack, project = parts[0][len("urn:pulumi:") :], parts[1]
            return f"{parts[0]}::{project}::{STACK_TYPE}::{project}-{stack}"
    return None


# --- The base: a git ref extracted to a temporary directory, planned in a child process.


@contextmanager
def checkout(project_dir: Path, ref: str) -> Iterator[tuple[str, Path]]:
    """The project directory as it was at `ref`: (full commit sha, a temporary directory that is
    removed afterwards whatever happens). The directory is empty when the project did not exist
    at that commit."""
    if ref.startswith("-") or not ref.strip():
        raise UsageProblem(f"--diff-against {ref!r} is not a git revision")
    top = _git(project_dir, "rev-parse", "--show-toplevel", what="find the git repository")
    prefix = _git(project_dir, "rev-parse", "--show-prefix", what="find the git repository")
    commit = _resolve(project_dir, ref)
    with tempfile.TemporaryDirectory(prefix="alunos-api-plan-base-") as scratch:
        target = Path(scratch)
        treeish = f"{commit}:{prefix.rstrip('/')}" if prefix else commit
        _extract(Path(top), treeish, target)
        yield commit, target


def _resolve(project_dir: Path, ref: str) -> str:
    found = _run_git(project_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0 or not found.stdout.strip():
        raise UsageProblem(
            f"--diff-against {ref!r}: no such commit in {project_dir} (a branch, tag or sha; "
            "in GitHub Actions, check out with `fetch-depth: 0` so the base branch is there)"
        )
    return found.stdout.strip()


def _git(cwd: Path, *args: str, what: str) -> str:
    done = _run_git(cwd, *args)
    if done.returncode != 0:
        raise UsageProblem(
            f"cannot {what} for --diff-against in {cwd}: {done.stderr.strip() or 'git failed'}"
        )
    return done.stdout.strip()


def _git_program() -> str:
    found = shutil.which("git")
    if found is None:
        raise UsageProblem("git is not installed (or not on PATH): --diff-against needs it")
    return found


def _run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Fixed git subcommands; the one user value (the ref) is refused when it looks like an option.
    return subprocess.run(  # noqa: S603
        [_git_program(), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def _extract(top: Path, treeish: str, target: Path) -> None:
    """`git archive TREEISH` unpacked into `target`; a tree that does not exist (the project's
    directory at a commit before it was added) leaves `target` empty."""
    archive = subprocess.Popen(  # noqa: S603 (git archive of a resolved commit)
        [_git_program(), "archive", "--format=tar", treeish],
        cwd=top,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert archive.stdout is not None  # both piped above
    assert archive.stderr is not None
    try:
        with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
            tar.extractall(target, filter="data")
    except tarfile.ReadError:
        pass  # no archive at all: git failed, reported below
    finally:
        archive.stdout.close()
        stderr = archive.stderr.read().decode(errors="replace")
        archive.stderr.close()
        code = archive.wait()
    if code != 0 and "not a tree object" not in stderr and "not a valid object" not in stderr:
        raise AutomationError(f"git archive {treeish} failed: {stderr.strip()}")


def _has_stack(base_dir: Path, stack: str) -> bool:
    return (base_dir / "Pulumi.yaml").is_file() and (base_dir / f"Pulumi.{stack}.yaml").is_file()


class _BasePlan:
    """`python -m automation plan --json` on the base, running while the head plans."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    @classmethod
    def start(cls, base_dir: Path, stack: str) -> _BasePlan:
        # This working tree's automation code plans the base: `-m` puts the working directory
        # first on sys.path, so the base's own automation/ (if any) is never imported; the base
        # program's `infra` package is put first by engine.run.
        code_root = Path(automation.__file__).resolve().parent.parent
        python_path = os.pathsep.join(
            [str(code_root), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        # --no-cache: the extract is removed afterwards, an entry written there would be lost.
        command = [sys.executable, "-m", "automation", "plan", "--stack", stack, "--json"]
        command.append("--no-cache")
        return cls(
            subprocess.Popen(  # noqa: S603 (this Python, this package, our own arguments)
                [*command, "--repo", str(base_dir)],
                cwd=code_root,
                env={**os.environ, "PYTHONPATH": python_path},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )

    def result(self) -> tuple[planned.Plan | None, str | None]:
        """The base's plan, or why there is none."""
        try:
            out, err = self.process.communicate(timeout=BASE_PLAN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            return None, f"planning it took longer than {BASE_PLAN_TIMEOUT} s"
        if self.process.returncode != 0:
            return None, _last_lines(err) or f"the plan exited with {self.process.returncode}"
        try:
            return plan.from_json(json.loads(out)), None
        except (ValueError, KeyError, TypeError) as error:
            return None, f"its plan could not be read ({error})"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def _last_lines(text: str, lines: int = 3) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def _base(ref: str, commit: str, base_dir: Path, stack: str, running: _BasePlan | None) -> Base:
    if not (base_dir / "Pulumi.yaml").is_file():
        return Base(ref, commit, BaseStatus.PROJECT_MISSING)
    if running is None:
        return Base(ref, commit, BaseStatus.STACK_MISSING)
    base_plan, problem = running.result()
    if base_plan is None:
        return Base(ref, commit, BaseStatus.FAILED, problem=problem)
    return Base(ref, commit, BaseStatus.PLANNED, plan=base_plan)


def _notes(base: Base) -> list[str]:
    """What the comment says about the base, in Markdown (names escaped by the renderer)."""
    where = f"{code(base.ref, 80)} ({code(base.commit[:12])})"
    if base.status is BaseStatus.PLANNED:
        return [f"Compared with {where}: the program there, planned the same way."]
    if base.status is BaseStatus.STACK_MISSING:
        return [
            f"> [!NOTE]\n> The stack did not exist at {where} (no stack settings file there): "
            "everything it declares is new."
        ]
    if base.status is BaseStatus.PROJECT_MISSING:
        return [
            f"> [!NOTE]\n> There was no Pulumi project at {where}: everything the stack "
            "declares is new."
        ]
    return [
        f"> [!WARNING]\n> The program at {where} could not be planned, so this is not a "
        f"difference: every resource the stack declares now is listed as a create. Reason: "
        f"{escape(base.problem or 'unknown', 400)}"
    ]
