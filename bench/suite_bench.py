"""Benchmark: how long `make test` keeps a contributor waiting (target: under 3 min on 2 cores).

    .venv/bin/python -m bench.suite_bench [--target test]

Runs the make target once from the repository root, as CI does, and reports the wall-clock
time, pytest's own time and test counts (read off its summary line), the CPUs and the load
average before and after: on a shared machine the load explains a slow figure better than the
code does. Run it in a fresh clone after `make plan` for the figure the README quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"=*\s*(?P<counts>\d+ passed[^=]*?) in (?P<seconds>[\d.]+)s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="test", help="the make target to time (default test)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    command = ["make", args.target]  # make from PATH, as a user types it
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    wall = time.perf_counter() - start
    output = done.stdout + done.stderr
    if done.returncode != 0:
        print(output[-3000:], file=sys.stderr)
        print(
            f"error: make {args.target} exited {done.returncode}: its time means nothing",
            file=sys.stderr,
        )
        return 1
    match = SUMMARY.search(output)
    figures = {
        "target": f"make {args.target}",
        "wall_s": round(wall, 1),
        "pytest_s": float(match["seconds"]) if match else None,
        "tests": match["counts"].strip() if match else None,
        "cpus": os.cpu_count(),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print("\n".join(f"{key:<12} {value}" for key, value in figures.items()))
        print(f"under 3 min: {'met' if wall < 180 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
