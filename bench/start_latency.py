"""Start latency: `run --rm busybox true` for pydock, podman and crun over one busybox rootfs.

Run as root: `bench/run start_latency [--runs 20]`. Prints the median wall time of 20 runs of each
(after one warm-up; the three take turns, so load from elsewhere hits them alike), the resident memory of pydock's shim next to podman's conmon, and the time of
`--help`, with pydock/peer ratios. podman runs the rootfs directory (`--rootfs`, runc as its OCI
runtime, private storage and config: this host's hybrid cgroups need both, see PEERS.md); crun runs
an OCI bundle over the same directory inside a private mount namespace without the empty v2
hierarchy (crun refuses hybrid layouts). `--parent REV` adds a fourth column: pydock from the tree
of commit REV (`git archive` into a scratch directory, imported through this venv's editable finder
pointed there), so a change is measured before and after in the same loop. Timings are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ensure_packages, median_ms, rss_mb, table, time_command

PODMAN_STORAGE = """[storage]
driver = "overlay"
runroot = "{d}/run"
graphroot = "{d}/storage"
"""
PODMAN_CONF = """[containers]
netns = "none"
log_driver = "k8s-file"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{d}/tmp"
"""


def pydock_cmd() -> list[str]:
    script = Path(sys.executable).parent / "pydock"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pydock"]


def crun_inner(bundle: str) -> None:
    """A helper inside `unshare -m` (the empty v2 mount hidden): times one `crun run` per input line,
    so crun's samples interleave with the others' and all see the same load."""
    if os.path.ismount("/sys/fs/cgroup/unified"):
        subprocess.run(["umount", "/sys/fs/cgroup/unified"], check=True)
    for i, _ in enumerate(sys.stdin):
        t0 = time.perf_counter()
        subprocess.run(["crun", "run", "-b", bundle, f"bench-{os.getpid()}-{i}"], check=True,
                       stdout=subprocess.DEVNULL)
        print(time.perf_counter() - t0, flush=True)


class CrunTimer:
    def __init__(self, bundle: Path) -> None:
        self.p = subprocess.Popen(["unshare", "-m", "--propagation", "private", sys.executable, __file__,
                                   "--crun-inner", str(bundle)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)

    def once(self) -> float:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write("run\n")
        self.p.stdin.flush()
        return float(self.p.stdout.readline())

    def close(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.close()
        self.p.wait()


def interleaved(n: int, *runners: Callable[[], float]) -> list[list[float]]:
    """`n` samples of each runner after one warm-up round, taken round-robin so that a change in
    the host's load hits every runner alike."""
    samples: list[list[float]] = [[] for _ in runners]
    for i in range(n + 1):
        for s, run in zip(samples, runners):
            dt = run()
            if i:
                s.append(dt)
    return samples


# Run through PYTHONPATH: points the editable install's finder (MAPPING, package -> folder) at the
# parent tree, before anything imports pydock; the shim inherits the CLI's view (runtime/launch.py).
PARENT_SITECUSTOMIZE = """import sys
for finder in sys.meta_path:
    mapping = getattr(sys.modules.get(getattr(finder, "__module__", "")), "MAPPING", None)
    if isinstance(mapping, dict) and "pydock" in mapping:
        mapping.update({{k: v.replace({repo!r}, {tree!r}, 1) for k, v in mapping.items()}})
"""


