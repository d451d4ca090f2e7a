"""What a run is about: the build's version (from git), the stacks a CI event targets, and each
stack's configuration as the Pulumi CLI would read it (including whether it is production).

Modules: `version`, `ci_context`, `stack_config`. May import `automation.errors` and
`automation.changes` only: every other package builds on these answers.
"""
