"""The AWS calls the CI tool makes with boto3, found in its source, and the IAM action each needs.

A call is `<client>.<operation>(...)`, `<client>.get_paginator("<operation>")` or
`<client>.get_waiter("<waiter>")`, where the operation is one of the client's service's (botocore's
service model, in snake case) and a waiter polls its model's operation. The client is named by
what the code calls it (`ecs`, `elbv2`, `self.client`...): RECEIVERS maps those names to services,
and a call whose name is an operation of any service the package creates a client for, on a
receiver not in the map, is reported as unresolved, so a new client name cannot slip past.

The IAM action of an operation is `<prefix>:<OperationName>` (the Service Authorization
Reference names actions after the API operations they authorize), the prefix being the
service's own except for the two ELB APIs, both under `elasticloadbalancing`
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name
from botocore.model import ServiceModel

IAM_PREFIX = {"elb": "elasticloadbalancing", "elbv2": "elasticloadbalancing"}
"""boto3 service name -> IAM service prefix, where they differ."""

IAM_ACTION = {"s3:ListObjectsV2": "s3:ListBucket"}
"""Operations authorized by an action of another name: ListObjectsV2 needs `s3:ListBucket`
("You must have READ access to the bucket", https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html;
the Service Authorization Reference lists ListBucket for it)."""

RECEIVERS = {
    "ecs": "ecs",
    "ecr": "ecr",
    "ec2": "ec2",
    "elb": "elb",
    "elbv2": "elbv2",
    "cloudwatch": "cloudwatch",
    "autoscaling": "autoscaling",
    "asg": "autoscaling",
    "route53": "route53",
}
"""What the code names a client -> its boto3 service."""
MODULE_RECEIVERS = {("zone", "client"): "route53", ("diy_locks", "client"): "s3"}
"""(module, name) -> service, where the name alone says nothing (automation/cutover/zone.py's
`self.client` is Route 53's)."""


@dataclass(frozen=True)
class BotoCall:
    where: str
    """`path:line`."""
    service: str
    operation: str
    """The API operation (CamelCase), after resolving a paginator or waiter."""

    @property
    def action(self) -> str:
        action = f"{IAM_PREFIX.get(self.service, self.service)}:{self.operation}"
        return IAM_ACTION.get(action, action)


@dataclass
class Function:
    """A function or method of the scanned code: its boto calls and the names it calls."""

    calls: list[BotoCall] = field(default_factory=list)
    callees: set[str] = field(default_factory=set)


@cache
def _model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method name -> OperationName."""
    return {xform_name(name): name for name in _model(service).operation_names}


@cache
def _waiters(service: str) -> dict[str, str]:
    """snake_case waiter name -> the operation it polls."""
    model = botocore.session.get_session().get_waiter_model(service)
    return {xform_name(name): model.get_waiter(name).operation for name in model.waiter_names}


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _client_service(node: ast.expr) -> str | None:
    """`<session>.client("service", ...)` -> "service"."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _literal(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


@dataclass
class Scan:
    root: Path
    packages: tuple[str, ...]
    functions: dict[str, list[Function]] = field(default_factory=dict)
    """Function name -> every function of that name (methods included)."""
    unresolved: list[str] = field(default_factory=list)
    all_calls: list[BotoCall] = field(default_factory=list)
    """Every boto call of the packages, in functions or not."""

    def __post_init__(self) -> None:
        trees = {path: ast.parse(path.read_text()) for path in self._files()}
        services = {s for tree in trees.values() for n in ast.walk(tree) if (s := _client(n))}
        self._operation_names = {op for s in services for op in _operations(s)}
        found: dict[ast.Call, BotoCall] = {}
        for path, tree in trees.items():
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    boto = self._boto(path, node, node.func)
                    if boto is not None:
                        found[node] = boto
        self.all_calls = list(found.values())
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.functions.setdefault(node.name, []).append(_function(node, found))

    def _files(self) -> Iterator[Path]:
        for package in self.packages:
            yield from sorted((self.root / package).glob("*.py"))

    def _boto(self, path: Path, call: ast.Call, func: ast.Attribute) -> BotoCall | None:
        method = func.attr
        if method not in self._operation_names and method not in {"get_paginator", "get_waiter"}:
            return None
        where = f"{path.relative_to(self.root)}:{call.lineno}"
        name = _receiver_name(func.value)
        service = _client_service(func.value) or MODULE_RECEIVERS.get((path.stem, name or ""))
        service = service or RECEIVERS.get(name or "")
        if service is None:
            if method in self._operation_names:
                self.unresolved.append(f"{where}: {method} on {ast.unparse(func.value)}")
            return None
        if method == "get_paginator":
            operation = _operations(service)[_literal(call) or ""]
        elif method == "get_waiter":
            operation = _waiters(service)[_literal(call) or ""]
        else:
            operation = _operations(service).get(method, "")
            if not operation:
                self.unresolved.append(f"{where}: {service} has no operation {method}")
                return None
        return BotoCall(where, service, operation)

    def reachable(self, entries: Iterable[str]) -> list[BotoCall]:
        """The calls of `entries` and of every function they may call, names resolved to every
        scanned function of that name (more than Python would call, never less)."""
        seen: set[str] = set()
        todo = list(entries)
        while todo:
            name = todo.pop()
            if name in seen or name not in self.functions:
                continue
            seen.add(name)
            for fn in self.functions[name]:
                todo += fn.callees
        return [c for name in seen for fn in self.functions[name] for c in fn.calls]


def _function(
    node: ast.FunctionDef | ast.AsyncFunctionDef, found: dict[ast.Call, BotoCall]
) -> Function:
    function = Function()
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        if isinstance(call.func, ast.Name):
            function.callees.add(call.func.id)
        elif isinstance(call.func, ast.Attribute):
            function.callees.add(call.func.attr)
            if call in found:
                function.calls.append(found[call])
    return function


def _client(node: ast.AST) -> str | None:
    return _client_service(node) if isinstance(node, ast.expr) else None
