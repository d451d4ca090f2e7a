"""Reading the README and the docs pages as a reader meets them: their shell blocks, command by
command, what each block says it needs, their links and the anchors GitHub gives headings.

Kept apart from the tests (tests/test_readme.py) so that the parsing itself is tested on small
inputs, not only through the real pages.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SHELL_LANGUAGES = {"sh", "bash", "shell"}
NEEDS = re.compile(r"^#\s*needs:\s*(?P<items>.+)$")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_LINK = re.compile(r"(?<!!)\[(?:[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"`+[^`]*`+")
_HEADING = re.compile(r"^(#{1,6})\s+(?P<text>.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Command:
    line: int
    """1-based line of the command's first line in its file."""
    text: str
    """The command as bash gets it (continuation lines joined)."""


@dataclass(frozen=True)
class ShellBlock:
    path: Path
    line: int
    """1-based line of the opening fence."""
    needs: tuple[str, ...]
    """What the block's `# needs:` line names (empty: it runs anywhere)."""
    commands: tuple[Command, ...]

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


@dataclass(frozen=True)
class Link:
    line: int
    target: str


def _fenced(text: str) -> Iterator[tuple[int, str, list[tuple[int, str]]]]:
    """(opening line, info string, [(line, text)...]) of every fenced code block."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, start, body = opening["fence"], index + 1, []
        index += 1
        while index < len(lines) and not lines[index].startswith(fence):
            body.append((index + 1, lines[index]))
            index += 1
        index += 1
        yield start, opening["info"].lower(), body


def shell_blocks(path: Path) -> list[ShellBlock]:
    """The sh/bash/shell blocks of a Markdown file: comment lines dropped (a `# needs:` line is
    read), lines ending in a backslash joined with the next."""
    blocks = []
    for start, info, body in _fenced(path.read_text(encoding="utf-8")):
        if info not in SHELL_LANGUAGES:
            continue
        needs: tuple[str, ...] = ()
        commands: list[Command] = []
        pending: tuple[int, str] | None = None
        for number, raw in body:
            stripped = raw.strip()
            if pending is None and (not stripped or stripped.startswith("#")):
                marker = NEEDS.match(stripped)
                if marker:
                    needs = tuple(item.strip() for item in marker["items"].split(","))
                continue
            first, sofar = pending if pending else (number, "")
            if stripped.endswith("\\"):
                pending = (first, sofar + stripped[:-1] + " ")
                continue
            commands.append(Command(first, sofar + stripped))
            pending = None
        if pending is not None:
            commands.append(Command(pending[0], pending[1].strip()))
        blocks.append(ShellBlock(path, start, needs, tuple(commands)))
    return blocks


def simple_commands(text: str) -> Iterator[list[str]]:
    """Each simple command of a command line, as words: `&&`, `||`, `;` and pipes split it,
    redirections and their targets are dropped, a trailing comment too."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words: list[str] = []
    redirected = False
    for token in lexer:
        if token in ("|", "||", "&&", ";", "&"):
            if words:
                yield words
            words, redirected = [], False
        elif token in (">", ">>", "<", "2>", "&>"):
            redirected = True
        elif redirected:
            redirected = False
        else:
            words.append(token)
    if words:
        yield words


def links(path: Path) -> list[Link]:
    """Markdown links outside code (fenced blocks and inline code spans)."""
    text = path.read_text(encoding="utf-8")
    in_code = {number for _, _, body in _fenced(text) for number, _ in body}
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if number in in_code or _FENCE.match(line):
            continue
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            found.append(Link(number, match["target"]))
    return found


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text without markup, lowercased, punctuation
    dropped (letters, digits, spaces, `-` and `_` kept), spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").replace("*", "").lower()
    kept = "".join(
        ch
        for ch in text
        if ch in " -_" or unicodedata.category(ch)[0] in "LN"  # letters and numbers
    )
    return kept.replace(" ", "-")


def headings(path: Path) -> list[tuple[int, str]]:
    """Every heading of a Markdown file outside code, as (level, text), in order."""
    text = path.read_text(encoding="utf-8")
    in_code = {number for _, _, body in _fenced(text) for number, _ in body}
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading is not None and number not in in_code:
            found.append((len(heading[1]), heading["text"]))
    return found


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file (repeats get -1, -2... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for _, text in headings(path):
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found
