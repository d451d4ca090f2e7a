"""What a plan means before anything is deployed: its monthly cost, the policy rules it passes or
breaks, and its architecture diagram.

Modules: `cost` (with the price tables in `prices/`), `checks` (the rules of `policy/rules.py`),
`diagram`, and `report` (all three from one plan, for `automation report` and the PR comment). Each
reads an offline plan; may import `automation.offline`, `automation.release`, `automation.errors`,
`policy.rules` and `infra.resource_types`.
"""
