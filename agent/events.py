"""Container lifecycle events as data: counters on the agent's /metrics, log entries in the collector.

The runtime journals its events (start, die with its exit code, oom, restart, health_status...) in
`$PYDOCK_ROOT/events.jsonl` (runtime/events.py, Docker's event shape). The agent reads that journal
through the runtime's read-only API (`Event.from_json`, the journal's file names), incrementally:
`JournalTail` keeps a byte offset and the file's inode, so a scrape costs one stat and the read of
what was appended since; the journal's rotation (a rename to `events.jsonl.1`) is noticed by the inode
and the renamed file is read to its end first. Events are ordered by `timeNano`, strictly increasing
across writers, which also drops anything read twice.

- `EventCounters` turns them into `pydock_container_events_total{id, name, image, event}` (`id` is the
  full container ID; `event` is Docker's action, e.g. `die`, `oom`, `health_status: unhealthy`; exec
  actions without their command). Counting starts from what the journal still holds when the agent
  starts; series of a destroyed container are dropped `FORGET_AFTER_S` after its `destroy`.
- `EventShipper` pushes each event to the collector's log push API as a log entry of stream `event`
  (`container die (exitCode=137)`), so events show in the logs explorer and in LogQL
  (`{name="web", stream="event"}`). At least once, in order: the last shipped `timeNano` is
  checkpointed after the collector's 2xx; a re-sent event has the same (container, file_id, offset)
  (`events`, its timeNano), which the collector drops as a duplicate.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

import httpx
from pydock.runtime.events import JOURNAL, Event

from .exporter import Series

log = logging.getLogger("pydock.agent.events")

FORGET_AFTER_S = 3600.0
MAX_PENDING = 10_000  # events held for the collector while it is down; older ones are dropped (counted)
DETAILS = ("exitCode", "signal", "restartCount", "delay", "oldName")  # attributes worth a log line


def event_label(ev: Event) -> str:
    """The `event` label: Docker's action; `exec_start: sh -c ...` loses its command (unbounded values)."""
    return ev.action.split(":", 1)[0] if ev.action.startswith("exec_") else ev.action


def event_line(ev: Event) -> str:
    """The log line of an event: `container die (exitCode=137)`, `container health_status: unhealthy`."""
    details = ", ".join(f"{k}={ev.attributes[k]}" for k in DETAILS if k in ev.attributes)
    return f"{ev.type} {ev.action}" + (f" ({details})" if details else "")


class JournalTail:
    """New events of the journal under `root`, from an offset kept between calls."""

    def __init__(self, root: Path, after_ns: int = 0) -> None:
        self.path = Path(root) / JOURNAL
        self.previous = Path(root) / (JOURNAL + ".1")
        self.inode: int | None = None
        self.offset = 0
        self.last_ns = after_ns

    def read(self) -> list[Event]:
        """The events appended since the last call (all kept ones at the first), oldest first."""
        try:
            ino: int | None = os.stat(self.path).st_ino
        except FileNotFoundError:
            ino = None
        found: list[Event] = []
        if self.inode is None:
            found += self._read(self.previous, 0)[0]  # the first read takes what rotation kept too
        elif ino != self.inode:
            try:  # rotated since: finish the renamed file from where we were, if it is still there
                if os.stat(self.previous).st_ino == self.inode:
                    found += self._read(self.previous, self.offset)[0]
            except FileNotFoundError:
                pass
            self.offset = 0
        self.inode = ino
        if ino is not None:
            events, self.offset = self._read(self.path, self.offset)
            found += events
        out = [ev for ev in found if ev.time_nano > self.last_ns]
        if out:
            self.last_ns = max(ev.time_nano for ev in out)
        return out

    @staticmethod
    def _read(path: Path, offset: int) -> tuple[list[Event], int]:
        """Complete lines from `offset`; a line still being written is left for the next call."""
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return [], offset
        end = data.rfind(b"\n") + 1
        events = []
        for raw in data[:end].splitlines():
            try:
                events.append(Event.from_json(json.loads(raw)))
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line: the journal's own readers skip it too
        return events, offset + end


