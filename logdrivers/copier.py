"""The copier: reads a container's stdout/stderr pipes and hands lines to a driver.

Lines are cut as Docker's `daemon/logger/copier.go` cuts them, but a chunk at a time: one `read(2)`
of up to 1 MiB yields every complete line in it with one timestamp (taken when the copier handles
them). A driver offering `log_chunk(source, data, timestamp_ns)` gets those lines as one block of
bytes, each line ending in `\\n`; others get one `LogMessage` per line.

Long lines: Docker fills a 16 KiB buffer; when it fills with no newline the 16 KiB become a partial
message. Equivalently, a line of L bytes (without its newline) is sent as L // 16384 parts of
16384 bytes (`last=False`) and a final part of L % 16384 bytes (possibly empty, `last=True`); a line
shorter than 16 KiB is a plain message. All parts share a random 64-hex id, count `ordinal` from 1 and
carry the first part's timestamp. Text left unterminated at EOF is sent as a part with `last=False`
and no closing part, as Docker does.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import time
from collections.abc import Mapping

from pydock.logdrivers.base import LogDriver, LogMessage, PartialMeta

BUF_SIZE = 16 * 1024  # Docker's defaultBufSize: the longest line sent whole is BUF_SIZE - 1 bytes
# 128 KiB reads: the read, its records (1.7 times as large) and the scans between stay in the CPU's
# cache; 1 MiB reads were 1.5 to 2 times slower per byte (docs/performance.md). The pipe stays at
# 1 MiB so a container still has room to write while the copier works.
READ_SIZE = 128 * 1024
PIPE_SIZE = 1024 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
# glibc's malloc gives freed blocks of 128 KiB and more back to the kernel at once (munmap, or a
# heap trim above 128 KiB of free space), so every read and every encoded chunk took fresh pages:
# ~80,000 page faults per 100 MB logged. Fixed thresholds keep those few blocks in the heap; when
# the container goes quiet the copier trims the heap, so an idle shim holds no more than before.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD = 4 * 1024 * 1024
MMAP_THRESHOLD = 2 * 1024 * 1024
IDLE_POLL_MS = 200
# A container writing steadily but slower than the copier reads (most do) would wake it for every
# write: 8 KiB reads, each paying the copier's fixed cost in Python (~40 us). After a read that
# found less than COALESCE_BELOW bytes waiting, the copier lets the pipe fill for COALESCE_S before
# it looks again: the lines reach the driver at most a millisecond later, in chunks ten or more
# times larger. The pipe (1 MiB) cannot fill in that time at the rates a pipe sustains.
COALESCE_BELOW = 32 * 1024
COALESCE_S = 0.001


_HALF = BUF_SIZE // 2


class _Malloc:
    """glibc's mallopt/malloc_trim through ctypes (already loaded by the shim's syscalls module);
    on another libc both are no-ops."""

    def __init__(self) -> None:
        self._trim = None
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            self._trim = libc.malloc_trim
        except (OSError, AttributeError, ImportError):
            pass

    def trim(self) -> None:
        if self._trim is not None:
            self._trim(0)


_malloc: _Malloc | None = None


def tune_malloc() -> _Malloc:
    global _malloc
    if _malloc is None:
        _malloc = _Malloc()
    return _malloc


def _may_hold_long_line(block: bytes) -> bool:
    """A line of BUF_SIZE bytes or more covers a whole aligned 8 KiB window with no newline; finding
    a newline in every window (each search stops at the first one) rules long lines out cheaply."""
    if len(block) < BUF_SIZE:
        return False
    find = block.find
    for start in range(0, len(block) - _HALF + 1, _HALF):
        if find(b"\n", start, start + _HALF) < 0:
            return True
    return False


class _Stream:
    __slots__ = ("fd", "name", "ordinal", "pending", "pid", "pts")

    def __init__(self, name: str, fd: int):
        self.name = name
        self.fd = fd
        self.pending = b""  # unterminated bytes, always shorter than BUF_SIZE
        self.pid = ""  # id of the long line being cut, if any
        self.ordinal = 0
        self.pts = 0  # timestamp of that line's first part


class Copier:
    """`Copier(driver, streams={"stdout": fd, "stderr": fd}).run()` returns at EOF of every stream.

    The caller owns the file descriptors and closes the driver afterwards."""

    def __init__(self, driver: LogDriver, streams: Mapping[str, int], read_size: int = READ_SIZE):
        self.driver = driver
        self.streams = [_Stream(name, fd) for name, fd in streams.items()]
        self.read_size = read_size
        self._chunk = getattr(driver, "log_chunk", None)
        self._closed = False

    def close(self) -> None:
        """Stop after the current read (the pipes are left to their owner)."""
        self._closed = True

    def run(self) -> None:
        by_fd = {s.fd: s for s in self.streams}
        poller = select.poll()
        for fd in by_fd:
            try:  # a bigger pipe: fewer, larger reads, and more room before the container waits
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass  # not a pipe, or above /proc/sys/fs/pipe-max-size: keep what it has
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        malloc = tune_malloc()
        busy = False  # read since the heap was last trimmed
        small = False  # the last round's reads were small: let the pipes fill a moment
        sleep = time.sleep
        while by_fd and not self._closed:
            if small:
                sleep(COALESCE_S)
                small = False
            events = poller.poll(IDLE_POLL_MS)
            if not events and busy:
                malloc.trim()
                busy = False
            for fd, _ev in events:
                busy = True
                st = by_fd.get(fd)
                if st is None:
                    continue
                try:
                    data = os.read(fd, self.read_size)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    data = b""  # a pty master whose terminal side closed (`run -t`): that is EOF
                if data:
                    self.feed(st, data, time.time_ns())
                    small = len(data) < COALESCE_BELOW
                else:
                    self.finish(st, time.time_ns())
                    poller.unregister(fd)
                    del by_fd[fd]

    # -- cutting -------------------------------------------------------------------------------

    def feed(self, st: _Stream, data: bytes, now: int) -> None:
        if st.pending:
            data = st.pending + data
            st.pending = b""
        last_nl = data.rfind(b"\n")
        if last_nl < 0:
            self._unterminated(st, data, now)
            return
        start = 0
        if st.pid:  # a long line is open: its rest is the first line here
            first = data.find(b"\n")
            self._long_line(st, data[:first], now)
            start = first + 1
        if start <= last_nl:
            block = data[start : last_nl + 1]
            if not _may_hold_long_line(block) or max(map(len, block.split(b"\n"))) < BUF_SIZE:
                self._lines(st.name, block, now)
            else:
                self._mixed(st, block, now)
        self._unterminated(st, data[last_nl + 1 :], now)

    def finish(self, st: _Stream, now: int) -> None:
        """EOF: unterminated text goes out as a part that is not the last (Docker's edge case)."""
        if st.pending:
            self._part(st, st.pending, now, last=False)
            st.pending = b""

    def _unterminated(self, st: _Stream, rest: bytes, now: int) -> None:
        while len(rest) >= BUF_SIZE:
            self._part(st, rest[:BUF_SIZE], now, last=False)
            rest = rest[BUF_SIZE:]
        st.pending = rest

    def _part(self, st: _Stream, line: bytes, now: int, last: bool) -> None:
        if not st.pid:
            # os.urandom, not secrets: secrets pulls in OpenSSL, about 4 MB of shim memory for one id.
            st.pid, st.ordinal, st.pts = os.urandom(32).hex(), 0, now
        st.ordinal += 1
        self.driver.log(LogMessage(line, st.name, st.pts, PartialMeta(st.pid, st.ordinal, last)))
        if last:
            st.pid, st.ordinal = "", 0

    def _long_line(self, st: _Stream, line: bytes, now: int) -> None:
        while len(line) >= BUF_SIZE:
            self._part(st, line[:BUF_SIZE], now, last=False)
            line = line[BUF_SIZE:]
        if st.pid:
            self._part(st, line, now, last=True)
        else:
            self.driver.log(LogMessage(line, st.name, now))

    def _mixed(self, st: _Stream, block: bytes, now: int) -> None:
        """Lines some of which are 16 KiB or longer: short runs still go out as chunks."""
        run: list[bytes] = []
        for line in block[:-1].split(b"\n"):
            if len(line) < BUF_SIZE:
                run.append(line)
                continue
            if run:
                self._lines(st.name, b"\n".join(run) + b"\n", now)
                run = []
            self._long_line(st, line, now)
        if run:
            self._lines(st.name, b"\n".join(run) + b"\n", now)

    def _lines(self, source: str, block: bytes, now: int) -> None:
        if self._chunk is not None:
            self._chunk(source, block, now)
            return
        log = self.driver.log
        for line in block[:-1].split(b"\n"):
            log(LogMessage(line, source, now))
