"""Benchmark: how long a newcomer and every pull request wait for the offline plan and its reports.

    .venv/bin/python -m bench.plan_bench [--stack dev] [--runs 5] [--json]

Each figure is the median of `--runs` fresh processes, run as a user runs them
(`.venv/bin/python -m automation ...` from the repository root):
- floor: importing exactly the Pulumi SDK modules (pulumi, pulumi_aws, pulumi_awsx,
  pulumi_docker) that one plan imports, read off `python -X importtime`; no program can plan
  faster than it imports them;
- plan: `automation plan --json`, bypassing the plan cache where there is one (`--no-cache`);
- cached plan: the same again with unchanged inputs (a cache hit), where there is a cache;
- report: cost, check and diagram from one mock run (`automation report`), where there is one;
- cost, check, diagram: each command on its own, as a user would run the three;
- help: `automation --help`.
Targets (issue 16): plan within 1.5x the floor and under 3 s, a cached plan within 0.5 s, the
report within 1.2x one plan, help well under 1 s. A version without a cache or `report` gets
"n/a" on those rows, so the same script measures the before and the after.

Bytecode matters more than anything here: without it every run recompiles the SDKs' sources
(PYTHONDONTWRITEBYTECODE stops Python caching them), so the header says whether the venv has it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("pulumi", "pulumi_aws", "pulumi_awsx", "pulumi_docker")
ACCEPTED = (0, 1)
"""Exit codes that still time a complete run: `check` exits 1 when a rule fails."""


class BenchError(Exception):
    """A command the benchmark times did not run: the figures would mean nothing."""


@dataclass
class Figure:
    name: str
    median_s: float | None
    min_s: float | None
    max_s: float | None
    command: str
    note: str = ""


def automation(*args: str) -> list[str]:
    return [sys.executable, "-m", "automation", *args]


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """One fresh process, wall-clock timed; its stderr is kept for importtime."""
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (argv is this script's own)
        argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in ACCEPTED:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BenchError(f"{shlex.join(argv)} exited {done.returncode}: {' / '.join(tail)}")
    return elapsed, done.stderr


def timed(name: str, argv: list[str], runs: int, note: str = "") -> Figure:
    times = [run(argv)[0] for _ in range(runs)]
    return Figure(
        name, statistics.median(times), min(times), max(times), shlex.join(argv[1:]), note
    )


def missing(name: str, why: str) -> Figure:
    return Figure(name, None, None, None, "", f"n/a: {why}")


def supports(argv: list[str], needle: str) -> bool:
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    return needle in done.stdout


def sdk_modules(plan: list[str]) -> list[str]:
    """The SDK modules one plan imports, in import order (importtime prints them as they finish)."""
    _, stderr = run([sys.executable, "-X", "importtime", *plan[1:]])
    found = imported_sdk_modules(stderr)
    if not found:
        raise BenchError("the plan imported no Pulumi SDK module: is the program still run?")
    return found


def imported_sdk_modules(importtime: str) -> list[str]:
    """The SDK modules in `-X importtime` output, each once, in the order they were imported."""
    found: list[str] = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        module = line.rsplit("|", 1)[1].strip()
        if module.split(".")[0] in SDKS and module not in found:
            found.append(module)
    return found


def floor(plan: list[str], runs: int) -> Figure:
    modules = sdk_modules(plan)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write("".join(f"import {module}\n" for module in modules))
    try:
        figure = timed("floor", [sys.executable, script.name], runs, f"{len(modules)} SDK modules")
    finally:
        os.unlink(script.name)
    figure.command = "import <the SDK modules the plan imports>"
    return figure


def bytecode_note() -> str:
    import pulumi_aws  # only to find where the venv keeps it

    package = Path(pulumi_aws.__file__).parent
    compiled = sum(1 for _ in package.rglob("*.pyc"))
    sources = sum(1 for _ in package.rglob("*.py"))
    return f"pulumi_aws bytecode: {compiled} .pyc for {sources} .py"


def measure(stack: str, runs: int) -> tuple[list[Figure], list[str]]:
    has_cache = supports(automation("plan", "--help"), "--no-cache")
    has_report = supports(automation("--help"), "report")
    no_cache = ["--no-cache"] if has_cache else []
    plan = automation("plan", "--stack", stack, "--json", *no_cache)

    figures = [floor(plan, runs), timed("plan", plan, runs)]
    if has_cache:
        cached = automation("plan", "--stack", stack, "--json")
        run(cached)  # fills the cache
        figures.append(timed("cached plan", cached, runs))
    else:
        figures.append(missing("cached plan", "no plan cache in this version"))
    if has_report:
        report = automation("report", "--stack", stack, "--json", *no_cache)
        figures.append(timed("report", report, runs))
    else:
        figures.append(missing("report", "no report command in this version"))
    singles = [
        timed(command, automation(command, "--stack", stack, *flags, *no_cache), runs)
        for command, flags in (("cost", ["--json"]), ("check", ["--json"]), ("diagram", []))
    ]
    figures += singles
    total = sum(f.median_s or 0.0 for f in singles)
    figures.append(Figure("cost+check+diagram", total, None, None, "the three, one after another"))
    figures.append(timed("help", automation("--help"), runs))
    return figures, verdicts({f.name: f.median_s for f in figures})


def verdicts(median: Mapping[str, float | None]) -> list[str]:
    lines = []
    plan, floor_s = median["plan"], median["floor"]
    assert plan is not None
    assert floor_s is not None
    limit = min(1.5 * floor_s, 3.0)
    lines.append(f"plan {plan:.2f} s vs min(1.5 x floor, 3 s) = {limit:.2f} s: {ok(plan <= limit)}")
    if (cached := median["cached plan"]) is not None:
        lines.append(f"cached plan {cached:.2f} s vs 0.5 s: {ok(cached <= 0.5)}")
    if (report := median["report"]) is not None:
        lines.append(
            f"report {report:.2f} s vs 1.2 x plan = {1.2 * plan:.2f} s: {ok(report <= 1.2 * plan)}"
        )
    help_s = median["help"]
    assert help_s is not None
    lines.append(f"help {help_s:.2f} s vs 1 s: {ok(help_s < 1.0)}")
    return lines


def ok(passed: bool) -> str:
    return "met" if passed else "MISSED"


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="the stack to plan (default dev)")
    parser.add_argument("--runs", type=int, default=5, help="processes per figure (default 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        figures, lines = measure(args.stack, args.runs)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    context = {
        "cpus": os.cpu_count(),
        "load": os.getloadavg()[0],
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "bytecode": bytecode_note(),
    }
    if args.json:
        print(
            json.dumps(
                {"context": context, "figures": [asdict(f) for f in figures], "targets": lines},
                indent=2,
            )
        )
        return 0
    print(
        f"stack {args.stack}, {args.runs} runs each, "
        + ", ".join(f"{k} {v}" for k, v in context.items())
    )
    print(f"{'what':<20} {'median s':>9} {'min':>6} {'max':>6}  command / note")
    for f in figures:
        print(
            f"{f.name:<20} {seconds(f.median_s):>9} {seconds(f.min_s):>6} {seconds(f.max_s):>6}  "
            f"{f.command}{'  ' if f.command and f.note else ''}{f.note}"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
