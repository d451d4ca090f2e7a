"""Application Auto Scaling of the ECS service's task count: target tracking on CPU and on load
balancer requests per task.

Target tracking scales out as soon as either metric is above its target (its alarm watches 3
one-minute datapoints) and scales in only when every policy agrees, so the two policies never
fight. The cooldowns make it quick to add and slow to remove: after a scale-out, another one may
follow 60 s later; after a scale-in, the next waits 300 s, so a noisy minute does not make the
count flap (and scale-in alarms wait 15 minutes of low load to begin with).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags

CPU_METRIC = "ECSServiceAverageCPUUtilization"
REQUESTS_METRIC = "ALBRequestCountPerTarget"


@dataclass
class AutoscalingArgs:
    cluster_name: pulumi.Input[str]
    """The ECS cluster of the service."""
    service_name: pulumi.Input[str]
    """The ECS service whose DesiredCount is scaled; it must ignore desiredCount changes."""
    load_balancer_arn_suffix: pulumi.Input[str]
    """app/<name>/<id>, first half of the ALBRequestCountPerTarget resource label."""
    target_group_arn_suffix: pulumi.Input[str]
    """targetgroup/<name>/<id>, second half of the resource label."""
    min_count: int
    """Fewest tasks (>= 1)."""
    max_count: int
    """Most tasks (>= min_count)."""
    cpu_percent: int
    """Average CPU the tasks are kept at: headroom for a burst while a new task starts."""
    requests_per_target: int
    """Requests per task per minute the tasks are kept at."""
    scale_from_zero: bool
    """capacity hybrid: min_count may be 0. The requests policy still scales out from there:
    ALBRequestCountPerTarget is the target group's, which the base service's tasks keep
    registered (the CPU metric has no data while this service runs no task)."""
    scale_out_cooldown: int = 60
    """Seconds after a scale-out before the next one."""
    scale_in_cooldown: int = 300
    """Seconds after a scale-in before the next one."""
    alternate_target_group_arn_suffix: pulumi.Input[str] | None = None
    """A canary's, linear's or blue/green's second group (infra/deployment_strategy.py): ECS
    registers each release's tasks in the idle group and moves the traffic there, so requests
    are tracked on both groups, for scale-out only. The idle group's metric has no data (the
    ALB reports a metric only while requests flow), and a target tracking policy never scales
    in on insufficient data while scale-in needs every policy with scale-in enabled to agree:
    a requests policy with scale-in on would hold the count up for good after the first swap.
    CPU alone scales such a service in."""


class Autoscaling(pulumi.ComponentResource):
    target: aws.appautoscaling.Target
    cpu_policy: aws.appautoscaling.Policy
    requests_policy: aws.appautoscaling.Policy
    alternate_requests_policy: aws.appautoscaling.Policy | None

    def __init__(
        self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("alunos-api:infra:Autoscaling", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", args.service_name),
            min_capacity=args.min_count,
            max_capacity=args.max_count,
            tags=tags(f"{name}-scaling"),
            opts=child,
        )
        label = pulumi.Output.concat(
            args.load_balancer_arn_suffix, "/", args.target_group_arn_suffix
        )
        self.cpu_policy = self._policy(name, "cpu", CPU_METRIC, args.cpu_percent, None, args)
        alternate = args.alternate_target_group_arn_suffix
        self.requests_policy = self._policy(
            name,
            "requests",
            REQUESTS_METRIC,
            args.requests_per_target,
            label,
            args,
            scale_in=alternate is None,
        )
        self.alternate_requests_policy = (
            self._policy(
                name,
                "requests-tg2",
                REQUESTS_METRIC,
                args.requests_per_target,
                pulumi.Output.concat(args.load_balancer_arn_suffix, "/", alternate),
                args,
                scale_in=False,
            )
            if alternate is not None
            else None
        )
        self.register_outputs(
            {
                "resourceId": self.target.resource_id,
                "minCount": args.min_count,
                "maxCount": args.max_count,
            }
        )

    def _policy(
        self,
        name: str,
        role: str,
        metric: str,
        target_value: int,
        resource_label: pulumi.Input[str] | None,
        args: AutoscalingArgs,
        *,
        scale_in: bool = True,
    ) -> aws.appautoscaling.Policy:
        config = aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs
        return aws.appautoscaling.Policy(
            f"{name}-scale-{role}",
            policy_type="TargetTrackingScaling",
            service_namespace=self.target.service_namespace,
            scalable_dimension=self.target.scalable_dimension,
            resource_id=self.target.resource_id,
            target_tracking_scaling_policy_configuration=config(
                target_value=target_value,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type=metric, resource_label=resource_label
                ),
                scale_out_cooldown=args.scale_out_cooldown,
                scale_in_cooldown=args.scale_in_cooldown,
                disable_scale_in=not scale_in,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


def _validate(args: AutoscalingArgs) -> None:
    fewest = 0 if args.scale_from_zero else v.TASKS.low
    if args.min_count < fewest:
        raise v.fail("min_count", args.min_count, f"an integer >= {fewest}")
    v.in_range("max_count", args.max_count, max(args.min_count, 1), v.TASKS.high)
    v.AUTOSCALING_CPU_PERCENT.check("cpu_percent", args.cpu_percent)
    v.REQUESTS_PER_TARGET.check("requests_per_target", args.requests_per_target)
    v.SCALING_COOLDOWN.check("scale_out_cooldown", args.scale_out_cooldown)
    v.SCALING_COOLDOWN.check("scale_in_cooldown", args.scale_in_cooldown)
