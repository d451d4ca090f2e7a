"""`python -m automation cutover`: move the API's name from the EC2 deployment to the new service
gradually (Route 53 weights), bake each step under the stack's alarms, and go back at any moment.

The modules, in the order a run uses them:
- `zone`: the Route 53 calls for one hosted zone (read the name's records, submit a batch, wait
  until it is INSYNC);
- `records`: the name's records as the cutover sees them, and the change batches that move them;
- `plan`: the steps a run takes (batches, TTL waits, bakes), decided from the records as read;
- `bake`: watching the alarms after traffic moves;
- `progress`: how a wait or a bake shows itself (a bar in a terminal, lines in CI);
- `report`: the run for people (a table) and for machines (`--json`);
- `command`: the whole run, as the CLI calls it.

May import `automation.deploy` (AWS errors in one line, the stack's outputs through the seam),
`automation.release`, `automation.errors` and `infra.outputs`; only `decommission` (which reads the
cutover's state record) and `cli` import this package.
"""
