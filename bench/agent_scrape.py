"""Scrape cost of `pydock agent` with 10, 100 and 300 containers, next to prometheus-node-exporter.

Containers are emulated: each is a real cgroup (every controller the host has) holding one sleeping
process in a network namespace of its own with an eth0 (a veth end), registered as a pydock container
record with its shim lock held, so the agent reads it exactly as a container started by `pydock run`
(cgroup files, /proc, the record, one interface). Run as root:

    .venv/bin/python bench/agent_scrape.py [--sizes 10,100,300] [--scrapes 50]

Prints scrape latency p50/p99 (ms), agent CPU seconds per scrape (from /proc/PID/stat), agent RSS,
the same for node-exporter's /metrics on this host, their ratios, and the cost per container.
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from agent.live import LiveCgroup

TICK = os.sysconf("SC_CLK_TCK")
# A container's network namespace as Docker makes it: lo plus eth0 (one end of a veth pair), so the agent
# reads and exports one interface per container, like a real one (lo and veth* are left out).
NETNS_SLEEPER = ["unshare", "--net", "sh", "-c",
                 "ip link add veth0 type veth peer name eth0 && ip link set eth0 up && exec sleep 3600"]
LOAD0 = "?"
HAVE_NETNS = bool(shutil.which("unshare") and shutil.which("ip"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_http(url: str, timeout: float = 60.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    raise SystemExit(f"{url} did not answer within {timeout} s\n{tail}")


def measure(url: str, pid: int, scrapes: int) -> dict[str, float]:
    with httpx.Client(timeout=30) as client:
        client.get(url)  # warm: first-scrape imports and caches are not the steady state
        lat = []
        cpu0 = cpu_seconds(pid)
        size = 0
        for _ in range(scrapes):
            t = time.perf_counter()
            r = client.get(url)
            lat.append((time.perf_counter() - t) * 1000)
            size = len(r.content)
        cpu = (cpu_seconds(pid) - cpu0) / scrapes
    lat.sort()
    return {"p50": statistics.median(lat), "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "cpu_ms": cpu * 1000, "rss": rss_mb(pid), "bytes": size}


class Fleet:
    """N emulated containers: a cgroup with a sleeping process and a pydock record each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cgroups: list[LiveCgroup] = []
        self.lock_fds: list[int] = []

    def grow(self, n: int) -> None:
        while len(self.cgroups) < n:
            cg = LiveCgroup()
            self.cgroups.append(cg)
            p = cg.spawn(NETNS_SLEEPER if HAVE_NETNS else ["sleep", "3600"])
            cid = uuid.uuid4().hex + uuid.uuid4().hex
            d = self.root / "containers" / cid
            d.mkdir(parents=True)
            (d / "config.json").write_text(json.dumps({
                "Id": cid, "Name": f"bench-{len(self.cgroups)}", "Created": "2026-11-27T21:00:00Z",
                "Image": "busybox", "Config": {"Image": "busybox", "Labels": {"bench": "agent_scrape"}},
                "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}}}))
            (d / "state.json").write_text(json.dumps({
                "Status": "running", "Running": True, "Pid": p.pid, "StartedAt": "2026-11-27T21:00:00Z",
                "RestartCount": 0, "CgroupPaths": cg.paths}))
            (d / "logstats.json").write_text(json.dumps(
                {"lines": {"stdout": 1, "stderr": 0}, "bytes": {"stdout": 10, "stderr": 0}, "dropped": 0,
                 "driver": "json-file"}))
            fd = os.open(d / "shim.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.lock_fds.append(fd)

    def close(self) -> None:
        for fd in self.lock_fds:
            os.close(fd)
        for cg in self.cgroups:
            cg.close()


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10,100,300")
    ap.add_argument("--scrapes", type=int, default=50)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    global LOAD0
    LOAD0 = Path("/proc/loadavg").read_text().split()[0]
    node_exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if os.geteuid() != 0:
        raise SystemExit("run as root: the bench makes cgroups")
    tmp = Path(tempfile.mkdtemp(prefix="pydock-bench-"))
    fleet = Fleet(tmp / "state")
    procs: list[subprocess.Popen[bytes]] = []
    rows = []
    try:
        ne = None
        if node_exporter:
            ne_port = free_port()
            ne = start([node_exporter, f"--web.listen-address=127.0.0.1:{ne_port}"], tmp / "node-exporter.log")
            procs.append(ne)
            wait_http(f"http://127.0.0.1:{ne_port}/metrics")
        for n in sizes:
            fleet.grow(n)
            port = free_port()
            agent = start([sys.executable, "-m", "pydock", "agent", "--listen", f"127.0.0.1:{port}",
                           "--state-root", str(fleet.root), "--cache-seconds", "0"], tmp / "agent.log")
            procs.append(agent)
            wait_http(f"http://127.0.0.1:{port}/healthz", log=tmp / "agent.log")
            a = measure(f"http://127.0.0.1:{port}/metrics", agent.pid, args.scrapes)
            b = measure(f"http://127.0.0.1:{ne_port}/metrics", ne.pid, args.scrapes) if ne else None
            rows.append((n, a, b))
            stop(agent)
            procs.remove(agent)
    finally:
        for p in procs:
            stop(p)
        fleet.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\npydock agent vs prometheus-node-exporter, {args.scrapes} sequential scrapes each, "
          f"{os.cpu_count()} CPUs, load average before the run {LOAD0}; containers emulated as cgroups with "
          f"one sleeping process each{' in its own netns with eth0' if HAVE_NETNS else ''}\n")
    hdr = (f"{'containers':>10} | {'agent p50':>9} {'p99':>7} {'cpu/scrape':>10} {'RSS':>7} {'body':>8} | "
           f"{'node-exp p50':>12} {'p99':>7} {'cpu/scrape':>10} {'RSS':>7} | {'p50 ratio':>9} {'cpu ratio':>9}")
    print(hdr)
    print("-" * len(hdr))
    for n, a, b in rows:
        ne_cols = (f"{b['p50']:>10.1f}ms {b['p99']:>5.1f}ms {b['cpu_ms']:>8.1f}ms {b['rss']:>5.1f}MB"
                   if b else f"{'n/a':>12} {'':>7} {'':>10} {'':>7}")
        ratios = (f"{a['p50'] / b['p50']:>8.1f}x {a['cpu_ms'] / b['cpu_ms'] if b['cpu_ms'] else float('nan'):>8.1f}x"
                  if b else "")
        print(f"{n:>10} | {a['p50']:>7.1f}ms {a['p99']:>5.1f}ms {a['cpu_ms']:>8.1f}ms {a['rss']:>5.1f}MB "
              f"{a['bytes'] / 1024:>6.0f}kB | {ne_cols} | {ratios}")
    if len(rows) >= 2:
        (n0, a0, _), (n1, a1, _) = rows[0], rows[-1]
        per_ms = (a1["p50"] - a0["p50"]) / (n1 - n0)
        per_cpu = (a1["cpu_ms"] - a0["cpu_ms"]) / (n1 - n0)
        print(f"\ncost per container (slope {n0}->{n1}): {per_ms:.3f} ms latency, {per_cpu:.3f} ms CPU per scrape")


if __name__ == "__main__":
    main()
