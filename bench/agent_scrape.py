"""Scrape cost of `pydock agent` at 100 and 1,000 containers (synthetic trees), or real cgroups at smaller N.

Two modes:

* `--mode synthetic` (default, any user): N containers on a tmpfs copy of cgroup trees captured from real
  hosts (tests/fixtures/cgroupfs, v1 and v2 layouts), a fake /proc (one process and one more thread per
  container, 8 fds of which 3 sockets, net/dev with eth0) and pydock records with their shim locks held,
  so the agent (`--cgroup-root`, `--proc-root`) discovers and reads them as on a host. Counter files are
  rewritten in place before every scrape. Scrapes come at a fixed cadence, one every `--interval` (default
  2 s), as Prometheus scrapes, so the agent's 1 s cache has expired each time; the first (cold) scrape is
  reported on its own. CPU per scrape is all the agent's CPU over the run divided by the scrapes, so work
  done between scrapes (the read-ahead) counts; `late` counts scrapes that started over 0.1 s after their
  time (the bench's own churn overran the interval).

      .venv/bin/python bench/agent_scrape.py [--sizes 100,1000] [--layouts v1,v2] [--scrapes 20]
      .venv/bin/python bench/agent_scrape.py --profile 1000 --layouts v2   # cProfile of one read, in-process

* `--mode real` (root): each container is a real cgroup (every controller the host has) holding one
  sleeping process in a network namespace of its own with an eth0 (a veth end), registered as a pydock
  record with its shim lock held, so the agent reads it exactly as one started by `pydock run`.

      .venv/bin/python bench/agent_scrape.py --mode real [--sizes 10,100,300] [--scrapes 50]

Prints scrape latency p50/p95 (ms), agent CPU per scrape (from /proc/PID/stat), agent RSS (now and peak),
and the same for prometheus-node-exporter's /metrics on this host: a reference for "a Go exporter's
scrape", not the same work (it reads the host's /proc and /sys, not N containers' cgroups). cAdvisor has
no Debian 12 package, and it reads the live /sys/fs/cgroup, so it cannot read these trees. Timings are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
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


def _pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * q))]


def measure(url: str, pid: int, scrapes: int, interval: float = 0.0,
            before: Callable[[], None] | None = None) -> dict[str, float]:
    """`scrapes` timed GETs at a fixed cadence, one every `interval` seconds as Prometheus scrapes; `before`
    runs (untimed) in each gap, right after the previous scrape.

    CPU is the agent's whole CPU time from the first timed scrape's interval to the last scrape, divided
    by the scrapes: it counts work done between scrapes (the agent's read-ahead) as well as in them."""
    with httpx.Client(timeout=60) as client:
        t = time.perf_counter()
        client.get(url)  # cold: first-scrape imports and caches are not the steady state
        cold = (time.perf_counter() - t) * 1000
        lat = []
        size = 0
        cpu0 = cpu_seconds(pid)
        due = time.perf_counter()
        late = 0  # scrapes that started over 0.1 s after their time (the churn overran the interval)
        for _ in range(scrapes):
            if before is not None:
                before()
            due += interval
            time.sleep(max(0.0, due - time.perf_counter()))
            t = time.perf_counter()
            late += t - due > 0.1
            if t - due > interval / 2:  # far behind (a slow scrape or churn): the cadence restarts from here
                due = t
            r = client.get(url)
            lat.append((time.perf_counter() - t) * 1000)
            size = len(r.content)
            if b"\ncontainer_scrape_error 1\n" in r.content:
                errors = client.get(url.replace("/metrics", "/api/v1/containers")).json()["errors"]
                raise SystemExit(f"{url}: container_scrape_error is 1: {errors[:3]}")
        cpu = (cpu_seconds(pid) - cpu0) / scrapes
    lat.sort()
    return {"cold": cold, "p50": statistics.median(lat), "p95": _pct(lat, 0.95), "p99": _pct(lat, 0.99),
            "cpu_ms": cpu * 1000, "rss": rss_mb(pid), "hwm": rss_mb(pid, "VmHWM"), "bytes": size, "late": late}


def write_record(d: Path, config: dict[str, Any], pid: int, cgroup_paths: dict[str, str]) -> int:
    """A running pydock container's record in `d` (config, state, log stats) with its shim lock held,
    as the agent discovers one; returns the lock's fd, to close when the bench ends."""
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    (d / "state.json").write_text(json.dumps({
        "Status": "running", "Running": True, "Pid": pid, "StartedAt": "2026-11-27T21:00:00Z",
        "RestartCount": 0, "CgroupPaths": cgroup_paths}))
    (d / "logstats.json").write_text(json.dumps(
        {"lines": {"stdout": 1, "stderr": 0}, "bytes": {"stdout": 10, "stderr": 0}, "dropped": 0,
         "driver": "json-file"}))
    fd = os.open(d / "shim.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


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
            self.lock_fds.append(write_record(self.root / "containers" / cid, {
                "Id": cid, "Name": f"bench-{len(self.cgroups)}", "Created": "2026-11-27T21:00:00Z",
                "Image": "busybox", "Config": {"Image": "busybox", "Labels": {"bench": "agent_scrape"}},
                "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}}}, p.pid, cg.paths))

    def close(self) -> None:
        for fd in self.lock_fds:
            os.close(fd)
        for cg in self.cgroups:
            cg.close()


# ---------------------------------------------------------------------------------------------------
# Synthetic mode: N containers without N processes.
#
# A tmpfs holds a cgroup tree (v1: one hierarchy per controller; v2: unified) whose per-container
# directories are the files captured from real hosts (tests/fixtures/cgroupfs, see
# /work/shared/fixtures/README.md), a fake /proc with one process and one extra thread per container
# (stat, 8 fds of which 3 sockets, net/dev with eth0), and pydock records pointing at them with their
# shim locks held. `pydock agent --cgroup-root T/cgroup --proc-root T/proc` then discovers and reads
# them exactly as on a host: record store, cgroup files, /proc. Between scrapes the bench rewrites
# every container's counter files in place (a busy host: every stats file changes between scrapes),
# so no figure can come from a cache of unchanged text; limits are left alone, as on a real host.

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
FIX_V1 = FIXTURES / "cgroupfs/v1/tree"
FIX_V2 = FIXTURES / "cgroupfs/v2/tree"
FIX_CTR = "pydock-capture/ctr"
FIX_PROC = FIXTURES / "agent/proc"
V1_READ = ("cpu", "cpuacct", "memory", "blkio", "pids")
# counter files: rewritten before every scrape with other figures (the kernel's changing numbers)
CHURN_V2 = ("cpu.stat", "memory.stat", "memory.current", "memory.peak", "io.stat", "memory.events",
            "pids.current")
CHURN_V1 = {"cpuacct": ("cpuacct.usage_percpu", "cpuacct.stat", "cpuacct.usage"), "cpu": ("cpu.stat",),
            "memory": ("memory.usage_in_bytes", "memory.stat", "memory.max_usage_in_bytes"),
            "blkio": ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive",
                      "blkio.bfq.io_service_bytes_recursive", "blkio.bfq.io_serviced_recursive"),
            "pids": ("pids.current",)}
_NUMBER = re.compile(rb"(?<=[ =])\d+")  # values, never a MAJ:MIN at a line's start


def _bump(text: bytes, k: int) -> bytes:
    return _NUMBER.sub(lambda m: str(int(m.group()) + k).encode(), text)


def _fixture_files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


class SyntheticFleet:
    """N containers on a synthetic tree under `base` (a tmpfs): layout "v1" or "v2"."""

    def __init__(self, base: Path, layout: str) -> None:
        self.base, self.layout = base, layout
        self.cgroup, self.proc, self.state = base / "cgroup", base / "proc", base / "state"
        self.n = 0
        self.lock_fds: list[int] = []
        self.churn_files: list[tuple[Path, bytes]] = []  # (path, original text)
        self.round = 0
        if layout == "v2":
            self.ctr_files = {"unified": _fixture_files(FIX_V2 / FIX_CTR)}
        else:
            self.ctr_files = {c: _fixture_files(FIX_V1 / c / FIX_CTR) for c in V1_READ}
        self.stat = (FIX_PROC / "443/stat").read_bytes()
        self.net_dev = (FIX_PROC / "443/net/dev").read_bytes()
        self._host()

    def _host(self) -> None:
        """The root cgroup's files and the machine-wide /proc files."""
        self.proc.mkdir(parents=True)
        for name in ("cpuinfo", "meminfo", "stat", "partitions"):
            shutil.copy(FIX_PROC / name, self.proc / name)
        (self.proc / "sys/kernel/random").mkdir(parents=True)
        shutil.copy(FIX_PROC / "sys/kernel/random/boot_id", self.proc / "sys/kernel/random/boot_id")
        self._process(1, [])
        if self.layout == "v2":
            self.cgroup.mkdir()
            for f in FIX_V2.iterdir():
                if f.is_file():
                    shutil.copy(f, self.cgroup / f.name)
            (self.cgroup / "cgroup.procs").write_text("1\n")
            (self.cgroup / "pydock").mkdir()
        else:  # the v1 root has every file a child has (the fixture kept only the child's)
            for c, files in self.ctr_files.items():
                d = self.cgroup / c
                (d / "pydock").mkdir(parents=True)
                for name, data in files.items():
                    (d / name).write_bytes(b"1\n" if name in ("cgroup.procs", "tasks") else data)

    def _process(self, pid: int, tids: list[int]) -> None:
        d = self.proc / str(pid)
        (d / "net").mkdir(parents=True)
        (d / "net/dev").write_bytes(self.net_dev)
        (d / "fd").mkdir()
        links = ["/dev/null", "pipe:[5512]", "pipe:[5513]", "socket:[7781]", "socket:[7782]",
                 "socket:[7783]", "/var/log/app.log", "anon_inode:[eventpoll]"]
        for i, target in enumerate(links):
            os.symlink(target, d / "fd" / str(i))
        for tid in [pid, *tids]:
            (self.proc / str(tid)).mkdir(exist_ok=True)
            (self.proc / str(tid) / "stat").write_bytes(self.stat.replace(b"443 (sh)", f"{tid} (sh)".encode(), 1))

    def grow(self, n: int) -> None:
        while self.n < n:
            self.n += 1
            i = self.n
            pid, tid = 100_000 + 2 * i, 100_001 + 2 * i
            cid = f"{i:08x}" + uuid.uuid4().hex + uuid.uuid4().hex[:24]
            members = f"{pid}\n".encode()
            paths: dict[str, str] = {}
            for c, files in self.ctr_files.items():
                d = (self.cgroup if c == "unified" else self.cgroup / c) / "pydock" / cid
                d.mkdir()
                paths[c] = str(d)
                for name, data in files.items():
                    if name in ("cgroup.procs",):
                        data = members
                    elif name in ("tasks", "cgroup.threads"):
                        data = members + f"{tid}\n".encode()
                    (d / name).write_bytes(data)
                churn = CHURN_V2 if c == "unified" else CHURN_V1.get(c, ())
                self.churn_files.extend((d / name, files[name]) for name in churn if name in files)
            self.churn_files.append((self.proc / str(pid) / "net/dev", self.net_dev))
            self._process(pid, [tid])
            self.lock_fds.append(write_record(self.state / "containers" / cid, {
                "Id": cid, "Name": f"/bench-{i}", "Created": "2026-11-27T21:00:00Z", "Image": "busybox:1.36",
                "Config": {"Image": "busybox:1.36", "Cmd": ["sleep", "3600"], "Env": [],
                           "Labels": {"bench": "agent_scrape", "com.docker.compose.project": f"p{i % 20}"}},
                "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}, "Memory": 268435456}}, pid, paths))

    def churn(self) -> None:
        """Every counter file gets new figures, written in place as the kernel would show them."""
        self.round += 1
        bumped: dict[bytes, bytes] = {}  # the containers share the fixture's texts: bump each text once
        for path, original in self.churn_files:
            text = bumped.get(original)
            if text is None:
                text = bumped[original] = _bump(original, self.round)
            with open(path, "r+b") as f:
                f.write(text)
                f.truncate()

    def agent_argv(self, port: int) -> list[str]:
        return [sys.executable, "-m", "pydock", "agent", "--listen", f"127.0.0.1:{port}",
                "--state-root", str(self.state), "--cgroup-root", str(self.cgroup), "--proc-root", str(self.proc)]

    def env(self) -> dict[str, str]:
        """The agent keeps fds of these tmpfs files as it does of cgroupfs and /proc files on a host
        (the bench rewrites them in place), so a read costs the syscalls it costs there."""
        return {**os.environ, "PYDOCK_AGENT_KEEP_FDS_UNDER": f"{self.cgroup}:{self.proc}"}

    def close(self) -> None:
        for fd in self.lock_fds:
            os.close(fd)
        self.lock_fds.clear()


def start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def print_real(rows: list[tuple[int, dict[str, float], dict[str, float] | None]], scrapes: int) -> None:
    print(f"\npydock agent vs prometheus-node-exporter, {scrapes} sequential scrapes each, "
          f"{os.cpu_count()} CPUs, load average before the run {LOAD0}; containers emulated as cgroups with "
          f"one sleeping process each{' in its own netns with eth0' if HAVE_NETNS else ''}\n")
    hdr = (f"{'containers':>10} | {'agent p50':>9} {'p95':>7} {'cpu/scrape':>10} {'RSS':>7} {'body':>8} | "
           f"{'node-exp p50':>12} {'p95':>7} {'cpu/scrape':>10} {'RSS':>7} | {'p50 ratio':>9} {'cpu ratio':>9}")
    print(hdr)
    print("-" * len(hdr))
    for n, a, b in rows:
        ne_cols = (f"{b['p50']:>10.1f}ms {b['p95']:>5.1f}ms {b['cpu_ms']:>8.1f}ms {b['rss']:>5.1f}MB"
                   if b else f"{'n/a':>12} {'':>7} {'':>10} {'':>7}")
        ratios = (f"{a['p50'] / b['p50']:>8.1f}x {a['cpu_ms'] / b['cpu_ms'] if b['cpu_ms'] else float('nan'):>8.1f}x"
                  if b else "")
        print(f"{n:>10} | {a['p50']:>7.1f}ms {a['p95']:>5.1f}ms {a['cpu_ms']:>8.1f}ms {a['rss']:>5.1f}MB "
              f"{a['bytes'] / 1024:>6.0f}kB | {ne_cols} | {ratios}")
    if len(rows) >= 2:
        (n0, a0, _), (n1, a1, _) = rows[0], rows[-1]
        per_ms = (a1["p50"] - a0["p50"]) / (n1 - n0)
        per_cpu = (a1["cpu_ms"] - a0["cpu_ms"]) / (n1 - n0)
        print(f"\ncost per container (slope {n0}->{n1}): {per_ms:.3f} ms latency, {per_cpu:.3f} ms CPU per scrape")


def run_real(args: argparse.Namespace, sizes: list[int], node_exporter: str | None) -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: --mode real makes cgroups")
    tmp = Path(tempfile.mkdtemp(prefix="pydock-bench-"))
    fleet = Fleet(tmp / "state")
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[tuple[int, dict[str, float], dict[str, float] | None]] = []
    try:
        ne, ne_port = None, 0
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
    print_real(rows, args.scrapes)


def _scratch() -> Path:
    """A directory on tmpfs: /dev/shm where there is one (the trees are 100k small files)."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="pydock-agent-bench-", dir=shm if shm.is_dir() else None))


def _raise_nofile(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256 if hard == resource.RLIM_INFINITY else min(hard, n + 256)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def run_synthetic(args: argparse.Namespace, sizes: list[int], layouts: list[str],
                  node_exporter: str | None) -> None:
    _raise_nofile(max(sizes))  # the bench holds one shim lock per container
    tmp = _scratch()
    procs: list[subprocess.Popen[bytes]] = []
    rows = []
    try:
        ne, ne_port = None, 0
        if node_exporter:
            ne_port = free_port()
            ne = start([node_exporter, f"--web.listen-address=127.0.0.1:{ne_port}"], tmp / "node-exporter.log")
            procs.append(ne)
            wait_http(f"http://127.0.0.1:{ne_port}/metrics")
        for layout in layouts:
            fleet = SyntheticFleet(tmp / layout, layout)
            try:
                for n in sizes:
                    t0 = time.monotonic()
                    fleet.grow(n)
                    print(f"[{layout}] {n} containers on {tmp} ({time.monotonic() - t0:.1f} s to make)",
                          file=sys.stderr)
                    port = free_port()
                    log = tmp / f"agent-{layout}-{n}.log"
                    agent = start(fleet.agent_argv(port) + ["--cache-seconds", str(args.cache_seconds)], log,
                                  fleet.env())
                    procs.append(agent)
                    wait_http(f"http://127.0.0.1:{port}/healthz", log=log)
                    a = measure(f"http://127.0.0.1:{port}/metrics", agent.pid, args.scrapes, args.interval,
                                fleet.churn)
                    b = measure(f"http://127.0.0.1:{ne_port}/metrics", ne.pid, args.scrapes) if ne else None
                    rows.append((layout, n, a, b))
                    stop(agent)
                    procs.remove(agent)
            finally:
                fleet.close()
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\npydock agent, synthetic containers (tests/fixtures/cgroupfs files on tmpfs, every counter file "
          f"rewritten before each scrape), {args.scrapes} scrapes {args.interval} s apart, agent --cache-seconds "
          f"{args.cache_seconds}; {os.cpu_count()} CPUs, load average before the run {LOAD0}. node-exporter: "
          f"the host's own /metrics, a reference for a Go exporter's scrape, not the same work\n")
    hdr = (f"{'layout':>6} {'containers':>10} | {'cold':>7} {'p50':>7} {'p95':>7} {'cpu/scrape':>10} "
           f"{'RSS':>7} {'peak':>7} {'body':>7} {'late':>4} | {'node-exp p50':>12} {'p95':>6} {'cpu':>7} {'RSS':>6}")
    print(hdr)
    print("-" * len(hdr))
    for layout, n, a, b in rows:
        ne_cols = (f"{b['p50']:>10.1f}ms {b['p95']:>4.1f}ms {b['cpu_ms']:>5.1f}ms {b['rss']:>4.1f}MB"
                   if b else "n/a")
        print(f"{layout:>6} {n:>10} | {a['cold']:>5.0f}ms {a['p50']:>5.1f}ms {a['p95']:>5.1f}ms "
              f"{a['cpu_ms']:>8.1f}ms {a['rss']:>5.1f}MB {a['hwm']:>5.1f}MB {a['bytes'] / 1024:>5.0f}kB "
              f"{a['late']:>4} | {ne_cols}")
    for layout in layouts:
        mine = [(n, a) for lay, n, a, _ in rows if lay == layout]
        if len(mine) >= 2:
            (n0, a0), (n1, a1) = mine[0], mine[-1]
            print(f"{layout}: per container (slope {n0}->{n1}): "
                  f"{(a1['p50'] - a0['p50']) / (n1 - n0):.3f} ms latency, "
                  f"{(a1['cpu_ms'] - a0['cpu_ms']) / (n1 - n0):.3f} ms CPU per scrape")


def run_profile(args: argparse.Namespace, layouts: list[str]) -> None:
    """One read + exposition of N synthetic containers under cProfile, in this process, after a warm read."""
    import cProfile
    import pstats

    from pydock.agent.exporter import collect_series
    from pydock.agent.exposition import render_text
    from pydock.agent.host import HostPaths
    from pydock.agent.sampler import Sampler

    _raise_nofile(args.profile)
    tmp = _scratch()
    os.environ["PYDOCK_AGENT_KEEP_FDS_UNDER"] = str(tmp)  # see SyntheticFleet.env
    try:
        for layout in layouts:
            fleet = SyntheticFleet(tmp / layout, layout)
            try:
                fleet.grow(args.profile)
                sampler = Sampler(fleet.state, HostPaths(cgroup=fleet.cgroup, proc=fleet.proc), cache_seconds=0,
                                  process_seconds=args.process_seconds)

                def scrape(sampler: Sampler = sampler) -> bytes:
                    return render_text(collect_series(sampler.snapshot()))

                scrape()
                walls = []
                for _ in range(5):
                    fleet.churn()
                    t = time.perf_counter()
                    scrape()
                    walls.append((time.perf_counter() - t) * 1000)
                fleet.churn()
                prof = cProfile.Profile()
                prof.enable()
                body = scrape()
                prof.disable()
                print(f"\n=== {layout}, {args.profile} containers: in-process scrape (no HTTP) "
                      f"{sorted(walls)[2]:.1f} ms median of 5 without the profiler; body {len(body)} bytes")
                st = pstats.Stats(prof)
                st.sort_stats("tottime").print_stats(25)
                st.sort_stats("cumulative").print_stats(30)
            finally:
                fleet.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("synthetic", "real"), default="synthetic")
    ap.add_argument("--sizes", default=None, help="default 100,1000 (synthetic), 10,100,300 (real)")
    ap.add_argument("--layouts", default="v1,v2", help="synthetic: cgroup layouts to build")
    ap.add_argument("--scrapes", type=int, default=None, help="default 20 (synthetic), 50 (real)")
    ap.add_argument("--interval", type=float, default=2.0,
                    help="synthetic: seconds from one scrape's start to the next (a fixed cadence, as Prometheus)")
    ap.add_argument("--cache-seconds", type=float, default=1.0, help="synthetic: the agent's --cache-seconds")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="synthetic: cProfile one read of N")
    ap.add_argument("--process-seconds", type=float, default=10.0,
                    help="--profile: the agent's fds/sockets/task-state refresh interval (0: every read)")
    ap.add_argument("--no-node-exporter", action="store_true")
    args = ap.parse_args()
    synthetic = args.mode == "synthetic"
    sizes = [int(x) for x in (args.sizes or ("100,1000" if synthetic else "10,100,300")).split(",")]
    layouts = [x for x in args.layouts.split(",") if x]
    if args.scrapes is None:
        args.scrapes = 20 if synthetic else 50
    global LOAD0
    LOAD0 = Path("/proc/loadavg").read_text().split()[0]
    node_exporter = None if args.no_node_exporter else (
        shutil.which("prometheus-node-exporter") or shutil.which("node_exporter"))
    if args.profile:
        run_profile(args, layouts)
    elif synthetic:
        run_synthetic(args, sizes, layouts, node_exporter)
    else:
        run_real(args, sizes, node_exporter)


if __name__ == "__main__":
    main()
