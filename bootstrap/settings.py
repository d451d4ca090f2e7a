"""The bootstrap's settings: its own config, the GitHub environments CI deploys from, and what
the main stacks' config files say about the resources their deploy roles will manage.

The environments are fixed by the workflows (`environment: dev` / `environment: prod` in
.github/workflows/*.yml; tests/bootstrap/test_workflows_match.py keeps this table equal to them):
each gets a deploy role whose session lasts as long as its longest job asks
(`role-duration-seconds`). Each environment deploys the main project's stack of the same name,
whose config (`../Pulumi.<env>.yaml` over Pulumi.yaml's defaults) gives the region, the
tags every resource carries, and the few resources the stack uses but does not own (a hosted
zone, the database team's security group, the legacy instances' tags): the permission policies
are scoped to exactly those. Change one of those keys in a main stack file, and run the
bootstrap again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from bootstrap.placeholders import example_keys

MAIN_PROJECT_DIR = Path(__file__).resolve().parents[1]
"""The main Pulumi project (the repository root): its stack files describe what CI deploys."""

NAME_PREFIX = "alunos-"
"""Every resource of stack S is named `alunos-S-...` (`name = f"alunos-{cfg.stack}"` in the main
__main__.py); the permission policies scope ARNs by it."""

CI_ROLE_PREFIX = "ci-alunos-api-"
"""The bootstrap's own roles and policies: outside every stack's `alunos-<stack>-` prefix, so
no deploy role can rewrite its own (or another CI role's) permissions."""

GITHUB_ISSUER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
PLACEHOLDER_REPOSITORY = "OWNER/REPO"

# GitHub: an owner is 1-39 alphanumerics or single hyphens; a repository name is letters,
# digits, '.', '-' and '_' (up to 100).
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9._-]{1,100}")
_PROVIDER_ARN = re.compile(r"arn:aws:iam::\d{12}:oidc-provider/" + re.escape(GITHUB_ISSUER))
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^:]+")


class BootstrapConfigError(pulumi.RunError):
    """A bootstrap setting, or a main stack file it reads, has a value it cannot use."""


@dataclass(frozen=True)
class Environment:
    """A GitHub environment CI deploys from, and the main stack of the same name."""

    name: str
    max_session_seconds: int
    """The deploy role's MaxSessionDuration: the longest `role-duration-seconds` its jobs ask
    (IAM allows 3600..43200)."""
    migrates: bool
    """Runs the migrate workflow (cutover, decommission of the legacy EC2 instances)."""


ENVIRONMENTS = (
    Environment("dev", max_session_seconds=3600, migrates=False),
    Environment("prod", max_session_seconds=7200, migrates=True),
)
PREVIEW_SESSION_SECONDS = 3600
"""The preview role's MaxSessionDuration: the pull requests' preview jobs ask 2400 s; IAM's
minimum is 3600."""


@dataclass(frozen=True)
class Stack:
    """What a deploy role of `environment` may touch: one main stack's resources."""

    environment: Environment
    project: str
    """The main project's name: the state keys of its stacks (`.pulumi/stacks/<project>/`)."""
    region: str
    tags: dict[str, str]
    """`project` and `environment`: every resource of the stack carries them (aws:defaultTags)."""
    hosted_zone_id: str = ""
    domain_name: str = ""
    issues_certificate: bool = False
    """ACM issues the certificate (hostedZoneId set, no certificateArn): the role requests it."""
    db_secret_arn: str = ""
    startup_secret_arns: tuple[str, ...] = ()
    """The secrets ECS injects at start (`appSecrets`, `imageRegistrySecretArn`): the program
    looks each up, and the execution role reads them."""
    foreign_security_group_id: str = ""
    """The database team's group, when the stack adds its one ingress rule to it."""
    alarm_topic_arn: str = ""
    legacy_tags: dict[str, str] = field(default_factory=dict)
    legacy_instance_ids: tuple[str, ...] = ()
    example_keys: tuple[str, ...] = ()
    """The keys of the stack file that still hold example values (bootstrap/placeholders.py)."""

    @property
    def name(self) -> str:
        return self.environment.name

    @property
    def prefix(self) -> str:
        return f"{NAME_PREFIX}{self.name}"

    @property
    def secret_arns(self) -> tuple[str, ...]:
        """The Secrets Manager secrets the stack's config names, each once."""
        return tuple(sorted({self.db_secret_arn, *self.startup_secret_arns} - {""}))


@dataclass(frozen=True)
class Settings:
    repository: str
    oidc_provider_arn: str
    """An existing GitHub provider of the account; empty: the bootstrap creates it."""
    region: str
    self_managed_backend: bool
    state_bucket: str
    """The state bucket's name; empty: `alunos-api-pulumi-state-<account>-<region>`."""
    stacks: tuple[Stack, ...]


