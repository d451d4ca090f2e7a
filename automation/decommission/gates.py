"""The gates: nothing legacy is touched unless the new service demonstrably serves.

They are the post-deploy verification (`automation.deploy.verify`): ECS service steady with
running = desired, ALB targets healthy, `GET <url>/health` 200, `/version` equal to the deployed
version (with a domain, asked of the ALB itself with TLS for the domain). When the stack has a
domain, the traffic gates (`traffic`) come on top: the users' traffic must have left EC2.
The identifiers come from flags, or from the stack outputs through the Pulumi seam for whatever
the flags leave out; so with every flag given the command needs no Pulumi CLI at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from automation.deploy.interrupts import Interrupted
from automation.deploy.pulumi_seam import StackHandle, plain_outputs
from automation.deploy.verify import VerificationReport, VerifyTiming, verify_deployment
from automation.errors import AutomationError, UsageProblem
from infra import outputs as names

# Stack output -> the flag that gives it instead.
FLAGS = {
    names.CLUSTER_NAME: "--cluster",
    names.SERVICE_NAME: "--service",
    names.TARGET_GROUP_ARN: "--target-group-arn",
    names.SERVICE_URL: "--url",
    names.VERSION: "--expected-version",
}

# Needed only when the service has its own name: the checks then go to the ALB with TLS for it.
DOMAIN_FLAGS = {names.ALB_DNS_NAME: "--alb-dns-name"}

# Read when present, needed by none: the second target group of a canary, linear or blue/green
# strategy (ECS swaps the two at each release, so after an odd number the tasks sit in it), the
# app's health path, and whether the image is this program's build (else no /version).
OPTIONAL = (names.ALTERNATE_TARGET_GROUP_ARN, names.HEALTH_CHECK_PATH, names.IMAGE_SOURCE)

GATE_TIMING = VerifyTiming.within(60)
"""The service should already be steady: give each check a minute, not a deploy's ten."""


@dataclass(frozen=True, slots=True)
class GateTargets:
    """What the gates check: the outputs `verify_deployment` reads, and the expected version."""

    outputs: Mapping[str, Any]
    """Strings, and serviceNames a list."""
    expected_version: str


def resolve(
    given: Mapping[str, str | None],
    open_stack: Callable[[], StackHandle] | None,
    domain: str = "",
) -> GateTargets:
    """Flags first; the stack outputs fill in the rest. Exit 2 naming what is still missing.

    With a `domain` (the service's own name), the HTTP checks reach the ALB directly with TLS
    verified for the domain, so the ALB's DNS name is needed too."""
    values = {key: value for key, value in given.items() if value}
    wanted = {**FLAGS, **(DOMAIN_FLAGS if domain else {})}
    if domain:
        values[names.DOMAIN_NAME] = domain
    why_not = ""
    services: list[str] = []
    if any(key not in values for key in wanted):
        if open_stack is None:
            why_not = "no stack to read outputs from"
        else:
            try:
                outputs = plain_outputs(open_stack().outputs())
            except Interrupted:
                raise
            except AutomationError as error:
                why_not = f"the stack outputs could not be read: {error}"
            else:
                for key in (*wanted, *OPTIONAL):
                    if not values.get(key) and outputs.get(key):
                        values[key] = str(outputs[key])
                # Every service behind the target group (capacity hybrid has two), unless
                # --service names the one to check.
                if not given.get(names.SERVICE_NAME) and outputs.get(names.SERVICE_NAMES):
                    services = [str(name) for name in outputs[names.SERVICE_NAMES]]
                why_not = "the stack outputs do not have them"
    missing = [flag for key, flag in wanted.items() if not values.get(key)]
    if missing:
        raise UsageProblem(
            f"the gates need {', '.join(missing)}: not given, and {why_not}. Pass them as flags "
            "(the command then needs no Pulumi CLI), or --skip-gates on a non-production stack"
        )
    expected = values.pop(names.VERSION)
    gate_outputs: dict[str, Any] = dict(values)
    if services:
        gate_outputs[names.SERVICE_NAMES] = services
    return GateTargets(gate_outputs, expected)


def check(
    targets: GateTargets, session: boto3.Session, timing: VerifyTiming = GATE_TIMING
) -> VerificationReport:
    return verify_deployment(targets.outputs, targets.expected_version, session, timing=timing)
