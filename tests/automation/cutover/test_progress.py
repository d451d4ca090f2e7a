"""What a person or a CI log sees while a run waits out the old TTL and bakes: plain lines
when stderr is not a terminal, a live bar per wait when it is."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from automation.cli import Environment, main
from tests.automation.cutover.site import Errors, Run, Site

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _ticks(total: int, note: str, last: str) -> list[str]:
    """LineProgress's lines for a wait of `total` seconds looked at every 15 s: one every 30 s."""
    lines = [f"  {t}/{total} s ({total - t} s left): {note}" for t in range(0, total, 30)]
    return [*lines, f"  {total}/{total} s (0 s left): {last}"]


def test_ci_logs_get_one_plain_line_every_30_seconds(run: Run, site: Site, errors: Errors) -> None:
    assert run("--to", "10", "--execute")[0] == 0
    lines = errors.text.splitlines()
    assert "\r" not in errors.text
    assert "\x1b" not in errors.text
    wait = lines.index("wait 300 s for resolvers to forget answers cached with the old TTL: 300 s")
    assert lines[wait + 1 : wait + 12] == _ticks(300, "waiting", "done")
    bake = lines.index("baking: watching 2 alarm(s): 300 s")
    assert lines[bake + 1 : bake + 12] == _ticks(300, "alarms OK", "alarms OK")
    assert lines[bake + 12] == "record that these weights baked: submitting 2 change(s) to Route 53"


def test_a_terminal_gets_a_live_bar_per_wait(env: Environment, repo: Path, site: Site) -> None:
    screen = io.StringIO()
    terminal = Console(
        file=screen, force_terminal=True, width=120, color_system=None, soft_wrap=True
    )
    argv = ["cutover", "--stack", "dev", "--repo", str(repo), *site.flags(), "--json"]
    assert main([*argv, "--to", "10", "--execute"], replace(env, err=terminal)) == 0
    shown = ANSI.sub("", screen.getvalue())
    assert "(300 s left)" not in shown  # no plain lines
    wait, split = shown.split("submitting 5 change(s) to Route 53")
    assert "wait 300 s for resolvers to forget answers cached with the old TTL" in wait
    assert re.search(r"old TTL ━+ done", wait)  # the bar's last state stays on screen
    assert "baking: watching 2 alarm(s)" in split
    assert "alarms OK" in split
    assert "━" in split  # the bar
    # Each bar is drawn for its own wait: the finished TTL wait is not drawn again below.
    assert "wait 300 s" not in split
