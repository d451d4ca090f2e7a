"""What a plan means before anything is deployed: its monthly cost, the policy rules it passes
or breaks, and its architecture diagram.

Modules: `cost` (with the price tables in `prices/`), `checks` (the rules of `policy/rules.py`),
`diagram`. Each reads an offline plan; may import `automation.offline`, `automation.release`,
`automation.changes`, `automation.errors` and the `policy` and `infra` packages.
"""
