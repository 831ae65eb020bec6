"""CLI start-up: `--help`, `ps`, `inspect`, `logs --tail 100` on a 1M-line log, `stop`, pydock next to podman.

Run as root: `bench/run cli_startup [--lines 1000000] [--runs 15] [--tree before=/tmp/parent]`. The
same commands several ways, taking turns so that load from elsewhere falls on all alike: pydock as
the quickstart installs it (a non-editable install of this tree with compiled bytecode, built by the
bench in a private venv: no editable-install finder), pydock as this checkout's editable venv runs
it, pydock through click for everything (what every command did before its fast path;
`python -c "from pydock.cli.app import main; main()"`), each `--tree NAME=DIR` (another source tree,
such as a `git archive` of the parent commit, installed the same way as the first column), and
podman (private storage and config as PEERS.md says, runc). pydock's log is a json-file log of N
lines of 100 bytes written through its driver under a container record; podman's is a busybox
container that printed the same N lines through conmon (k8s-file). Also prints `python -X
importtime` of the installed pydock's `--help`, `logs`, `ps` and `inspect`, top-level modules by
cumulative time. `stop -t 0` stops a running `sleep` (a fresh container each run, started and
removed outside the timing). Medians in ms; timings never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ensure_packages, median_ms, table, time_command
from logs_tail import make_log
from start_latency import PODMAN_CONF, PODMAN_STORAGE, pydock_cmd

VIA_CLICK = [sys.executable, "-c", "import sys; from pydock.cli.app import main; main(sys.argv[1:])"]
REPO = Path(__file__).resolve().parent.parent
NOT_INSTALLED = {".git", ".venv", "build", "dist", "pydock.egg-info", "tests", "bench", "artifacts"}
  # at the top only


def install(tree: Path, venv: Path) -> Path:
    """`tree` installed as scripts/quickstart installs pydock: `pip install .` (not editable) into a
    venv of its own, then `compileall` over the installed package. The venv finds pydock's
    dependencies in this checkout's venv through a path line, so no editable finder loads. Returns
    the venv's `python`."""

    def skip(folder: str, names: list[str]) -> set[str]:
        top = NOT_INSTALLED if Path(folder) == tree else set()
        return {n for n in names if n in top or n == "__pycache__" or n.endswith("_cache")}

    src = venv.parent / f"{venv.name}-src"
    shutil.copytree(tree, src, ignore=skip)  # a copy: setuptools leaves build/ in the tree it builds
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "pydock-deps.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(src)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([str(py), "-m", "compileall", "-q", str(Path(purelib, "pydock"))], check=True)
    return py


def importtime(argv: list[str], env: dict[str, str], top: int = 10) -> list[str]:
    # -I: not the checkout's pydock/ when the bench runs from the repository (`-c` puts the working
    # directory first on sys.path)
    err = subprocess.run([argv[0], "-I", "-X", "importtime", *argv[1:]], env=env, capture_output=True,
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
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                    help="another source tree to install and time beside this one (e.g. the parent commit's)")
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
    pd = pydock_cmd()  # this checkout's venv: editable
    podman = ["podman", "--runtime", "runc"]
    pcid = ""
    try:
        size_mb = args.lines * 170 // 1_000_000  # a json-file record of a 100-byte line is about 170 bytes
        _, n, _ = make_log(d / "root", "web", size_mb)
        subprocess.run([*pd, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        layer = next(p for p in (d / "root/images/layers").iterdir() if p.is_dir())
        rootfs = d / "rootfs"
        subprocess.run(["cp", "-a", str(layer), str(rootfs)], check=True)
        print("installing pydock as the quickstart does (non-editable, compiled)", file=sys.stderr)
        pydocks = [("pydock installed", [str(install(REPO, d / "venv").parent / "pydock")])]
        for k, spec in enumerate(args.tree):
            name, _, tree = spec.partition("=")
            pydocks.append((f"{name} installed", [str(install(Path(tree), d / f"venv{k}").parent / "pydock")]))
        pydocks += [("pydock editable", pd), ("pydock via click", VIA_CLICK)]
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
            times: list[list[float]] = [[] for _ in range(len(pydocks) + 1)]
            for _ in range(args.runs):
                for k, (_, argv) in enumerate(pydocks):
                    times[k] += time_command([*argv, *ours], 1, env)
                times[-1] += time_command([*podman, *theirs], 1, pod_env)
            rows.append((name, "ms", [median_ms(t) for t in [times[0], times[-1], *times[1:-1]]]))
        # `stop -t 0` of a running `sleep` (SIGTERM, then SIGKILL at once: no wait on the program), a
        # fresh container each time, started and removed outside the timing
        times = [[] for _ in range(len(pydocks) + 1)]
        sleeper = ["sleep", "1000"]
        for _ in range(args.runs):
            for k, (_, argv) in enumerate(pydocks):
                cid = subprocess.run([*pd, "run", "-d", "busybox", *sleeper], env=env, check=True,
                                     capture_output=True, text=True).stdout.strip()
                times[k] += time_command([*argv, "stop", "-t", "0", cid], 1, env, warmup=0)
                subprocess.run([*pd, "rm", "-f", cid], env=env, check=True, capture_output=True)
            cid = subprocess.run([*podman, "run", "-d", "--rootfs", str(rootfs), *sleeper], env=pod_env, check=True,
                                 capture_output=True, text=True).stdout.strip()
            times[-1] += time_command([*podman, "stop", "-t", "0", cid], 1, pod_env, warmup=0)
            subprocess.run([*podman, "rm", "-f", cid], env=pod_env, check=True, capture_output=True)
        rows.append(("stop -t 0, running", "ms", [median_ms(t) for t in [times[0], times[-1], *times[1:-1]]]))
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(table("CLI start-up (median ms)", [pydocks[0][0], "podman", *(n for n, _ in pydocks[1:])], rows))
        others = [(n, [r[2][k + 2] for r in rows]) for k, (n, _) in enumerate(pydocks[1:])]
        for other, values in others:
            print(f"{other} / podman: " + ", ".join(f"{r[0]} {v / r[2][1]:.2f}x" for r, v in zip(rows, values)))
        py = str(Path(pydocks[0][1][0]).parent / "python")
        for what in (["--help"], ["logs", "--tail", "100", "web"], ["ps", "-a"], ["inspect", "web"]):
            print(f"importtime {' '.join(what)} (installed; cumulative, top-level):")
            print("\n".join(importtime([py, "-c", "import sys; from pydock.cli import main; main()", *what], env)))
    finally:
        if pcid:
            subprocess.run([*podman, "rm", "-f", pcid], env=pod_env, capture_output=True, check=False)
        subprocess.run(["umount", "-R", str(d / "podman" / "storage" / "overlay")], capture_output=True, check=False)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
