"""`pydock logs` parsed without click gives what the click command gives; unusual arguments still
go through click (so its errors and help are unchanged)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydock.logdrivers.base import LogMessage
from test_cli_logs import T, record  # noqa: F401 - the fixture: a running container `web` on json-file

from pydock.logprint import parse_logs_args

VIA_CLICK = "import sys; from pydock.cli.app import main; main(sys.argv[1:])"
FAST = ("import sys; from pydock.cli import main; main(sys.argv[1:]); "
        "sys.stderr.write('click imported\\n' if 'click' in sys.modules else '')")


@pytest.mark.parametrize("args,want", [
    (["web"], {"container": "web"}),
    (["-f", "--tail", "3", "web"], {"follow": True, "tail": "3", "container": "web"}),
    (["web", "-n", "5", "-t"], {"tail": "5", "timestamps": True, "container": "web"}),
    (["-ft", "-n10", "--since=10m", "--until", "1", "--details", "web"],
     {"follow": True, "timestamps": True, "tail": "10", "since": "10m", "until": "1", "details": True,
      "container": "web"}),
    (["--help"], None), (["-x", "web"], None), (["web", "other"], None), ([], None), (["--tail"], None),
    (["--", "web"], None), (["--color=1", "web"], None),
])
def test_parse_logs_args(args: list[str], want: dict[str, object] | None) -> None:
    assert parse_logs_args(args) == want


@pytest.mark.parametrize("args", [["--tail", "3", "-t", "web"], ["web"], ["-n", "0", "web"],
                                  ["--since", "2023-11-14T22:13:20.000000050Z", "--details", "web"],
                                  ["nope"], ["--bogus", "web"]])
def test_fast_path_prints_what_click_prints(record, args: list[str]) -> None:  # noqa: F811
    root, _, drv = record
    for i in range(100):
        drv.log(LogMessage(f"line {i}".encode(), "stderr" if i % 7 == 0 else "stdout", T + i))
    env = dict(os.environ, PYDOCK_ROOT=str(root))
    slow = subprocess.run([sys.executable, "-c", VIA_CLICK, "logs", *args], env=env, capture_output=True, timeout=30, check=False)
    fast = subprocess.run([sys.executable, "-c", FAST, "logs", *args], env=env, capture_output=True, timeout=30, check=False)
    plain = parse_logs_args(args) is not None
    assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout)
    if plain:  # printed without click
        assert fast.stderr == slow.stderr
    else:  # click parsed it (and exited on the bad flag before the marker line)
        assert fast.stderr in (slow.stderr, slow.stderr + b"click imported\n")


def test_broken_pipe_is_quiet(record, tmp_path: Path) -> None:  # noqa: F811
    root, _, drv = record
    for i in range(20000):
        drv.log(LogMessage(b"x" * 100, "stdout", T + i))
    env = dict(os.environ, PYDOCK_ROOT=str(root))
    p = subprocess.run(f"{sys.executable} -m pydock logs web | head -n 1", shell=True, env=env,
                       capture_output=True, timeout=60, check=False)
    assert p.stdout == b"x" * 100 + b"\n" and b"Traceback" not in p.stderr
