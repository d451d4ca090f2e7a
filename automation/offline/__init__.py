"""The program under Pulumi's mock engine, without an AWS account or the Pulumi CLI.

Modules: `engine` (`run`, which returns a `Plan` of planned resources), `planned` (a planned
resource and the plan's queries: of a type, first, companion, a service's strategy and tasks),
`mocks` (the providers' outputs, one function per resource type), `pulumi_internals` (the SDK's
private runtime calls, in one place), `plan` (that plan as a table or JSON, and back) and `cache` (a
plan kept under a key of the program, the config and the locked SDKs, so a repeated plan needs no
SDK import). May import `automation.release` (the stack's config), `automation.changes`,
`automation.errors`, `infra.resource_types` and `infra.rollout` (the deployment strategy's timing,
shown in a plan).
"""
