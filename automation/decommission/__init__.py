"""`python -m automation decommission`: retire the legacy EC2 instances once Fargate serves.

The modules, in the order a run uses them:
- `selection`: which instances (stack config `legacyTags`/`legacyInstanceIds`, or flags);
- `gates`: is the new service serving the deployed version (reuses `automation.deploy.verify`);
- `survey`: what still refers to each instance (load balancers, Auto Scaling, addresses, backups);
- `plan`: the steps each instance still needs, from what was observed and its progress tags;
- `steps`: the steps themselves (each safe to run again), executed one instance at a time;
- `report`: the per-instance outcome, as a table or JSON;
- `command`: the whole run, as the CLI calls it.

May import `automation.deploy` (verification, the seam, credentials, interrupts),
`automation.release`, `automation.errors` and `infra.outputs`; nothing above it but `cli` imports
this package.
"""
