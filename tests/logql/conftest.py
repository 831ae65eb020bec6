"""Fixtures of the LogQL tests: a real SQLite log store filled with lines, and a TSDB."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydock.collector.logstore import LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.collector.tsdb import TSDB

# The collector tests' helpers (webhook receiver, polling) are imported by name, as those tests do.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collector"))

T0 = 1_700_000_000  # seconds; every test places its lines relative to it


def rec(name: str, t: float, line: str, stream: str = "stdout", host: str = "h1", cid: str = "") -> LogRecord:
    """One line of container `name` at unix time `t` (seconds); offsets are unique per (name, time, line)."""
    cid = cid or (name * 8)[:12]
    return LogRecord(host, cid, name, stream, int(t * 1e9), line, "f1", abs(hash((name, t, line))) % 2**62)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteLogStore]:
    s = SQLiteLogStore(tmp_path / "logs.sqlite")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def tsdb(tmp_path: Path) -> Iterator[TSDB]:
    db = TSDB(tmp_path / "tsdb.sqlite")
    try:
        yield db
    finally:
        db.close()
