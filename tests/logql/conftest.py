"""Fixtures of the LogQL tests: a real SQLite log store filled with lines, and a TSDB."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.collector.tsdb import TSDB

# The collector tests' helpers (webhook receiver, polling) are imported by name, as those tests do.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collector"))


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
