"""The collector's TSDB: storage round trips, staleness bits, ordering, retention, crash safety."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from pydock.collector import chunkenc
from pydock.collector import tsdb as tsdb_mod
from pydock.collector.tsdb import STALE_NAN, TSDB, Matcher, is_stale_nan

from pydock.errors import StorageError, UsageError


def bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


@pytest.fixture
def db(tmp_path: Path) -> TSDB:
    d = TSDB(tmp_path / "data")
    yield d
    d.close()


@pytest.mark.parametrize("vals,kind", [
    ([0.0, -0.0, 1.5, math.inf, -math.inf, math.nan, STALE_NAN, 1e-300, -7e300] + [i * 0.1 for i in range(91)],
     chunkenc.FLOAT),
    ([float(i * 7 % 50 - 20) for i in range(100)], chunkenc.INT),
    ([-0.0] + [1.0] * 99, chunkenc.FLOAT),  # -0 is integral but int() would lose its sign
    ([2.0**53] * 100, chunkenc.FLOAT),
    ([1.0, STALE_NAN, 3.0], chunkenc.RAW),
    ([round(20 + i * 0.37 - (i % 7) * 1.1, 2) for i in range(100)], chunkenc.DECIMAL),  # gauges like 21.37
    ([123.456789, -0.5, 1e6 + 0.001] * 30, chunkenc.DECIMAL),
    ([-0.0] + [0.25] * 99, chunkenc.FLOAT),  # k / 10**d would turn -0.0 into 0.0
    ([i * 0.1 for i in range(100)], chunkenc.FLOAT),  # 0.30000000000000004 is no short decimal
    ([1e-12] * 100, chunkenc.FLOAT),
    ([0.5] * 50 + [math.nan] * 50, chunkenc.FLOAT),
])
def test_chunk_encoding_round_trips_every_bit_pattern(vals: list[float], kind: int) -> None:
    ts = [1_700_000_000_000 + 15_000 * i + (i % 3) for i in range(len(vals))]
    data = chunkenc.encode(ts, vals)
    assert data[0] == kind
    out_ts, out_vs = chunkenc.decode(data, len(ts))
    assert out_ts == ts
    assert [bits(v) for v in out_vs] == [bits(v) for v in vals]


def test_append_select_and_matchers(db: TSDB) -> None:
    n = db.append([({"__name__": "up", "job": "a", "instance": str(i)}, t * 1000, float(i * t))
                   for t in range(10) for i in range(3)])
    assert n == 30
    got = {lb["instance"]: pts for lb, pts in db.select([Matcher("__name__", "=", "up")], 2000, 4000)}
    assert got["2"] == [(2000, 4.0), (3000, 6.0), (4000, 8.0)]
    assert [lb["instance"] for lb, _ in db.select([("instance", "=~", "[01]")], 0, 10_000)] == ["0", "1"]
    assert [lb["instance"] for lb, _ in db.select([("instance", "!=", "0"), ("job", "=", "a")], 0, 10_000)] \
        == ["1", "2"]
    assert list(db.select([("job", "=", "missing")], 0, 10_000)) == []
    # A matcher on an absent label compares against "".
    assert len(list(db.select([("__name__", "=", "up"), ("zone", "=", "")], 0, 10_000))) == 3
    assert len(list(db.select([("__name__", "=", "up"), ("zone", "!~", ".+")], 0, 10_000))) == 3
    assert db.label_names() == ["__name__", "instance", "job"]
    assert db.label_values("instance") == ["0", "1", "2"]
    assert db.series([("instance", "=", "1")]) == [{"__name__": "up", "job": "a", "instance": "1"}]
    assert db.series([("instance", "=", "1")], 20_000, 30_000) == []


def test_regex_matchers_are_anchored_like_prometheus() -> None:
    assert Matcher("a", "=~", "b|c").matches("c") and not Matcher("a", "=~", "b|c").matches("cb")
    assert not Matcher("a", "=~", "a").matches("a\n")  # Python's $ would match before a final newline
    assert Matcher("a", "=~", "(?i)AB").matches("ab")  # RE2 flags, which Python wants scoped
    assert Matcher("a", "!~", "").matches("x") and not Matcher("a", "!~", "").matches("")


def test_out_of_order_and_duplicates_are_dropped(db: TSDB) -> None:
    lb = {"__name__": "x"}
    assert db.append([(lb, 1000, 1.0), (lb, 2000, 2.0)]) == 2
    assert db.append([(lb, 2000, 5.0), (lb, 1500, 3.0), (lb, 3000, 3.0)]) == 1
    [(_, pts)] = db.select([("__name__", "=", "x")], 0, 10_000)
    assert pts == [(1000, 1.0), (2000, 2.0), (3000, 3.0)]


def test_empty_label_values_are_dropped(db: TSDB) -> None:
    db.append([({"__name__": "x", "a": ""}, 1000, 1.0), ({"__name__": "x"}, 2000, 2.0)])
    [(labels, pts)] = db.select([("__name__", "=", "x")], 0, 10_000)
    assert labels == {"__name__": "x"} and len(pts) == 2


def test_staleness_marker_survives_storage_and_reopen(tmp_path: Path) -> None:
    d = TSDB(tmp_path / "data")
    lb = {"__name__": "g"}
    d.append([(lb, 1000, 1.0), (lb, 2000, STALE_NAN), (lb, 3000, math.nan)])
    d.close()
    d = TSDB(tmp_path / "data")
    [(_, pts)] = d.select([("__name__", "=", "g")], 0, 10_000)
    assert is_stale_nan(pts[1][1])
    assert math.isnan(pts[2][1]) and not is_stale_nan(pts[2][1])
    d.close()


def test_full_chunks_are_packed_and_every_sample_kept(tmp_path: Path) -> None:
    d = TSDB(tmp_path / "data")
    start = 1_700_000_000_000
    for batch in range(20):
        d.append([({"__name__": "c", "i": str(i)}, start + (batch * 100 + k) * 15_000, float(batch * 100 + k))
                  for k in range(100) for i in range(5)])
    stats = d.stats()
    assert stats["chunk_samples"] + stats["head_samples"] == 10_000
    assert stats["head_samples"] < 5 * tsdb_mod.CHUNK_MAX  # less than one chunk per series waits
    assert stats["head_chunks"] <= 5 * 3  # what is left after a cut, plus the appends since
    got = d.select_arrays([("i", "=", "3")], start, start + 2000 * 15_000)
    [(_, ts, vs)] = got
    assert vs == [float(k) for k in range(2000)]
    assert ts == [start + k * 15_000 for k in range(2000)]
    # A window in the middle reads only what it asks for.
    [(_, ts2, _)] = d.select_arrays([("i", "=", "3")], start + 100 * 15_000, start + 110 * 15_000)
    assert len(ts2) == 11
    d.close()
    d = TSDB(tmp_path / "data")  # the head comes back from disk
    [(_, ts3, vs3)] = d.select_arrays([("i", "=", "4")], start, start + 2000 * 15_000)
    assert ts3 == ts and vs3 == vs
    d.compact(force=True)
    assert d.stats()["head_chunks"] == 0 and d.stats()["chunk_samples"] == 10_000
    d.close()
    # Chunks never straddle a 2-hour block.
    con = sqlite3.connect(tmp_path / "data" / "tsdb.sqlite")
    for min_t, max_t in con.execute("SELECT min_t, max_t FROM chunks"):
        assert min_t // tsdb_mod.BLOCK_MS == max_t // tsdb_mod.BLOCK_MS
    con.close()


def test_series_packing_at_different_times_keep_each_others_head(tmp_path: Path) -> None:
    # One sample per series per append interleaves the head rows of both series; "a" starts early,
    # so it packs while "b" is half full, and packing "a" must delete only rows of "a".
    d = TSDB(tmp_path / "data")
    start = 1_700_000_000_000 // tsdb_mod.BLOCK_MS * tsdb_mod.BLOCK_MS  # no block ends in the test
    n = tsdb_mod.CHUNK_MAX + 20
    for k in range(n):
        batch = [({"__name__": "a"}, start + k * 15_000, float(k))]
        if k >= 100:
            batch.append(({"__name__": "b"}, start + k * 15_000, float(-k)))
        assert d.append(batch) == len(batch)
    d.close()
    d = TSDB(tmp_path / "data")  # whatever the head rows say must come back, nothing more or less
    stats = d.stats()
    assert stats["chunk_samples"] + stats["head_samples"] == n + n - 100
    assert stats["head_chunks"] == 20 + (n - 100)  # "a" since its chunk, all of "b"
    [(_, ts_a, vs_a)] = d.select_arrays([("__name__", "=", "a")], start, start + n * 15_000)
    [(_, ts_b, vs_b)] = d.select_arrays([("__name__", "=", "b")], start, start + n * 15_000)
    assert vs_a == [float(k) for k in range(n)] and ts_a == [start + k * 15_000 for k in range(n)]
    assert vs_b == [float(-k) for k in range(100, n)] and ts_b == ts_a[100:]
    d.close()


def test_appends_apply_retention_about_once_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tsdb_mod, "MAINTENANCE_S", 0.0)
    d = TSDB(tmp_path / "data", retention_ms=3600_000)
    d.append([({"__name__": "gone", "a": "1"}, 0, 1.0), ({"__name__": "kept"}, 0, 1.0)])
    d.append([({"__name__": "kept"}, 5 * 3600_000, 2.0)])  # "gone" sits in a closed block: packed, then cut
    assert d.label_values("__name__") == ["kept"] and d.label_names() == ["__name__"]
    assert d.append([({"__name__": "gone", "a": "1"}, 5 * 3600_000, 3.0)]) == 1  # a new series again
    assert [pts for _, pts in d.select([("a", "=", "1")], 0, 10**9)] == [[(5 * 3600_000, 3.0)]]
    d.close()


def test_retention_drops_old_chunks_and_empty_series(tmp_path: Path) -> None:
    d = TSDB(tmp_path / "data", retention_ms=3600_000)
    d.append([({"__name__": "old"}, 0, 1.0), ({"__name__": "new"}, 0, 1.0)])
    d.append([({"__name__": "new"}, 4 * 3600_000, 2.0)])
    d.compact(force=True)
    assert d.label_values("__name__") == ["new"]
    [(_, pts)] = d.select([("__name__", "=", "new")], 0, 10**12)
    assert pts == [(4 * 3600_000, 2.0)]
    d.close()


def test_bad_matcher_and_closed_db(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        Matcher("a", "~", "b")
    with pytest.raises(UsageError):
        Matcher("a", "=~", "(")
    d = TSDB(tmp_path / "x.sqlite")
    d.close()
    with pytest.raises(StorageError):
        d.append([({"__name__": "x"}, 1, 1.0)])


WRITER = textwrap.dedent("""
    import sys
    from pydock.collector import tsdb as m
    m.CHUNK_MAX = 16   # pack often, so the kill can land inside a head-to-chunk move too
    db = m.TSDB(sys.argv[1])
    b = 0
    while True:
        db.append([({"__name__": "w", "i": str(i)}, b * 1000, float(b)) for i in range(50)])
        print(b, flush=True)
        b += 1
