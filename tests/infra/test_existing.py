"""Existing infrastructure named by id (prod): each id is looked up before anything is declared,
and a mismatch fails the plan with one line naming the key (issue 13, item 4). The offline
account holds exactly what prod's config names, well formed; each test changes one answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from automation.errors import UsageProblem
from automation.offline import mocks
from infra import outputs
from infra import resource_types as types
from tests.infra.conftest import ROOT, PlanView, plan_failure

PROD = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
VPC = PROD["alunos-api:existingVpcId"]
PUBLIC = PROD["alunos-api:existingPublicSubnetIds"]
PRIVATE = PROD["alunos-api:existingPrivateSubnetIds"]
SECRET = PROD["alunos-api:dbSecretArn"]
GROUP = PROD["alunos-api:dbSecurityGroupId"]
CERTIFICATE = "arn:aws:acm:us-east-2:123456789012:certificate/4f1e9a52-8c3b-4d7e-9f60-2b5a7c1d3e84"
# prod with a certificate of the team's instead of the one the stack issues.
WITH_CERTIFICATE = {"hostedZoneId": None, "certificateArn": CERTIFICATE}

Answer = dict[str, Any]


@pytest.fixture
def answer(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Replace one data source's answer: `edit(args, answer)` returns the new one (or raises
    mocks.NotFound); it sees the offline account's answer, or the NotFound it raised."""

    def replace(token: str, edit: Callable[[Answer, Answer | None], Answer]) -> None:
        table = mocks.READS if token in mocks.READS else mocks.CALLS
        original = table[token]

        def patched(region: str, args: Answer) -> Answer:
            try:
                found: Answer | None = original(region, args)
            except mocks.NotFound:
                found = None
            return edit(args, found)

        monkeypatch.setitem(table, token, patched)

    return replace


def refused(stack_plan: Callable[..., PlanView], overrides: dict[str, Any] | None = None) -> str:
    return plan_failure(stack_plan, "prod", overrides)


def test_prod_config_passes_when_everything_it_names_exists(prod: PlanView) -> None:
    assert prod.one(types.SERVICE)["networkConfiguration"]["subnets"] == PRIVATE


