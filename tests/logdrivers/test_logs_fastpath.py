"""`pydock logs` parsed without click gives what the click command gives; unusual arguments still
go through click (so its errors and help are unchanged)."""

from __future__ import annotations

import json
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


# -- the json-file tail printed with os alone (logprint.print_json_file_tail) ----------------------

LEAN = ("import sys; from pydock.cli import main; main(sys.argv[1:]); "
        "sys.stderr.write('reader imported\\n' if 'pydock.logdrivers.logfile' in sys.modules else '')")


def _rec(line: str, stream: str = "stdout", when: str = "2023-11-14T22:13:20.000000001Z", **extra: object) -> bytes:
    return json.dumps({"log": line, "stream": stream, **extra, "time": when}, separators=(",", ":")).encode() + b"\n"


PLAIN = b"".join(_rec(f"line {i}\n", "stderr" if i % 7 == 0 else "stdout") for i in range(50))
LOGS: dict[str, tuple[bytes, dict[str, bytes]]] = {  # name -> (active file, rotated files by suffix)
    "plain": (PLAIN, {}),
    "escapes": (PLAIN + _rec('say "hi"\t<b>&\u00e9\u2028\n') + _rec("\x01\n", "stderr"), {}),
    "attrs": (PLAIN + _rec("tagged\n", attrs={"tag": "x"}), {}),
    "empty lines": (PLAIN.replace(b"}\n", b"}\n\n", 3), {}),
    "unfinished record": (PLAIN + b'{"log":"half', {}),
    "part of a long line": (PLAIN + _rec("a" * 10) + _rec("b\n"), {}),
    "bad time": (PLAIN + _rec("x\n", when="2023-13-14T22:13:20Z") + _rec("y\n"), {}),
    "no time": (PLAIN + b'{"log":"x\\n","stream":"stdout"}\n', {}),
    "not an object": (PLAIN + b"[1]\n", {}),
    "not json": (PLAIN + b"garbage\n", {}),
    "short, rotated": (_rec("new\n"), {".1": PLAIN}),
    "short, alone": (_rec("only\n"), {}),
    "empty": (b"", {}),
}


@pytest.fixture
def json_file_logs(tmp_path: Path) -> Path:
    """One container per entry of LOGS, named after it, each with its json-file log as given."""
    root = tmp_path / "root"
    for k, (name, (active, rotated)) in enumerate(LOGS.items()):
        cid = f"{k:02d}" + "c" * 62
        cdir = root / "containers" / cid
        cdir.mkdir(parents=True)
        config = {"Id": cid, "Name": name.replace(" ", "-").replace(",", ""), "Created": f"2026-01-01T00:00:{k:02d}Z",
                  "Config": {"Image": "busybox"}, "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}}}
        (cdir / "config.json").write_text(json.dumps(config))
        (cdir / "state.json").write_text(json.dumps({"Status": "exited", "Running": False}))
        (cdir / f"{cid}-json.log").write_bytes(active)
        for suffix, data in rotated.items():
            (cdir / f"{cid}-json.log{suffix}").write_bytes(data)
    local = root / "containers" / ("ff" + "d" * 62)
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"Id": local.name, "Name": "on-local", "Config": {},
                                                   "HostConfig": {"LogConfig": {"Type": "local"}}}))
    return root


def _both(root: Path, args: list[str]) -> tuple[subprocess.CompletedProcess[bytes], subprocess.CompletedProcess[bytes]]:
    env = dict(os.environ, PYDOCK_ROOT=str(root))
    slow = subprocess.run([sys.executable, "-c", VIA_CLICK, "logs", *args], env=env, capture_output=True, timeout=30, check=False)
    fast = subprocess.run([sys.executable, "-c", LEAN, "logs", *args], env=env, capture_output=True, timeout=30, check=False)
    return slow, fast


def _same_errors(slow: bytes, fast: bytes) -> bool:
    """The same stderr; of a traceback (the reader fails on a record that is not an object: not
    this path's to change), the same last line, since the frames above it differ."""
    fast = fast.replace(b"reader imported\n", b"")
    if b"Traceback" in slow:
        return fast.splitlines()[-1:] == slow.splitlines()[-1:]
    return fast == slow


@pytest.mark.parametrize("name", [n.replace(" ", "-").replace(",", "") for n in LOGS])
def test_json_file_tail_prints_what_the_reader_prints(json_file_logs: Path, name: str) -> None:
    for tail in ("3", "100", "0"):
        slow, fast = _both(json_file_logs, ["--tail", tail, name])
        assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout), (name, tail)
        assert _same_errors(slow.stderr, fast.stderr), (name, tail)
        if name in ("plain", "escapes", "attrs", "empty-lines", "short-alone", "empty"):  # printed with os alone
            assert b"reader imported" not in fast.stderr, (name, tail)


@pytest.mark.parametrize("args", [["-n", "5", "00"], ["--tail=+2", "0"], ["--tail", "-1", "plain"],
                                  ["--tail", "x", "plain"], ["--tail", "2", "/plain"], ["--tail", "2", "nope"],
                                  ["--tail", "2", ""], ["--tail", "2", "on-local"], ["-n2", "plain"],
                                  ["--tail", "2", "c"]])
def test_json_file_tail_lookup_and_errors(json_file_logs: Path, args: list[str]) -> None:
    slow, fast = _both(json_file_logs, args)
    assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout)
    assert _same_errors(slow.stderr, fast.stderr)
