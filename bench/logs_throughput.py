"""Log throughput: N lines of 100 bytes through pydock's json-file driver, podman+conmon, a plain pipe.

Run as root: `bench/run logs_throughput [--lines 1000000] [--runs 3]`. A busybox container runs
`yes <99 digits> | head -n N`; the time is from the start of `run -d` until `wait` returns, when
every line is on disk (the shim joins its copier before it records the exit). pydock uses json-file
with max-size=10m, max-file=3 (its counters in logstats.json must say N lines, 0 dropped), and once
more without rotation, counting the records on disk. podman uses conmon's k8s-file driver (its `F`
records are counted: conmon splits lines at its buffer boundaries into `P` parts). The machine's
limit is the same command with its output through a pipe into a file. Timings are printed, never
asserted; the median of the runs is shown, and each run's ratio. The shim's VmRSS is sampled from /proc while it copies
(peak), and once more for an idle shim before and one second after a burst of N lines.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ensure_packages, rss_mb, table

CLI = [sys.executable, "-m", "pydock"]
PODMAN_STORAGE = '[storage]\ndriver = "overlay"\nrunroot = "{d}/run"\ngraphroot = "{d}/storage"\n'
PODMAN_CONF = """[containers]
netns = "none"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""


def producer(n: int) -> str:
    if n == 0:
        return "true"
    return f'yes "$(printf %099d 0)" | head -n {n}'


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:4])}... failed: {p.stderr[-400:]}")
    return time.perf_counter() - t0, p.stdout.strip()


def count_json_records(cdir: Path) -> int:
    total = 0
    for f in cdir.iterdir():
        if "-json.log" not in f.name:
            continue
        data = gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_bytes()
        total += data.count(b"\n")
    return total


def shim_pid(env: dict[str, str], cid: str) -> int:
    state = json.loads((Path(env["PYDOCK_ROOT"]) / "containers" / cid / "state.json").read_text())
    return int(state.get("ShimPid") or 0)


