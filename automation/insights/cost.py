"""What a stack would cost a month, from its offline plan and one price table.

Everything countable comes from the plan (task sizes, task counts, capacity providers, NAT
strategy, instance classes, rules, retention); everything the plan cannot know (traffic, log
volume, image size) is a named assumption in the price file, shown next to the figures. A price
the file does not have is reported as not priced, never guessed: the total then says it is
incomplete.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from automation.errors import UsageProblem
from automation.offline.planned import Plan
from infra import resource_types as types

PRICES_DIR = Path(__file__).resolve().parent / "prices"

# Application Auto Scaling creates (and CloudWatch bills) a scale-out and a scale-in alarm for
# every target tracking policy.
ALARMS_PER_TARGET_TRACKING_POLICY = 2
# Log storage when a group never expires: a year's worth, and the line says it keeps growing.
NEVER_EXPIRES_MONTHS = 12
# WAF delivers its logs to groups named so (vended logs, billed at the vended rate).
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"
# ELB writes an access log file per load balancer node every 5 minutes, and has a node in each
# of its AZs at least.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
ACCESS_LOG_FILES_PER_NODE_HOUR = 12
HOURS_PER_WEEK = 168
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# cron(minutes hours ? * day-of-week *), as infra/schedule.py writes it.
_CRON = re.compile(r"^cron\((\d+) (\d+) \? \* (\S+) \*\)$")
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


# --- the price table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    key: str
    usd: float | None
    """None: no source gave this price; lines that need it are reported as not priced."""
    unit: str
    source: str | None
    """The source's URL."""
    region_confirmed: bool
    """The cited source states this price for the table's region itself."""

    @classmethod
    def unknown(cls, key: str, unit: str) -> Price:
        """A price the table does not have (the line says so and is not priced)."""
        return cls(key=key, usd=None, unit=unit, source=None, region_confirmed=False)


@dataclass(frozen=True)
class Assumption:
    key: str
    value: float
    unit: str
    why: str


@dataclass(frozen=True)
class PriceTable:
    path: Path
    region: str
    currency: str
    read: str
    hours_per_month: float
    prices: Mapping[str, Price]
    rds_instance_hour: Mapping[str, Price]
    ec2_instance_hour: Mapping[str, Price]
    default_assumptions: Mapping[str, Assumption]
    stack_assumptions: Mapping[str, Mapping[str, float]]

    def price(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise UsageProblem(f"{self.path}: prices.{key} is missing; add it") from None

    def assumptions(
        self, stack: str, overrides: Mapping[str, float] | None = None
    ) -> dict[str, Assumption]:
        """The default assumptions, then the stack's, then the caller's overrides."""
        chosen = dict(self.default_assumptions)
        for source, values in (
            (f"assumptions.stacks.{stack}", self.stack_assumptions.get(stack, {})),
            ("--assume", overrides or {}),
        ):
            for key, value in values.items():
                if key not in chosen:
                    raise UsageProblem(
                        f"{source}: unknown assumption {key!r}; known: {', '.join(sorted(chosen))}"
                    )
                chosen[key] = replace(chosen[key], value=value)
        return chosen


def price_file(region: str, directory: Path = PRICES_DIR) -> Path:
    path = directory / f"{region}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml"))) or "none"
        raise UsageProblem(
            f"no price table for region {region!r} ({path} does not exist); tables: {known}"
        )
    return path


