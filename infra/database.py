"""Where the app's PostgreSQL is: an existing database (the migration case: the live data stays
where it is) or a managed RDS instance created by the stack. Either way the service gets one
`DatabaseConnection` and hands the credentials to the container as secrets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import validation as v
from infra.tags import tags


@dataclass
class DatabaseConnection:
    """What the service needs to reach the database; the password never appears here."""

    host: pulumi.Input[str]
    port: int
    name: str
    secret_arn: pulumi.Input[str]
    """Secrets Manager secret: a JSON with `username` and `password` keys."""
    security_group_id: pulumi.Input[str] | None
    """The database's security group, if known (None if not): the tasks may reach it."""
    admit_service: bool = True
    """Add the rule admitting the service's tasks to `security_group_id`. Always for the
    stack's own RDS group; for an existing database's group (someone else's) only when the
    stack config says so (dbAllowIngressFromService): otherwise its owners admit the service's
    security group (output serviceSecurityGroupId) themselves."""


@dataclass
class DatabaseArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the database's security group."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private or isolated subnets, in at least two AZs."""
    name: str
    """Database created on the instance."""
    port: int
    """PostgreSQL port."""
    instance_class: str
    """RDS instance class."""
    allocated_storage: int
    """Storage in GiB (gp3)."""
    engine_version: str
    """PostgreSQL major version (minor upgrades are automatic)."""
    multi_az: bool
    """A standby in another AZ."""
    backup_retention_days: int
    """Automated backups kept (1..35)."""
    production: bool
    """Deletion protection and a final snapshot on delete."""


class Database(pulumi.ComponentResource):
    """RDS PostgreSQL with the master password managed by RDS in Secrets Manager."""

    subnet_group: aws.rds.SubnetGroup
    security_group: aws.ec2.SecurityGroup
    instance: aws.rds.Instance
    connection: DatabaseConnection

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not args.name.isidentifier():
            raise v.fail("name", args.name, "a PostgreSQL identifier (letters, digits, _)")
        v.DB_ALLOCATED_STORAGE.check("allocated_storage", args.allocated_storage)
        v.DB_BACKUP_RETENTION_DAYS.check("backup_retention_days", args.backup_retention_days)
        v.DATABASE_PORT.check("port", args.port)
        super().__init__("alunos-api:infra:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=args.subnet_ids,
            tags=tags(f"{name}-subnets"),
            opts=child,
        )
        # No rules here: the service adds the one ingress rule it needs (from its own group).
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-db-sg",
            description=f"{name}: PostgreSQL, reachable only from the service",
            vpc_id=args.vpc_id,
            tags=tags(f"{name}-db-sg"),
            opts=child,
        )
        self.instance = aws.rds.Instance(
            f"{name}-postgres",
            engine="postgres",
            engine_version=args.engine_version,
            instance_class=args.instance_class,
            allocated_storage=args.allocated_storage,
            storage_type="gp3",
            storage_encrypted=True,
            db_name=args.name,
            port=args.port,
            username="alunos",
            manage_master_user_password=True,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            deletion_protection=args.production,
            skip_final_snapshot=not args.production,
            final_snapshot_identifier=f"{name}-final" if args.production else None,
            tags=tags(f"{name}-postgres"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        secret_arn = self.instance.master_user_secrets.apply(
            lambda secrets: (secrets[0].secret_arn or "") if secrets else ""
        )
        self.connection = DatabaseConnection(
            host=self.instance.address,
            port=args.port,
            name=args.name,
            secret_arn=secret_arn,
            security_group_id=self.security_group.id,
        )
        self.register_outputs(
            {
                "host": self.instance.address,
                "secretArn": secret_arn,
                "securityGroupId": self.security_group.id,
            }
        )
