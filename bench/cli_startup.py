"""CLI start-up: `--help`, `ps`, `inspect`, `logs --tail 100` on a 1M-line log, pydock next to podman.

Run as root: `bench/run cli_startup [--lines 1000000] [--runs 15]`. The same commands three ways,
taking turns so that load from elsewhere falls on all alike: pydock as installed (its hot paths:
`--help` from the command table, `logs` without click), pydock through click for everything (what
every command did before; `python -c "from pydock.cli.app import main; main()"`), and podman
(private storage and config as PEERS.md says, runc). pydock's log is a json-file log of N lines of
100 bytes written through its driver under a container record; podman's is a busybox container that
printed the same N lines through conmon (k8s-file). Also prints `python -X importtime` of pydock's
`--help` and `logs`, top-level modules by cumulative time. Medians in ms; timings never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ensure_packages, median_ms, table, time_command
from logs_tail import make_log
from start_latency import PODMAN_CONF, PODMAN_STORAGE, pydock_cmd

VIA_CLICK = [sys.executable, "-c", "import sys; from pydock.cli.app import main; main(sys.argv[1:])"]


def importtime(argv: list[str], env: dict[str, str], top: int = 6) -> list[str]:
    err = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, capture_output=True,
                         text=True, check=False).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum_us, name = line.split("|", 2)
        name = name[1:]  # one space after the bar; deeper imports are indented further
        if not name.startswith("  "):
            rows.append((int(cum_us), name.strip()))
    rows.sort(reverse=True)
    return [f"    {us / 1000:6.1f} ms  {name}" for us, name in rows[:top]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: cli_startup needs root (podman)")
    ensure_packages(("podman", "podman"), ("conmon", "conmon"), ("runc", "runc"))
    d = Path(tempfile.mkdtemp(prefix="pydock-clibench-"))
    env = {**os.environ, "PYDOCK_ROOT": str(d / "root"), "PYDOCK_RUN": str(d / "run")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    pod_env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(d / "storage.conf"),
               "CONTAINERS_CONF": str(d / "containers.conf")}
    (d / "podman" / "tmp").mkdir(parents=True)
    (d / "storage.conf").write_text(PODMAN_STORAGE.format(d=d / "podman"))
    (d / "containers.conf").write_text(PODMAN_CONF.format(d=d / "podman"))
    pd = pydock_cmd()
    podman = ["podman", "--runtime", "runc"]
    pcid = ""
    try:
        size_mb = args.lines * 170 // 1_000_000  # a json-file record of a 100-byte line is about 170 bytes
        _, n, _ = make_log(d / "root", "web", size_mb)
        subprocess.run([*pd, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        layer = next(p for p in (d / "root/images/layers").iterdir() if p.is_dir())
        rootfs = d / "rootfs"
        subprocess.run(["cp", "-a", str(layer), str(rootfs)], check=True)
        line = "x" * 99
        pcid = subprocess.run([*podman, "run", "-d", "--rootfs", str(rootfs), "sh", "-c",
                               f"yes {line} | head -n {n}"], env=pod_env, check=True, capture_output=True,
                              text=True).stdout.strip()
        subprocess.run([*podman, "wait", pcid], env=pod_env, check=True, capture_output=True)
        print(f"{n:,} lines in each log; {args.runs} runs each, interleaved", file=sys.stderr)
        cases = [
            ("--help", ["--help"], ["--help"]),
            ("ps -a", ["ps", "-a"], ["ps", "-a"]),
            ("inspect", ["inspect", "web"], ["inspect", pcid]),
            ("logs --tail 100, 1M lines", ["logs", "--tail", "100", "web"], ["logs", "--tail", "100", pcid]),
        ]
        rows = []
        for name, ours, theirs in cases:
            fast: list[float] = []
            slow: list[float] = []
            peer: list[float] = []
            for _ in range(args.runs):
                fast += time_command([*pd, *ours], 1, env)
                slow += time_command([*VIA_CLICK, *ours], 1, env)
                peer += time_command([*podman, *theirs], 1, pod_env)
            rows.append((name, "ms", [median_ms(fast), median_ms(slow), median_ms(peer)]))
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(table("CLI start-up (median ms)", ["pydock", "pydock via click", "podman"], rows))
        for what in (["-m", "pydock", "--help"], ["-m", "pydock", "logs", "--tail", "100", "web"]):
            print(f"importtime {' '.join(what[2:])} (cumulative, top-level):")
            print("\n".join(importtime(what, env)))
    finally:
        if pcid:
            subprocess.run([*podman, "rm", "-f", pcid], env=pod_env, capture_output=True, check=False)
        subprocess.run(["umount", "-R", str(d / "podman" / "storage" / "overlay")], capture_output=True, check=False)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
