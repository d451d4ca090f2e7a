"""CloudWatch alarms on what a user of the API would notice: 5xx answers, tasks failing their
health checks, and a service running hot. The first two also guard every deployment: the ECS
service names them as deployment alarms, so a release that trips one is rolled back.

The service needs the deployment alarms (ECS watches them by name from its first deployment,
the one that creates it, and on every update), and the CPU and memory alarms need the service's
name. So the alarms are created first: the deployment alarms watch only the load balancer and
target group, and the service depends on them; the CPU and memory alarms take the cluster's and
service's names as inputs that resolve once the service exists (__main__.py). Alarm names are
fixed from the component name (`alarm_names`): unique per account and region, and the same
across updates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags

_ALARM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


@dataclass(frozen=True)
class AlarmNames:
    http_5xx: str
    unhealthy_targets: str
    cpu_high: str
    memory_high: str

    @property
    def deployment(self) -> tuple[str, str]:
        """The alarms that roll a deployment back."""
        return (self.http_5xx, self.unhealthy_targets)


def alarm_names(name: str) -> AlarmNames:
    """Alarm names are unique per account and region: they derive from the component name,
    which carries the stack (alunos-dev, alunos-prod)."""
    return AlarmNames(
        http_5xx=f"{name}-http-5xx-rate",
        unhealthy_targets=f"{name}-unhealthy-targets",
        cpu_high=f"{name}-cpu-high",
        memory_high=f"{name}-memory-high",
    )


@dataclass
class AlarmsArgs:
    load_balancer_arn_suffix: pulumi.Input[str]
    """app/<name>/<id>: the LoadBalancer dimension of the ALB metrics."""
    target_group_arn_suffix: pulumi.Input[str]
    """targetgroup/<name>/<id>: the TargetGroup dimension."""
    cluster_name: pulumi.Input[str]
    """ClusterName dimension of the ECS service metrics."""
    service_name: pulumi.Input[str]
    """ServiceName dimension of the ECS service metrics."""
    topic_arn: str
    """SNS topic notified on ALARM and on OK; empty: no notifications."""
    http_5xx_percent: int
    """Share of requests answered 5xx (by the app or the load balancer) that is an alarm."""
    alternate_target_group_arn_suffix: pulumi.Input[str] | None = None
    """The second target group of a canary, linear or blue/green service: ECS registers each
    release's tasks in whichever group is idle, so unhealthy targets are watched in both."""
    min_5xx_count: int = 5
    """Fewest 5xx in a minute that can raise the alarm: at night, or in dev, 1 error in 3
    requests is 33 % and must not roll back a healthy release."""
    cpu_percent: int = 85
    """Average service CPU that is an alarm: autoscaling aims lower, so this means it is at its
    maximum or cannot keep up."""
    memory_percent: int = 85
    """Average service memory that is an alarm (memory does not drive autoscaling)."""


