"""Pull: a 3-layer, ~50 MB image from a loopback registry, pydock pull against skopeo copy (wall time, peak RSS).

Run as root: `bench/run pull [--runs 5] [--mb 50] [--dir DIR]`. Starts Debian's docker-registry on loopback, makes
an image of three layers of incompressible data (busybox, then two layers of random files) with umoci,
pushes it with skopeo, then times `pydock pull` into an empty store and `skopeo copy docker://... dir:`
into an empty directory, taking turns. Peak RSS is the child's ru_maxrss from wait4. Never asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import median_ms, table

_spec = importlib.util.spec_from_file_location(
    "regpeers", Path(__file__).resolve().parent.parent / "tests" / "images" / "regpeers.py")
assert _spec and _spec.loader
rp = importlib.util.module_from_spec(_spec)
sys.modules["regpeers"] = rp
_spec.loader.exec_module(rp)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one run."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed: {p.stderr.read().decode()[-500:] if p.stderr else ''}")
    return dt, ru.ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mb", type=int, default=50, help="total size of the two data layers")
    ap.add_argument("--dir", default=None,
                    help="where the store, the registry and skopeo's output go (default: the system's "
                         "temporary directory; see docs/images.md on inode allocation there)")
    args = ap.parse_args()
    for tool in ("docker-registry", "skopeo", "umoci"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is missing (scripts/setup-test-env installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="pydock-bench-pull-", dir=args.dir))
    reg = rp.start_registry(tmp / "reg")
    try:
        layers = [rp.busybox_rootfs(tmp / "img")]
        for i in range(2):
            d = tmp / "img" / f"data{i}"
            (d / f"data{i}").mkdir(parents=True)
            for j in range(10):
                (d / f"data{i}" / f"f{j}").write_bytes(os.urandom(args.mb * 1024 * 1024 // 20))
            layers.append(d)
        oci = rp.umoci_image(tmp / "img", layers)
        rp.push_oci(oci, reg, "bench/app:1", fmt="v2s2")
        ref = f"{reg.host}/bench/app:1"
        pydock = [str(Path(sys.executable).parent / "pydock")]
        pd_t, pd_m, sk_t, sk_m = [], [], [], []
        for i in range(args.runs):
            root = tmp / f"root{i}"
            env = {**os.environ, "PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(tmp / f"run{i}"),
                   "PYDOCK_CONFIG_DIR": str(tmp / "cfg")}
            t, m = timed([*pydock, "pull", "-q", ref], env)
            pd_t.append(t)
            pd_m.append(m)
            shutil.rmtree(root, ignore_errors=True)
            out = tmp / f"dir{i}"
            t, m = timed(["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                          f"docker://{ref}", f"dir:{out}"], dict(os.environ))
            sk_t.append(t)
            sk_m.append(m)
            shutil.rmtree(out, ignore_errors=True)
        rows = [("pull wall time", "ms", [median_ms(pd_t), median_ms(sk_t)]),
                ("peak RSS", "MB", [sorted(pd_m)[len(pd_m) // 2], sorted(sk_m)[len(sk_m) // 2]])]
        print(table(f"Pull of a 3-layer image, {args.mb} MB of data ({args.runs} runs, median)",
                    ["pydock pull", "skopeo copy"], rows))
        print("pydock also unpacks each layer into its store; skopeo's dir: only writes the blobs.")
    finally:
        reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