def load_prices(path: Path) -> PriceTable:
    """Read and check a price file; every problem names the file and the key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"price file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise UsageProblem(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise UsageProblem(f"{path}: expected a mapping at the top level")

    def need(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
        value = mapping.get(key) if isinstance(mapping, dict) else None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise UsageProblem(f"{path}: {where}{key} is {value!r}; expected {_kind(kind)}")
        return value

    sources = need(data, "sources", dict, "")
    urls = {name: need(entry, "url", str, f"sources.{name}.") for name, entry in sources.items()}

    def read_price(key: str, entry: Any, where: str, unit: str | None = None) -> Price:
        usd = entry.get("usd") if isinstance(entry, dict) else None
        if usd is not None and (isinstance(usd, bool) or not isinstance(usd, int | float)):
            raise UsageProblem(f"{path}: {where}{key}.usd is {usd!r}; expected a number or null")
        if isinstance(usd, int | float) and usd < 0:
            raise UsageProblem(f"{path}: {where}{key}.usd is {usd}; expected >= 0")
        source = entry.get("source") if isinstance(entry, dict) else None
        if usd is not None and source not in urls:
            raise UsageProblem(
                f"{path}: {where}{key}.source is {source!r}; a priced entry must cite one of "
                f"the sources: {', '.join(sorted(urls))}"
            )
        return Price(
            key=key,
            usd=None if usd is None else float(usd),
            unit=unit or need(entry, "unit", str, f"{where}{key}."),
            source=urls.get(source) if source else None,
            region_confirmed=entry.get("region_confirmed") is True,
        )

    prices = {
        key: read_price(key, entry, "prices.")
        for key, entry in need(data, "prices", dict, "").items()
    }
    rds = {
        key: read_price(key, entry, "rds_instance_hour.", unit="instance-hour")
        for key, entry in need(data, "rds_instance_hour", dict, "").items()
    }
    ec2 = {
        key: read_price(key, entry, "ec2_instance_hour.", unit="instance-hour")
        for key, entry in need(data, "ec2_instance_hour", dict, "").items()
    }
    assumptions = need(data, "assumptions", dict, "")
    defaults = {
        key: Assumption(
            key=key,
            value=float(need(entry, "value", (int, float), f"assumptions.default.{key}.")),
            unit=need(entry, "unit", str, f"assumptions.default.{key}."),
            why=need(entry, "why", str, f"assumptions.default.{key}."),
        )
        for key, entry in need(assumptions, "default", dict, "assumptions.").items()
    }
    per_stack: dict[str, dict[str, float]] = {}
    for stack, entries in (assumptions.get("stacks") or {}).items():
        if not isinstance(entries, dict):
            raise UsageProblem(f"{path}: assumptions.stacks.{stack} must be a mapping")
        per_stack[stack] = {
            key: float(need(entry, "value", (int, float), f"assumptions.stacks.{stack}.{key}."))
            for key, entry in entries.items()
        }
    return PriceTable(
        path=path,
        region=need(data, "region", str, ""),
        currency=need(data, "currency", str, ""),
        read=str(need(data, "read", str, "")),
        hours_per_month=float(need(data, "hours_per_month", (int, float), "")),
        prices=prices,
        rds_instance_hour=rds,
        ec2_instance_hour=ec2,
        default_assumptions=defaults,
        stack_assumptions=per_stack,
    )


def _kind(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "a mapping", str: "a string", int: "a number", float: "a number"}
    return " or ".join(sorted({names.get(k, k.__name__) for k in kinds}))


def parse_assumptions(items: Iterable[str]) -> dict[str, float]:
    """`KEY=VALUE` flags as numbers."""
    parsed: dict[str, float] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not sep or not key or math.isnan(value) or value < 0:
            raise UsageProblem(f"--assume {item!r}: expected KEY=NUMBER (>= 0), e.g. alb_lcu=2")
        parsed[key.strip()] = value
    return parsed


# --- the estimate -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Line:
    """One billed dimension: quantity x unit price a month, at the baseline and at the maximum."""

    component: str
    item: str
    quantity: float | None
    """None: the plan cannot tell (the note says why); the line is not priced."""
    unit: str
    price: Price | None
    quantity_max: float | None = None
    note: str = ""

    @property
    def unit_price(self) -> float | None:
        return self.price.usd if self.price else None

    @property
    def monthly(self) -> float | None:
        if self.quantity is None:
            return None
        if self.quantity == 0:
            return 0.0
        return None if self.unit_price is None else self.quantity * self.unit_price

    @property
    def monthly_max(self) -> float | None:
        if self.quantity_max is None:
            return self.monthly
        return None if self.unit_price is None else self.quantity_max * self.unit_price

    @property
    def priced(self) -> bool:
        return self.monthly is not None


@dataclass(frozen=True)
class LegacyFootprint:
    """The EC2 deployment a stack replaces, from its config (legacyInstance* keys)."""

    instance_type: str
    count: int
    volume_gib: int


@dataclass
class Estimate:
    stack: str
    table: PriceTable
    lines: list[Line]
    assumptions: dict[str, Assumption]
    legacy: LegacyFootprint | None = None
    legacy_lines: list[Line] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly or 0.0 for line in self.lines)

    @property
    def total_max(self) -> float:
        return sum(line.monthly_max or 0.0 for line in self.lines)

    @property
    def legacy_total(self) -> float:
        return sum(line.monthly or 0.0 for line in self.legacy_lines)

    @property
    def not_priced(self) -> list[Line]:
        return [line for line in [*self.lines, *self.legacy_lines] if not line.priced]

    @property
    def unconfirmed_prices(self) -> list[Price]:
        """Prices used whose source does not state the region itself."""
        used = {
            line.price.key: line.price
            for line in [*self.lines, *self.legacy_lines]
            if line.price and line.price.usd is not None and line.monthly
        }
        return [price for _, price in sorted(used.items()) if not price.region_confirmed]


def legacy_footprint(config: Mapping[str, Any]) -> LegacyFootprint | None:
    """From a stack's config values (short key -> value); None when no legacy type is set."""
    instance_type = str(config.get("legacyInstanceType") or "").strip()
    count = config.get("legacyInstanceCount") or 0
    volume = config.get("legacyVolumeGiB") or 0
    for key, value in (("legacyInstanceCount", count), ("legacyVolumeGiB", volume)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UsageProblem(f"{key} is {value!r}; allowed: an integer >= 0")
    if not instance_type or not count:
        return None
    return LegacyFootprint(instance_type=instance_type, count=count, volume_gib=volume)


def estimate(
    plan: Plan,
    table: PriceTable,
    *,
    legacy: LegacyFootprint | None = None,
    overrides: Mapping[str, float] | None = None,
) -> Estimate:
    assumptions = table.assumptions(plan.stack, overrides)
    pricing = _Pricing(plan, table, {k: a.value for k, a in assumptions.items()})
    lines = [
        *pricing.fargate(),
        *pricing.ec2_capacity(),
        *pricing.load_balancers(),
        *pricing.nat_gateways(),
        *pricing.databases(),
        *pricing.logs(),
        *pricing.alarms(),
        *pricing.registry(),
        *pricing.waf(),
        *pricing.access_logs(),
    ]
    used = {key: a for key, a in assumptions.items() if key in pricing.used_assumptions}
    result = Estimate(plan.stack, table, lines, used, legacy)
    if legacy:
        result.legacy_lines = _legacy_lines(legacy, table)
    return result


class _Pricing:
    """Reads the plan once; each method returns the lines of one component."""

    def __init__(self, plan: Plan, table: PriceTable, assumptions: Mapping[str, float]) -> None:
        self.plan = plan
        self.table = table
        self.hours = table.hours_per_month
        self._assumptions = assumptions
        self.used_assumptions: set[str] = set()
        # The share of the month the service runs, and the stack's database (schedule).
        self.awake = awake_share(
            [
                (a.inputs.get("schedule"), _max_capacity(a))
                for a in plan.of_type(types.SCHEDULED_ACTION)
            ]
        )
        self.db_awake = awake_share(
            [
                (
                    s.inputs.get("scheduleExpression"),
                    1 if str(_target_arn(s)).endswith("startDBInstance") else 0,
                )
                for s in plan.of_type(types.SCHEDULE)
            ]
        )

    def awake_note(self, share: float) -> str:
        return "" if share == 1 else f", awake {share:.0%} of the month (schedule)"

    def assume(self, key: str) -> float:
        self.used_assumptions.add(key)
        return self._assumptions[key]

    def usage(
        self,
        component: str,
        item: str,
        *,
        assumption: str,
        times: float = 1.0,
        unit: str,
        price: str,
        per: str = "",
    ) -> Line:
        """A line for usage the plan cannot know: `times` x the price file's `assumption`, priced
        at `price`; the item says it is assumed, the note names the assumption."""
        value = self.assume(assumption)
        return Line(
            component=component,
            item=f"{item} (assumed)",
            quantity=value * times,
            unit=unit,
            price=self.table.price(price),
            note=f"assumption {assumption} = {value:g}{per}",
        )

    # --- Fargate ---

    def fargate(self) -> list[Line]:
        lines: list[Line] = []
        hours = self.hours * self.awake
        for service in self.plan.of_type(types.SERVICE):
            task = self.plan.service_task(service)
            if task is None or _on_ec2(self.plan, service):
                continue
            vcpu = int(task.inputs.get("cpu") or 0) / 1024
            memory_gb = int(task.inputs.get("memory") or 0) / 1024
            low, high = self.plan.task_counts(service)
            strategy = self.plan.service_strategy(service)
            od_low, spot_low = strategy.split(low)
            od_high, spot_high = strategy.split(high)
            counts = f"{low} task{'s' if low != 1 else ''}" + (
                f" (up to {high})" if high != low else ""
            )
            spot_share = spot_low / low if low else 0
            size = f"{vcpu:g} vCPU / {memory_gb:g} GB per task"
            component = f"Fargate ({service.name})"
            for kind, per_task, unit, key in (
                ("vCPU", vcpu, "vCPU-hours", "fargate_vcpu_hour"),
                ("memory", memory_gb, "GB-hours", "fargate_gb_hour"),
            ):
                on_demand, on_demand_max = od_low * per_task, od_high * per_task
                spot, spot_max = spot_low * per_task, spot_high * per_task
                if on_demand or on_demand_max:
                    lines.append(
                        Line(
                            component=component,
                            item=f"{kind}, on-demand",
                            quantity=on_demand * hours,
                            quantity_max=on_demand_max * hours,
                            unit=unit,
                            price=self.table.price(key),
                            note=f"{counts}, {size}, {hours:g} h{self.awake_note(self.awake)}",
                        )
                    )
                if spot or spot_max:
                    lines.append(
                        Line(
                            component=component,
                            item=f"{kind}, Spot",
                            quantity=spot * hours,
                            quantity_max=spot_max * hours,
                            unit=unit,
                            price=self.table.price(key.replace("fargate_", "fargate_spot_")),
                            note=f"{counts}, {spot_share:.0%} on Fargate Spot",
                        )
                    )
            network = service.inputs.get("networkConfiguration") or {}
            if network.get("assignPublicIp"):
                lines.append(
                    Line(
                        component=component,
                        item="public IPv4 per task",
                        quantity=low * hours,
                        quantity_max=high * hours,
                        unit="address-hours",
                        price=self.table.price("public_ipv4_hour"),
                        note="assignPublicIp: every task has a public address",
                    )
                )
            cluster = self.plan.companion(service, types.CLUSTER)
            settings = (cluster.inputs.get("settings") or []) if cluster else []
            insights = {setting.get("name"): setting.get("value") for setting in settings}
            if insights.get("containerInsights") in ("enabled", "enhanced"):
                lines.append(
                    Line(
                        component=component,
                        item=f"Container Insights ({insights['containerInsights']})",
                        quantity=float(low),
                        quantity_max=float(high),
                        unit="task-months",
                        price=self.table.price("container_insights_task_month"),
                        note="CloudWatch custom metrics and performance logs per task",
                    )
                )
        return lines

    # --- EC2 capacity (capacity ec2 or hybrid) ---

    def ec2_capacity(self) -> list[Line]:
        lines: list[Line] = []
        for group in self.plan.of_type(types.AUTOSCALING_GROUP):
            template = self.plan.companion(group, types.LAUNCH_TEMPLATE)
            if template is None:
                continue
            instance_type = str(template.inputs.get("instanceType"))
            gib = sum(
                float((mapping.get("ebs") or {}).get("volumeSize") or 0)
                for mapping in template.inputs.get("blockDeviceMappings") or []
            )
            low = high = 0
            for service in self.plan.of_type(types.SERVICE):
                if _on_ec2(self.plan, service):
                    service_low, service_high = _ec2_task_counts(self.plan, service)
                    low, high = low + service_low, high + service_high
            per_instance = self.assume("ec2_tasks_per_instance")
            instances = math.ceil(low / per_instance) if per_instance else low
            instances_max = min(
                math.ceil(high / per_instance) if per_instance else high,
                int(group.inputs.get("maxSize") or high),
            )
            hours = self.hours * self.awake
            price = self.table.ec2_instance_hour.get(instance_type) or Price.unknown(
                instance_type, "instance-hour"
            )
            component = f"EC2 capacity ({group.name})"
            counts = f"{instances} instance{'s' if instances != 1 else ''}" + (
                f" (up to {instances_max})" if instances_max != instances else ""
            )
            lines += [
                Line(
                    component=component,
                    item=f"{instance_type} instances",
                    quantity=instances * hours,
                    quantity_max=instances_max * hours,
                    unit="instance-hours",
                    price=price,
                    note=f"{counts} for {low}..{high} tasks on EC2, assumption "
                    f"ec2_tasks_per_instance = {per_instance:g}{self.awake_note(self.awake)}"
                    if price.usd is not None
                    else f"no price for {instance_type} in the price table",
                ),
                Line(
                    component=component,
                    item="EBS gp3 root volumes",
                    quantity=instances * gib * self.awake,
                    quantity_max=instances_max * gib * self.awake,
                    unit="GB-months",
                    price=self.table.price("ebs_gp3_gb_month"),
                    note=f"{gib:g} GiB per instance, only while it exists",
                ),
            ]
        return lines

    # --- load balancers ---

    def load_balancers(self) -> list[Line]:
        lines: list[Line] = []
        for alb in self.plan.of_type(types.LOAD_BALANCER):
            if alb.inputs.get("loadBalancerType", "application") != "application":
                continue
            component = f"Load balancer ({alb.name})"
            lines += [
                Line(
                    component=component,
                    item="ALB hours",
                    quantity=self.hours,
                    unit="ALB-hours",
                    price=self.table.price("alb_hour"),
                ),
                self.usage(
                    component,
                    "capacity units",
                    assumption="alb_lcu",
                    times=self.hours * self.awake,
                    unit="LCU-hours",
                    price="alb_lcu_hour",
                ),
            ]
            if not alb.inputs.get("internal"):
                subnets = len(alb.inputs.get("subnets") or [])
                lines.append(
                    Line(
                        component=component,
                        item="public IPv4 (one per AZ)",
                        quantity=subnets * self.hours,
                        unit="address-hours",
                        price=self.table.price("public_ipv4_hour"),
                        note=f"internet-facing in {subnets} subnets",
                    )
                )
        return lines

    # --- NAT gateways ---

    def nat_gateways(self) -> list[Line]:
        vpcs = self.plan.of_type(types.VPC)
        if not vpcs:
            return [
                Line(
                    component="NAT gateways",
                    item="not managed here",
                    quantity=0,
                    unit="gateways",
                    price=None,
                    note="the stack reuses an existing VPC: its NAT gateways are billed to it",
                )
            ]
        lines: list[Line] = []
        for vpc in vpcs:
            strategy = str((vpc.inputs.get("natGateways") or {}).get("strategy") or "Single")
            azs = int(vpc.inputs.get("numberOfAvailabilityZones") or 3)
            count = {"None": 0, "Single": 1, "OnePerAz": azs}.get(strategy, 1)
            component = f"NAT gateways ({vpc.name})"
            if not count:
                lines.append(
                    Line(
                        component=component,
                        item="none",
                        quantity=0,
                        unit="gateways",
                        price=None,
                        note="natGateways: None (tasks use public subnets)",
                    )
                )
                continue
            lines += [
                Line(
                    component=component,
                    item=f"{count} gateway-month(s)",
                    quantity=count * self.hours,
                    unit="gateway-hours",
                    price=self.table.price("nat_gateway_hour"),
                    note=f"natGateways: {strategy} x {azs} AZs",
                ),
                self.usage(
                    component,
                    "data processed",
                    assumption="nat_processed_gb",
                    times=count,
                    unit="GB",
                    price="nat_gateway_gb",
                    per=" per gateway",
                ),
                Line(
                    component=component,
                    item="public IPv4 (one per gateway)",
                    quantity=count * self.hours,
                    unit="address-hours",
                    price=self.table.price("public_ipv4_hour"),
                ),
            ]
        return lines

    # --- databases ---

    def databases(self) -> list[Line]:
        instances = self.plan.of_type(types.RDS_INSTANCE)
        if not instances:
            return [
                Line(
                    component="PostgreSQL",
                    item="not managed here",
                    quantity=0,
                    unit="instances",
                    price=None,
                    note="the stack uses an existing database (dbHost)",
                )
            ]
        lines: list[Line] = []
        for db in instances:
            inputs = db.inputs
            copies = 2 if inputs.get("multiAz") else 1
            deployment = "Multi-AZ (x2)" if copies == 2 else "Single-AZ"
            component = f"RDS ({db.name})"
            instance_class = str(inputs.get("instanceClass"))
            price = self.table.rds_instance_hour.get(instance_class) or Price.unknown(
                instance_class, "instance-hour"
            )
            lines.append(
                Line(
                    component=component,
                    item=f"{instance_class} {deployment}",
                    quantity=copies * self.hours * self.db_awake,
                    unit="instance-hours",
                    price=price,
                    note=(
                        "stopped outside working hours (schedule), storage still billed"
                        if self.db_awake < 1
                        else ""
                    )
                    if price.usd is not None
                    else f"no price for {instance_class} in the price table",
                )
            )
            storage_type = str(inputs.get("storageType") or "gp2")
            gib = float(inputs.get("allocatedStorage") or 0)
            storage_price = (
                self.table.price("rds_gp3_gb_month")
                if storage_type == "gp3"
                else Price.unknown(f"rds_{storage_type}_gb_month", "GB-month")
            )
            lines.append(
                Line(
                    component=component,
                    item=f"{storage_type} storage",
                    quantity=copies * gib,
                    unit="GB-months",
                    price=storage_price,
                    note=f"{gib:g} GiB {deployment}",
                )
            )
            if inputs.get("manageMasterUserPassword"):
                lines.append(
                    Line(
                        component=component,
                        item="master password secret",
                        quantity=1,
                        unit="secret-months",
                        price=self.table.price("secret_month"),
                        note="managed by RDS in Secrets Manager",
                    )
                )
        return lines

    # --- CloudWatch ---

    def logs(self) -> list[Line]:
        lines: list[Line] = []
        for group in self.plan.of_type(types.LOG_GROUP):
            name = str(group.inputs.get("name") or group.name)
            # WAF's logs are vended logs: their own volume, their own rate.
            waf = name.startswith(WAF_LOG_GROUP_PREFIX)
            assumption = "waf_logs_gb" if waf else "logs_ingested_gb"
            ingested = self.assume(assumption)
            retention = group.inputs.get("retentionInDays")
            months = (int(retention) / 30) if retention else NEVER_EXPIRES_MONTHS
            kept = "never expires: grows every month" if not retention else f"{retention} days"
            component = f"CloudWatch Logs ({name})"
            lines += [
                self.usage(
                    component,
                    "ingestion",
                    assumption=assumption,
                    unit="GB",
                    price="logs_vended_ingested_gb" if waf else "logs_ingested_gb",
                ),
                Line(
                    component=component,
                    item="storage",
                    quantity=ingested * months,
                    unit="GB-months",
                    price=self.table.price("logs_stored_gb_month"),
                    note=f"retention {kept}",
                ),
            ]
        return lines

    def alarms(self) -> list[Line]:
        alarms = self.plan.of_type(types.METRIC_ALARM)
        metrics = sum(_alarm_metrics(alarm.inputs) for alarm in alarms)
        policies = [
            policy
            for policy in self.plan.of_type(types.SCALING_POLICY)
            if policy.inputs.get("targetTrackingScalingPolicyConfiguration")
        ]
        lines: list[Line] = []
        if alarms:
            lines.append(
                Line(
                    component="CloudWatch alarms",
                    item=f"{len(alarms)} alarms",
                    quantity=float(metrics),
                    unit="alarm metric-months",
                    price=self.table.price("alarm_metric_month"),
                    note="metric math alarms bill each metric they read",
                )
            )
        if policies:
            count = ALARMS_PER_TARGET_TRACKING_POLICY * len(policies)
            lines.append(
                Line(
                    component="CloudWatch alarms",
                    item=f"{count} target tracking alarms",
                    quantity=float(count),
                    unit="alarm metric-months",
                    price=self.table.price("alarm_metric_month"),
                    note=f"{ALARMS_PER_TARGET_TRACKING_POLICY} per autoscaling policy",
                )
            )
        return lines

    # --- ECR ---

    def registry(self) -> list[Line]:
        lines: list[Line] = []
        for repository in self.plan.of_type(types.REPOSITORY):
            policy = self.plan.companion(repository, types.LIFECYCLE_POLICY)
            kept = kept_images(policy.inputs.get("policy")) if policy else None
            per_image = self.assume("ecr_gb_per_image")
            if kept is None:
                note = "no lifecycle policy counts images: storage grows with every push"
            else:
                note = (
                    f"at most {kept} kept images x {per_image:g} GB (assumption ecr_gb_per_image)"
                )
            lines.append(
                Line(
                    component=f"ECR ({repository.name})",
                    item="image storage",
                    quantity=None if kept is None else kept * per_image,
                    unit="GB-months",
                    price=self.table.price("ecr_gb_month"),
                    note=note,
                )
            )
        return lines

    # --- S3 (the load balancer's access logs) ---

    def access_logs(self) -> list[Line]:
        lines: list[Line] = []
        for bucket in self.plan.of_type(types.BUCKET):
            name = bucket.inputs.get("bucket") or bucket.name
            lifecycle = self.plan.companion(bucket, types.BUCKET_LIFECYCLE)
            days = next(
                (
                    rule.get("expiration", {}).get("days")
                    for rule in (lifecycle.inputs.get("rules") or [] if lifecycle else [])
                    if rule.get("status") == "Enabled" and rule.get("expiration")
                ),
                None,
            )
            months = int(days) / 30 if days else NEVER_EXPIRES_MONTHS
            written = self.assume("alb_access_logs_gb")
            component = f"S3 ({name})"
            lines.append(
                Line(
                    component=component,
                    item="access log storage",
                    quantity=written * months,
                    unit="GB-months",
                    price=self.table.price("s3_standard_gb_month"),
                    note=f"assumption alb_access_logs_gb = {written:g} a month, kept "
                    + (f"{days} days" if days else "forever: grows every month"),
                )
            )
            nodes = sum(
                len(alb.inputs.get("subnets") or [])
                for alb in self.plan.of_type(types.LOAD_BALANCER)
                if (alb.inputs.get("accessLogs") or {}).get("bucket") == name
            )
            if nodes:
                lines.append(
                    Line(
                        component=component,
                        item="log file writes",
                        quantity=nodes * ACCESS_LOG_FILES_PER_NODE_HOUR * self.hours / 1000,
                        unit="1,000 PUT requests",
                        price=self.table.price("s3_put_1k"),
                        note=f"a file per load balancer node (at least {nodes}, one per AZ) "
                        "every 5 minutes",
                    )
                )
        return lines

    # --- WAF ---

    def waf(self) -> list[Line]:
        lines: list[Line] = []
        for acl in self.plan.of_type(types.WEB_ACL):
            rules = len(acl.inputs.get("rules") or [])
            component = f"WAF ({acl.name})"
            lines += [
                Line(
                    component=component,
                    item="web ACL",
                    quantity=1,
                    unit="web ACL-months",
                    price=self.table.price("waf_web_acl_month"),
                ),
                Line(
                    component=component,
                    item=f"{rules} rules and rule groups",
                    quantity=float(rules),
                    unit="rule-months",
                    price=self.table.price("waf_rule_month"),
                ),
                self.usage(
                    component,
                    "requests inspected",
                    assumption="waf_million_requests",
                    unit="million requests",
                    price="waf_million_requests",
                ),
            ]
        return lines


def _target_arn(schedule: Any) -> str:
    return str((schedule.inputs.get("target") or {}).get("arn") or "")


def _max_capacity(action: Any) -> int:
    return int((action.inputs.get("scalableTargetAction") or {}).get("maxCapacity") or 0)


def awake_share(crons: Iterable[tuple[Any, int]]) -> float:
    """The share of a week between the wake-up cron (a value > 0) and the sleep cron (0) of a
    schedule, both on the same days; 1.0 without a schedule."""
    wake = sleep = None
    for expression, value in crons:
        match = _CRON.match(str(expression or ""))
        if match is None:
            continue
        at = (int(match[2]) * 60 + int(match[1]), match[3])
        if value:
            wake = at
        else:
            sleep = at
    if wake is None or sleep is None:
        return 1.0
    days = wake[1]
    if "-" in days:
        first, last = (DAYS.index(day) for day in days.split("-"))
        count = last - first + 1
    else:
        count = len(days.split(","))
    return count * (sleep[0] - wake[0]) / 60 / HOURS_PER_WEEK


def _on_ec2(plan: Plan, service: Any) -> bool:
    """A service whose capacity provider strategy names an EC2 (Auto Scaling group) provider."""
    strategy = plan.service_strategy(service)
    return any(item.get("capacityProvider") not in FARGATE_PROVIDERS for item in strategy.items)


def _ec2_task_counts(plan: Plan, service: Any) -> tuple[int, int]:
    """An autoscaled service (it leaves desiredCount to the autoscaler) runs its target's
    min..max; the hybrid base service its desired count."""
    if "desiredCount" in service.ignore_changes:
        return plan.task_counts(service)
    desired = int(service.inputs.get("desiredCount") or 0)
    return desired, desired


def _legacy_lines(legacy: LegacyFootprint, table: PriceTable) -> list[Line]:
    hours = table.hours_per_month
    price = table.ec2_instance_hour.get(legacy.instance_type) or Price.unknown(
        legacy.instance_type, "instance-hour"
    )
    return [
        Line(
            component="Legacy EC2",
            item=f"{legacy.count} x {legacy.instance_type}",
            quantity=legacy.count * hours,
            unit="instance-hours",
            price=price,
            note=""
            if price.usd is not None
            else f"no price for {legacy.instance_type} in the price table",
        ),
        Line(
            component="Legacy EC2",
            item="EBS gp2 volumes",
            quantity=float(legacy.count * legacy.volume_gib),
            unit="GB-months",
            price=table.price("ebs_gp2_gb_month"),
            note=f"{legacy.volume_gib} GiB per instance",
        ),
    ]


def kept_images(policy: Any) -> int | None:
    """Most images an ECR lifecycle policy keeps: the sum of its `imageCountMoreThan` limits
    (None when no rule limits the count)."""
    try:
        rules = json.loads(policy).get("rules", []) if isinstance(policy, str) else []
    except json.JSONDecodeError:
        return None
    counts = [
        int(rule["selection"]["countNumber"])
        for rule in rules
        if rule.get("selection", {}).get("countType") == "imageCountMoreThan"
    ]
    return sum(counts) if counts else None


def _alarm_metrics(inputs: Mapping[str, Any]) -> int:
    """CloudWatch bills an alarm per metric it reads; math expressions are free."""
    queries = inputs.get("metricQueries") or []
    return sum(1 for query in queries if query.get("metric")) if queries else 1


# --- output -----------------------------------------------------------------------------------


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _line_json(line: Line) -> dict[str, Any]:
    return {
        "component": line.component,
        "item": line.item,
        "quantity": line.quantity,
        "quantity_max": line.quantity_max if line.quantity_max is not None else line.quantity,
        "unit": line.unit,
        "price_key": line.price.key if line.price else None,
        "unit_price": line.unit_price,
        "region_confirmed": line.price.region_confirmed if line.price else None,
        "monthly": _money(line.monthly),
        "monthly_max": _money(line.monthly_max),
        "note": line.note,
    }


def to_json(result: Estimate) -> dict[str, Any]:
    table = result.table
    comparison = None
    if result.legacy:
        comparison = {
            "legacy": _money(result.legacy_total),
            "new_baseline": _money(result.total),
            "new_max": _money(result.total_max),
            "difference_baseline": _money(result.total - result.legacy_total),
            "difference_max": _money(result.total_max - result.legacy_total),
        }
    return {
        "stack": result.stack,
        "region": table.region,
        "currency": table.currency,
        "prices_read": table.read,
        "price_file": table.path.name,
        "hours_per_month": table.hours_per_month,
        "total": {"baseline": _money(result.total), "max": _money(result.total_max)},
        "complete": not result.not_priced,
        "lines": [_line_json(line) for line in result.lines],
        "not_priced": [
            {"component": line.component, "item": line.item, "note": line.note}
            for line in result.not_priced
        ],
        "unconfirmed_prices": [price.key for price in result.unconfirmed_prices],
        "assumptions": {
            key: {"value": a.value, "unit": a.unit, "why": a.why}
            for key, a in sorted(result.assumptions.items())
        },
        "legacy": None
        if result.legacy is None
        else {
            "instance_type": result.legacy.instance_type,
            "count": result.legacy.count,
            "volume_gib": result.legacy.volume_gib,
            "lines": [_line_json(line) for line in result.legacy_lines],
            "total": _money(result.legacy_total),
        },
        "comparison": comparison,
    }


def _usd(value: float | None) -> str:
    return "not priced" if value is None else f"${value:,.2f}"


def _range(low: float | None, high: float | None) -> str:
    if low is None or high is None or abs(high - low) < 0.005:
        return _usd(low)
    return f"{_usd(low)} – {_usd(high)}"


def _cell(text: str) -> str:
    """Markdown table cells: no pipes or line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def cost_markdown(result: Estimate) -> str:
    """The estimate as Markdown (a PR comment section or a job summary)."""
    table = result.table
    total = _range(result.total, result.total_max)
    out = [
        f"### Monthly cost estimate: `{result.stack}` {total}",
        "",
        f"List prices for {table.region} read {table.read} ({table.path.name}), "
        f"{table.hours_per_month:g} hours a month; a range runs from the autoscaling minimum "
        "to the maximum.",
        "",
        "| component | item | quantity | monthly |",
        "|---|---|---|---|",
    ]
    for line in result.lines:
        quantity = "?" if line.quantity is None else f"{line.quantity:,.4g} {line.unit}"
        out.append(
            f"| {_cell(line.component)} | {_cell(line.item)} | {_cell(quantity)} | "
            f"{_range(line.monthly, line.monthly_max)} |"
        )
    if result.legacy:
        legacy = result.legacy
        out += [
            "",
            f"**Legacy EC2** ({legacy.count} x {legacy.instance_type}, {legacy.volume_gib} GiB "
            f"gp2 each): {_usd(result.legacy_total)} a month; this stack "
            f"{_signed(result.total - result.legacy_total)} at its baseline.",
        ]
    out += _caveats(result)
    return "\n".join(out) + "\n"


def _signed(delta: float) -> str:
    return f"+${delta:,.2f}" if delta >= 0 else f"-${-delta:,.2f}"


def _caveats(result: Estimate) -> list[str]:
    notes: list[str] = []
    if result.not_priced:
        items = "; ".join(
            f"{line.component}: {line.item}" + (f" ({line.note})" if line.note else "")
            for line in result.not_priced
        )
        notes.append(f"Not priced (the total leaves them out): {items}.")
    if result.assumptions:
        notes.append(
            "Assumptions: "
            + ", ".join(f"{key} = {a.value:g} {a.unit}" for key, a in result.assumptions.items())
            + "."
        )
    unconfirmed = result.unconfirmed_prices
    if unconfirmed:
        notes.append(
            f"Prices whose source does not state {result.table.region} itself (see "
            f"{result.table.path.name}): " + ", ".join(price.key for price in unconfirmed) + "."
        )
    return ["", *(f"- {_cell(note)}" for note in notes)] if notes else []


def cost_delta_markdown(
    base: Plan,
    head: Plan,
    *,
    table: PriceTable | None = None,
    overrides: Mapping[str, float] | None = None,
) -> str:
    """Base vs head estimates for a PR comment: totals, then every line that changed."""
    region = str(head.outputs.get("region") or "us-east-2")
    table = table or load_prices(price_file(region))
    before = estimate(base, table, overrides=overrides)
    after = estimate(head, table, overrides=overrides)
    title = (
        f"### Monthly cost: `{head.stack}` {_range(after.total, after.total_max)} "
        f"({_signed(after.total - before.total)} vs base "
        f"{_range(before.total, before.total_max)})"
    )
    old = {(line.component, line.item): line for line in before.lines}
    new = {(line.component, line.item): line for line in after.lines}
    rows: list[str] = []
    for key in [*old, *(k for k in new if k not in old)]:
        was, now = old.get(key), new.get(key)
        was_cost = (was.monthly, was.monthly_max) if was else (0.0, 0.0)
        now_cost = (now.monthly, now.monthly_max) if now else (0.0, 0.0)
        if was_cost == now_cost and (was.quantity if was else None) == (
            now.quantity if now else None
        ):
            continue
        delta = (now_cost[0] or 0.0) - (was_cost[0] or 0.0)
        rows.append(
            f"| {_cell(key[0])} | {_cell(key[1])} | {_range(*was_cost) if was else 'none'} | "
            f"{_range(*now_cost) if now else 'removed'} | {_signed(delta)} |"
        )
    out = [title, ""]
    if rows:
        out += ["| component | item | base | head | change |", "|---|---|---|---|---|", *rows]
    else:
        out.append("No change to the estimate.")
    out.append("")
    out.append(f"List prices for {table.region} read {table.read}; baseline = autoscaling minimum.")
    out += _caveats(after)
    return "\n".join(out) + "\n"


# --- fargate vs ec2 vs hybrid -------------------------------------------------------------------

CAPACITY_MODES = ("fargate", "ec2", "hybrid")


def capacity_overrides(config: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """The fewest config changes that run a stack on `mode` (short key -> value): EC2 needs
    private subnets with NAT (awsvpc tasks on EC2 get no public IP) and no Fargate Spot share;
    hybrid moves the stack's minimum to the EC2 base service and lets Fargate scale from 0,
    without a schedule (the base service does not sleep) and with rolling releases (a canary
    would shift the Fargate service's traffic away from the base service's target group)."""
    changes: dict[str, Any] = {"capacity": mode}
    if mode == "fargate":
        return changes
    if not config.get("existingVpcId") and config.get("natGateways") in (None, "", "None"):
        changes["natGateways"] = "Single"
    if mode == "ec2":
        changes.update(spotPercent=0, onDemandBase=0)
    else:
        minimum = int(config.get("autoscalingMinCount") or 1)
        changes.update(
            ec2BaseCount=max(minimum, 1), autoscalingMinCount=0, desiredCount=0, schedule=""
        )
        if config.get("deploymentStrategy") not in (None, "", "rolling"):
            changes["deploymentStrategy"] = "rolling"
        changes["onDemandBase"] = 0
    return changes


def compare_capacity_markdown(
    stack: str, results: Mapping[str, tuple[Estimate, dict[str, Any]]]
) -> str:
    """One row per capacity mode: its monthly range and the config changes it takes."""
    out = [
        f"### Capacity comparison: `{stack}`",
        "",
        "| capacity | monthly | compute | config changes |",
        "|---|---|---|---|",
    ]
    for mode, (result, changes) in results.items():
        compute = [
            line for line in result.lines if line.component.startswith(("Fargate", "EC2 capacity"))
        ]
        low = sum(line.monthly or 0.0 for line in compute)
        high = sum(line.monthly_max or 0.0 for line in compute)
        shown = ", ".join(f"{k}: {v!r}" for k, v in changes.items() if k != "capacity") or "none"
        out.append(
            f"| {mode} | {_range(result.total, result.total_max)} | {_range(low, high)} | "
            f"{_cell(shown)} |"
        )
    if any(result.legacy for result, _ in results.values()):
        legacy = next(result for result, _ in results.values() if result.legacy)
        out += ["", f"Legacy EC2: {_usd(legacy.legacy_total)} a month."]
    return "\n".join(out) + "\n"