class Alarms(pulumi.ComponentResource):
    names: AlarmNames
    http_5xx: aws.cloudwatch.MetricAlarm
    unhealthy_targets: aws.cloudwatch.MetricAlarm
    cpu_high: aws.cloudwatch.MetricAlarm
    memory_high: aws.cloudwatch.MetricAlarm

    def __init__(
        self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(name, args)
        super().__init__("alunos-api:infra:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.names = alarm_names(name)
        actions = [args.topic_arn] if args.topic_arn else None
        load_balancer = {"LoadBalancer": args.load_balancer_arn_suffix}

        def alb_metric(query_id: str, metric: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/ApplicationELB",
                    metric_name=metric,
                    dimensions=load_balancer,
                    stat="Sum",
                    period=60,
                ),
                return_data=False,
            )

        # 5xx from the app and from the load balancer itself (502/503/504: no healthy target,
        # a crashed task) over the requests. RequestCount leaves out the requests the load
        # balancer could not give to any target, so the denominator is at least the errors.
        self.http_5xx = aws.cloudwatch.MetricAlarm(
            f"{name}-http-5xx",
            name=self.names.http_5xx,
            alarm_description=(
                f"{name}: more than {args.http_5xx_percent}% of requests answered 5xx (and at "
                f"least {args.min_5xx_count} a minute) in 2 of 3 minutes. Rolls a deployment back."
            ),
            metric_queries=[
                alb_metric("target5xx", "HTTPCode_Target_5XX_Count"),
                alb_metric("elb5xx", "HTTPCode_ELB_5XX_Count"),
                alb_metric("requests", "RequestCount"),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="errors",
                    expression="FILL(target5xx, 0) + FILL(elb5xx, 0)",
                    label="5xx answers",
                    return_data=False,
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="served",
                    expression="FILL(requests, 0)",
                    label="requests",
                    return_data=False,
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression=(
                        f"IF(errors >= {args.min_5xx_count}, "
                        "100 * errors / MAX([served, errors]), 0)"
                    ),
                    label="5xx rate (%)",
                    return_data=True,
                ),
            ],
            comparison_operator="GreaterThanThreshold",
            threshold=args.http_5xx_percent,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            tags=tags(f"{name}-http-5xx"),
            opts=child,
            alarm_actions=actions,
            ok_actions=actions,
        )
        self.unhealthy_targets = aws.cloudwatch.MetricAlarm(
            f"{name}-unhealthy",
            name=self.names.unhealthy_targets,
            alarm_description=(
                f"{name}: a task fails the load balancer's health checks in 2 of 3 minutes. "
                "Rolls a deployment back."
            ),
            **_unhealthy_metric(args),
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            tags=tags(f"{name}-unhealthy"),
            opts=child,
            alarm_actions=actions,
            ok_actions=actions,
        )
        service = {"ClusterName": args.cluster_name, "ServiceName": args.service_name}
        self.cpu_high, self.memory_high = (
            aws.cloudwatch.MetricAlarm(
                f"{name}-{role}-high",
                name=alarm_name,
                alarm_description=(
                    f"{name}: average service {metric} above {threshold}% for 5 minutes "
                    "(autoscaling at its maximum, or not keeping up)."
                ),
                namespace="AWS/ECS",
                metric_name=metric,
                dimensions=service,
                statistic="Average",
                period=60,
                comparison_operator="GreaterThanThreshold",
                threshold=threshold,
                evaluation_periods=5,
                datapoints_to_alarm=5,
                treat_missing_data="missing",
                tags=tags(f"{name}-{role}-high"),
                opts=child,
                alarm_actions=actions,
                ok_actions=actions,
            )
            for role, metric, threshold, alarm_name in (
                ("cpu", "CPUUtilization", args.cpu_percent, self.names.cpu_high),
                ("memory", "MemoryUtilization", args.memory_percent, self.names.memory_high),
            )
        )
        self.register_outputs(
            {
                "deploymentAlarmNames": list(self.names.deployment),
                "alarmArns": [
                    alarm.arn
                    for alarm in (
                        self.http_5xx,
                        self.unhealthy_targets,
                        self.cpu_high,
                        self.memory_high,
                    )
                ],
            }
        )


def _unhealthy_metric(args: AlarmsArgs) -> dict[str, Any]:
    """UnHealthyHostCount of the target group, or the larger of the two groups' counts."""

    def count(target_group: pulumi.Input[str]) -> dict[str, Any]:
        return {
            "namespace": "AWS/ApplicationELB",
            "metric_name": "UnHealthyHostCount",
            "dimensions": {
                "TargetGroup": target_group,
                "LoadBalancer": args.load_balancer_arn_suffix,
            },
        }

    if args.alternate_target_group_arn_suffix is None:
        return {**count(args.target_group_arn_suffix), "statistic": "Maximum", "period": 60}
    queries = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                **count(group), stat="Maximum", period=60
            ),
            return_data=False,
        )
        for query_id, group in (
            ("main", args.target_group_arn_suffix),
            ("alternate", args.alternate_target_group_arn_suffix),
        )
    ]
    queries.append(
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="unhealthy",
            expression="MAX([FILL(main, 0), FILL(alternate, 0)])",
            label="unhealthy targets (either group)",
            return_data=True,
        )
    )
    return {"metric_queries": queries}


def _validate(name: str, args: AlarmsArgs) -> None:
    if not _ALARM_NAME.match(f"{name}-unhealthy-targets"):
        raise v.fail("name", name, "letters, digits, '.', '_' and '-' (it names the alarms)")
    if args.topic_arn:
        v.arn("topic_arn", args.topic_arn, "sns")
    v.ALARM_PERCENT.check("http_5xx_percent", args.http_5xx_percent)
    v.MIN_5XX_COUNT.check("min_5xx_count", args.min_5xx_count)
    v.ALARM_PERCENT.check("cpu_percent", args.cpu_percent)
    v.ALARM_PERCENT.check("memory_percent", args.memory_percent)
