"""Build: a cold and a cached `pydock build` of a 5-instruction Dockerfile from busybox.

Run as root: `bench/run build [--runs 5]`. In a private state root holding busybox (bootstrapped from
the host's static busybox), builds FROM / ENV / COPY / RUN / CMD: cold with `--no-cache` (every step
made again: one build container for RUN, one layer each for COPY and RUN) and warm (every step a cache
hit), the runs taking turns. Also the time of `run --rm` of the result, for scale. No peer: Docker's
daemon and podman are not installed on the CI hosts. Medians in ms; timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import median_ms, table
from start_latency import pydock_cmd

DOCKERFILE = """\
FROM busybox
ENV APP=/app
COPY payload/ /app/
RUN cd /app && for f in *; do md5sum "$f" >> /app/SUMS; done
CMD ["cat", "/app/SUMS"]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--files", type=int, default=50, help="files COPY'd (4 KiB each)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench build: run as root (RUN needs namespaces and cgroups)")
    work = Path(tempfile.mkdtemp(prefix="pydock-bench-build-"))
    run_dir = Path("/run/pydock-bench") / work.name
    env = {**os.environ, "PYDOCK_ROOT": str(work / "root"), "PYDOCK_RUN": str(run_dir)}
    pd = pydock_cmd()
    try:
        subprocess.run([*pd, "image", "bootstrap", "busybox"], env=env, check=True, capture_output=True)
        ctx = work / "ctx"
        (ctx / "payload").mkdir(parents=True)
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        for i in range(args.files):
            (ctx / "payload" / f"f{i:03d}").write_bytes(os.urandom(4096))

        def timed(*extra: str) -> float:
            t0 = time.perf_counter()
            p = subprocess.run([*pd, "build", "-t", "bench", *extra, str(ctx)], env=env, capture_output=True,
                               text=True, check=False)
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                raise SystemExit(f"bench build: build failed: {p.stderr[-500:]}")
            return dt

        timed()  # warm-up: imports cached, the overlay probe done
        cold, warm, run = [], [], []
        for _ in range(args.runs):
            cold.append(timed("--no-cache"))
            warm.append(timed())
            t0 = time.perf_counter()
            subprocess.run([*pd, "run", "--rm", "bench"], env=env, check=True, capture_output=True)
            run.append(time.perf_counter() - t0)
        print(table(f"pydock build, 5 instructions, {args.files} files COPY'd, median of {args.runs}",
                    ["pydock"], [("cold build (--no-cache)", "ms", [median_ms(cold)]),
                                 ("cached build", "ms", [median_ms(warm)]),
                                 ("run --rm of the result", "ms", [median_ms(run)])]))
        print(f"cached/cold: {median_ms(warm) / median_ms(cold):.2f}")
    finally:
        subprocess.run([*pd, "container", "prune", "-f"], env=env, capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
