"""`automation diagram`: the stack's architecture as a Mermaid flowchart, drawn from its plan.

Every box comes from a planned resource and every label from its inputs (ports, subnets, sizes,
counts), so the picture changes when the config does: add a certificate and an HTTPS listener
appears with the redirect; reuse a database and the RDS box becomes the existing host. GitHub
renders the ```mermaid block in READMEs and PR comments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from automation.errors import UsageProblem
from automation.offline.planned import CapacityStrategy, Plan, PlannedResource
from infra import resource_types as types

_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    "|": "#124;",
    "`": "#96;",
}


def label(*lines: str) -> str:
    """A quoted Mermaid label: special characters as entity codes, lines joined by <br/>."""
    escaped = ["".join(_ESCAPES.get(ch, ch) for ch in line) for line in lines if line]
    return '"' + "<br/>".join(escaped) + '"'


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class _Graph:
    def __init__(self) -> None:
        self.lines: list[str] = ["flowchart LR"]
        self.depth = 1

    def add(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def node(self, ident: str, text: str, shape: str = "box") -> None:
        opening, closing = {
            "box": ("[", "]"),
            "round": ("(", ")"),
            "circle": ("((", "))"),
            "db": ("[(", ")]"),
            "store": ("[/", "/]"),
        }[shape]
        self.add(f"{ident}{opening}{text}{closing}")

    def open(self, ident: str, text: str) -> None:
        self.add(f"subgraph {ident} [{text}]")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.add("end")

    def edge(self, source: str, target: str, text: str = "", dotted: bool = False) -> None:
        arrow = "-.->" if dotted else "-->"
        self.add(
            f"{source} {arrow}|{label(text)}| {target}" if text else f"{source} {arrow} {target}"
        )


def _container(task: PlannedResource | None) -> Mapping[str, Any]:
    if task is None:
        return {}
    raw = task.inputs.get("containerDefinitions")
    try:
        containers = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return {}
    return containers[0] if isinstance(containers, list) and containers else {}


def _target_port(service: PlannedResource | None, target_group: PlannedResource) -> Any:
    """Where the load balancer reaches the tasks: ECS registers each task with the service's
    container port; the target group's own port is only the default for other targets."""
    balancers = (service.inputs.get("loadBalancers") or []) if service else []
    ports = [b.get("containerPort") for b in balancers if isinstance(b, Mapping)]
    return next((port for port in ports if port), target_group.inputs.get("port"))


def _nat_strategy(vpc: PlannedResource) -> str:
    return str((vpc.inputs.get("natGateways") or {}).get("strategy") or "Single")


def _capacity(strategy: CapacityStrategy, plan: Plan | None = None) -> str:
    """Where the tasks run, in words: "2 on-demand, then 50% Fargate Spot", or on EC2 (capacity
    ec2 or hybrid): "EC2 t3.small (Auto Scaling group, ECS-optimized AL2023)"."""
    if plan is not None and any(
        item.get("capacityProvider") not in ("FARGATE", "FARGATE_SPOT") for item in strategy.items
    ):
        template = plan.first(types.LAUNCH_TEMPLATE)
        kind = str(template.inputs.get("instanceType")) if template else "instances"
        return f"EC2 {kind} (Auto Scaling group, ECS-optimized AL2023)"
    if not strategy.spot_share:
        return "Fargate on-demand"
    share = f"{strategy.spot_share:.0%} Fargate Spot"
    base = strategy.on_demand_base
    return f"{base} on-demand, then {share}" if base else share


