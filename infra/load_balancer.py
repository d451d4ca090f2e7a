"""The internet-facing Application Load Balancer: the only thing open to the internet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags

# The target group's own port is only the default for targets registered without one ("Port on
# which targets receive traffic, unless overridden when registering a specific target",
# pulumi_aws lb.TargetGroup), and ECS registers every task with the service's container port. So
# it stays fixed: `port` is ForceNew (terraform-provider-aws internal/service/elbv2/
# target_group.go), and a replaced group would leave the listener forwarding to a new, empty group
# until ECS had started and registered new tasks in it. A containerPort change is instead a
# rolling deployment into this same group (the health checks use each target's "traffic-port").
# The same as the AWS CDK's ecs-patterns, whose target group takes the listener's port.
TARGET_GROUP_PORT = 80


@dataclass
class AccessLogs:
    """Where the load balancer writes its access logs (infra/access_logs.py makes the bucket)."""

    bucket: pulumi.Input[str]
    """The bucket, once its policy lets ELB write there: ELB tests that when logging starts."""
    prefix: str
    """The key prefix under the bucket (ELB adds AWSLogs/<account>/...)."""


@dataclass
class LoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the target group."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Public subnets, in at least two AZs."""
    container_port: int
    """Port the targets (tasks) listen on; not the target group's own port (TARGET_GROUP_PORT)."""
    certificate_arn: pulumi.Input[str] | None
    """ACM certificate: HTTPS on 443 and 80 redirects to it. None: plain HTTP on 80."""
    domain_name: str
    """The name clients call, which the certificate names ("": none, the ALB's own name)."""
    ssl_policy: str
    """TLS policy of the HTTPS listener: TLS 1.2 and later only."""
    health_check_interval: int
    """Seconds between checks (ALB default 30)."""
    healthy_threshold: int
    """Passing checks before a task gets traffic (ALB default 5)."""
    deregistration_delay: int
    """Seconds an old task drains (ALB default 300); the app finishes requests well within it."""
    deletion_protection: bool
    """Refuse deletion of the load balancer (production)."""
    health_check_path: str
    """The app's cheap liveness route (healthCheckPath: another image's may differ)."""
    unhealthy_threshold: int = 3
    """Failing checks before a task is taken out."""
    access_logs: AccessLogs | None = None
    """Every request logged to S3; None: no access logs."""


class LoadBalancer(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    http_listener: aws.lb.Listener
    https_listener: aws.lb.Listener | None
    listeners: list[aws.lb.Listener]
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(name, args)
        super().__init__("alunos-api:infra:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        https = args.certificate_arn is not None

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            description=f"{name}: internet to the load balancer on HTTP/HTTPS only",
            vpc_id=args.vpc_id,
            tags=tags(f"{name}-alb-sg"),
            opts=child,
        )
        self.ingress_rules = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-{port}",
                security_group_id=self.security_group.id,
                description=f"internet to the load balancer on {port}",
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=child,
            )
            for port in ((80, 443) if https else (80,))
        ]
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            security_groups=[self.security_group.id],
            subnets=args.subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.deletion_protection,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=args.access_logs.bucket, prefix=args.access_logs.prefix, enabled=True
            )
            if args.access_logs
            else None,
            tags=tags(f"{name}-alb"),
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            target_type="ip",
            port=TARGET_GROUP_PORT,
            protocol="HTTP",
            vpc_id=args.vpc_id,
            deregistration_delay=args.deregistration_delay,
            health_check=health_check(args),
            tags=tags(f"{name}-tg"),
            opts=child,
        )
        forward = aws.lb.ListenerDefaultActionArgs(
            type="forward", target_group_arn=self.target_group.arn
        )
        self.https_listener = None
        if https:
            self.https_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.load_balancer.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=args.ssl_policy,
                certificate_arn=args.certificate_arn,
                default_actions=[forward],
                tags=tags(f"{name}-https"),
                opts=child,
            )
            http_action = aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                    port="443", protocol="HTTPS", status_code="HTTP_301"
                ),
            )
        else:
            http_action = forward
        self.http_listener = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[http_action],
            tags=tags(f"{name}-http"),
            opts=child,
        )
        self.listeners = [self.http_listener] + (
            [self.https_listener] if self.https_listener else []
        )
        if args.domain_name:
            # The certificate names the domain, not the ALB: only this URL verifies.
            self.url = pulumi.Output.from_input(f"https://{args.domain_name}")
        else:
            scheme = "https" if https else "http"
            self.url = pulumi.Output.concat(scheme, "://", self.load_balancer.dns_name)
        self.register_outputs(
            {
                "url": self.url,
                "dnsName": self.load_balancer.dns_name,
                "targetGroupArn": self.target_group.arn,
                "securityGroupId": self.security_group.id,
            }
        )


def health_check(args: LoadBalancerArgs) -> aws.lb.TargetGroupHealthCheckArgs:
    """The app's health check; a deployment strategy's alternate target group uses the same."""
    return aws.lb.TargetGroupHealthCheckArgs(
        enabled=True,
        path=args.health_check_path,
        protocol="HTTP",
        port="traffic-port",
        matcher="200",
        interval=args.health_check_interval,
        timeout=min(5, args.health_check_interval - 1),
        healthy_threshold=args.healthy_threshold,
        unhealthy_threshold=args.unhealthy_threshold,
    )


def _validate(name: str, args: LoadBalancerArgs) -> None:
    # Load balancer and target group names are at most 32 characters; autonaming adds 8.
    if len(f"{name}-alb") > 24:
        raise v.fail("name", name, "at most 20 characters (AWS limits load balancer names)")
    v.CONTAINER_PORT.check("container_port", args.container_port)
    v.HEALTH_CHECK_INTERVAL.check("health_check_interval", args.health_check_interval)
    v.HEALTH_CHECK_THRESHOLD.check("healthy_threshold", args.healthy_threshold)
    v.HEALTH_CHECK_THRESHOLD.check("unhealthy_threshold", args.unhealthy_threshold)
    v.DEREGISTRATION_DELAY.check("deregistration_delay", args.deregistration_delay)
    if args.access_logs and (
        "AWSLogs" in args.access_logs.prefix
        or args.access_logs.prefix.strip("/") != args.access_logs.prefix
    ):
        # ELB adds AWSLogs/ itself and refuses a prefix holding it.
        raise v.fail(
            "access_logs.prefix",
            args.access_logs.prefix,
            "a prefix without AWSLogs or edge slashes",
        )
    v.health_check_path("health_check_path", args.health_check_path)
    if isinstance(args.certificate_arn, str):
        v.arn("certificate_arn", args.certificate_arn, "acm")
    if args.certificate_arn is not None:
        v.one_of("ssl_policy", args.ssl_policy, v.MODERN_SSL_POLICIES)
    if args.domain_name:
        v.domain_name("domain_name", args.domain_name)
        if args.certificate_arn is None:
            raise v.fail(
                "certificate_arn", None, "a certificate for domain_name (the URL is HTTPS)"
            )
