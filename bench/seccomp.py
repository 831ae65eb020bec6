"""Seccomp's cost: `run --rm busybox true` with Docker's default profile next to seccomp=unconfined,
and a syscall-heavy loop inside a container with and without the filter; also the two libseccomp
bindings (Debian's python3-seccomp, pyseccomp) timed building the default filter."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import median_ms, table, time_command

CLI = [sys.executable, "-m", "pydock"]
LOOP_C = r"""
#include <unistd.h>
#include <sys/syscall.h>
int main(void) { for (long i = 0; i < 2000000; i++) syscall(SYS_getppid); return 0; }
"""
BINDING = """
import sys, time
t0 = time.perf_counter()
if sys.argv[1] == "pyseccomp":
    import pyseccomp; sys.modules["seccomp"] = pyseccomp
from pydock.runtime.security import seccomp as s
f = s.build(s.read_profile("builtin"), {"CAP_CHOWN"}, True)
print((time.perf_counter() - t0) * 1000)
"""


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "15"))
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "PYDOCK_ROOT": f"{d}/root", "PYDOCK_RUN": f"/run/pydock-bench-{os.getpid()}",
               "PYDOCK_CONFIG": f"{d}/daemon.json"}
        subprocess.run([*CLI, "image", "bootstrap", "busybox"], env=env, check=True, capture_output=True)
        subprocess.run(["gcc", "-static", "-O2", "-x", "c", "-o", f"{d}/loop", "-"], input=LOOP_C.encode(), check=True)
        rows = []
        # Interleaved, one run of each mode in turn: this machine's load drifts more than the cost measured.
        start: dict[str, list[float]] = {"builtin": [], "unconfined": []}
        loop: dict[str, list[float]] = {"builtin": [], "unconfined": []}
        for i in range(runs):
            for mode in ("builtin", "unconfined"):
                start[mode] += time_command([*CLI, "run", "--rm", "--security-opt", f"seccomp={mode}",
                                             "busybox", "true"], 1, env=env, warmup=1 if i == 0 else 0)
                if i % 3 == 0:
                    loop[mode] += time_command([*CLI, "run", "--rm", "-v", f"{d}:/b:ro", "--security-opt",
                                                f"seccomp={mode}", "busybox", "/b/loop"], 1, env=env, warmup=0)
        rows.append(("run --rm busybox true", "ms", [median_ms(start["builtin"]), median_ms(start["unconfined"])]))
        rows.append(("2M getppid() in a container", "ms", [median_ms(loop["builtin"]), median_ms(loop["unconfined"])]))
        build = {}
        for b in ("native", "pyseccomp"):
            out = [float(subprocess.run([sys.executable, "-c", BINDING, b], capture_output=True, text=True,
                                        check=True).stdout) for _ in range(5)]
            build[b] = sorted(out)[2]
        rows.append(("import + build default filter", "ms", [build["native"], build["pyseccomp"]]))
        subprocess.run(["rm", "-rf", env["PYDOCK_RUN"]], check=False)
    print(table("seccomp: default profile vs unconfined (last row: python3-seccomp vs pyseccomp)",
                ["default", "unconfined"], rows))


if __name__ == "__main__":
    main()
