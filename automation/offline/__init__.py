"""The program under Pulumi's mock engine, without an AWS account or the Pulumi CLI.

Modules: `engine` (`run`, which returns a `Plan` of planned resources, and the plan's queries),
`mocks` (the providers' outputs, one function per resource type), `pulumi_internals` (the SDK's
private runtime calls, in one place) and `plan` (that plan as a table or JSON, and back). May
import `automation.release` (the stack's config), `automation.changes`, `automation.errors` and
`infra.resource_types`.
"""
