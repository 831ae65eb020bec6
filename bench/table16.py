"""Issue 16's table: runs every row's benchmark in turn, each with its peer in the same run.

`bench/run table16 [--quick]` runs cli_startup, start_latency, shim_memory, logs_throughput,
collector_tsdb and agent_scrape one after the other (as root; about 15 minutes, 6 with --quick),
prints the machine, the load average before and after each, and each benchmark's own table, so the
final table in docs/performance.md can be checked against one run. Timings are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name, arguments (full), arguments (--quick): every row of the table is printed by one of these
ROWS = [
    ("cli_startup", [], ["--runs", "9"]),
    ("start_latency", [], ["--runs", "12"]),
    ("shim_memory", [], []),
    ("logs_throughput", [], ["--runs", "2"]),
    ("collector_tsdb", [], ["--runs", "9", "--imports", "2"]),
    ("agent_scrape", ["--sizes", "100,1000"], ["--sizes", "1000", "--scrapes", "10"]),
]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem} GiB, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs of each (about 6 minutes)")
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    args = ap.parse_args()
    only = {n for n in args.only.split(",") if n}
    print(f"# issue 16 table, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n# {machine()}", flush=True)
    failed = []
    for name, full, quick in ROWS:
        if only and name not in only:
            continue
        if not (HERE / f"{name}.py").exists():
            print(f"\n## {name}: no such benchmark here", flush=True)
            failed.append(name)
            continue
        before = load()
        t0 = time.monotonic()
        print(f"\n## {name} {' '.join(quick if args.quick else full)} (load before: {before})", flush=True)
        argv = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full)]
        rc = subprocess.run(argv, check=False).returncode
        print(f"## {name}: {time.monotonic() - t0:.0f} s, load after: {load()}, exit {rc}", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
