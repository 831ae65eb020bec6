"""`pydock logs --tail 100` on 10 MB, 100 MB and 1 GB json-file logs, against GNU `tail -n 100`.

Run: `bench/run logs_tail [--sizes 10,100,1000] [--runs 10]`. Each log is one container's
`<id>-json.log` (written through the json-file driver, lines of about 100 bytes) under a container
record in a private state root. Figures per size, medians of `--runs`: the whole `pydock logs
--tail 100` command (Python start-up included; wall time, and CPU time, which a loaded machine does
not inflate), the reader alone in-process (what the command costs beyond start-up), and GNU `tail -n
100` on the same file (which prints raw records; pydock decodes them); plus `--since` selecting the
last 10,000 lines (found by binary search, then decoded). The printed lines are checked to be the last 100. Timings are never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import table
from pydock.logdrivers.base import LogInfo, ReadConfig
from pydock.logdrivers.jsonfile import JSONFileDriver

CLI = [sys.executable, "-m", "pydock"]


def make_log(root: Path, name: str, size_mb: int) -> tuple[str, int, int]:
    cid = (name.encode().hex() * 64)[:64]
    cdir = root / "containers" / cid
    cdir.mkdir(parents=True)
    config = {"Id": cid, "Name": name, "Created": "2026-01-01T00:00:00Z", "Image": "busybox",
              "Config": {"Image": "busybox"}, "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}},
              "LogPath": str(cdir / f"{cid}-json.log")}
    (cdir / "config.json").write_text(json.dumps(config))
    (cdir / "state.json").write_text(json.dumps({"Status": "exited", "Running": False}))
    info = LogInfo(container_id=cid, container_name=name, image_name="busybox", image_id="sha256:" + "0" * 64,
                   command=[], created_ns=0, labels={}, env=[], log_dir=str(cdir))
    drv = JSONFileDriver(info, {})
    n = 0
    target = size_mb * 1_000_000
    path = cdir / f"{cid}-json.log"
    ts = time.time_ns() - 10**15
    while path.stat().st_size < target:
        block = b"".join(b"%010d %s\n" % (i, b"x" * 88) for i in range(n, n + 10000))
        drv.log_chunk("stdout", block, ts + n * 100_000)  # 10,000 lines a second
        n += 10000
    drv.close()
    return cid, n, ts


def median_ms(f, runs: int) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000", help="log sizes in MB")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="pydock-tailbench-"))
    env = {**os.environ, "PYDOCK_ROOT": str(d)}
    rows: list[tuple[str, str, list[float | None]]] = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            cid, n, ts0 = make_log(d, f"log{size}", size)
            path = d / "containers" / cid / f"{cid}-json.log"
            want = [b"%010d %s" % (i, b"x" * 88) for i in range(n - 100, n)]
            out = subprocess.run([*CLI, "logs", "--tail", "100", cid], env=env, capture_output=True, check=True).stdout
            assert out.splitlines() == want, "pydock logs --tail printed the wrong lines"
            argv = [*CLI, "logs", "--tail", "100", cid]
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cli = median_ms(lambda a=argv: subprocess.run(a, env=env, stdout=subprocess.DEVNULL, check=True), args.runs)
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cli_cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / args.runs * 1000
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            median_ms(lambda p=str(path): subprocess.run(["tail", "-n", "100", p], stdout=subprocess.DEVNULL,
                                                         check=True), args.runs)
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            gnu_cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / args.runs * 1000
            reader = JSONFileDriver.open_reader(path.parent, {})
            inproc = median_ms(lambda r=reader: list(r.read(ReadConfig(tail=100))), args.runs)
            gnu = median_ms(lambda p=str(path): subprocess.run(["tail", "-n", "100", p], stdout=subprocess.DEVNULL,
                                                               check=True), args.runs)
            since = ts0 + (n - 10000) * 100_000  # the last chunk written: 10,000 lines
            got = list(reader.read(ReadConfig(since_ns=since)))
            assert len(got) == 10000, len(got)
            by_since = median_ms(lambda r=reader, s=since: list(r.read(ReadConfig(since_ns=s))), args.runs)
            mb = f"{path.stat().st_size / 1e6:.0f} MB"
            rows.append((f"{mb}: whole command, wall", "ms", [cli, gnu]))
            rows.append((f"{mb}: whole command, CPU user+sys", "ms", [cli_cpu, gnu_cpu]))
            rows.append((f"{mb}: reader in-process", "ms", [inproc, gnu]))
            rows.append((f"{mb}: --since (last 10k lines) in-process", "ms", [by_since, None]))
            path.unlink()
        start = median_ms(lambda: subprocess.run([sys.executable, "-c", "import pydock.cli"], check=True), args.runs)
        print(table("logs --tail 100 (median ms)", ["pydock", "GNU tail"], rows))
        print(f"Python start-up with pydock.cli imported: {start:.1f} ms (part of every 'whole command' figure)")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