def test_every_existing_id_in_prod_is_looked_up(
    stack_plan: Callable[..., PlanView], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The class of mistake: an id checked only by its shape. Every id and ARN prod's config
    names (but the stack does not create) must reach a data source or a read."""
    asked: list[str] = []
    for table in (mocks.CALLS, mocks.READS):
        for token, mock in list(table.items()):

            def recording(region: str, args: Answer, mock: Any = mock) -> Answer:
                asked.append(json.dumps(args, sort_keys=True, default=str))
                return mock(region, args)

            monkeypatch.setitem(table, token, recording)
    stack_plan("prod", WITH_CERTIFICATE)
    named = [VPC, *PUBLIC, *PRIVATE, GROUP, SECRET, CERTIFICATE]
    named += [PROD["alunos-api:alarmTopicArn"].rsplit(":", 1)[1]]
    looked_up = "\n".join(asked)
    assert [value for value in named if value not in looked_up] == []


def test_a_missing_vpc_fails_the_preview(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    def gone(args: Answer, found: Answer | None) -> Answer:
        raise mocks.NotFound("no matching EC2 VPC found")

    answer("aws:ec2/getVpc:getVpc", gone)
    assert refused(stack_plan) == (
        f"stack prod: alunos-api:existingVpcId: looking up {VPC} failed: no matching EC2 VPC found."
    )


def test_a_subnet_of_another_vpc_is_refused(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    def elsewhere(args: Answer, found: Answer | None) -> Answer:
        assert found is not None
        return {**found, "vpcId": "vpc-0ffffffffffffffff"} if args["id"] == PRIVATE[1] else found

    answer("aws:ec2/getSubnet:getSubnet", elsewhere)
    assert refused(stack_plan) == (
        f"stack prod: alunos-api:existingPrivateSubnetIds: {PRIVATE[1]} is in "
        f"vpc-0ffffffffffffffff, not in existingVpcId {VPC}; allowed: subnets of {VPC}."
    )


def test_public_subnets_in_one_az_are_refused(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    def one_zone(args: Answer, found: Answer | None) -> Answer:
        assert found is not None
        return {**found, "availabilityZone": "us-east-2a"}

    answer("aws:ec2/getSubnet:getSubnet", one_zone)
    assert refused(stack_plan).startswith(
        "stack prod: alunos-api:existingPublicSubnetIds: every subnet is in us-east-2a; allowed: "
        "subnets in at least 2 availability zones"
    )


def test_private_subnets_outside_the_load_balancers_zones_are_refused(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    def zone_c(args: Answer, found: Answer | None) -> Answer:
        assert found is not None
        return {**found, "availabilityZone": "us-east-2c"} if args["id"] == PRIVATE[1] else found

    answer("aws:ec2/getSubnet:getSubnet", zone_c)
    assert refused(stack_plan).startswith(
        "stack prod: alunos-api:existingPrivateSubnetIds: subnets in us-east-2c, where no public "
        "subnet is; allowed: AZs of alunos-api:existingPublicSubnetIds (us-east-2a, us-east-2b)"
    )


def _default_route(target: dict[str, str]) -> Callable[[Answer, Answer | None], Answer]:
    def edit(args: Answer, found: Answer | None) -> Answer:
        assert found is not None
        return {**found, "routes": [{"cidrBlock": "0.0.0.0/0", **target}]}

    return edit


def test_a_public_subnet_without_an_internet_gateway_route_is_refused(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    """The public subnets' explicit table routes to a NAT: they are private."""

    def nat_everywhere(args: Answer, found: Answer | None) -> Answer:
        return _default_route({"natGatewayId": "nat-0123456789abcdef0"})(args, found)

    answer("aws:ec2/getRouteTable:getRouteTable", nat_everywhere)
    assert refused(stack_plan).startswith(
        f"stack prod: alunos-api:existingPublicSubnetIds: {PUBLIC[0]} routes 0.0.0.0/0 to "
        "nat-0123456789abcdef0, so it is not public; allowed: subnets whose route table sends "
        "0.0.0.0/0 to an internet gateway (igw-...)"
    )


def test_private_subnets_use_the_main_route_table_when_not_associated(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    """No explicit association: the VPC's main table decides (here it goes to an internet
    gateway, so the tasks without public IPs could not get out)."""
    main = f"rtb-{mocks._hex(VPC, 'main')}"
    asked: list[str] = []

    def main_to_igw(args: Answer, found: Answer | None) -> Answer:
        asked.append(str(args["routeTableId"]))
        if args["routeTableId"] != main:
            assert found is not None
            return found
        return _default_route({"gatewayId": "igw-0123456789abcdef0"})(args, found)

    answer("aws:ec2/getRouteTable:getRouteTable", main_to_igw)
    assert refused(stack_plan).startswith(
        f"stack prod: alunos-api:existingPrivateSubnetIds: {PRIVATE[0]} routes 0.0.0.0/0 to "
        "igw-0123456789abcdef0; allowed: subnets whose route table sends 0.0.0.0/0 to a NAT "
        "gateway (nat-...)"
    )
    assert main in asked


def test_a_public_subnet_on_the_main_table_is_judged_by_it(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    """Only the first public subnet is explicitly associated; the second is on the main table,
    whose default route goes to the NAT: refused, naming the second."""

    def first_only(args: Answer, found: Answer | None) -> Answer:
        assert found is not None
        subnet = args["filters"][0]["values"][0]
        return found if subnet == PUBLIC[0] else {**found, "ids": []}

    answer("aws:ec2/getRouteTables:getRouteTables", first_only)
    assert refused(stack_plan).startswith(
        f"stack prod: alunos-api:existingPublicSubnetIds: {PUBLIC[1]} routes 0.0.0.0/0 to nat-"
    )


def test_the_database_group_must_be_in_the_vpc(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    def elsewhere(args: Answer, found: Answer | None) -> Answer:
        assert found is not None
        return {**found, "vpcId": "vpc-0ffffffffffffffff"}

    answer("aws:ec2/getSecurityGroup:getSecurityGroup", elsewhere)
    assert refused(stack_plan) == (
        f"stack prod: alunos-api:dbSecurityGroupId: {GROUP} is in vpc-0ffffffffffffffff, not in "
        f"existingVpcId {VPC}; allowed: the security group of the database in {VPC}."
    )


def test_a_missing_secret_fails_the_preview(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    def gone(args: Answer, found: Answer | None) -> Answer:
        raise mocks.NotFound(f"Secrets Manager Secret ({args['arn']}) not found")

    answer("aws:secretsmanager/getSecret:getSecret", gone)
    assert refused(stack_plan) == (
        f"stack prod: alunos-api:dbSecretArn: looking up {SECRET} failed: Secrets Manager "
        f"Secret ({SECRET}) not found."
    )


def _secret_statements(view: PlanView) -> dict[str, Any]:
    """The task role's policy on the database secret: the app reads the secret itself."""
    policy = json.loads(view.one(types.ROLE_POLICY, "alunos-prod-task-db-secret")["policy"])
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def test_a_secret_under_a_customer_managed_key_lets_the_tasks_decrypt_through_secrets_manager(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None], prod: PlanView
) -> None:
    assert "DecryptDatabaseSecret" not in _secret_statements(prod)  # AWS managed key
    key = "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def under(kms_key_id: str) -> Callable[[Answer, Answer | None], Answer]:
        def edit(args: Answer, found: Answer | None) -> Answer:
            assert found is not None
            return {**found, "kmsKeyId": kms_key_id}

        return edit

    answer("aws:secretsmanager/getSecret:getSecret", under("alias/alunos-db"))
    answer(
        "aws:kms/getKey:getKey",
        lambda args, found: {**(found or {}), "arn": key, "keyManager": "CUSTOMER"},
    )
    statement = _secret_statements(stack_plan("prod"))["DecryptDatabaseSecret"]
    assert statement == {
        "Sid": "DecryptDatabaseSecret",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key,  # the key ARN: IAM cannot name a key by its alias
        "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-2.amazonaws.com"}},
    }


@pytest.mark.parametrize(
    ("kms_key_id", "manager"),
    [
        ("alias/aws/secretsmanager", "AWS"),
        ("arn:aws:kms:us-east-2:123456789012:alias/aws/secretsmanager", "AWS"),
        ("arn:aws:kms:us-east-2:123456789012:key/0bcd1234-12ab-34cd-56ef-1234567890ab", "AWS"),
    ],
)
def test_the_aws_managed_key_needs_no_grant(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None], kms_key_id: str, manager: str
) -> None:
    answer(
        "aws:secretsmanager/getSecret:getSecret",
        lambda args, found: {**(found or {}), "kmsKeyId": kms_key_id},
    )
    answer("aws:kms/getKey:getKey", lambda args, found: {**(found or {}), "keyManager": manager})
    assert "DecryptDatabaseSecret" not in _secret_statements(stack_plan("prod"))


READ_CERTIFICATE = "aws:acm/certificate:Certificate"


def _certificate(**changes: Any) -> Callable[[Answer, Answer | None], Answer]:
    """DescribeCertificate's answer for certificateArn, with `changes`."""

    def edit(args: Answer, found: Answer | None) -> Answer:
        assert found is not None
        return {**found, **changes}

    return edit


def _listener_certificate(view: PlanView) -> str:
    return str(view.one(types.LISTENER, "alunos-prod-https")["certificateArn"])


@pytest.mark.parametrize(
    "certificate",
    [
        # The wildcard one of the zone: ACM's get_certificate(domain=) matches primary names only.
        {"domainName": "*.example.com", "subjectAlternativeNames": ["*.example.com"]},
        # The domain as a subject alternative name of a certificate for another primary name.
        {
            "domainName": "api.example.com",
            "subjectAlternativeNames": ["api.example.com", "alunos.example.com"],
        },
        # Keys ListCertificates leaves out unless asked for them (RSA_1024 and RSA_2048 only).
        {"keyAlgorithm": "EC_prime256v1"},
        {"keyAlgorithm": "RSA_4096"},
    ],
    ids=["wildcard", "san", "ecdsa", "rsa-4096"],
)
def test_a_certificate_covering_the_domain_is_accepted(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None], certificate: Answer
) -> None:
    answer(READ_CERTIFICATE, _certificate(**certificate))
    assert _listener_certificate(stack_plan("prod", WITH_CERTIFICATE)) == CERTIFICATE


