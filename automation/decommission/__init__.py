"""`python -m automation decommission`: retire the legacy EC2 instances once Fargate serves.

The modules, in the order a run uses them:
- `selection`: which instances (stack config `legacyTags`/`legacyInstanceIds`, or flags);
- `gates`: is the new service serving the deployed version (reuses `automation.deploy.verify`);
- `traffic`: has the users' traffic left the instances (the cutover's record at weight 0, and
  next to no requests or bytes reaching them since);
- `metrics`: the CloudWatch numbers `traffic` judges, over a window of complete data;
- `survey`: what still refers to each instance (load balancers, Auto Scaling, addresses, backups);
- `dns`: whether the API's name still names an instance's addresses (then its Elastic IPs stay
  and it is not terminated);
- `plan`: the steps each instance still needs, from what was observed and its progress tags;
- `steps`: the steps themselves (each safe to run again), executed one instance at a time;
- `execute`: one instance's plan carried out step after step (a failure stops that instance
  only);
- `aws`: the AWS clients a run uses, and how long it waits;
- `progress`: the progress tags a run leaves on each instance, so a later run resumes;
- `report`: the per-instance outcome, as a table or JSON;
- `command`: the whole run, as the CLI calls it.

May import `automation.cutover` (its state record in Route 53), `automation.deploy`
(verification, the seam, AWS errors, interrupts), `automation.release`, `automation.errors` and
`infra.outputs`; nothing above it but `cli` imports
this package.
"""
