"""What a run is about: the build's version (from git), the stacks a CI event targets, and each
stack's configuration as the Pulumi CLI would read it (including whether it is production).

Modules: `version`, `ci_context`, `stack_config`, `placeholders` (the example ids a stack file
still holds, to warn about and to fail `check` on). May import `automation.errors`,
`automation.changes` and `policy.rules` (the one production predicate, shared with the program and
the policy pack) only: every other package builds on these answers.
"""
