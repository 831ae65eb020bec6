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
