"""The policy pack: the same rules through pulumi-policy's own types, called as the engine would
(props behind pulumi_policy's unknown-checking proxy), without the Pulumi CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from automation.offline.engine import Plan
from infra import resource_types as types
from policy import pack
from policy.rules import RULES, ProductionFlagMissing
from tests.automation.insights.know_before import ROOT, VIOLATIONS, stack_plan, violating_plan

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def run_pack(plan_: Plan, production: bool) -> list[tuple[str, str, str | None]]:
    """(policy, message, urn) of every violation the pack's policies report on the plan."""
    reported: list[tuple[str, str, str | None]] = []
    policies = pack.policies(production=lambda: production)
    custom = [r for r in plan_.resources if r.custom]
    for policy in policies:

        def report(message: str, urn: str | None = None, name: str = policy.name) -> None:
            reported.append((name, message, urn))

        if isinstance(policy, ResourceValidationPolicy):
            for resource in custom:
                args = ResourceValidationArgs(
                    resource.type, unknown_checking_proxy(resource.inputs), resource.urn,
                    resource.name, OPTIONS, None,
                )  # fmt: skip
                policy.validate(args, report)
        else:
            assert isinstance(policy, StackValidationPolicy)
            resources = [policy_resource(r.type, r.name, r.urn, r.inputs) for r in custom]
            policy.validate(StackValidationArgs(resources), report)
    return reported


def policy_resource(type_: str, name: str, urn: str, props: dict[str, Any],
                    deps: dict[str, list[PolicyResource]] | None = None) -> PolicyResource:  # fmt: skip
    return PolicyResource(
        type_, unknown_checking_proxy(props), urn, name, OPTIONS, None, None, [], deps or {}
    )


def test_one_policy_per_rule_all_mandatory() -> None:
    policies = pack.policies()
    assert [p.name for p in policies] == [rule.id for rule in RULES]
    assert all(
        p.enforcement_level is not None and p.enforcement_level.value == "mandatory"
        for p in policies
    )
    kinds = {p.name: type(p).__name__ for p in policies}
    assert kinds["no-world-open-ingress"] == "StackValidationPolicy"
    assert kinds["image-by-digest"] == "ResourceValidationPolicy"


@pytest.mark.parametrize(
    ("stack", "production"), [("dev", False), ("prod", True), ("prod-rds", True)]
)
def test_the_real_stacks_pass_the_pack(stack: str, production: bool) -> None:
    assert run_pack(stack_plan(stack), production) == []


@pytest.mark.parametrize(("rule_id", "stack", "production", "type_", "name", "mutate"), VIOLATIONS)
def test_the_pack_reports_what_the_check_reports(
    rule_id: str, stack: str, production: bool, type_: str, name: str | None, mutate: Any
) -> None:
    reported = run_pack(violating_plan(stack, type_, name, mutate), production)
    assert [policy for policy, _, _ in reported] == [rule_id]
    message = reported[0][1]
    assert "Fix: " in message


def test_production_comes_from_the_stack_config(monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi

    public = violating_plan("prod", types.SERVICE, None,
                            lambda i: i["networkConfiguration"].update(assignPublicIp=True))  # fmt: skip
    monkeypatch.setattr(pulumi, "get_project", lambda: "alunos-api")
    monkeypatch.setattr(pulumi, "get_stack", lambda: "live")
    for value, expected in (("true", ["no-public-tasks-in-production"]), ("false", [])):
        pulumi.runtime.set_all_config({"alunos-api:production": value})
        assert pack.production_from_config() is (value == "true")
        policies = pack.policies()  # the default: read from the config
        found: list[str] = []
        for policy in policies:
            if isinstance(policy, ResourceValidationPolicy):
                service = next(r for r in public.resources if r.type == types.SERVICE)
                args = ResourceValidationArgs(service.type, unknown_checking_proxy(service.inputs),
                                              service.urn, service.name, OPTIONS, None)  # fmt: skip

                def report(
                    message: str,
                    urn: str | None = None,
                    name: str = policy.name,
                    seen: list[str] = found,
                ) -> None:
                    seen.append(name)

                policy.validate(args, report)
        assert found == expected
    pulumi.runtime.set_all_config({})


def test_secrets_are_unwrapped_and_unknowns_kept() -> None:
    value = {"a": Secret("s"), "b": [Secret({"c": UNKNOWN})]}
    assert pack.plain(unknown_checking_proxy(value)) == {"a": "s", "b": [{"c": UNKNOWN}]}


def test_world_open_rule_matches_groups_by_dependency_when_ids_are_unknown() -> None:
    """On a first preview the security group ids are unknown: the engine's property
    dependencies say which group a rule and the load balancer refer to."""
    alb_sg = policy_resource(types.SECURITY_GROUP, "alb-sg", "urn:alb-sg", {})
    tasks_sg = policy_resource(types.SECURITY_GROUP, "tasks-sg", "urn:tasks-sg", {})
    alb = policy_resource(types.LOAD_BALANCER, "alb", "urn:alb",
                          {"securityGroups": [UNKNOWN], "dropInvalidHeaderFields": True},
                          {"securityGroups": [alb_sg]})  # fmt: skip

    def rule(group: PolicyResource) -> PolicyResource:
        return policy_resource(
            types.INGRESS_RULE, f"in-{group.name}",
            f"urn:in-{group.name}",
            {"securityGroupId": UNKNOWN, "cidrIpv4": "0.0.0.0/0", "ipProtocol": "tcp",
             "fromPort": 443, "toPort": 443},
            {"securityGroupId": [group]},
        )  # fmt: skip

    (policy,) = [p for p in pack.policies(lambda: True) if p.name == "no-world-open-ingress"]
    assert isinstance(policy, StackValidationPolicy)
    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    policy.validate(
        StackValidationArgs([alb_sg, tasks_sg, alb, rule(alb_sg), rule(tasks_sg)]), report
    )
    assert [urn for _, urn in reported] == ["urn:in-tasks-sg"]


def test_pack_project_file_and_entry_point() -> None:
    project = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert "pulumi-policy" in (ROOT / "policy" / "requirements.txt").read_text()


def test_the_pack_serves_when_run_as_the_cli_runs_it() -> None:
    """The CLI runs the pack directory with Python and reads the gRPC port from its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "policy")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path("/"), env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().strip()
        assert port.isdigit(), process.stderr.read().decode() if process.stderr else ""
        assert int(port) > 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_pack_refuses_a_stack_named_prod_without_the_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pack asks the CLI's predicate: `prod` with the flag off is refused, not relaxed."""
    import pulumi

    monkeypatch.setattr(pulumi, "get_project", lambda: "alunos-api")
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    pulumi.runtime.set_all_config({"alunos-api:production": "false"})
    try:
        with pytest.raises(ProductionFlagMissing, match="a stack named prod must be production"):
            pack.production_from_config()
        pulumi.runtime.set_all_config({"alunos-api:production": "true"})
        assert pack.production_from_config() is True
    finally:
        pulumi.runtime.set_all_config({})
