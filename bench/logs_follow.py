"""`pydock logs -f` latency: from a line written by the json-file driver to the line printed.

Run: `bench/run logs_follow [--lines 300] [--interval 0.01]`. A writer in this process logs lines
through the json-file driver (max-size=1m, max-file=5, so rotations happen during the run), each
carrying its send time; a `pydock logs -f` subprocess prints them; a reader thread here stamps each
line as it arrives. Prints p50/p90/p99/max of the delay and checks that every line arrived once, in
order. For comparison, the same through `tail -F` on the active file (GNU tail polls once a second
unless inotify applies; it prints raw records). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import table
from pydock.logdrivers.base import LogInfo, LogMessage
from pydock.logdrivers.jsonfile import JSONFileDriver

CLI = [sys.executable, "-m", "pydock"]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] * 1000


def measure(argv: list[str], env: dict[str, str], drv: JSONFileDriver, n: int, interval: float,
            start: int, pad: bytes) -> tuple[list[float], list[int]]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    arrived: dict[int, float] = {}
    order: list[int] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if b"seq=" not in line:
                continue
            k = int(line.split(b"seq=")[1].split(b" ")[0].split(b"\\")[0])
            arrived.setdefault(k, time.monotonic())
            order.append(k)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    time.sleep(1.0)  # the follower is up
    sent: dict[int, float] = {}
    for i in range(start, start + n):
        sent[i] = time.monotonic()
        drv.log(LogMessage(b"seq=%d " % i + pad, "stdout", time.time_ns()))
        time.sleep(interval)
    deadline = time.monotonic() + 5
    while len([k for k in sent if k in arrived]) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.terminate()
    proc.wait(5)
    return [arrived[k] - sent[k] for k in sent if k in arrived], [k for k in order if k in sent]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.01)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="pydock-followbench-"))
    try:
        cid = "f0" * 32
        cdir = d / "containers" / cid
        cdir.mkdir(parents=True)
        opts = {"max-size": "1m", "max-file": "5"}
        config = {"Id": cid, "Name": "follow", "Created": "2026-01-01T00:00:00Z", "Image": "busybox",
                  "Config": {"Image": "busybox"}, "HostConfig": {"LogConfig": {"Type": "json-file", "Config": opts}}}
        (cdir / "config.json").write_text(json.dumps(config))
        # "running" needs a live shim lock holder: this process holds it, as a shim would
        (cdir / "state.json").write_text(json.dumps({"Status": "running", "Running": True, "Pid": os.getpid()}))
        import fcntl

        lock = os.open(cdir / "shim.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = LogInfo(container_id=cid, container_name="follow", image_name="busybox", image_id="sha256:" + "0" * 64,
                       command=[], created_ns=0, labels={}, env=[], log_dir=str(cdir))
        drv = JSONFileDriver(info, opts)
        pad = b"p" * 2000  # big lines: a few hundred make several rotations of 1 MB
        env = {**os.environ, "PYDOCK_ROOT": str(d)}
        n = args.lines
        ours, order = measure([*CLI, "logs", "-f", "--tail", "0", cid], env, drv, n, args.interval, 0, pad)
        lost = n - len(set(order))
        dup = len(order) - len(set(order))
        inorder = order == sorted(order)
        gnu, _ = measure(["tail", "-n", "0", "-F", str(cdir / f"{cid}-json.log")], env, drv, n, args.interval, n, pad)
        drv.close()
        os.close(lock)
        rows = [(f"p{p}", "ms", [pct(ours, p), pct(gnu, p) if gnu else None]) for p in (50, 90, 99)]
        rows.append(("max", "ms", [max(ours) * 1000, max(gnu) * 1000 if gnu else None]))
        print(table(f"logs -f latency, {n} lines every {args.interval * 1000:.0f} ms across rotations",
                    ["pydock logs -f", "GNU tail -F"], rows))
        print(f"pydock: {len(ours)}/{n} lines arrived, lost {lost}, duplicated {dup}, in order: {inorder}; "
              f"GNU tail -F: {len(gnu)}/{n} arrived")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
