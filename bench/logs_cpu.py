"""Shim CPU per 100k lines for each log driver (the copier and the driver stack, as the shim runs them).

Run: `bench/run logs_cpu [--lines 200000]`. For each driver, a child process writes N lines of 100
bytes into a pipe and this process runs what the shim runs on it: `Copier` into
`registry.create_driver(...)` (stats, the dual-logging cache for remote drivers, the driver). CPU
is this process's user+system time (the writer and the receivers run in other processes), given
per 100,000 lines, with the wall rate. Receivers are sinks in child processes: UDP/TCP/unixgram
readers that discard (fluentd's too: no acks). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydock.logdrivers.base import LogInfo
from pydock.logdrivers.copier import Copier
from pydock.logdrivers.registry import create_driver
from pydock.logdrivers.stats import read_stats

SINK = r"""
import socket, sys
kind, addr = sys.argv[1], sys.argv[2]
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", int(addr))); print("ready", flush=True)
    while True: s.recv(65536)
elif kind == "unixgram":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(addr); print("ready", flush=True)
    while True: s.recv(1 << 20)
else:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(addr))); s.listen(8); print("ready", flush=True)
    while True:
        c, _ = s.accept()
        while c.recv(1 << 20): pass
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sink(kind: str, addr: str) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", SINK, kind, addr], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def run_one(d: Path, name: str, driver: str, opts: dict[str, str], n: int) -> tuple[float, float, dict]:  # type: ignore[type-arg]
    cid = os.urandom(32).hex()
    cdir = d / cid
    cdir.mkdir()
    info = LogInfo(container_id=cid, container_name=name, image_name="busybox", image_id="sha256:" + "0" * 64,
                   command=["sh"], created_ns=time.time_ns(), labels={}, env=[], log_dir=str(cdir), hostname="bench")
    drv = create_driver(driver, info, opts)
    writer = subprocess.Popen(["sh", "-c", f'yes "$(printf %099d 0)" | head -n {n}'], stdout=subprocess.PIPE)
    assert writer.stdout is not None
    err_r, err_w = os.pipe()
    os.close(err_w)
    c0, t0 = time.process_time(), time.perf_counter()
    Copier(drv, {"stdout": writer.stdout.fileno(), "stderr": err_r}).run()
    drv.close()
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    writer.wait()
    os.close(err_r)
    stats = read_stats(cdir) or {}
    shutil.rmtree(cdir, ignore_errors=True)
    return cpu, wall, stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    n = args.lines
    d = Path(tempfile.mkdtemp(prefix="pydock-cpubench-"))
    sinks: list[subprocess.Popen[str]] = []
    try:
        udp, tcp, gtcp, ftcp = (free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM),
                                free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM))
        jsock = str(d / "journal.sock")
        sinks += [sink("udp", str(udp)), sink("tcp", str(tcp)), sink("tcp", str(gtcp)), sink("tcp", str(ftcp)),
                  sink("unixgram", jsock)]
        cases = [
            ("json-file 10m x3", "json-file", {"max-size": "10m", "max-file": "3"}),
            ("json-file non-blocking", "json-file", {"mode": "non-blocking"}),
            ("local (defaults)", "local", {}),
            ("syslog udp rfc5424", "syslog", {"syslog-address": f"udp://127.0.0.1:{udp}", "syslog-format": "rfc5424"}),
            ("syslog tcp rfc5424", "syslog", {"syslog-address": f"tcp://127.0.0.1:{tcp}", "syslog-format": "rfc5424"}),
            ("gelf udp gzip", "gelf", {"gelf-address": f"udp://127.0.0.1:{udp}"}),
            ("gelf tcp", "gelf", {"gelf-address": f"tcp://127.0.0.1:{gtcp}"}),
            ("fluentd", "fluentd", {"fluentd-address": f"127.0.0.1:{ftcp}"}),
            ("journald", "journald", {"journald-socket": jsock}),
            ("none", "none", {}),
        ]
        print(f"{n:,} lines of 100 bytes per driver; remote drivers include the dual-logging cache (default)")
        head = f"{'driver':<26} {'CPU ms/100k lines':>18} {'wall s':>8} {'k lines/s':>10} {'lines':>9} {'dropped':>8}"
        print(head)
        print("-" * len(head))
        for label, driver, opts in cases:
            cpu, wall, stats = run_one(d, "bench", driver, opts, n)
            lines = sum((stats.get("lines") or {}).values()) if stats else 0
            print(f"{label:<26} {cpu / n * 100_000 * 1000:>18.0f} {wall:>8.2f} {n / wall / 1000:>10.0f} "
                  f"{lines:>9} {stats.get('dropped', '-'):>8}")
    finally:
        for p in sinks:
            p.terminate()
            p.wait(5)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
