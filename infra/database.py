"""Where the app's PostgreSQL is: an existing database (the migration case: the live data stays
where it is) or a managed RDS instance created by the stack. Either way the service gets one
`DatabaseConnection` and gives the container the secret's ARN (the app reads the secret).

What changes do to the instance (ModifyDBInstance, API reference:
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html):
- `db_name`, `username`, `engine`, `storage_encrypted`, `kms_key_id` and `identifier` are ForceNew
  in the provider (terraform-provider-aws internal/service/rds/instance.go): changing one replaces
  the instance with a new, empty one. Whatever happens, the old one leaves a final snapshot
  (never `skip_final_snapshot`), and production's is also deletion-protected and `protect`ed.
- RDS keeps final snapshots after the instance is gone, and refuses to take a second one under
  a name that exists (DeleteDBInstance: DBSnapshotAlreadyExists). So each instance's final
  snapshot carries a random suffix of its own (pulumi-random's RandomId, see
  `final_snapshot_identifier`).
- A new major `engine_version` is refused by RDS unless AllowMajorVersionUpgrade is set; it is
  always set here, because the plan diff (automation/pr/plan_diff.py) flags a major upgrade for
  review and the engine version is a major version only (minor upgrades are automatic).
- Class, storage and engine changes wait for the maintenance window unless ApplyImmediately:
  dev applies them at once; production leaves them to the window (an instance class change
  restarts the instance), and the plan diff says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra import validation as v
from infra.tags import tags

ENGINE = "postgres"
MASTER_USERNAME = "alunos"
SNAPSHOT_SUFFIX_BYTES = 4
"""Random bytes of a final snapshot's name, written as hex (8 digits)."""


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
    """PostgreSQL major version, digits only (minor upgrades are automatic)."""
    multi_az: bool
    """A standby in another AZ."""
    backup_retention_days: int
    """Automated backups kept (1..35)."""
    production: bool
    """Deletion protection, and modifications left to the maintenance window."""


class Database(pulumi.ComponentResource):
    """RDS PostgreSQL with the master password managed by RDS in Secrets Manager."""

    subnet_group: aws.rds.SubnetGroup
    security_group: aws.ec2.SecurityGroup
    snapshot_suffix: random.RandomId
    instance: aws.rds.Instance
    connection: DatabaseConnection

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not args.name.isidentifier():
            raise v.fail("name", args.name, "a PostgreSQL identifier (letters, digits, _)")
        if not args.engine_version.isdigit():
            raise v.fail(
                "engine_version", args.engine_version, "a major version such as 16 (digits only)"
            )
        if not v.SNAPSHOT_IDENTIFIER.match(final_snapshot_identifier(name, "0" * 8)):
            raise v.fail(
                "name",
                name,
                "letters, digits and single hyphens, starting with a letter "
                "(it names the database's final snapshot)",
            )
        v.DB_ALLOCATED_STORAGE.check("allocated_storage", args.allocated_storage)
        v.DB_BACKUP_RETENTION_DAYS.check("backup_retention_days", args.backup_retention_days)
        v.DATABASE_PORT.check("port", args.port)
        super().__init__("alunos-api:infra:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # New random bytes whenever a new instance is created: a replacement (its keepers are the
        # inputs that force one) or the stack destroyed and created again (the RandomId goes
        # with the instance).
        self.snapshot_suffix = random.RandomId(
            f"{name}-final-snapshot",
            byte_length=SNAPSHOT_SUFFIX_BYTES,
            keepers=replacing_inputs(args),
            opts=child,
        )
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
            engine=ENGINE,
            engine_version=args.engine_version,
            allow_major_version_upgrade=True,
            apply_immediately=not args.production,
            instance_class=args.instance_class,
            allocated_storage=args.allocated_storage,
            storage_type="gp3",
            storage_encrypted=True,
            db_name=args.name,
            port=args.port,
            username=MASTER_USERNAME,
            manage_master_user_password=True,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            deletion_protection=args.production,
            skip_final_snapshot=False,
            final_snapshot_identifier=self.snapshot_suffix.hex.apply(
                lambda suffix: final_snapshot_identifier(name, suffix)
            ),
            # The automated backups outlive the instance too (until their retention ends).
            delete_automated_backups=False,
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


def replacing_inputs(args: DatabaseArgs) -> dict[str, str]:
    """The instance's inputs that force its replacement (ForceNew, see the module docstring):
    when one changes, the snapshot suffix is drawn again for the new instance."""
    return {
        "engine": ENGINE,
        "dbName": args.name,
        "username": MASTER_USERNAME,
        "storageEncrypted": "true",
    }


def final_snapshot_identifier(name: str, suffix: str) -> str:
    """The snapshot RDS takes when the instance is deleted. The old instance of a replacement is
    deleted with the name in its own state, so each instance's snapshot has its own random
    suffix. Two instances share a suffix only if the instance alone is replaced by hand
    (`pulumi up --replace`): replace its `-final-snapshot` RandomId with it."""
    return f"{name}-final-{suffix}"