def mermaid(plan: Plan) -> str:
    """The Mermaid flowchart text (without the ``` fence)."""
    graph = _Graph()
    vpc = plan.first(types.VPC)
    alb = plan.first(types.LOAD_BALANCER)
    # The load balancer component's own group (a canary's second one belongs to its strategy).
    target_group = next(
        (g for g in plan.of_type(types.TARGET_GROUP) if alb and g.parent == alb.parent),
        plan.first(types.TARGET_GROUP),
    )
    services = plan.of_type(types.SERVICE)
    # The autoscaled service (it leaves desiredCount to the autoscaler); capacity hybrid adds a
    # base service on EC2 behind the same target group.
    service = next(
        (s for s in services if "desiredCount" in s.ignore_changes), plan.first(types.SERVICE)
    )
    bases = [s for s in services if s is not service]
    task = plan.service_task(service) if service else plan.first(types.TASK_DEFINITION)
    rds = plan.first(types.RDS_INSTANCE)
    repository = plan.first(types.REPOSITORY)
    log_group = plan.first(types.LOG_GROUP)
    alarms = plan.of_type(types.METRIC_ALARM)
    web_acl = plan.first(types.WEB_ACL)
    certificate = plan.first(types.CERTIFICATE)
    validation_record = plan.first(types.DNS_RECORD)
    listeners = sorted(plan.of_type(types.LISTENER), key=lambda r: int(r.inputs.get("port") or 0))
    container = _container(task)
    network = (service.inputs.get("networkConfiguration") or {}) if service else {}
    public_tasks = bool(network.get("assignPublicIp"))
    task_subnets = len(network.get("subnets") or [])
    alb_subnets = len(alb.inputs.get("subnets") or []) if alb else 0

    graph.node("internet", label("Internet"), "circle")
    entry = "internet"
    if web_acl is not None:
        rules = web_acl.inputs.get("rules") or []
        limit = next(
            (
                (r.get("statement") or {}).get("rateBasedStatement", {}).get("limit")
                for r in rules
                if (r.get("statement") or {}).get("rateBasedStatement")
            ),
            None,
        )
        graph.node(
            "waf",
            label(
                f"WAF {web_acl.name}",
                f"{_plural(len(rules), 'rule')}",
                f"rate limit {limit} requests / 5 min per IP" if limit else "",
            ),
        )
        entry = "waf"

    if vpc is not None:
        azs = int(vpc.inputs.get("numberOfAvailabilityZones") or 0)
        nat = _nat_strategy(vpc)
        nat_text = {"None": "no NAT", "Single": "1 NAT gateway", "OnePerAz": f"{azs} NAT gateways"}
        graph.open(
            "vpc",
            label(f"new VPC {vpc.inputs.get('cidrBlock')}", f"{azs} AZs, {nat_text.get(nat, nat)}"),
        )
    else:
        vpc_id = target_group.inputs.get("vpcId") if target_group else None
        graph.open("vpc", label(f"existing VPC {vpc_id or ''}".strip(), "not managed here"))

    # The load balancer in its public subnets.
    graph.open("public", label(f"public subnets x{alb_subnets}", "one per AZ"))
    if alb is not None:
        scheme = "internal" if alb.inputs.get("internal") else "internet-facing"
        graph.node(
            "alb",
            label(
                f"ALB {alb.name}",
                scheme,
                "drops invalid headers" if alb.inputs.get("dropInvalidHeaderFields") else "",
                "deletion protection" if alb.inputs.get("enableDeletionProtection") else "",
            ),
        )
        for listener in listeners:
            port = listener.inputs.get("port")
            protocol = listener.inputs.get("protocol")
            action = (listener.inputs.get("defaultActions") or [{}])[0]
            if action.get("type") == "redirect":
                redirect = action.get("redirect") or {}
                what = f"redirect to {redirect.get('protocol')} :{redirect.get('port')}"
            else:
                what = str(action.get("type") or "")
            graph.node(
                f"listener_{port}",
                label(f"{protocol} :{port}", what, str(listener.inputs.get("sslPolicy") or "")),
                "round",
            )
    if vpc is not None and _nat_strategy(vpc) != "None":
        per_az = _nat_strategy(vpc) == "OnePerAz"
        graph.node("nat", label("NAT gateway" + (" in each AZ" if per_az else "")), "round")
    if public_tasks and service is not None:
        graph.node(
            "tasks",
            _tasks_label(plan, service, task, container, public_tasks, task_subnets),
        )
    graph.close()

    if not public_tasks and service is not None:
        graph.open("private", label(f"private subnets x{task_subnets}", "no public IPs"))
        graph.node(
            "tasks",
            _tasks_label(plan, service, task, container, public_tasks, task_subnets),
        )
        for index, base in enumerate(bases):
            graph.node(
                f"base_tasks_{index}",
                _tasks_label(plan, base, task, container, public_tasks, task_subnets),
            )
        graph.close()

    if rds is not None:
        graph.open("isolated", label("isolated subnets", "no route to the internet"))
        multi = "Multi-AZ" if rds.inputs.get("multiAz") else "Single-AZ"
        graph.node(
            "database",
            label(
                f"RDS PostgreSQL {rds.inputs.get('engineVersion')}",
                f"{rds.inputs.get('instanceClass')}, {multi}",
                f"{rds.inputs.get('allocatedStorage')} GiB {rds.inputs.get('storageType', '')}, "
                + ("encrypted" if rds.inputs.get("storageEncrypted") else "NOT encrypted"),
            ),
            "db",
        )
        graph.close()
    else:
        env = {e.get("name"): e.get("value") for e in container.get("environment") or []}
        graph.node(
            "database",
            label(
                "existing PostgreSQL",
                f"{env.get('HOST', '?')}:{env.get('DBPORT', '?')}",
                "not managed here",
            ),
            "db",
        )
    graph.close()  # vpc

    if target_group is not None:
        health = (target_group.inputs.get("healthCheck") or {}).get("path")
        graph.node(
            "target_group",
            label(
                f"target group {target_group.name}",
                f"{target_group.inputs.get('targetType')} :{_target_port(service, target_group)}",
                f"health {health}" if health else "",
            ),
        )
    if repository is not None:
        graph.node(
            "ecr",
            label(
                f"ECR {repository.name}",
                "immutable tags"
                if repository.inputs.get("imageTagMutability") == "IMMUTABLE"
                else "mutable tags",
                "scan on push"
                if (repository.inputs.get("imageScanningConfiguration") or {}).get("scanOnPush")
                else "",
            ),
            "store",
        )
    if log_group is not None:
        retention = log_group.inputs.get("retentionInDays")
        graph.node(
            "logs",
            label(
                f"CloudWatch Logs {log_group.inputs.get('name') or log_group.name}",
                f"{retention} days" if retention else "never expire",
            ),
        )
    topics = sorted({a for alarm in alarms for a in alarm.inputs.get("alarmActions") or []})
    rollback = (service.inputs.get("alarms") or {}).get("alarmNames") if service else None
    if alarms:
        graph.node(
            "alarms",
            label(
                f"CloudWatch alarms x{len(alarms)}",
                f"{len(rollback)} roll deployments back" if rollback else "",
            ),
        )
    for index, topic in enumerate(topics):
        graph.node(f"sns_{index}", label(f"SNS {topic.rsplit(':', 1)[-1]}"), "round")
    if certificate is not None:
        zone = validation_record.inputs.get("zoneId") if validation_record is not None else None
        graph.node(
            "certificate",
            label(
                f"ACM certificate {certificate.inputs.get('domainName')}",
                f"DNS-validated in Route 53 {zone}" if zone else "",
            ),
            "round",
        )

    # Edges: the request path, then what the tasks use, then operations.
    ports = ", ".join(
        f"{listener.inputs.get('protocol')} :{listener.inputs.get('port')}"
        for listener in listeners
    )
    if web_acl is not None:
        graph.edge("internet", "waf", ports)
    if alb is not None:
        graph.edge(entry, "alb", "allowed requests" if web_acl is not None else ports)
        for listener in listeners:
            graph.edge("alb", f"listener_{listener.inputs.get('port')}")
            action = (listener.inputs.get("defaultActions") or [{}])[0]
            if action.get("type") == "redirect":
                target = (action.get("redirect") or {}).get("port")
                if any(str(other.inputs.get("port")) == str(target) for other in listeners):
                    graph.edge(
                        f"listener_{listener.inputs.get('port')}",
                        f"listener_{target}",
                        "301",
                        dotted=True,
                    )
            elif action.get("type") == "forward" and target_group is not None:
                graph.edge(f"listener_{listener.inputs.get('port')}", "target_group", "forward")
    https = [r for r in listeners if r.inputs.get("protocol") == "HTTPS"]
    if certificate is not None and https:
        graph.edge("certificate", f"listener_{https[0].inputs.get('port')}", "TLS", dotted=True)
    if target_group is not None and service is not None:
        graph.edge("target_group", "tasks", f"port {_target_port(service, target_group)}")
        for index, base in enumerate(bases):
            graph.edge(
                "target_group", f"base_tasks_{index}", f"port {_target_port(base, target_group)}"
            )
    if service is not None:
        db_port = rds.inputs.get("port") if rds is not None else None
        env = {e.get("name"): e.get("value") for e in container.get("environment") or []}
        graph.edge("tasks", "database", f"PostgreSQL :{db_port or env.get('DBPORT', '?')}")
        if repository is not None:
            graph.edge("ecr", "tasks", "image by digest", dotted=True)
        if log_group is not None:
            graph.edge("tasks", "logs", "awslogs", dotted=True)
        if not public_tasks and vpc is not None and _nat_strategy(vpc) != "None":
            graph.edge("tasks", "nat", "HTTPS to AWS APIs", dotted=True)
    if alarms and service is not None and rollback:
        graph.edge("alarms", "tasks", "roll back a deployment", dotted=True)
    for index in range(len(topics)):
        graph.edge("alarms", f"sns_{index}", "notify", dotted=True)
    return "\n".join(graph.lines) + "\n"


