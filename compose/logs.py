"""`pydock compose logs`: the project's containers' logs merged in time order, each line prefixed
with its container as Docker Compose prints it (`web-1  | line`, padded to the longest name, in a
colour per container when the output is a terminal).

Without `-f` the readers' streams (each already in time order) are merged by timestamp. With `-f`
one thread per container reads and a queue hands lines on as they arrive, which is time order too.
"""

from __future__ import annotations

import heapq
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from pydock.compose import spec as cspec
from pydock.logdrivers.base import LogMessage, ReadConfig

from pydock.units import rfc3339_nano

# Docker Compose's palette: cyan, yellow, green, magenta, blue, then the bright ones.
COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


def prefix_name(rec: Any) -> str:
    """`web-1` for replica 1 of web, `web-run-ab12…` for a one-off container, as Compose shows."""
    labels = rec.labels
    project = labels.get(cspec.PROJECT, "")
    return rec.name[len(project) + 1:] if project and rec.name.startswith(project + "-") else rec.name


def _read(rt: Any, rec: Any, tail: int, follow: bool) -> Iterator[LogMessage]:
    from pydock.logdrivers.registry import open_reader

    reader = open_reader(rec.dir, rec.log_driver, rec.log_opts)
    done = None
    if follow:
        def done() -> bool:
            try:
                return not rt.store.get(rec.id).running
            except Exception:  # noqa: BLE001 - removed while followed: its log has ended
                return True
    return iter(reader.read(ReadConfig(tail=tail, follow=follow, done=done)))


def stream(rt: Any, records: list[Any], tail: int = -1, follow: bool = False) -> Iterator[tuple[Any, LogMessage]]:
    """(record, message) pairs of all `records`, in time order."""
    if not follow:
        def tagged(rec: Any) -> Iterator[tuple[int, int, Any, LogMessage]]:
            for m in _read(rt, rec, tail, False):
                yield (m.timestamp_ns, id(rec), rec, m)

        for _ts, _i, rec, msg in heapq.merge(*(tagged(r) for r in records), key=lambda t: (t[0], t[1])):
            yield rec, msg
        return
    q: queue.Queue[tuple[Any, LogMessage | None]] = queue.Queue(maxsize=10000)

    def pump(rec: Any) -> None:
        try:
            for m in _read(rt, rec, tail, True):
                q.put((rec, m))
        finally:
            q.put((rec, None))

    for rec in records:
        threading.Thread(target=pump, args=(rec,), daemon=True).start()
    open_ = len(records)
    while open_:
        rec, msg = q.get()
        if msg is None:
            open_ -= 1
            continue
        yield rec, msg


def write(pairs: Iterator[tuple[Any, LogMessage]], names: list[str], out: BinaryIO,
          colour: bool = False, timestamps: bool = False, flush: Callable[[], None] | None = None) -> int:
    """Prints `name  | line` for each message; returns how many lines were printed."""
    width = max((len(n) for n in names), default=0)
    palette = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(sorted(names))}
    count = 0
    for rec, msg in pairs:
        name = prefix_name(rec)
        head = f"{name:<{width}}  | "
        if colour:
            head = f"\x1b[{palette.get(name, '0')}m{head}\x1b[0m"
        ts = (rfc3339_nano(msg.timestamp_ns) + " ").encode() if timestamps else b""
        out.write(head.encode() + ts + msg.line + b"\n")
        count += 1
        if flush is not None:
            flush()
    return count
