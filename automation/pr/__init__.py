"""What a pull request shows: a preview as one Markdown comment per stack.

Modules: `events` (engine events -> the change model), `event_recorder` (the events of a preview
run, kept for its comment), `event_log` (the fast reader of an engine event log, equivalent to
`events`' fold), `plan_diff` (the offline plan at a git ref vs the working tree, into the same
change model), `hazards` (what such a change would cost a deployed stack: refused or to review),
`render` (Markdown within GitHub's limit), `plan_comment` (the offline comment with cost and
checks), `github` (upsert the comment, write the job summary). May import `automation.insights`,
`automation.offline`, `automation.release`, `automation.changes`, `automation.errors`,
`infra.resource_types` and `infra.rollout`; never `automation.deploy` (the two are independent) nor
anything above.
"""
