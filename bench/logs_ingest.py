"""Ingest cost of structured logs: lines/s into the SQLite store with field and level parsing on and
off (`SQLiteLogStore(parse_structured=...)`), for plain, logfmt, JSON and mixed lines, and the same
through Elasticsearch's spool (the document is built at append; the flush is not timed).

Usage: .venv/bin/python bench/logs_ingest.py [--lines 200000] [--batch 5000]
Figures depend on the machine; they are printed with the on/off ratio, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydock.collector.logstore import LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore

WORDS = ["GET", "POST", "cache", "miss", "upstream", "timeout", "retry", "session", "order", "worker"]
T0 = 1_790_000_000 * 10**9


def plain(i: int, rnd: random.Random) -> str:
    return f"{' '.join(rnd.choice(WORDS) for _ in range(6))} /api/items/{i % 5000} took {i % 997}ms req-{i:x}"


def logfmt(i: int, rnd: random.Random) -> str:
    return (f'time=2026-09-21T10:00:{i % 60:02d}Z level={rnd.choice(["info", "warn", "error"])} '
            f'msg="{" ".join(rnd.choice(WORDS) for _ in range(4))}" status={rnd.choice((200, 404, 500))} '
            f"user.id={i % 1000} dur={i % 997}ms")


def jsonl(i: int, rnd: random.Random) -> str:
    return json.dumps({"ts": "2026-09-21T10:00:00Z", "level": rnd.choice(["info", "warn", "error"]),
                       "msg": " ".join(rnd.choice(WORDS) for _ in range(4)), "status": rnd.choice((200, 404, 500)),
                       "user": {"id": i % 1000, "name": f"u{i % 50}"}, "dur_ms": i % 997})


def mixed(i: int, rnd: random.Random) -> str:
    return (plain, logfmt, jsonl)[i % 3](i, rnd)


def records(kind: Callable[[int, random.Random], str], n: int) -> list[LogRecord]:
    rnd = random.Random(3)
    return [LogRecord("h1", f"{i % 20:02x}" * 32, f"svc-{i % 20}", "stdout", T0 + i * 1_000_000, kind(i, rnd),
                      "1:1:abc", (i + 1) * 100) for i in range(n)]


def rate(store: Any, recs: list[LogRecord], batch: int) -> float:
    t = time.perf_counter()
    for i in range(0, len(recs), batch):
        store.append(recs[i:i + batch])
    return len(recs) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    print(f"{'lines':<8} {'parse off':>12} {'parse on':>12} {'on/off':>7}   (SQLite, lines/s, {args.lines} lines)")
    for name, kind in (("plain", plain), ("logfmt", logfmt), ("json", jsonl), ("mixed", mixed)):
        recs = records(kind, args.lines)
        got = {}
        for parse in (False, True):
            with tempfile.TemporaryDirectory() as d:
                store = SQLiteLogStore(Path(d) / "logs.sqlite", parse_structured=parse)
                got[parse] = rate(store, recs, args.batch)
                store.close()
        print(f"{name:<8} {got[False]:>12,.0f} {got[True]:>12,.0f} {got[True] / got[False]:>6.2f}x")
    try:
        from pydock.collector.logstore.elastic import ElasticsearchLogStore
    except ImportError:
        return
    recs = records(mixed, args.lines)
    got = {}
    for parse in (False, True):
        with tempfile.TemporaryDirectory() as d:
            es = ElasticsearchLogStore("http://127.0.0.1:9", Path(d) / "spool.sqlite", start_flusher=False,
                                       parse_structured=parse)
            got[parse] = rate(es, recs, args.batch)
            es.close()
    print(f"{'es spool':<8} {got[False]:>12,.0f} {got[True]:>12,.0f} {got[True] / got[False]:>6.2f}x   (mixed)")


if __name__ == "__main__":
    main()
