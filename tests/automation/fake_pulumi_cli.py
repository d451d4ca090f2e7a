"""A scripted stand-in for the `pulumi` binary, so the real seam (`LocalPulumi`, `PulumiStack`) and
Pulumi's own Automation API code run end to end in tests, minus the engine.

It answers the handful of commands the seam issues, the way the real CLI does (same arguments,
same JSON shapes, same error texts), driven by environment variables:
- FAKE_PULUMI_LOG: a file that receives each invocation's argv as one JSON line;
- FAKE_PULUMI_STACKS: comma-separated stacks that exist;
- FAKE_PULUMI_OUTPUTS: JSON {name: [value, secret]};
- FAKE_PULUMI_HISTORY: JSON list, the `pulumi stack history --json` document (with --show-secrets:
  values included; without: secret values omitted, as the CLI does);
- FAKE_PULUMI_FAIL: JSON {command: [exit code, stderr]} to make a command fail;
- FAKE_PULUMI_VERSION: the version to report (below 3.205 the SDK reads events from a file);
- FAKE_PULUMI_EVENTS: an engine event log (JSON lines) that `preview`/`up` write to the file
  given with `--event-log`, as the engine does.
"""

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--non-interactive"]
    log = os.environ.get("FAKE_PULUMI_LOG")
    if log:
        with open(log, "a") as out:
            out.write(json.dumps(args) + "\n")
    if args[:1] == ["version"]:
        print("v" + os.environ.get("FAKE_PULUMI_VERSION", "3.272.0"))
        return 0
    command = " ".join(a for a in args[:2] if not a.startswith("-"))
    failures = json.loads(os.environ.get("FAKE_PULUMI_FAIL", "{}"))
    for failing, (code, stderr) in failures.items():
        if command.startswith(failing):
            print(stderr, file=sys.stderr)
            return int(code)
    stack = args[args.index("--stack") + 1] if "--stack" in args else ""
    if command == "stack select":
        known = os.environ.get("FAKE_PULUMI_STACKS", "").split(",")
        if stack not in known:
            print(f"error: no stack named '{stack}' found", file=sys.stderr)
            return 255
        return 0
    if command == "stack init":
        return 0
    if command == "config set-all":
        short = stack.rsplit("/", 1)[-1]
        pairs = [args[i + 1] for i, a in enumerate(args) if a == "--plaintext"]
        with open(Path.cwd() / f"Pulumi.{short}.yaml", "a") as settings:
            for pair in pairs:
                name, _, value = pair.partition("=")
                settings.write(f"  {name}: {json.dumps(value)}\n")
        return 0
    if command == "stack output":
        outputs = json.loads(os.environ.get("FAKE_PULUMI_OUTPUTS", "{}"))
        show = "--show-secrets" in args
        print(
            json.dumps({k: v if (show or not s) else "[secret]" for k, (v, s) in outputs.items()})
        )
        return 0
    if command == "stack history":
        history = json.loads(os.environ.get("FAKE_PULUMI_HISTORY", "[]"))
        if "--show-secrets" not in args:
            for entry in history:
                for value in entry.get("config", {}).values():
                    if value.get("secret"):
                        value.pop("value", None)
        print(json.dumps(history))
        return 0
    if command in ("up", "preview") and "--event-log" in args:
        target = args[args.index("--event-log") + 1]
        events = os.environ.get("FAKE_PULUMI_EVENTS")
        if events and not target.startswith("tcp://"):
            Path(target).write_text(Path(events).read_text())
    if command in ("up", "preview", "cancel"):
        print(f"{command} done")
        return 0
    print(f"fake pulumi: unsupported command {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
