"""Log-rule evaluation cost: a LogQL rule through the PromQL engine vs the same count in SQLite FTS5.

Stores N lines (default 1 M) from 10 containers spread over one hour, 1 % of them with `panic`, then
times two rule expressions, each evaluated as the rule engine does (`Engine.instant` on the text):
- one container, 5 minutes: `count_over_time({name="svc-3"} |= "panic" [5m]) > 0`
- every line of the hour:   `sum(count_over_time({host="h1"} |= "panic" [1h]))` (counted in SQL with instr())
- the same with a whole word: `|= " boom "` (FTS5 narrows, instr() decides, counted in SQL)
- the same through a parser: `|= "panic" | logfmt` (instr() narrows in SQL, the pipeline runs in Python)
next to the same count asked of SQLite directly (FTS5 MATCH plus the name and time bounds).
Prints p50 per evaluation and the ratio; figures depend on the machine and are never asserted.

Usage: .venv/bin/python bench/logql.py [--lines 1000000] [--evals 9]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydock.collector.logstore import LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.collector.promql import Engine
from pydock.collector.tsdb import TSDB

WORDS = ["GET", "POST", "cache", "miss", "upstream", "timeout", "retry", "session", "order", "worker", "error", "info"]
HOUR_NS = 3600 * 10**9


def fill(store: SQLiteLogStore, n: int, end_ns: int) -> None:
    rnd = random.Random(7)
    batch: list[LogRecord] = []
    step = HOUR_NS // n
    for i in range(n):
        c = i % 10
        words = " ".join(rnd.choice(WORDS) for _ in range(8))
        line = f"panic: boom in {words}" if rnd.random() < 0.01 else f"level=info msg=\"{words}\" n={i}"
        batch.append(LogRecord("h1", f"{c:02x}" * 32, f"svc-{c}", "stdout", end_ns - HOUR_NS + i * step, line,
                               "f", i))
        if len(batch) == 20_000:
            store.append(batch)
            batch = []
    store.append(batch)


def p50(fn: Callable[[], object], evals: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(evals):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines to store (default 1000000)")
    ap.add_argument("--evals", type=int, default=9, help="evaluations per measurement (default 9)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        store = SQLiteLogStore(Path(d) / "logs.sqlite")
        tsdb = TSDB(Path(d) / "tsdb.sqlite")
        end_s = int(time.time())
        t = time.perf_counter()
        fill(store, args.lines, end_s * 10**9)
        print(f"stored {args.lines} lines in {time.perf_counter() - t:.1f} s")
        engine = Engine(tsdb, logstore=store)
        con = sqlite3.connect(Path(d) / "logs.sqlite")
        sql = ("SELECT count(*) FROM logs_fts JOIN logs ON logs.id = logs_fts.rowid WHERE logs_fts MATCH ? "
               "AND logs.container_name LIKE ? AND logs.time_ns > ? AND logs.time_ns <= ?")
        cases = [("svc-3, 5m", 'count_over_time({name="svc-3"} |= "panic" [5m]) > 0', "svc-3", 300, "panic"),
                 ("all, 1h", 'sum(count_over_time({host="h1"} |= "panic" [1h]))', "%", 3600, "panic"),
                 ("word, 1h", 'sum(count_over_time({host="h1"} |= " boom " [1h]))', "%", 3600, "boom"),
                 ("logfmt, 1h", 'sum(count_over_time({host="h1"} |= "panic" | logfmt [1h]))', "%", 3600, "panic")]
        print(f"{'rule':<12} {'lines in window':>15} {'LogQL p50':>11} {'FTS5 p50':>10} {'ratio':>7}  counts")
        for label, expr, name, rng, word in cases:
            lo_ns, hi_ns = (end_s - rng) * 10**9, end_s * 10**9
            window = con.execute("SELECT count(*) FROM logs WHERE container_name LIKE ? AND time_ns > ? "
                                 "AND time_ns <= ?", (name, lo_ns, hi_ns)).fetchone()[0]
            lq, res = p50(lambda expr=expr: engine.instant(expr, end_s), args.evals)
            fq, cnt = p50(lambda name=name, lo=lo_ns, hi=hi_ns, word=word:
                          con.execute(sql, (word, name, lo, hi)).fetchone()[0], args.evals)
            got = [sum(s.v for s in res.samples)]  # type: ignore[attr-defined]
            print(f"{label:<12} {window:>15} {lq * 1000:>9.1f}ms {fq * 1000:>8.1f}ms {lq / fq:>6.1f}x  "
                  f"LogQL {got} FTS5 {cnt}")
        con.close()
        store.close()
        tsdb.close()


if __name__ == "__main__":
    main()
