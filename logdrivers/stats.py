"""The outermost layer the shim talks to: counts lines, bytes and drops, and writes them down.

`<container dir>/logstats.json` (docs/internals.md §3):
`{"lines": {"stdout": n, "stderr": n}, "bytes": {...}, "dropped": n, "driver": "json-file",
"closed": false}`, written
atomically (temp file, rename) at most once a second while lines flow, and at close. `lines` and
`bytes` count what the container wrote (bytes without the newlines); `dropped` counts lines that
never reached the driver (the non-blocking buffer was full, or the driver failed on them);
`closed` turns true once the driver has flushed and closed (a follower's sign that nothing more comes).
A driver that raises (a full disk under json-file, say) neither stops the copier nor loses lines
silently: as Docker's copier, this layer goes on with the next line, and counts the failed ones in
`dropped`, with the error's text in `last_error`. Lines the dual-logging cache failed to keep (they
did reach the driver) are counted in `cache_dropped`. With `redact`/`redact-regex`, this layer
also takes the secrets out (logdrivers/redact.py) before the cache or the driver sees a line, and
`redactions` counts the values replaced.

The layers below it: an optional dual-logging cache (written first, so `pydock logs` has every line
even when a remote endpoint refuses it), then the driver, possibly wrapped in the non-blocking ring.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from pydock.logdrivers.base import LogDriver, LogMessage
from pydock.logdrivers.redact import Redactor

from pydock.errors import PydockError

STATS_FILE = "logstats.json"


def write_atomic(path: Path, data: bytes, sync: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def read_stats(container_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(container_dir) / STATS_FILE).read_bytes())  # type: ignore[no-any-return]
    except (FileNotFoundError, ValueError):
        return None


class StatsDriver:
    """`driver` does the work; `cache` (a local-format writer) gets every line first, if given."""

    def __init__(self, driver: LogDriver, name: str, log_dir: str | os.PathLike[str] | None,
                 cache: LogDriver | None = None, interval: float = 1.0, redactor: Redactor | None = None):
        self.driver = driver
        self.redactor = redactor  # None: lines pass untouched, at no cost
        self.cache = cache
        self.name = name
        self.lines = {"stdout": 0, "stderr": 0}
        self.bytes = {"stdout": 0, "stderr": 0}
        self.cache_dropped = 0  # lines the cache failed to write (they reached the driver)
        self.failed = 0  # lines the driver raised on
        self.last_error = ""
        self._path = Path(log_dir) / STATS_FILE if log_dir else None
        self._interval = interval
        self._next = 0.0
        self._chunk = getattr(driver, "log_chunk", None)
        self._closed = False
        self._write_lock = threading.Lock()
        self._late = 0  # lines that came after close() (a shim aborting a stuck driver): dropped
        self._cache_chunk = getattr(cache, "log_chunk", None) if cache is not None else None

    @property
    def dropped(self) -> int:
        layers = sum(int(getattr(layer, "dropped", 0)) for layer in (self.driver, self.cache) if layer is not None)
        return layers + self._late + self.failed

    def _failed(self, exc: BaseException, lines: int, cache: bool) -> None:
        if cache:
            self.cache_dropped += lines
        else:
            self.failed += lines
        self.last_error = f"{'cache: ' if cache else ''}{exc.__class__.__name__}: {exc}"
        self._next = 0.0  # write the count out now

    def log(self, msg: LogMessage) -> None:
        src = msg.source
        self.lines[src] = self.lines.get(src, 0) + 1
        self.bytes[src] = self.bytes.get(src, 0) + len(msg.line)
        if self._closed:
            self._late += 1
            self.write()
            return
        if self.redactor is not None:
            msg = self._redact_message(msg)
        if self.cache is not None:
            try:
                self.cache.log(msg)
            except (OSError, PydockError) as exc:
                self._failed(exc, 1, cache=True)
        try:
            self.driver.log(msg)
        except (OSError, PydockError) as exc:
            self._failed(exc, 1, cache=False)
        self._maybe_write()

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        # A driver's `log_chunk` may return the number of lines it took (json-file's encoder knows
        # it for free); otherwise, or with a cache or an error in the way, the newlines are counted.
        n: int | None = None
        if self._closed:
            n = data.count(b"\n")
            self._late += n
            self._count(source, data, n)
            self.write()
            return
        counted = data  # counts are of what the container wrote
        if self.redactor is not None:
            data = self.redactor.chunk(source, data)
        if self.cache is not None:
            try:
                if self._cache_chunk is not None:
                    self._cache_chunk(source, data, timestamp_ns)
                else:
                    for line in data[:-1].split(b"\n"):
                        self.cache.log(LogMessage(line, source, timestamp_ns))
            except (OSError, PydockError) as exc:  # how much of the chunk was kept is unknown: all counted
                n = data.count(b"\n")
                self._failed(exc, n, cache=True)
        if self._chunk is not None:
            try:
                took = self._chunk(source, data, timestamp_ns)
                if n is None and type(took) is int:
                    n = took
            except (OSError, PydockError) as exc:
                n = data.count(b"\n") if n is None else n
                self._failed(exc, n, cache=False)
        else:
            log = self.driver.log
            for line in data[:-1].split(b"\n"):
                try:
                    log(LogMessage(line, source, timestamp_ns))
                except (OSError, PydockError) as exc:
                    self._failed(exc, 1, cache=False)
        self._count(source, counted, data.count(b"\n") if n is None else n)
        self._maybe_write()

    def _count(self, source: str, data: bytes, n: int) -> None:
        self.lines[source] = self.lines.get(source, 0) + n
        self.bytes[source] = self.bytes.get(source, 0) + len(data) - n

    def _redact_message(self, msg: LogMessage) -> LogMessage:
        assert self.redactor is not None
        line = self.redactor.line(msg.source, msg.line)
        if line == msg.line:
            return msg
        return LogMessage(line, msg.source, msg.timestamp_ns, msg.partial, msg.attrs)

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {"lines": dict(self.lines), "bytes": dict(self.bytes), "dropped": self.dropped, "driver": self.name,
                "closed": self._closed}
        if self.cache is not None:
            snap["cache_dropped"] = self.cache_dropped
        if self.redactor is not None:
            snap["redactions"] = self.redactor.count
        if self.last_error:
            snap["last_error"] = self.last_error
        return snap

    def _maybe_write(self) -> None:
        if self._path is None:
            return
        if self._closed:  # closed while this line was stuck in the driver: its fate is final now
            self.write()
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            self.write()

    def write(self, sync: bool = False) -> None:
        if self._path is not None:
            with self._write_lock:  # the snapshot and the rename in one order: the last count wins
                write_atomic(self._path, json.dumps(self.snapshot(), separators=(",", ":")).encode(), sync)

    def close(self) -> None:
        """Flush and close. Safe to call from another thread while the copier is stuck in a driver
        (a dead endpoint in blocking mode): the stuck send is aborted, and whatever the copier still
        hands over afterwards is counted as dropped. Never raises for a layer's I/O error."""
        if self._closed:
            return
        self._closed = True
        # An error here (a rotated file that could not be compressed, a socket that failed to
        # shut down) is reported in logstats.json, not raised: the shim closes the driver right
        # before it writes the exited state, and must get there.
        for layer, is_cache in ((self.driver, False), (self.cache, True)):
            if layer is None:
                continue
            try:
                layer.close()
            except (OSError, PydockError) as exc:
                self.last_error = f"{'cache: ' if is_cache else ''}close: {exc.__class__.__name__}: {exc}"
        self.write(sync=True)
