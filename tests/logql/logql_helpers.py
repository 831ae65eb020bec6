"""Helpers of the LogQL tests (imported by name: tests are not a package): log records to store."""

from __future__ import annotations

from pydock.collector.logstore import LogRecord

T0 = 1_700_000_000  # seconds; tests place their lines relative to it


def rec(name: str, t: float, line: str, stream: str = "stdout", host: str = "h1", cid: str = "") -> LogRecord:
    """One line of container `name` at unix time `t` (seconds); offsets are unique per (name, time, line)."""
    cid = cid or (name * 8)[:12]
    return LogRecord(host, cid, name, stream, int(t * 1e9), line, "f1", abs(hash((name, t, line))) % 2**62)
