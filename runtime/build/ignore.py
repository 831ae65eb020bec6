""".dockerignore: which files of the build context COPY and ADD never see (moby's patternmatcher).

Patterns use Go's filepath.Match syntax (`*`, `?`, `[a-z]`, `\\` escapes) plus `**` for any number of
directories; a leading `!` re-includes what an earlier pattern excluded, and the last pattern that
matches decides. A pattern that matches a directory excludes everything below it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


def _compile(pattern: str) -> re.Pattern[str]:
    out, i, n = ["^"], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern[i:i + 2] == "**":
                i += 2
                if pattern[i:i + 1] == "/":  # `**/` : zero or more whole directories
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                if body.startswith("^"):
                    body = "!" + body[1:]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def parse(text: str) -> list[Pattern]:
    pats = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        exclusion = s.startswith("!")
        if exclusion:
            s = s[1:].strip()
        s = posixpath.normpath(s).lstrip("/") if s else s
        if not s or s == ".":
            continue
        pats.append(Pattern(s, exclusion, _compile(s)))
    return pats


def load(context: Path) -> list[Pattern]:
    try:
        return parse((context / ".dockerignore").read_text(errors="replace"))
    except FileNotFoundError:
        return []


def excluded(patterns: list[Pattern], rel: str) -> bool:
    """True if the context path `rel` (relative, '/'-separated) is excluded."""
    if not patterns:
        return False
    parts = rel.split("/")
    prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    matched = False
    for p in patterns:
        if any(p.regex.match(prefix) for prefix in prefixes):
            matched = not p.exclusion
    return matched
