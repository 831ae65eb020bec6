"""Non-blocking delivery: a bounded FIFO in front of any driver (Docker's `ringLogger`).

`mode=non-blocking` puts this wrapper around the driver. The copier never waits on the driver: it
enqueues and returns; a thread drains the queue into the driver. The queue is capped at
`max-buffer-size` bytes of line data (Docker's default 1e6). When a message does not fit and the
queue is not empty, the new message is dropped, as Docker does, but here every dropped line is
counted (`dropped`), and the count reaches `logstats.json` and the agent. A chunk of lines that
fits only in part keeps the lines that fit. On close the queue is flushed; lines the driver fails
to take are counted as dropped too.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

from pydock.logdrivers.base import LogDriver, LogMessage

from pydock.errors import PydockError

DEFAULT_MAX_BUFFER = 1_000_000
# When the buffer is full the copier waits this long for room before it drops: the drain thread
# shares the interpreter with the copier, and without this a burst read in one go (up to 1 MiB)
# would be dropped though the driver keeps up on average. It is far shorter than the time the
# container's 1 MiB pipe takes to fill, so the container never notices.
GRACE = 0.02
# At close, how long the queue may take to reach the driver before what is left is counted as
# dropped: plenty for a live endpoint (a full 1 MB buffer drains in milliseconds), and short enough
# that a dead one does not hold a stopping container's shim for long.
CLOSE_TIMEOUT = 3.0


class RingDriver:
    """Wraps `driver`; offers `log_chunk` whether or not the driver does."""

    def __init__(self, driver: LogDriver, max_bytes: int = DEFAULT_MAX_BUFFER, grace: float = GRACE):
        self.driver = driver
        self.name = driver.name
        self.max_bytes = max_bytes
        self.grace = grace
        self._dropped = 0  # lines this buffer dropped
        self.errors = 0  # lines the driver raised on
        self.last_error = ""
        self._q: deque[tuple[str, bytes, int] | LogMessage] = deque()
        self._bytes = 0
        self._cv = threading.Condition()
        self._closing = False
        self._chunk = getattr(driver, "log_chunk", None)
        self._thread = threading.Thread(target=self._drain, name=f"log-ring-{self.name}", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Lines lost: dropped here, or by the driver (which counts its own failures)."""
        return self._dropped + int(getattr(self.driver, "dropped", 0))

    def _room(self, size: int) -> bool:
        """Under the lock: whether `size` bytes fit now or within the grace period."""
        if not self._q or self._bytes + size <= self.max_bytes:
            return True
        self._cv.wait_for(lambda: not self._q or self._bytes + size <= self.max_bytes, self.grace)
        return not self._q or self._bytes + size <= self.max_bytes

    def log(self, msg: LogMessage) -> None:
        size = len(msg.line)
        with self._cv:
            if not self._room(size):
                self._dropped += 1
                return
            self._q.append(msg)
            self._bytes += size
            self._cv.notify()

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        with self._cv:
            self._room(len(data))
            room = self.max_bytes - self._bytes
            if self._q and len(data) > room:
                cut = data.rfind(b"\n", 0, max(room, 0)) + 1  # keep whole lines that fit
                self._dropped += data.count(b"\n", cut)
                data = data[:cut]
                if not data:
                    return
            self._q.append((source, data, timestamp_ns))
            self._bytes += len(data)
            self._cv.notify()

    def queued_bytes(self) -> int:
        return self._bytes

    def _deliver(self, item: tuple[str, bytes, int] | LogMessage) -> None:
        try:
            if isinstance(item, LogMessage):
                self.driver.log(item)
            elif self._chunk is not None:
                self._chunk(*item)
            else:
                source, data, ts = item
                for line in data[:-1].split(b"\n"):
                    self.driver.log(LogMessage(line, source, ts))
        except (OSError, PydockError) as exc:
            lost = 1 if isinstance(item, LogMessage) else item[1].count(b"\n")
            with self._cv:
                self.errors += lost
                self._dropped += lost
                self.last_error = str(exc)

    def _drain(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._closing:
                    self._cv.wait()
                if not self._q:
                    return
                item = self._q.popleft()
            self._deliver(item)
            with self._cv:
                self._bytes -= len(item.line) if isinstance(item, LogMessage) else len(item[1])
                self._cv.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the queue is empty (tests, and close)."""
        with self._cv:
            return self._cv.wait_for(lambda: self._bytes == 0, timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Flush for up to `timeout` seconds; what a dead endpoint still holds then is counted as
        dropped and the driver is closed (which aborts a send it is stuck in)."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cv:
                for item in self._q:
                    self._dropped += 1 if isinstance(item, LogMessage) else item[1].count(b"\n")
                self._q.clear()
        self.driver.close()
        self._thread.join(timeout)


def ring_options(opts: Mapping[str, str]) -> int | None:
    """The buffer size when `mode=non-blocking`, else None. Validation is the registry's."""
    if opts.get("mode") != "non-blocking":
        return None
    from pydock.logdrivers.options import parse_size

    return parse_size(opts, "max-buffer-size", DEFAULT_MAX_BUFFER, binary=True)
