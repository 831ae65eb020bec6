"""`pydock --help` without click: the top-level help laid out exactly as click lays it out.

click and its import chain cost about 15 ms of a 40 ms `pydock --help` (docs/performance.md);
the top-level help is only the COMMANDS table, so pydock.cli.main prints it from here and imports
click only for the other commands. tests/test_cli.py compares this text with click's own at several
terminal widths.
"""

from __future__ import annotations

import os
import sys

OPTIONS = (("--version", "Show the version and exit."), ("-h, --help", "Show this message and exit."))


def _columns() -> int:
    """shutil.get_terminal_size().columns without importing shutil (which imports bz2 and lzma)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _width() -> int:
    # click.formatting.HelpFormatter: max(min(terminal columns, max_width 80) - 2, 50)
    return max(min(_columns(), 80) - 2, 50)


def _chunks(text: str, width: int) -> list[str] | None:
    """The pieces textwrap would break `text` into (words with the space after them; a hyphenated
    word also splits after a hyphen between letters, `cAdvisor-` `style`), for plain text: ASCII
    words separated by single spaces, none longer than `width`, hyphens only alone between letters.
    None for anything else, which textwrap itself then wraps."""
    words = text.split(" ")
    if not text.isascii() or not all(0 < len(w) <= width and w.isprintable() for w in words):
        return None
    chunks = []
    for word in words:
        start = 0
        for i, c in enumerate(word):
            if c != "-":
                continue
            around = word[max(i - 3, 0) : i + 4]
            if around.count("-") > 1 or "_" in around or not 0 < i < len(word) - 1:
                return None  # a double hyphen, x-y-z, an edge or `_` (a letter to textwrap): its rules
            if i >= 2 and word[i - 2 : i].isalpha() and word[i + 1 : i + 3].isalpha() and len(word[i + 1 : i + 3]) == 2:
                chunks.append(word[start : i + 1])
                start = i + 1
        chunks.append(word[start:])
        chunks.append(" ")
    return chunks[:-1]


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    """`textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
    replace_whitespace=False) or [""]`: textwrap imports `re`, ~4 ms of `pydock --help` on the
    bench host, and the help texts are plain (tests/test_cli_help.py compares the two)."""
    room = width - len(indent)
    chunks = _chunks(text, room) if room > 0 else None
    if chunks is None:
        import textwrap

        return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
                             replace_whitespace=False) or [""]
    lines: list[str] = []
    line: list[str] = []
    used = 0
    for chunk in chunks:
        if chunk == " " and not line:
            continue  # a line never starts with the space it was broken at
        if used + len(chunk) > room:
            lines.append(indent + "".join(line).rstrip(" "))
            line, used = ([], 0) if chunk == " " else ([chunk], len(chunk))
            continue
        line.append(chunk)
        used += len(chunk)
    if line:
        lines.append(indent + "".join(line).rstrip(" "))
    return lines or [""]


def _dl(rows: list[tuple[str, str]], width: int) -> list[str]:
    """click.HelpFormatter.write_dl at indent 2, col_max 30, col_spacing 2."""
    first_col = min(max(len(k) for k, _ in rows), 30) + 2
    text_width = max(width - first_col - 2, 10)
    out = []
    for key, text in rows:
        if len(key) <= first_col - 2:
            head = ("  " + key).ljust(2 + first_col)
        else:
            out.append("  " + key)
            head = " " * (2 + first_col)
        lines = wrap(text, text_width)
        out.append((head + lines[0]).rstrip())
        out += [" " * (2 + first_col) + line for line in lines[1:]]
    return out


def main_help(commands: dict[str, tuple[str, str]], description: str) -> str:
    """The text click prints for `pydock --help` (pydock.cli.app's LazyGroup)."""
    width = _width()
    lines = ["Usage: pydock [OPTIONS] COMMAND [ARGS]...", ""]
    lines += wrap(description, width, "  ")
    lines += ["", "Options:", *_dl(list(OPTIONS), width), "", "Commands:"]
    lines += _dl([(name, commands[name][1]) for name in sorted(commands)], width)
    return "\n".join(lines) + "\n"
