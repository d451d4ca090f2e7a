"""The service's own certificate: an ACM certificate for its domain, validated by DNS in the
team's Route 53 zone, so the load balancer can present a certificate that names the API (no
certificate can name `*.elb.amazonaws.com`).

DNS validation (not email) renews by itself for as long as the validation record stays in the
zone. The listener takes the ARN from `CertificateValidation`, which completes only once ACM has
issued the certificate: an HTTPS listener given a certificate still pending validation is refused
(`UnsupportedCertificate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags


@dataclass
class CertificateArgs:
    domain_name: str
    """The name clients call (alunos.example.com); the certificate names exactly it."""
    hosted_zone_id: str
    """The public Route 53 zone that holds the name: the validation record goes there."""


class Certificate(pulumi.ComponentResource):
    certificate: aws.acm.Certificate
    validation_record: aws.route53.Record
    validation: aws.acm.CertificateValidation
    arn: pulumi.Output[str]
    """The certificate's ARN, known only once the certificate is issued."""

    def __init__(
        self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        v.domain_name("domain_name", args.domain_name)
        v.hosted_zone_id("hosted_zone_id", args.hosted_zone_id)
        super().__init__("alunos-api:infra:Certificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.domain_name,
            validation_method="DNS",
            tags=tags(f"{name}-cert"),
            opts=child,
        )
        # One name, so ACM asks for exactly one record (the certificate has no other names).
        option = self.certificate.domain_validation_options[0]
        self.validation_record = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=args.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            # The record's name and value are the same for every certificate of this name in the
            # account: a record left by an earlier certificate is taken over, not a conflict.
            allow_overwrite=True,
            opts=child,
        )
        self.validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[self.validation_record.fqdn],
            opts=child,
        )
        self.arn = self.validation.certificate_arn
        self.register_outputs({"arn": self.arn, "domainName": args.domain_name})
