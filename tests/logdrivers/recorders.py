"""Drivers that record what they are given, for the copier and wrapper tests (imported by name)."""

from __future__ import annotations

import os
import threading

from pydock.logdrivers.base import LogMessage
from pydock.logdrivers.copier import Copier


class MessageRecorder:
    """Takes one message at a time (no `log_chunk`)."""

    name = "recorder"

    def __init__(self) -> None:
        self.messages: list[LogMessage] = []
        self.closed = False

    def log(self, msg: LogMessage) -> None:
        self.messages.append(msg)

    def close(self) -> None:
        self.closed = True


class ChunkRecorder(MessageRecorder):
    """Also takes chunks of lines, which it expands into messages to compare."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks = 0

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        assert data.endswith(b"\n")
        self.chunks += 1
        for line in data[:-1].split(b"\n"):
            self.messages.append(LogMessage(line, source, timestamp_ns))


def copy_bytes(driver: object, stdout: list[bytes], stderr: list[bytes] | None = None) -> None:
    """Write the pieces into real pipes from threads (one write per piece) and run a Copier."""
    fds = {}
    writers = []
    for name, pieces in (("stdout", stdout), ("stderr", stderr or [])):
        r, w = os.pipe()
        fds[name] = r

        def feed(w: int = w, pieces: list[bytes] = pieces) -> None:
            for p in pieces:
                view = memoryview(p)
                while view:
                    view = view[os.write(w, view):]
            os.close(w)

        writers.append(threading.Thread(target=feed))
    for t in writers:
        t.start()
    try:
        Copier(driver, fds).run()  # type: ignore[arg-type]
    finally:
        for t in writers:
            t.join()
        for fd in fds.values():
            os.close(fd)