def load() -> Settings:
    cfg = pulumi.Config()
    project = pulumi.get_project()
    region = pulumi.Config("aws").get("region") or ""
    if not region:
        raise BootstrapConfigError(
            "aws:region is not set; set it in Pulumi.<stack>.yaml (the region of the state "
            "bucket and keys, the main stacks' own: us-east-2)."
        )
    repository = (cfg.get("githubRepository") or "").strip()
    if repository == PLACEHOLDER_REPOSITORY or not _REPOSITORY.fullmatch(repository):
        raise BootstrapConfigError(
            f"{project}:githubRepository: {repository!r} is not valid; allowed: this "
            "repository's OWNER/NAME exactly as GitHub spells it (e.g. acme/alunos-api): the "
            "roles trust only its workflows."
        )
    provider = (cfg.get("githubOidcProviderArn") or "").strip()
    if provider and not _PROVIDER_ARN.fullmatch(provider):
        raise BootstrapConfigError(
            f"{project}:githubOidcProviderArn: {provider!r} is not valid; allowed: empty (the "
            f"bootstrap creates the provider) or arn:aws:iam::<account>:oidc-provider/"
            f"{GITHUB_ISSUER}."
        )
    bucket = (cfg.get("stateBucketName") or "").strip()
    if bucket and (not _BUCKET.fullmatch(bucket) or ".." in bucket):
        raise BootstrapConfigError(
            f"{project}:stateBucketName: {bucket!r} is not valid; allowed: empty (a name from "
            "the account and region) or an S3 bucket name (3-63 lowercase letters, digits, "
            "'.' and '-')."
        )
    stacks = tuple(read_stack(env, MAIN_PROJECT_DIR) for env in ENVIRONMENTS)
    for stack in stacks:
        if stack.example_keys:
            pulumi.log.warn(
                f"Pulumi.{stack.name}.yaml still holds example values in "
                f"{', '.join(stack.example_keys)}: the {stack.name} deploy role is scoped to "
                "them and would be denied your stack's resources; replace them with your "
                "account's (README, step 3) and run the bootstrap again."
            )
    return Settings(
        repository=repository,
        oidc_provider_arn=provider,
        region=region,
        self_managed_backend=cfg.get_bool("selfManagedBackend") or False,
        state_bucket=bucket,
        stacks=stacks,
    )


def read_stack(environment: Environment, project_dir: Path) -> Stack:
    """The facts of the main stack `environment.name`: its stack file's values over Pulumi.yaml's
    defaults. Only the keys the policies need; the main program validates the rest."""
    project_file = _read_yaml(project_dir / "Pulumi.yaml")
    project = str(project_file.get("name") or "")
    where = f"Pulumi.{environment.name}.yaml"
    values: dict[str, Any] = {}
    for key, declaration in (project_file.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            values[key if ":" in key else f"{project}:{key}"] = declaration["default"]
    values.update(_read_yaml(project_dir / where).get("config") or {})

    def get(key: str) -> Any:
        return values.get(key if ":" in key else f"{project}:{key}")

    region = str(get("aws:region") or "")
    default_tags = get("aws:defaultTags") or {}
    tags = default_tags.get("tags") if isinstance(default_tags, dict) else None
    if (
        not project
        or not region
        or not isinstance(tags, dict)
        or not all(tags.get(key) for key in ("project", "environment"))
    ):
        raise BootstrapConfigError(
            f"{where}: aws:region and aws:defaultTags.tags project and environment must be set "
            "(and Pulumi.yaml's name); the deploy role's permissions are scoped by them."
        )
    domain = str(get("domainName") or "").lower().rstrip(".")
    zone = str(get("hostedZoneId") or "")
    return Stack(
        environment=environment,
        project=project,
        region=region,
        tags={"project": str(tags["project"]), "environment": str(tags["environment"])},
        hosted_zone_id=zone,
        domain_name=domain,
        issues_certificate=bool(domain and zone and not get("certificateArn")),
        db_secret_arn=str(get("dbSecretArn") or ""),
        startup_secret_arns=_startup_secrets(
            where, project, get("appSecrets") or [], str(get("imageRegistrySecretArn") or "")
        ),
        foreign_security_group_id=(
            str(get("dbSecurityGroupId") or "") if get("dbAllowIngressFromService") else ""
        ),
        alarm_topic_arn=str(get("alarmTopicArn") or ""),
        legacy_tags=_legacy_tags(where, get("legacyTags") or []),
        legacy_instance_ids=tuple(str(i) for i in get("legacyInstanceIds") or []),
        example_keys=example_keys(values),
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise BootstrapConfigError(f"{path}: cannot be read as YAML ({error})") from None
    if not isinstance(data, dict):
        raise BootstrapConfigError(f"{path}: must be a YAML mapping at the top level")
    return data


def _startup_secrets(
    where: str, project: str, app_secrets: list[str], registry_secret: str
) -> tuple[str, ...]:
    """The secrets' ARNs: an `appSecrets` item is NAME=<secret ARN>[:JSON_KEY:STAGE:ID], and
    IAM knows the secret by its ARN alone (its first seven colon-separated fields:
    arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf)."""
    found = []
    named = [(f"{project}:appSecrets", str(item).partition("=")[2]) for item in app_secrets]
    if registry_secret:
        named.append((f"{project}:imageRegistrySecretArn", registry_secret))
    for key, value_from in named:
        arn = ":".join(value_from.split(":")[:7])
        if not _SECRET_ARN.fullmatch(arn):
            raise BootstrapConfigError(
                f"{where}: {key} names {value_from!r}, not a secret; allowed: the full ARN of a "
                "Secrets Manager secret, optionally with ECS's :JSON_KEY:STAGE:ID suffix."
            )
        found.append(arn)
    return tuple(sorted(set(found)))


def _legacy_tags(where: str, pairs: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        if not sep or not key:
            raise BootstrapConfigError(
                f"{where}: legacyTags item {pair!r} is not valid; allowed: KEY=VALUE."
            )
        tags[key] = value
    return tags
