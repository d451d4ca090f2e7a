"""The program under Pulumi's mock engine, without an AWS account or the Pulumi CLI.

Modules: `engine` (the mocks and `run`, which returns a `Plan` of planned resources) and `plan`
(that plan as a table or JSON, and back). May import `automation.release` (the stack's config),
`automation.changes` and `automation.errors`.
"""
