"""Benchmarks of the collector's log side, printed as a table:

- ingest into the SQLite FTS5 store (lines/s), straight into the store and through the push API
  (gzip NDJSON parsed and stored, in-process ASGI client);
- search latency (p50/p99) over 1 M stored lines (and 10 M with `--sizes 1000000,10000000`; the default
  stops at 1 M to keep the run within minutes on a small machine);
- the overview page in headless Chromium with 100 containers' metrics in the collector's TSDB: time to
  first contentful paint and to fully loaded (all 100 rows and their sparklines drawn).

Usage: .venv/bin/python bench/logs_store.py [--sizes 1000000] [--skip-browser]
Figures depend on the machine; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pydock.collector.logstore import LogQuery, LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore

WORDS = ["GET", "POST", "PUT", "DELETE", "cache", "miss", "hit", "upstream", "timeout", "retry", "connect", "accepted", "closed", "session", "user", "order", "payment", "invoice", "shipment", "queue", "worker", "job", "started", "finished", "failed", "warning", "error", "info", "debug"]
CONTAINERS = [(f"{i:02x}" * 32, f"svc-{i}") for i in range(20)]
T0 = 1_790_000_000 * 10**9


def make_batch(start: int, n: int, rnd: random.Random) -> list[LogRecord]:
    """Lines 1 ms apart: 1 M lines span about 17 minutes, so the 1-minute range query has lines to find."""
    out = []
    for i in range(start, start + n):
        cid, name = CONTAINERS[i % len(CONTAINERS)]
        words = " ".join(rnd.choice(WORDS) for _ in range(6))
        line = f"{words} /api/items/{i % 5000} status={rnd.choice((200, 200, 200, 404, 500))} dur={i % 997}ms req-{i:x}"
        out.append(LogRecord(f"host-{i % 3}", cid, name, "stderr" if i % 11 == 0 else "stdout", T0 + i * 1_000_000, line,
                             "1:1:abc", i * 120))
    return out


def bench_ingest(store: SQLiteLogStore, total: int, batch: int = 5000) -> float:
    rnd = random.Random(1)
    t = 0.0
    for start in range(0, total, batch):
        recs = make_batch(start, min(batch, total - start), rnd)
        t0 = time.perf_counter()
        store.append(recs)
        t += time.perf_counter() - t0
    return total / t


def bench_push(tmp: Path, total: int = 200_000, batch: int = 5000) -> float:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from pydock.collector.api import logs as logs_api

    store = SQLiteLogStore(tmp / "push.db")
    app = FastAPI()
    app.state.logstore = store
    app.include_router(logs_api.router)
    rnd = random.Random(2)
    bodies = []
    for start in range(0, total, batch):
        recs = make_batch(start, batch, rnd)
        bodies.append(gzip.compress(b"".join(json.dumps(r.to_json()).encode() + b"\n" for r in recs), 1))
    with TestClient(app) as c:
        t0 = time.perf_counter()
        for b in bodies:
            r = c.post("/api/v1/logs/push", content=b, headers={"Content-Encoding": "gzip"})
            assert r.status_code == 200
        dt = time.perf_counter() - t0
    store.close()
    return total / dt


def timed(store: SQLiteLogStore, q: LogQuery, runs: int = 15) -> tuple[float, float, int]:
    ts = []
    n = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        n = len(store.query(q).records)
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    return statistics.median(ts), ts[min(len(ts) - 1, int(len(ts) * 0.99))], n


SEARCHES = [
    ("rare token (FTS)", LogQuery(text="req-2a", limit=100)),
    ("common word, newest 100 (FTS)", LogQuery(text="timeout", limit=100)),
    ("two words AND (FTS)", LogQuery(text="payment failed", limit=100)),
    ("phrase (FTS)", LogQuery(text='"status=500"', limit=100)),
    ("container, newest 100", LogQuery(container="svc-7", limit=100)),
    ("container + stream + 1 min range", LogQuery(container="svc-3", stream="stderr", start_ns=T0 + 100 * 10**9,
                                                  end_ns=T0 + 160 * 10**9, limit=100)),
    ("newest 100, no filter", LogQuery(limit=100)),
    ("word + container", LogQuery(text="invoice", container="svc-11", limit=100)),
]


def bench_overview(tmp: Path, containers: int = 100, runs: int = 5) -> tuple[float, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))
    from playwright.sync_api import sync_playwright
    from pydock.collector.app import create_app
    from pydock.collector.config import CollectorSettings
    from webhelpers import CHROMIUM, CHROMIUM_ARGS, LiveServer

    app = create_app(CollectorSettings(config_path=None, data_dir=tmp / "collector"))
    now_ms = int(time.time() * 1000)
    samples = []
    for c in range(containers):
        base = {"job": "pydock-agent", "instance": f"node-{c % 4}:9338", "name": f"app-{c:03d}",
                "id": f"/pydock/{c:064x}", "image": "busybox"}
        for i in range(61):  # 15 minutes at 15 s
            t = now_ms - (60 - i) * 15_000
            samples.append(({"__name__": "container_cpu_usage_seconds_total", **base}, t, i * 0.5 * (c % 5 + 1)))
            samples.append(({"__name__": "container_memory_working_set_bytes", **base}, t, 50e6 + c * 1e6))
            samples.append(({"__name__": "container_spec_memory_limit_bytes", **base}, t, 256e6))
            samples.append(({"__name__": "container_last_seen", **base}, t, t / 1000))
            samples.append(({"__name__": "pydock_container_restarts_total", **base}, t, c % 3))
            for st in ("running", "exited"):
                samples.append(({"__name__": "pydock_container_state", "state": st, **base}, t, float(st == "running")))
    for h in range(4):
        for i in range(61):
            t = now_ms - (60 - i) * 15_000
            samples.append(({"__name__": "up", "job": "pydock-agent", "instance": f"node-{h}:9338"}, t, 1.0))
            samples.append(({"__name__": "machine_cpu_cores", "job": "pydock-agent", "instance": f"node-{h}:9338"}, t, 8))
    app.state.tsdb.append(samples)
    srv = LiveServer(app).start()
    fcp, loaded = [], []
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for _ in range(runs):
                    ctx = b.new_context(viewport={"width": 1280, "height": 900})
                    page = ctx.new_page()
                    page.goto(srv.url + "/")
                    page.wait_for_function(
                        f"() => document.querySelectorAll('#containers tbody tr').length === {containers} && "
                        "Array.from(document.querySelectorAll('#containers svg.spark'))"
                        ".every(s => +s.getAttribute('data-points') > 1)", timeout=60000)
                    done = page.evaluate("performance.now()")
                    paint = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
                    fcp.append(float(paint or 0))
                    loaded.append(float(done))
                    ctx.close()
            finally:
                b.close()
    finally:
        srv.stop()
    return statistics.median(fcp), statistics.median(loaded)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000", help="comma-separated store sizes for the search latency")
    ap.add_argument("--skip-browser", action="store_true")
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []

    def add(row: tuple[str, str]) -> None:  # progress on stderr: a 10 M run takes many minutes
        rows.append(row)
        print(f"{row[0]}: {row[1]}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        add(("push API ingest, gzip NDJSON, 5,000-line batches (200k lines)", f"{bench_push(tmp):,.0f} lines/s"))
        for size in [int(s) for s in args.sizes.split(",")]:
            store = SQLiteLogStore(tmp / f"bench-{size}.db")
            rate = bench_ingest(store, size)
            add((f"store ingest into SQLite FTS5, {size:,} lines", f"{rate:,.0f} lines/s"))
            mb = (tmp / f"bench-{size}.db").stat().st_size / 1e6
            add((f"  database size, {size:,} lines", f"{mb:,.0f} MB"))
            for label, q in SEARCHES:
                p50, p99, n = timed(store, q)
                add((f"  search over {size:,}: {label}", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({n} hits)"))
            store.close()
            (tmp / f"bench-{size}.db").unlink()
        if not args.skip_browser:
            fcp, loaded = bench_overview(tmp)
            add(("overview, 100 containers: first contentful paint (median of 5)", f"{fcp:.0f} ms"))
            add(("overview, 100 containers: fully loaded, rows + sparklines (median of 5)", f"{loaded:.0f} ms"))
    w = max(len(r[0]) for r in rows)
    print(f"{'benchmark'.ljust(w)}  result")
    print(f"{'-' * w}  {'-' * 30}")
    for k, v in rows:
        print(f"{k.ljust(w)}  {v}")


if __name__ == "__main__":
    main()