def _tasks_label(
    plan: Plan,
    service: PlannedResource,
    task: PlannedResource | None,
    container: Mapping[str, Any],
    public: bool,
    subnets: int,
) -> str:
    low, high = plan.task_counts(service)
    if "desiredCount" not in service.ignore_changes:  # not autoscaled: the hybrid base service
        low = high = int(service.inputs.get("desiredCount") or 0)
    count = f"{low}–{high} tasks (autoscaled)" if low != high else _plural(low, "task")
    size = ""
    if task is not None:
        vcpu = int(task.inputs.get("cpu") or 0) / 1024
        size = f"{vcpu:g} vCPU / {int(task.inputs.get('memory') or 0)} MiB"
    return label(
        f"ECS service {service.name}",
        f"{count} across {subnets} subnets",
        size,
        _capacity(plan.service_strategy(service), plan),
        "public IPs" if public else "",
        "read-only root filesystem" if container.get("readonlyRootFilesystem") else "",
    )


def markdown(plan: Plan) -> str:
    """The diagram as a fenced block GitHub renders."""
    return f"```mermaid\n{mermaid(plan)}```\n"


# The page whose diagrams a test keeps in sync with the program (`make diagrams` rewrites them).
ARCHITECTURE_DOC = "docs/architecture.md"


def readme_markers(stack: str) -> tuple[str, str]:
    return (
        f"<!-- diagram:{stack} (python -m automation diagram --stack {stack} "
        f"--readme {ARCHITECTURE_DOC}) -->",
        f"<!-- /diagram:{stack} -->",
    )


def replace_in_readme(readme: str, stack: str, plan: Plan) -> str:
    """The README with the stack's diagram (between its markers) regenerated."""
    start, end = readme_markers(stack)
    before, found, rest = readme.partition(start)
    _, found_end, after = rest.partition(end)
    if not found or not found_end:
        raise UsageProblem(f"the README has no {start} ... {end} section for the {stack} diagram")
    return f"{before}{start}\n{markdown(plan)}{end}{after}"
