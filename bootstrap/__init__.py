"""The bootstrap program: what CI needs in the AWS account before the first deploy.

A Pulumi project of its own (`bootstrap/Pulumi.yaml`), run once with an administrator's
credentials: GitHub's OIDC identity provider, one deploy role per GitHub environment, a read-only
preview role for pull requests, a permissions boundary for each stack's roles and, for a
self-managed backend, the state bucket and the stacks' secrets keys. Its policy documents are
plain data built by stdlib-only modules (`iam`, `trust`, `read_access`, `deploy_access`,
`migration_access`, `state_access`, `boundary`), so tests lint them without the engine;
`ci_roles` and `state_backend` are the components that declare them. `settings` reads the
bootstrap's config and the main stack files, `placeholders` spots their example ids.
"""