class EventCounters:
    """`pydock_container_events_total`, brought up to date from the journal at each scrape."""

    def __init__(self, root: Path) -> None:
        self.tail = JournalTail(root)
        self.counts: dict[tuple[str, str, str, str], int] = {}  # (id, name, image, event) -> count
        self.destroyed: dict[str, float] = {}
        self.lock = threading.Lock()  # scrapes may run at once

    def update(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.lock:
            for ev in self.tail.read():
                if ev.type != "container":
                    continue
                key = (ev.id, ev.attributes.get("name", ""), ev.attributes.get("image", ""), event_label(ev))
                self.counts[key] = self.counts.get(key, 0) + 1
                if ev.action == "destroy":
                    self.destroyed[ev.id] = ev.time_nano / 1e9
                elif ev.action == "create":
                    self.destroyed.pop(ev.id, None)
            gone = {cid for cid, t in self.destroyed.items() if now - t > FORGET_AFTER_S}
            if gone:
                self.counts = {k: v for k, v in self.counts.items() if k[0] not in gone}
                for cid in gone:
                    del self.destroyed[cid]

    def series(self) -> list[Series]:
        self.update()
        with self.lock:
            items = sorted(self.counts.items())
        s = Series("pydock_container_events_total",
                   "Lifecycle events of the container (Docker's actions: start, die, oom, restart, health_status...).",
                   "counter", ("id", "name", "image"), ("event",), [])
        index: dict[tuple[str, str, str], int] = {}
        for (cid, name, image, event), n in items:
            base = (cid, name, image)
            if base not in index:
                index[base] = len(s.bases)
                s.bases.append(base)
            s.rows.append((index[base], (event,), n))
        return [s] if s.rows else []


class EventShipper:
    """Pushes lifecycle events to the collector as log entries of stream `event`."""

    def __init__(self, root: Path, collector_url: str, checkpoint_path: Path, token: str = "", host: str = "",
                 poll_s: float = 0.5, timeout_s: float = 30.0, client: httpx.Client | None = None) -> None:
        self.url = collector_url.rstrip("/") + "/api/v1/logs/push"
        self.checkpoint_path = checkpoint_path
        self.host = host or socket.gethostname()
        self.poll_s = poll_s
        self.headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.client = client or httpx.Client(timeout=timeout_s)
        self.shipped_ns = self._load()
        self.tail = JournalTail(root, after_ns=self.shipped_ns)
        self.pending: list[Event] = []
        self.shipped = 0
        self.dropped = 0

    def _load(self) -> int:
        try:
            return int(json.loads(self.checkpoint_path.read_bytes())["time_nano"])
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError) as e:
            log.warning("event shipper: ignoring damaged checkpoint %s: %s", self.checkpoint_path, e)
            return 0

    def _save(self) -> None:
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint_path.with_name(self.checkpoint_path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(json.dumps({"version": 1, "time_nano": self.shipped_ns}).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.checkpoint_path)

    def record(self, ev: Event) -> dict[str, object]:
        return {"host": self.host, "container_id": ev.id, "container_name": ev.attributes.get("name", ""),
                "stream": "event", "time_ns": ev.time_nano, "line": event_line(ev), "file_id": "events",
                "offset": ev.time_nano}

    def ship_once(self) -> int:
        """Push what the journal gained (with what failed before); raises httpx.HTTPError or OSError."""
        self.pending += [ev for ev in self.tail.read() if ev.type == "container" and ev.id]
        if len(self.pending) > MAX_PENDING:
            self.dropped += len(self.pending) - MAX_PENDING
            self.pending = self.pending[-MAX_PENDING:]
        if not self.pending:
            return 0
        batch = self.pending[:5000]
        body = b"\n".join(json.dumps(self.record(ev), ensure_ascii=False).encode() for ev in batch) + b"\n"
        resp = self.client.post(self.url, content=gzip.compress(body, compresslevel=1), headers=self.headers)
        if resp.status_code // 100 != 2:
            raise httpx.HTTPStatusError(f"HTTP {resp.status_code}: {resp.text[:200]}", request=resp.request,
                                        response=resp)
        del self.pending[:len(batch)]
        self.shipped_ns = batch[-1].time_nano
        self.shipped += len(batch)
        self._save()
        return len(batch)

    def run(self, stop: threading.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            try:
                n = self.ship_once()
                backoff = 0.0
            except (httpx.HTTPError, OSError) as e:
                backoff = min(max(backoff * 2, 0.25), 5.0)
                log.warning("event shipper: push to %s failed: %s; retrying in %.2fs", self.url, e, backoff)
                stop.wait(backoff)
                continue
            if n == 0:
                stop.wait(self.poll_s)

    def close(self) -> None:
        self.client.close()


def start_background(shipper: EventShipper) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    t = threading.Thread(target=shipper.run, args=(stop,), name="event-shipper", daemon=True)
    t.start()
    return t, stop
