"""Benchmark: the collector's TSDB and PromQL engine side by side with Prometheus on the same data.

    .venv/bin/python bench/collector_tsdb.py [--series 1000] [--hours 1] [--runs 15] [--imports 3]

One OpenMetrics file (counters with integer increments and float gauges, 15 s apart) is
backfilled into Prometheus with `promtool tsdb create-blocks-from openmetrics` and imported into the
collector with `import_openmetrics`, both timed, --imports times each in turn (the median is shown). Then both serve the data and answer
`rate(bench_requests_total[5m])` over the counters, as an instant query at the end of the data and as
a range query over the whole span (step 60 s), and other common instant shapes (SHAPES: an aggregation
of rate, a gauge's avg_over_time, histogram_quantile over a histogram's rate), after one warm-up,
the two servers asked in turn
(--runs rounds) so that load from elsewhere falls on both alike; the table shows the median and the
best. Prometheus is asked over HTTP on loopback; the collector runs in a child process of its own
and times engine + JSON encoding, which is what its HTTP handler does. Memory is the peak resident
size of each serving process. Ratios are pydock / Prometheus.
Timings are printed, never asserted; they vary with machine load (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

T0 = 1_700_000_000
STEP = 15
QUERY = "rate(bench_requests_total[5m])"
SHAPES = {  # more instant queries, each timed like QUERY
    "sum by": "sum by (instance) (rate(bench_requests_total[5m]))",
    "avg_over_time": "avg_over_time(bench_temperature[5m])",
    "histogram_quantile": "histogram_quantile(0.9, sum by (le, instance) (rate(bench_latency_seconds_bucket[5m])))",
}
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def generate(path: Path, series: int, hours: float, seed: int = 7) -> int:
    """Counters and as many gauges, then a histogram's buckets (one per 100 counters, instance by
    instance), written series by series as OpenMetrics wants."""
    rng = random.Random(seed)
    points = int(hours * 3600 // STEP) + 1
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("# TYPE bench_requests counter\n")
        for s in range(series):
            lb = f'{{job="bench",instance="host{s % 50}:9100",shard="{s}"}}'
            v = 0
            for i in range(points):
                v += rng.randint(0, 100)
                f.write(f"bench_requests_total{lb} {v} {T0 + STEP * i}\n")
                n += 1
        f.write("# TYPE bench_temperature gauge\n")
        for s in range(series):
            lb = f'{{job="bench",instance="host{s % 50}:9100",sensor="{s}"}}'
            g = rng.uniform(20, 80)
            for i in range(points):
                g = round(g + rng.uniform(-0.5, 0.5), 2)
                f.write(f"bench_temperature{lb} {g} {T0 + STEP * i}\n")
                n += 1
        f.write("# TYPE bench_latency_seconds histogram\n")
        for s in range(max(1, series // 100)):
            counts = [0] * len(BUCKETS)
            rows: list[list[int]] = []
            for i in range(points):
                hits = rng.randint(0, 50)
                for b in range(len(BUCKETS)):  # cumulative: a bucket holds those of the ones below
                    counts[b] += hits * (b + 1) // len(BUCKETS) + (rng.randint(0, 2) if b else 0)
                counts = [max(counts[: b + 1]) for b in range(len(counts))]
                rows.append(list(counts))
            for b, le in enumerate(BUCKETS):
                lb = f'{{job="bench",instance="host{s}:9100",le="{le}"}}'
                for i in range(points):
                    f.write(f"bench_latency_seconds_bucket{lb} {rows[i][b]} {T0 + STEP * i}\n")
                    n += 1
        f.write("# EOF\n")
    return n


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def proc_mem_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker(mode: str, om: Path, data: Path, end: float, runs: int) -> None:
    """The collector's side, one phase per process so each peak RSS is that phase's own; prints JSON."""
    from pydock.collector.importer import import_openmetrics, iter_samples
    from pydock.collector.promql import Engine
    from pydock.collector.tsdb import TSDB

    out: dict[str, Any] = {}
    if mode == "import":
        db = TSDB(data)
        t = time.perf_counter()
        out["samples"] = import_openmetrics(om, db)
        db.close()
        out["import_s"] = time.perf_counter() - t
        out["disk"] = dir_size(data)
    elif mode == "serve":  # what a running collector holds: the TSDB and the engine, answering
        db = TSDB(data)
        engine = Engine(db)
        asks: dict[str, Callable[[], Any]] = {"instant": partial(engine.instant, QUERY, end),
                                               "range": partial(engine.range, QUERY, T0, end, 60)}
        asks.update({name: partial(engine.instant, q, end) for name, q in SHAPES.items()})
        for ask in asks.values():
            ask().json_text()  # warm-up
        print("ready", flush=True)
        for line in sys.stdin:  # one timing per request, so the parent can interleave both servers
            name = line.strip()
            if name not in asks:
                break
            t = time.perf_counter()
            val = asks[name]()
            val.json_text()  # as the API answers
            took = time.perf_counter() - t
            print(took, len(val.series if name == "range" else val.samples), flush=True)
        db.close()
    else:  # storage alone as scraping feeds it: one sample per series per append call
        by_time: dict[int, list[tuple[dict[str, str], int, float]]] = {}
        for labels, ts, v in iter_samples(om):
            by_time.setdefault(ts, []).append((labels, ts, v))
        db = TSDB(data)
        t = time.perf_counter()
        for ts in sorted(by_time):
            db.append(by_time[ts])
        db.close()
        out["append_s"] = time.perf_counter() - t
    out["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=1000, help="counter series (as many gauges again)")
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--imports", type=int, default=3, help="bulk imports by each, in turn")
    ap.add_argument("--worker", nargs=4, metavar=("MODE", "FILE", "DIR", "END"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), Path(args.worker[2]), float(args.worker[3]), args.runs)
        return
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        sys.exit("prometheus and promtool are needed (scripts/setup-test-env installs them)")
    import httpx

    end = T0 + args.hours * 3600
    with tempfile.TemporaryDirectory(prefix="bench-tsdb-") as tmp:
        d = Path(tmp)
        om = d / "data.om"
        n = generate(om, args.series, args.hours)
        print(f"{n:,} samples in {2 * args.series + max(1, args.series // 100) * len(BUCKETS)} series over "
              f"{args.hours} h; query {QUERY}")
        for kind, q in SHAPES.items():
            print(f"  {kind}: {q}")

        def worker_phase(mode: str, target: Path) -> dict[str, Any]:
            res = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--worker", mode, str(om),
                                  str(target), str(end)], check=True, capture_output=True, text=True)
            return dict(json.loads(res.stdout.strip().splitlines()[-1]))

        # Both imports --imports times, in turn (a single import is one shot of a few tenths of a
        # second, so load from elsewhere decided single figures); the first copies are kept and served.
        prom_import: list[float] = []
        ours: dict[str, Any] = {}
        our_import: list[float] = []
        for k in range(args.imports):
            prom_dir, our_dir = d / ("prom" if k == 0 else f"prom{k}"), d / ("ours" if k == 0 else f"ours{k}")
            t = time.perf_counter()
            subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(prom_dir)],
                           check=True, capture_output=True)
            prom_import.append(time.perf_counter() - t)
            phase = worker_phase("import", our_dir)
            our_import.append(phase.pop("import_s"))
            ours["import_rss_kb"] = max(ours.get("import_rss_kb", 0), phase.pop("rss_kb"))
            ours.update(phase)
            if k:
                shutil.rmtree(prom_dir)
                shutil.rmtree(our_dir)
        prom_disk = dir_size(d / "prom")
        phase = worker_phase("append", d / "scrape")
        ours["append_rss_kb"] = phase.pop("rss_kb")
        ours.update(phase)

        (d / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
        port = free_port()
        with open(d / "prometheus.log", "wb") as log:
            proc = subprocess.Popen([prometheus, f"--config.file={d / 'prometheus.yml'}",
                                     f"--storage.tsdb.path={d / 'prom'}", f"--web.listen-address=127.0.0.1:{port}",
                                     "--storage.tsdb.retention.time=100y"], stdout=log, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if http.get("/-/ready").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        sys.exit("Prometheus did not start: " + (d / "prometheus.log").read_text())
                    time.sleep(0.1)

                def ask(path: str, **params: Any) -> tuple[float, int]:
                    t = time.perf_counter()
                    r = http.get(path, params=params)
                    r.raise_for_status()
                    took = time.perf_counter() - t
                    return took, len(r.json()["data"]["result"])

                prom_asks: dict[str, Callable[[], tuple[float, int]]] = {
                    "instant": partial(ask, "/api/v1/query", query=QUERY, time=end),
                    "range": partial(ask, "/api/v1/query_range", query=QUERY, start=T0, end=end, step=60)}
                prom_asks.update({name: partial(ask, "/api/v1/query", query=q, time=end)
                                  for name, q in SHAPES.items()})
                server = subprocess.Popen([sys.executable, __file__, "--worker", "serve", str(om), str(d / "ours"),
                                           str(end)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                assert server.stdin is not None and server.stdout is not None
                times: dict[str, list[float]] = {f"{w}_{k}": [] for w in ("ours", "prom") for k in prom_asks}
                try:
                    assert server.stdout.readline().strip() == "ready"
                    for ask_fn in prom_asks.values():
                        ask_fn()  # warm-up
                    # Interleaved, so that load from elsewhere on the machine falls on both alike.
                    for _ in range(args.runs):
                        for kind, ask_fn in prom_asks.items():
                            took, prom_n = ask_fn()
                            times[f"prom_{kind}"].append(took)
                            server.stdin.write(kind + "\n")
                            server.stdin.flush()
                            took_s, ours_n = server.stdout.readline().split()
                            times[f"ours_{kind}"].append(float(took_s))
                            if int(ours_n) != prom_n:
                                sys.exit(f"{kind}: {ours_n} series from pydock, {prom_n} from Prometheus")
                    ours["serve_rss_kb"] = proc_mem_kb(server.pid, "VmHWM")
                finally:
                    server.stdin.close()
                    server.wait(timeout=60)
                prom_rss = proc_mem_kb(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    rows = [
        (f"ingest, bulk import, median of {args.imports} (samples/s, higher is better)",
         ours["samples"] / statistics.median(our_import), n / statistics.median(prom_import)),
        ("disk per million samples (MB)", ours["disk"] / n, prom_disk / n),
        ("peak memory of the process serving queries (MB)", ours["serve_rss_kb"] / 1024, prom_rss / 1024),
    ]
    for kind, what in (("instant", f"instant query, {args.series} series"),
                       ("range", f"range query, {args.series} series, {args.hours:g} h, step 60 s")):
        for stat, fn in (("median", statistics.median), ("best", min)):
            rows.append((f"{what}, {stat} (ms)", fn(times[f"ours_{kind}"]) * 1000,
                         fn(times[f"prom_{kind}"]) * 1000))
    for kind in SHAPES:
        rows.append((f"instant {kind}, median (ms)", statistics.median(times[f"ours_{kind}"]) * 1000,
                     statistics.median(times[f"prom_{kind}"]) * 1000))
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':62} {'pydock':>12} {'Prometheus':>12} {'ratio':>8}")
    for name, mine, theirs in rows:
        if name.startswith("disk"):
            mine, theirs = mine * 1e6 / 2**20, theirs * 1e6 / 2**20
        print(f"{name:62} {mine:12,.2f} {theirs:12,.2f} {mine / theirs:8.2f}")
    print(f"{'ingest, scrape-like appends, 1 sample/series/call (samples/s)':62} "
          f"{ours['samples'] / ours['append_s']:12,.0f} {'-':>12} {'':>8}")
    print(f"{'peak memory of the bulk import (MB)':62} {ours['import_rss_kb'] / 1024:12,.1f} {'-':>12} {'':>8}")


if __name__ == "__main__":
    main()
