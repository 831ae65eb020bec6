"""The lifecycle event journal: `$ROOT/events.jsonl`, one Docker-shaped event a line, bounded.

Writers (the CLI, every shim) append under an flock, so lines never interleave and `timeNano` is
strictly increasing across processes: readers order and resume by it. When the file outgrows
`max_bytes` the writer renames it to `events.jsonl.1` (replacing the one before), so the journal stays
under twice `max_bytes` (Docker's daemon keeps 256 events in memory; pydock keeps more because the
agent and collector read them after the fact). A follower notices the rename by the inode, reads the
old file to its end through the descriptor it holds, then moves on: it loses nothing.

Actions are Docker's: create, start, die, oom, kill, stop, destroy, restart, pause, unpause, exec_create,
exec_start, exec_die, and `health_status: healthy|unhealthy|starting`.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydock.errors import UsageError

JOURNAL = "events.jsonl"
DEFAULT_MAX_BYTES = 1024 * 1024
FILTER_KEYS = ("container", "event", "image", "label", "type")


@dataclass(frozen=True)
class Event:
    action: str
    id: str
    time_nano: int
    attributes: dict[str, str] = field(default_factory=dict)
    type: str = "container"

    def to_json(self) -> dict[str, Any]:
        """Docker's `docker events --format '{{json .}}'` shape."""
        return {
            "status": self.action, "id": self.id, "from": self.attributes.get("image", ""),
            "Type": self.type, "Action": self.action,
            "Actor": {"ID": self.id, "Attributes": dict(self.attributes)},
            "scope": "local", "time": self.time_nano // 1_000_000_000, "timeNano": self.time_nano,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Event:
        actor = obj.get("Actor") or {}
        return cls(action=str(obj["Action"]), id=str(actor.get("ID", obj.get("id", ""))),
                   time_nano=int(obj["timeNano"]), attributes=dict(actor.get("Attributes") or {}),
                   type=str(obj.get("Type", "container")))

    def line(self) -> str:
        """Docker's default text: `<time> container start <id> (image=busybox, name=web)`."""
        from pydock.units import rfc3339_nano

        attrs = ", ".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return f"{rfc3339_nano(self.time_nano)} {self.type} {self.action} {self.id}" + (f" ({attrs})" if attrs else "")


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """`--filter key=value` pairs; keys repeat (OR within a key, AND across keys), as in Docker."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in FILTER_KEYS:
            raise UsageError(f"invalid filter {item!r}: expected one of {', '.join(FILTER_KEYS)} as key=value")
        out.setdefault(key, []).append(value)
    return out


def matches(event: Event, filters: Mapping[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "type" and event.type not in values:
            return False
        if key == "event" and not any(event.action.split(":", 1)[0] == v or event.action == v for v in values):
            return False
        if key == "container":
            name = event.attributes.get("name", "")
            if not any(v == name or (len(v) >= 1 and event.id.startswith(v)) for v in values):
                return False
        if key == "image" and event.attributes.get("image") not in values:
            return False
        if key == "label":
            ok = False
            for v in values:
                k, sep, want = v.partition("=")
                if k in event.attributes and (not sep or event.attributes[k] == want):
                    ok = True
            if not ok:
                return False
    return True


class EventJournal:
    """The journal under a state root. `emit` appends; `read` and `follow` read back in order."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(root) / JOURNAL
        self.previous = Path(root) / (JOURNAL + ".1")
        self.lock_path = Path(root) / (JOURNAL + ".lock")
        self.max_bytes = max_bytes

    def emit(self, action: str, container_id: str, attributes: Mapping[str, Any] | None = None,
             type: str = "container") -> Event:
        attrs = {k: str(v) for k, v in (attributes or {}).items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            now = time.time_ns()
            last = self._last_time_nano()
            event = Event(action=action, id=container_id, time_nano=max(now, last + 1), attributes=attrs, type=type)
            data = (json.dumps(event.to_json(), separators=(",", ":")) + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, data)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size > self.max_bytes:
                # Rotate by rename: a follower holding the old file open still reads it to the end,
                # so nothing is lost to it; the journal never exceeds twice max_bytes.
                os.replace(self.path, self.previous)
            return event
        finally:
            os.close(lock)  # closing drops the flock

    def _last_time_nano(self) -> int:
        for path in (self.path, self.previous):
            try:
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    end = f.tell()
                    f.seek(max(0, end - 8192))
                    lines = f.read().splitlines()
            except FileNotFoundError:
                continue
            for raw in reversed(lines):
                try:
                    return int(json.loads(raw)["timeNano"])
                except (ValueError, KeyError):
                    continue  # a torn first line of the window, or garbage: look further back
        return 0

    @staticmethod
    def _parse(raw: bytes) -> Event | None:
        try:
            return Event.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            return None  # an incomplete last line being written, or a damaged one: skip it

    def _all(self) -> Iterator[Event]:
        last = -1
        for path in (self.previous, self.path):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            for raw in data.splitlines():
                ev = self._parse(raw)
                if ev is not None and ev.time_nano > last:  # a rotation between the two reads
                    last = ev.time_nano
                    yield ev

    def read(self, since: float | None = None, until: float | None = None,
             filters: Mapping[str, list[str]] | None = None) -> Iterator[Event]:
        """The kept events between `since` and `until` (unix seconds), oldest first."""
        for ev in self._all():
            if _in_window(ev, since, until) and matches(ev, filters or {}):
                yield ev

    def follow(self, since: float | None = None, until: float | None = None,
               filters: Mapping[str, list[str]] | None = None, poll: float = 0.1,
               stop: Callable[[], bool] | None = None) -> Iterator[Event]:
        """Past events from `since` (none if None), then new ones as they come, until `until` passes."""
        flt = filters or {}
        last_seen = int(since * 1e9) - 1 if since is not None else time.time_ns()
        f = None
        pending = b""
        try:
            if since is not None:
                f = self._open()
                for ev in self._all():
                    if ev.time_nano > last_seen:
                        last_seen = ev.time_nano
                        if until is not None and ev.time_nano > until * 1e9:
                            return
                        if matches(ev, flt):
                            yield ev
            while True:
                if f is None:
                    f = self._open()
                rotated = False
                if f is not None:
                    # Was the file renamed away? Then finish it, and move to the new one next round.
                    try:
                        rotated = os.stat(self.path).st_ino != os.fstat(f.fileno()).st_ino
                    except FileNotFoundError:
                        rotated = True
                    pending += f.read()
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        new = self._parse(raw)
                        if new is None or new.time_nano <= last_seen:
                            continue
                        ev = new
                        last_seen = ev.time_nano
                        if until is not None and ev.time_nano > until * 1e9:
                            return
                        if matches(ev, flt):
                            yield ev
                    if rotated:
                        f.close()
                        f, pending = None, b""
                        continue
                if until is not None and time.time() > until:
                    return
                if stop is not None and stop():
                    return
                time.sleep(poll)
        finally:
            if f is not None:
                f.close()

    def _open(self) -> Any:
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            return None


def _in_window(ev: Event, since: float | None, until: float | None) -> bool:
    if since is not None and ev.time_nano < since * 1e9:
        return False
    return until is None or ev.time_nano <= until * 1e9


def container_attributes(record: Any, **extra: Any) -> dict[str, str]:
    """Docker's actor attributes for a container event: image, name, the container's labels, extras."""
    attrs: dict[str, str] = {}
    labels = getattr(record, "labels", {}) or {}
    attrs.update({str(k): str(v) for k, v in labels.items()})
    attrs["image"] = str(getattr(record, "image", "") or "")
    attrs["name"] = str(getattr(record, "name", "") or "")
    attrs.update({k: str(v) for k, v in extra.items()})
    return attrs


def emit_for(root: Path, action: str, record: Any, **extra: Any) -> Event:
    """Append one event for a container record (anything with id, name, image, labels)."""
    return EventJournal(root).emit(action, str(record.id), container_attributes(record, **extra))