def test_an_issued_certificate_that_is_not_the_newest_is_accepted(
    stack_plan: Callable[..., PlanView],
    answer: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Newer certificates for the name may exist: the configured one is read by its ARN, and
    no lookup by name (ACM's get_certificate answers the newest one) is made at all."""
    answer(READ_CERTIFICATE, _certificate(notBefore="2024-01-01T00:00:00Z"))
    invoked: list[str] = []
    for token, mock in list(mocks.CALLS.items()):

        def recording(region: str, args: Answer, token: str = token, mock: Any = mock) -> Answer:
            invoked.append(token)
            return mock(region, args)

        monkeypatch.setitem(mocks.CALLS, token, recording)
    assert _listener_certificate(stack_plan("prod", WITH_CERTIFICATE)) == CERTIFICATE
    assert [token for token in invoked if token.startswith("aws:acm/")] == []


@pytest.mark.parametrize("status", ["PENDING_VALIDATION", "EXPIRED", "REVOKED", "FAILED"])
def test_a_certificate_not_issued_is_refused(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None], status: str
) -> None:
    answer(READ_CERTIFICATE, _certificate(status=status))
    assert refused(stack_plan, WITH_CERTIFICATE) == (
        f"stack prod: alunos-api:certificateArn: {CERTIFICATE} is {status}; allowed: an ISSUED "
        "certificate (not pending validation, expired, revoked or failed): the HTTPS listener "
        "cannot serve it."
    )


def test_without_a_domain_the_certificate_must_still_be_issued(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    answer(READ_CERTIFICATE, _certificate(status="PENDING_VALIDATION"))
    no_domain = {**WITH_CERTIFICATE, "domainName": None}
    assert refused(stack_plan, no_domain).startswith(
        f"stack prod: alunos-api:certificateArn: {CERTIFICATE} is PENDING_VALIDATION; allowed"
    )


@pytest.mark.parametrize(
    "names",
    [
        ["api.example.com"],
        ["*.alunos.example.com"],  # one label below the domain, not the domain itself
        ["*.com"],  # a wildcard stands for one label, not two
        ["example.com", "www.alunos.example.com"],
    ],
)
def test_a_certificate_not_covering_the_domain_is_refused(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None], names: list[str]
) -> None:
    answer(READ_CERTIFICATE, _certificate(domainName=names[0], subjectAlternativeNames=names))
    assert refused(stack_plan, WITH_CERTIFICATE) == (
        f"stack prod: alunos-api:certificateArn: {CERTIFICATE} is for {', '.join(names)}, which "
        "does not cover alunos-api:domainName alunos.example.com; allowed: a certificate whose "
        "domain name or one of whose subject alternative names is alunos.example.com or "
        "*.example.com (a wildcard stands for exactly one label)."
    )


def test_a_missing_certificate_fails_the_read(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    """The engine's own message for a read of nothing (pkg/resource/deploy/step.go)."""

    def gone(args: Answer, found: Answer | None) -> Answer:
        raise mocks.NotFound(f"resource '{args['id']}' does not exist")

    answer(READ_CERTIFICATE, gone)
    assert refused(stack_plan, WITH_CERTIFICATE) == (
        f"stack prod: resource '{CERTIFICATE}' does not exist"
    )


def test_a_certificate_of_another_region_is_refused(stack_plan: Callable[..., PlanView]) -> None:
    other = CERTIFICATE.replace("us-east-2", "us-east-1")
    assert refused(stack_plan, {**WITH_CERTIFICATE, "certificateArn": other}).startswith(
        f"stack prod: alunos-api:certificateArn: {other} is in us-east-1; allowed: a certificate "
        "in us-east-2"
    )


def test_a_missing_topic_fails_the_preview(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    def gone(args: Answer, found: Answer | None) -> Answer:
        raise mocks.NotFound("no matching SNS Topic found")

    answer("aws:sns/getTopic:getTopic", gone)
    assert refused(stack_plan) == (
        "stack prod: alunos-api:alarmTopicArn: looking up SNS topic alunos-api-prod-alarms "
        "failed: no matching SNS Topic found."
    )


def test_a_topic_of_another_account_is_refused(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    """get_topic finds by name in the stack's account and region: the ARN must be that one."""
    here = PROD["alunos-api:alarmTopicArn"]
    other = here.replace("123456789012", "210987654321")
    answer("aws:sns/getTopic:getTopic", lambda args, found: {"arn": here, "name": args["name"]})
    assert refused(stack_plan, {"alarmTopicArn": other}) == (
        f"stack prod: alunos-api:alarmTopicArn: {other} does not exist (the topic named "
        f"alunos-api-prod-alarms here is {here}); allowed: the ARN of a topic in the stack's "
        "account and region."
    )


def _ingress_names(view: PlanView) -> set[str]:
    return {r.name for r in view.of_type(types.INGRESS_RULE)}


def test_the_database_teams_group_gets_a_rule_only_when_the_config_says_so(
    prod: PlanView, stack_plan: Callable[..., PlanView]
) -> None:
    assert PROD["alunos-api:dbAllowIngressFromService"] is True  # prod decides explicitly
    rule = prod.one(types.INGRESS_RULE, "alunos-prod-db-in")
    assert rule["securityGroupId"] == GROUP
    assert rule["fromPort"] == rule["toPort"] == 5432

    left_alone = stack_plan("prod", {"dbAllowIngressFromService": None})  # the default: false
    assert "alunos-prod-db-in" not in _ingress_names(left_alone)
    egress = left_alone.one(types.EGRESS_RULE, "alunos-prod-out-db")
    assert egress["referencedSecurityGroupId"] == GROUP
    # What the database's owners admit instead.
    group = left_alone.outputs[outputs.SERVICE_SECURITY_GROUP_ID]
    assert group.startswith("sg-")
    assert egress["securityGroupId"] == group


def test_the_stacks_own_database_always_admits_the_service(dev: PlanView) -> None:
    assert "alunos-dev-db-in" in _ingress_names(dev)


def test_a_group_of_a_new_vpc_stack_cannot_be_the_databases(
    stack_plan: Callable[..., PlanView],
) -> None:
    """dev creates its VPC: an existing database's group lives in another one."""
    existing_db = {
        "createDatabase": None,
        "dbHost": "db.example.internal",
        "dbSecretArn": SECRET,
        "dbSecurityGroupId": GROUP,
    }
    with pytest.raises(UsageProblem, match=r"dbSecurityGroupId: sg-\S+ is in vpc-\S+, but the"):
        stack_plan("dev", existing_db)


def test_private_subnets_too_small_for_the_tasks_are_refused(
    stack_plan: Callable[..., PlanView], answer: Callable[..., None]
) -> None:
    """Two private /28s hold 2 x 11 addresses; 20 tasks need 40 during a deployment."""

    def tiny(args: Answer, found: Answer | None) -> Answer:
        assert found is not None
        index = PRIVATE.index(args["id"]) if args["id"] in PRIVATE else -1
        return {**found, "cidrBlock": f"10.20.{index + 10}.0/28"} if index >= 0 else found

    answer("aws:ec2/getSubnet:getSubnet", tiny)
    assert refused(stack_plan, {"autoscalingMaxCount": 20}) == (
        f"stack prod: alunos-api:existingPrivateSubnetIds: the tasks' subnets ({PRIVATE[0]}, "
        f"{PRIVATE[1]}) hold at most 22 usable addresses (their CIDR blocks, less the 5 AWS "
        "reserves a subnet), but 40 may be needed (2 x (autoscalingMaxCount 20) tasks during a "
        "deployment); allowed: larger subnets or more of them, or a lower autoscalingMaxCount."
    )