class RssSampler(threading.Thread):
    """Peak VmRSS of a process (the shim), read from /proc every 10 ms until it exits or `stop()`."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self._done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while self.pid and not self._done.is_set():
            try:
                self.peak_mb = max(self.peak_mb, rss_mb(self.pid))
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.01)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_mb


def run_pydock(env: dict[str, str], n: int, opts: list[str], rss: list[float] | None = None
               ) -> tuple[float, dict[str, object], int]:
    t0 = time.perf_counter()
    _, cid = timed([*CLI, "run", "-d", *opts, "busybox", "sh", "-c", producer(n)], env)
    sampler = RssSampler(shim_pid(env, cid) if rss is not None else 0)
    sampler.start()
    timed([*CLI, "wait", cid], env)
    dt = time.perf_counter() - t0
    if rss is not None:
        rss.append(sampler.stop())
    cdir = Path(env["PYDOCK_ROOT"]) / "containers" / cid
    stats = json.loads((cdir / "logstats.json").read_text()) if (cdir / "logstats.json").exists() else {}
    on_disk = count_json_records(cdir)
    subprocess.run([*CLI, "rm", "-f", cid], env=env, capture_output=True, check=False)
    return dt, stats, on_disk


def shim_rss_idle(env: dict[str, str], n: int) -> tuple[float, float]:
    """The shim's VmRSS before any output (in the first `sleep`), and again a second after it copied
    n lines and the container went quiet: what a long-lived, mostly idle shim keeps."""
    _, cid = timed([*CLI, "run", "-d", "--log-opt", "max-size=10m", "--log-opt", "max-file=3", "busybox", "sh", "-c",
                    f"sleep 1; {producer(n)}; echo END; sleep 30"], env)
    pid = shim_pid(env, cid)
    log = Path(env["PYDOCK_ROOT"]) / "containers" / cid / f"{cid}-json.log"
    time.sleep(0.7)
    before = rss_mb(pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the last line on disk: the burst is copied
        with open(log, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 200))
            if b'{"log":"END\\n"' in f.read():
                break
        time.sleep(0.05)
    time.sleep(1.0)
    after = rss_mb(pid)
    subprocess.run([*CLI, "rm", "-f", cid], env=env, capture_output=True, check=False)
    return before, after


def run_podman(env: dict[str, str], rootfs: Path, logfile: Path, n: int) -> tuple[float, int]:
    logfile.unlink(missing_ok=True)
    t0 = time.perf_counter()
    _, cid = timed(["podman", "run", "-d", "--log-driver", "k8s-file", "--log-opt", f"path={logfile}",
                    "--rootfs", str(rootfs), "sh", "-c", producer(n)], env)
    timed(["podman", "wait", cid], env)
    dt = time.perf_counter() - t0
    full = sum(1 for line in logfile.read_bytes().splitlines() if b" F " in line[:60]) if logfile.exists() else 0
    subprocess.run(["podman", "rm", "-f", cid], env=env, capture_output=True, check=False)
    return dt, full


def run_pipe(d: Path, n: int) -> tuple[float, int]:
    out = d / "pipe.out"
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", f"{producer(n)} | cat > {out}"], check=True)
    dt = time.perf_counter() - t0
    return dt, out.read_bytes().count(b"\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n = args.lines
    ensure_packages(("podman", "podman"), ("conmon", "conmon"), ("runc", "runc"), ("busybox", "busybox-static"))
    d = Path(tempfile.mkdtemp(prefix="pydock-logbench-"))
    try:
        env = {**os.environ, "PYDOCK_ROOT": str(d / "root"), "PYDOCK_RUN": f"/run/pydock-bench-{d.name}"}
        timed([*CLI, "image", "bootstrap", "busybox"], env)
        rootfs = d / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        for sub in ("proc", "dev", "sys", "tmp"):
            (rootfs / sub).mkdir()
        shutil.copy2(shutil.which("busybox") or "/bin/busybox", rootfs / "bin" / "busybox")
        subprocess.run(["chroot", str(rootfs), "/bin/busybox", "--install", "-s", "/bin"], check=True)
        (d / "storage.conf").write_text(PODMAN_STORAGE.format(d=d / "podman"))
        (d / "containers.conf").write_text(PODMAN_CONF)
        penv = {**os.environ, "CONTAINERS_STORAGE_CONF": str(d / "storage.conf"),
                "CONTAINERS_CONF": str(d / "containers.conf")}
        rot, plain, pod, pipe, empty_pd, empty_pod = [], [], [], [], [], []
        peaks: list[float] = []
        notes = []
        for _ in range(args.runs):
            empty_pd.append(run_pydock(env, 0, [])[0])
            empty_pod.append(run_podman(penv, rootfs, d / "ctr.log", 0)[0])
            dt, stats, kept = run_pydock(env, n, ["--log-opt", "max-size=10m", "--log-opt", "max-file=3"], peaks)
            rot.append(dt)
            lines = stats["lines"]["stdout"]  # type: ignore[index]
            notes.append(f"pydock rotated: {lines} lines counted, {stats['dropped']} dropped, {kept} in the 3 kept files")
            dt, stats, on_disk = run_pydock(env, n, [])
            plain.append(dt)
            notes.append(f"pydock unrotated: {on_disk} records on disk (lost: {n - on_disk})")
            dt, full = run_podman(penv, rootfs, d / "ctr.log", n)
            pod.append(dt)
            notes.append(f"podman k8s-file: {full} F records (lost: {n - full})")
            dt, _ = run_pipe(d, n)
            pipe.append(dt)
        med = {k: statistics.median(v) for k, v in (("rot", rot), ("plain", plain), ("pod", pod), ("pipe", pipe),
                                                     ("e_pd", empty_pd), ("e_pod", empty_pod))}
        rate = {k: n / v / 1000 for k, v in med.items()}
        net_pd, net_pod = med["rot"] - med["e_pd"], med["pod"] - med["e_pod"]
        print(table(f"{n:,} lines of 100 bytes, median of {args.runs} (start to all on disk; pydock: json-file "
                    "max-size=10m max-file=3, podman: k8s-file)",
                    ["pydock", "podman+conmon", "pipe"],
                    [("wall", "s", [med["rot"], med["pod"], med["pipe"]]),
                     ("rate", "k lines/s", [rate["rot"], rate["pod"], rate["pipe"]]),
                     ("same run of `true` (start-up)", "s", [med["e_pd"], med["e_pod"], None]),
                     ("wall minus start-up", "s", [net_pd, net_pod, med["pipe"]]),
                     ("rate without start-up", "k lines/s", [n / net_pd / 1000, n / net_pod / 1000, rate["pipe"]])]))
        print(f"pydock json-file without rotation: {med['plain']:.2f} s, {rate['plain']:.0f}k lines/s")
        print("each run, rate pydock/podman+conmon (same run): "
              + ", ".join(f"{pm / pd:.2f}x" for pd, pm in zip(rot, pod))
              + f"; load average {os.getloadavg()[0]:.2f}")
        for note in sorted(set(notes)):
            print("  " + note)
        idle_before, idle_after = shim_rss_idle(env, n)
        print(f"pydock shim VmRSS: peak while copying {statistics.median(peaks):.1f} MB (median of the rotated runs); "
              f"idle {idle_before:.1f} MB before the burst, {idle_after:.1f} MB one second after it")
        print("ratios: wall time pydock/peer (below 1 is faster); rate pydock/peer (above 1 is faster)")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