def parent_env(rev: str, d: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment that runs pydock from commit `rev`'s tree (extracted under `d`)."""
    repo = Path(__file__).resolve().parent.parent
    tree, site = d / "parent-tree", d / "parent-site"
    tree.mkdir()
    site.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    (site / "sitecustomize.py").write_text(PARENT_SITECUSTOMIZE.format(repo=str(repo), tree=str(tree)))
    check = subprocess.run([sys.executable, "-c", "import pydock.runtime.lifecycle as m; print(m.__file__)"],
                           env={**env, "PYTHONPATH": str(site)}, check=True, capture_output=True, text=True)
    if not check.stdout.startswith(str(tree)):
        raise SystemExit(f"bench: --parent: pydock still imports from {check.stdout.strip()}")
    return {**env, "PYTHONPATH": str(site)}


def make_bundle(d: Path, rootfs: Path) -> Path:
    bundle = d / "bundle"
    bundle.mkdir()
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    cfg["linux"].pop("resources", None)
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--crun-inner", default="")
    ap.add_argument("--parent", default="", help="also time pydock from this commit's tree (before/after)")
    args = ap.parse_args()
    if args.crun_inner:
        crun_inner(args.crun_inner)
        return
    if os.geteuid() != 0:
        raise SystemExit("bench: start_latency needs root (namespaces, cgroups)")
    ensure_packages(("podman", "podman"), ("crun", "crun"), ("conmon", "conmon"), ("runc", "runc"))
    d = Path(tempfile.mkdtemp(prefix="pydock-bench-"))
    run_dir = Path(f"/run/pydock-bench-{os.getpid()}")
    env = {**os.environ, "PYDOCK_ROOT": str(d / "root"), "PYDOCK_RUN": str(run_dir)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure pydock as installed: with its bytecode cached
    pod_env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(d / "storage.conf"),
               "CONTAINERS_CONF": str(d / "containers.conf")}
    (d / "podman" / "tmp").mkdir(parents=True)
    (d / "storage.conf").write_text(PODMAN_STORAGE.format(d=d / "podman"))
    (d / "containers.conf").write_text(PODMAN_CONF.format(d=d / "podman"))
    pd = pydock_cmd()
    podman = ["podman", "--runtime", "runc"]
    try:
        subprocess.run([*pd, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        layer = next(p for p in (d / "root/images/layers").iterdir() if p.is_dir())
        rootfs = d / "rootfs"
        subprocess.run(["cp", "-a", str(layer), str(rootfs)], check=True)
        n = args.runs
        print(f"timing {n} runs each (median after one warm-up) ...", file=sys.stderr)
        runners = [lambda: time_command([*pd, "run", "--rm", "busybox", "true"], 1, env, warmup=0)[0],
                   lambda: time_command([*podman, "run", "--rm", "--rootfs", str(rootfs), "true"], 1, pod_env,
                                        warmup=0)[0]]
        if args.parent:
            old_env = parent_env(args.parent, d, env)
            runners.append(lambda: time_command([*pd, "run", "--rm", "busybox", "true"], 1, old_env, warmup=0)[0])
        crun = CrunTimer(make_bundle(d, rootfs))
        try:
            samples = interleaved(n, *runners, crun.once)
        finally:
            crun.close()
        t_pd, t_pm, t_cr = median_ms(samples[0]), median_ms(samples[1]), median_ms(samples[-1])
        if args.parent:
            t_old = median_ms(samples[2])
            print(f"run --rm busybox true, median: pydock {t_pd:.1f} ms ({t_pd / t_pm:.2f}x podman), "
                  f"pydock@{args.parent} {t_old:.1f} ms ({t_old / t_pm:.2f}x podman), podman {t_pm:.1f} ms; "
                  f"load {os.getloadavg()[0]:.2f}")

        cid = subprocess.run([*pd, "run", "-d", "busybox", "sleep", "60"], env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
        time.sleep(0.5)
        state = json.loads((d / "root/containers" / cid / "state.json").read_text())
        shim_rss = rss_mb(state["ShimPid"])
        subprocess.run([*pd, "rm", "-f", cid], env=env, check=True, stdout=subprocess.DEVNULL)
        pcid = subprocess.run([*podman, "run", "-d", "--rootfs", str(rootfs), "sleep", "60"], env=pod_env,
                              check=True, capture_output=True, text=True).stdout.strip()
        time.sleep(0.5)
        conmon = int(subprocess.run([*podman, "inspect", "--format", "{{.State.ConmonPid}}", pcid], env=pod_env,
                                    check=True, capture_output=True, text=True).stdout.strip())
        conmon_rss = rss_mb(conmon)
        subprocess.run([*podman, "rm", "-f", "-t", "0", pcid], env=pod_env, check=True, stdout=subprocess.DEVNULL)

        h_pd, h_pm, h_cr = (median_ms(s) for s in interleaved(
            n, lambda: time_command([*pd, "--help"], 1, env, warmup=0)[0],
            lambda: time_command(["podman", "--help"], 1, pod_env, warmup=0)[0],
            lambda: time_command(["crun", "--help"], 1, warmup=0)[0]))
        print(table("start latency over one busybox rootfs (this host; noisy, for orientation only)",
                    ["pydock", "podman", "crun"],
                    [("run --rm busybox true, median", "ms", [t_pd, t_pm, t_cr]),
                     ("monitor RSS: shim / conmon / -", "MB", [shim_rss, conmon_rss, None]),
                     ("--help, median", "ms", [h_pd, h_pm, h_cr])]))
    finally:
        subprocess.run(["podman", "rm", "-af", "-t", "0"], env=pod_env, capture_output=True, check=False)
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)
        for base, dirs, _ in os.walk("/sys/fs/cgroup"):
            for name in list(dirs):
                if name == "libpod_parent":
                    _rmdir_tree(Path(base) / name)
            if base.count("/") > 4:
                dirs[:] = []


def _rmdir_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: -len(p.parts)):
        if child.is_dir():
            try:
                child.rmdir()
            except OSError:
                pass
    try:
        path.rmdir()
    except OSError:
        pass


if __name__ == "__main__":
    main()