""")


@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_kill_9_loses_at_most_the_batch_in_flight(tmp_path: Path, delay: float) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(data)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    acked = -1
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        first = proc.stdout.readline()  # started and wrote at least one batch
        assert first.strip() == "0"
        time.sleep(delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    lines = [first] + out.splitlines()
    acked = max(int(x) for x in lines if x.strip())
    assert time.monotonic() < deadline
    d = TSDB(data)
    try:
        assert d._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        series = d.select_arrays([("__name__", "=", "w")], 0, 10**12)
        assert len(series) == 50
        for _, ts, vs in series:
            # Every acknowledged batch is there, in order, without gaps; at most one more.
            assert ts == [b * 1000 for b in range(len(ts))]
            assert acked + 1 <= len(ts) <= acked + 2
        # The reopened store accepts new writes after the crash.
        assert d.append([({"__name__": "w", "i": "0"}, 10**9, 1.0)]) == 1
    finally:
        d.close()


def test_readers_see_no_gap_or_duplicate_while_the_head_is_packed(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tsdb_mod, "CHUNK_MAX", 4)  # a head-to-chunk move every 4 appends
    d = TSDB(tmp_path / "data")
    done = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not done.is_set():
            for _, ts, _ in d.select_arrays([("__name__", "=", "r")], 0, 10**9):
                if ts != list(range(0, len(ts) * 1000, 1000)):
                    errors.append(f"{len(ts)} samples, not consecutive")

    th = threading.Thread(target=reader)
    th.start()
    try:
        for k in range(400):
            d.append([({"__name__": "r"}, k * 1000, float(k))])
    finally:
        done.set()
        th.join()
    assert not errors, errors[:3]
    assert d.stats()["chunk_samples"] == 400 - 400 % 4
    d.close()
