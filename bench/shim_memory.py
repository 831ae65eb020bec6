"""Shim memory: RSS, PSS and USS per container of pydock's shim against podman's conmon, same run.

Run as root: `bench/run shim_memory [--containers 5] [--settle 1.5]`. Starts N idle containers
(`sleep 120`, no output) with pydock and N with podman (runc, private storage and config as in
bench/start_latency.py), waits `--settle` seconds, and reads /proc/PID/smaps_rollup of every shim
and every conmon while all of them run: RSS (what `ps` shows), PSS (each shared page divided among
the processes mapping it: what the host pays per container when N run) and USS (private pages: what
one more container adds at least). Medians over the N monitors; timings and sizes are printed, never
asserted. `--pydock CMD` measures another tree's CLI (e.g. the parent commit's) in the same run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ensure_packages, podman_env, table
from start_latency import PODMAN_CONF, PODMAN_STORAGE, pydock_cmd


def smaps_mb(pid: int) -> tuple[float, float, float]:
    """(RSS, PSS, USS) of a process in MB, from /proc/PID/smaps_rollup."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        fields[key] = int(rest.split()[0])
    uss = fields["Private_Clean"] + fields["Private_Dirty"]
    return fields["Rss"] / 1024, fields["Pss"] / 1024, uss / 1024


def shim_pid(root: Path, cid: str) -> int:
    import json

    return int(json.loads((root / "containers" / cid / "state.json").read_text())["ShimPid"])


def medians(samples: list[tuple[float, float, float]]) -> list[float]:
    return [statistics.median(s[i] for s in samples) for i in range(3)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--containers", type=int, default=5)
    ap.add_argument("--settle", type=float, default=1.5)
    ap.add_argument("--pydock", action="append", default=[],
                    help="another pydock command to measure in the same run, as LABEL=COMMAND")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: shim_memory needs root (namespaces, cgroups)")
    ensure_packages(("podman", "podman"), ("conmon", "conmon"), ("runc", "runc"))
    d = Path(tempfile.mkdtemp(prefix="pydock-shimmem-"))
    run_dir = Path(f"/run/pydock-shimmem-{os.getpid()}")
    env = {**os.environ, "PYDOCK_ROOT": str(d / "root"), "PYDOCK_RUN": str(run_dir)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    pod_env = podman_env(d, PODMAN_STORAGE, PODMAN_CONF)
    podman = ["podman", "--runtime", "runc"]
    clis = [("pydock", pydock_cmd())]
    for spec in args.pydock:
        label, _, cmd = spec.partition("=")
        clis.append((label, shlex.split(cmd)))
    n = args.containers
    try:
        subprocess.run([*clis[0][1], "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        layer = next(p for p in (d / "root/images/layers").iterdir() if p.is_dir())
        rootfs = d / "rootfs"
        subprocess.run(["cp", "-a", str(layer), str(rootfs)], check=True)
        pids: dict[str, list[int]] = {label: [] for label, _ in clis}
        pids["conmon"] = []
        for _ in range(n):  # in turn, so that every kind sees the same host
            for label, cli in clis:
                cid = subprocess.run([*cli, "run", "-d", "busybox", "sleep", "120"], env=env, check=True,
                                     capture_output=True, text=True).stdout.strip()
                pids[label].append(shim_pid(d / "root", cid))
            pcid = subprocess.run([*podman, "run", "-d", "--rootfs", str(rootfs), "sleep", "120"], env=pod_env,
                                  check=True, capture_output=True, text=True).stdout.strip()
            pids["conmon"].append(int(subprocess.run(
                [*podman, "inspect", "--format", "{{.State.ConmonPid}}", pcid], env=pod_env, check=True,
                capture_output=True, text=True).stdout.strip()))
        time.sleep(args.settle)
        figures = {label: medians([smaps_mb(pid) for pid in group]) for label, group in pids.items()}
        columns = [label for label, _ in clis] + ["conmon"]
        print(table(f"monitor memory per container, {n} idle containers each (median; load "
                    f"{os.getloadavg()[0]:.2f})", columns,
                    [(name, "MB", [figures[c][i] for c in columns]) for i, name in enumerate(("RSS", "PSS", "USS"))]))
    finally:
        subprocess.run([*clis[0][1], "rm", "-f", *_all_ids(d / "root")], env=env, capture_output=True, check=False)
        subprocess.run([*podman, "rm", "-af", "-t", "0"], env=pod_env, capture_output=True, check=False)
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)


def _all_ids(root: Path) -> list[str]:
    base = root / "containers"
    return [p.name for p in base.iterdir()] if base.exists() else []


if __name__ == "__main__":
    main()
