"""Benchmark: parse + render a preview of N resources (default 20,000).

    .venv/bin/python -m bench.render_bench [--resources N] [--repeat R]

Generates a realistic event log (pre and outputs events per step, replacements as three steps,
sequence numbers shuffled, `__defaults`, secrets, a large stack output) into a temporary file,
then times reading it into a ChangeSet (and, for comparison, the same through the plain reader,
`EventLog(fast=False)`) and rendering the Markdown comment. Targets: 20,000 resources read and
rendered in under 1 s, the comment within 65,536 characters.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from automation.pr.event_log import EventLog
from automation.pr.events import change_set_from_json, load_change_set
from automation.pr.render import render_markdown, size

STACK_URN = "urn:pulumi:dev::alunos-api::pulumi:pulumi:Stack::alunos-api-dev"
TYPES = [
    "aws:ecs/service:Service",
    "aws:lb/targetGroup:TargetGroup",
    "aws:iam/role:Role",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:rds/instance:Instance",
]
OPS = ["same", "same", "create", "update", "replace", "delete"]


def step_events(index: int, rng: random.Random) -> list[dict]:
    kind = TYPES[index % len(TYPES)]
    urn = f"urn:pulumi:dev::alunos-api::alunos-api:infra:Service${kind}::api-{index}"
    op = rng.choice(OPS)
    old = {
        "type": kind,
        "urn": urn,
        "id": f"id-{index}",
        "parent": STACK_URN,
        "provider": "",
        "inputs": {
            "__defaults": ["name"],
            "name": f"api-{index}",
            "desiredCount": 2,
            "tags": {"Project": "alunos-api", "Stack": "dev"},
            "password": {
                "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                "value": "hunter2",
            },
        },
        "outputs": {},
    }
    new = json.loads(json.dumps(old))
    new["inputs"]["desiredCount"] = 3
    steps = {"create": ["create"], "update": ["update"], "same": ["same"], "delete": ["delete"]}
    ops = steps.get(op, ["create-replacement", "replace", "delete-replaced"])
    events = []
    for step in ops:
        metadata = {
            "op": step,
            "urn": urn,
            "type": kind,
            "provider": "",
            "old": None if step == "create" else old,
            "new": None if step in ("delete", "delete-replaced") else new,
            "diffs": ["desiredCount"] if step in ("update", "replace") else None,
            "detailedDiff": {"desiredCount": {"diffKind": "update", "inputDiff": True}}
            if step == "update"
            else None,
        }
        for kind_of_event in ("resourcePreEvent", "resOutputsEvent"):
            events.append({kind_of_event: {"metadata": metadata, "planning": True}})
    return events


def generate(path: Path, resources: int, seed: int = 7) -> None:
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not security)
    events: list[dict] = [{"preludeEvent": {"config": {"alunos-api:version": "1.4.0"}}}]
    stack_state = {
        "type": "pulumi:pulumi:Stack",
        "urn": STACK_URN,
        "id": "",
        "parent": "",
        "provider": "",
        "inputs": {},
        "outputs": {"kubeconfig": "x" * 40_000, "serviceUrl": "http://old"},
    }
    new_stack = dict(stack_state, outputs={"kubeconfig": "x" * 40_000, "serviceUrl": "http://new"})
    stack_meta = {"op": "same", "urn": STACK_URN, "type": "pulumi:pulumi:Stack", "provider": ""}
    events.append(
        {"resourcePreEvent": {"metadata": dict(stack_meta, old=stack_state, new=stack_state)}}
    )
    for index in range(resources):
        events.extend(step_events(index, rng))
    events.append(
        {"resOutputsEvent": {"metadata": dict(stack_meta, old=stack_state, new=new_stack)}}
    )
    numbered = list(enumerate(events))
    # Events arrive as steps finish: shuffle neighbours, keep the sequence numbers.
    for start in range(1, len(numbered) - 8, 8):
        window = numbered[start : start + 8]
        rng.shuffle(window)
        numbered[start : start + 8] = window
    with path.open("w", encoding="utf-8") as out:
        for sequence, event in numbered:
            out.write(json.dumps({"sequence": sequence, "timestamp": 1700000000, **event}) + "\n")
        out.write(json.dumps({"sequence": len(numbered), "timestamp": 1, "cancelEvent": {}}) + "\n")


def plain_fold(log: Path) -> float:
    """CPU time of the same fold through the plain reader (`json.loads` for every line, the
    garbage collector running): what `event_log`'s shortcuts save."""
    started = time.process_time()
    with EventLog(log, fast=False) as events:
        change_set_from_json(events, "dev")
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "events.jsonl"
        generate(log, args.resources)
        megabytes = log.stat().st_size / 1e6
        parse_times, render_times = [], []
        for _ in range(args.repeat):
            started = time.process_time()
            change_set = load_change_set(log, "dev")
            parsed = time.process_time()
            markdown = render_markdown(change_set, run_url="https://github.com/o/r/actions/runs/1")
            rendered = time.process_time()
            parse_times.append(parsed - started)
            render_times.append(rendered - parsed)
        plain = plain_fold(log)
    changing = len(change_set.changing())
    print(f"{args.resources} resources, event log {megabytes:.1f} MB, {changing} changing")
    # CPU time of this process (the work done), steadier than wall time on a shared machine.
    parse_ms = statistics.median(parse_times) * 1000
    render_ms = statistics.median(render_times) * 1000
    print(f"parse  (log -> ChangeSet):      median {parse_ms:.0f} ms CPU")
    print(f"  the plain reader's fold:      {plain * 1000:.0f} ms CPU")
    print(f"render (ChangeSet -> Markdown): median {render_ms:.1f} ms CPU")
    print(f"comment: {size(markdown)} characters (limit 65536)")


if __name__ == "__main__":
    main()
