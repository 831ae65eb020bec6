"""`pydock --help` printed without click is the text click prints, at every terminal width."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CLICK = "from pydock.cli.app import main; main(['--help'])"
FAST = "import sys; from pydock.cli import main; main(['--help']); print(sorted({'click'} & set(sys.modules)))"


@pytest.mark.parametrize("columns", ["20", "50", "64", "80", "120"])
def test_fast_help_is_clicks_help(columns: str) -> None:
    env = {**os.environ, "COLUMNS": columns}
    want = subprocess.run([sys.executable, "-c", CLICK], capture_output=True, text=True, env=env, check=True).stdout
    got = subprocess.run([sys.executable, "-c", FAST], capture_output=True, text=True, env=env, check=True).stdout
    assert got == want + "[]\n"  # and click was never imported


def test_other_arguments_still_go_through_click() -> None:
    proc = subprocess.run([sys.executable, "-m", "pydock", "ps", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "Usage: pydock ps" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "pydock", "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("pydock, version ")


def test_wrap_is_textwraps() -> None:
    """helpfmt.wrap (no `re`) breaks lines where textwrap.wrap does: every help text at every width,
    and random texts of letters, hyphens, spaces and punctuation (those it cannot take go to textwrap)."""
    import random
    import textwrap

    from pydock.cli import COMMANDS, DESCRIPTION
    from pydock.helpfmt import OPTIONS, wrap

    def want(text: str, width: int, indent: str) -> list[str]:
        return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
                             replace_whitespace=False) or [""]

    texts = [DESCRIPTION, *(h for _, h in COMMANDS.values()), *(h for _, h in OPTIONS)]
    for text in texts:
        for width in range(3, 130):
            for indent in ("", "  "):
                assert wrap(text, width, indent) == want(text, width, indent), (text, width, indent)
    rnd = random.Random(16)
    for _ in range(20000):
        text = "".join(rnd.choice("abcXY-- ,./()'e1_") for _ in range(rnd.randint(0, 40)))
        indent = rnd.choice(["", "  "])
        width = rnd.randint(len(indent) + 1, 30)  # narrower than the indent: textwrap loops forever
        assert wrap(text, width, indent) == want(text, width, indent), (text, width, indent)
