"""Reading a rotated set of log files: history (`--tail`, `--since`, `--until`) and following.

Shared by json-file, local and the dual-logging cache; the record format is a `Codec`. The rules:
- Files are read oldest first: `<name>.<k>` (or `.gz`) from the highest index down, then the active
  file, all opened under a shared lock on the directory so a rotation cannot shift them mid-listing.
- `--tail N` reads backwards from the end in 64 KiB blocks (the codec finds record starts), going to
  older files only if the newer ones hold fewer than N records: the cost does not grow with the log.
- Following waits on inotify for the directory (a new record shows at once; without inotify it
  polls every `poll` seconds, and it checks at that interval anyway); when the name points at
  another file, the old descriptor is read to its end and the reader continues with the file that
  came after it, found by identity (device, inode; compressed files carry the identity of the plain
  file they were made from), so several rotations between two polls lose nothing while the files
  still exist. If they were already deleted, the reader says so through `on_warning`, with how
  many files it missed (the writer numbers its files: `rotate.read_generation`).
- While it still reads an old file, the follower opens each new active file as soon as it sees one
  and keeps it open: with `max-file=1` the writer unlinks a file at rotation, and a file the
  follower holds stays readable to its end. Only a file created and unlinked between two looks
  (each read of up to 4 MiB, each wake-up) is lost, and that is reported, never silent.
"""

from __future__ import annotations

import gzip
import os
import re
import select
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydock.logdrivers.base import LogMessage, ReadConfig
from pydock.logdrivers.jsonlog import parse_time
from pydock.logdrivers.rotate import dir_lock, gzip_extra, read_generation, tail_digest

BLOCK = 64 * 1024
SINCE_SLACK_NS = 1_000_000_000


class Codec(Protocol):
    name: str

    def split(self, buf: bytes) -> tuple[list[bytes], int]:
        """Complete records at the start of `buf` and the number of bytes they take."""
        ...

    def decoder(self) -> Callable[[bytes], LogMessage]:
        """A (possibly stateful) function from one record to its message."""
        ...

    def tail_start(self, read_at: Callable[[int, int], bytes], end: int, n: int) -> tuple[int, int]:
        """Offset where the last `n` records before `end` start, and how many there are (<= n).
        `end` is a record boundary."""
        ...

    def complete_end(self, read_at: Callable[[int, int], bytes], size: int) -> int:
        """The end of the last complete record at or below `size` (a writer may be mid-record)."""
        ...


@dataclass
class OpenLog:
    """One file of the set, opened: plain files are read by offset, gzip files whole."""

    path: Path
    ident: tuple[int, int]  # (dev, ino); for gzip files, those of the plain file it was made from
    fd: int
    gz: bool
    last_time_ns: int | None = None  # from a gzip header: lets --since skip the file unread
    plain_size: int | None = None  # from a gzip header: the plain file's size and tail digest
    plain_tail: str | None = None
    gen: int | None = None  # the writer's generation number of this file (see rotate.py)

    def same_file(self, plain: OpenLog) -> bool:
        """Whether this is `plain` (an open plain file), or was compressed from it. An open file's
        inode cannot be reused, but a gzip header may name a deleted file whose inode `plain` now
        has: the size and the digest of its last 4 KiB tell them apart."""
        if self.ident != plain.ident:
            return False
        if not self.gz:
            return True
        size = os.fstat(plain.fd).st_size
        return self.plain_size == size and self.plain_tail == tail_digest(plain.fd, size)

    def read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self.fd, size, offset)

    def content(self) -> bytes:
        data = bytearray()
        offset = 0
        while chunk := os.pread(self.fd, 1 << 20, offset):
            data += chunk
            offset += len(chunk)
        if self.gz:
            try:
                return gzip.decompress(bytes(data))
            except (OSError, EOFError, zlib.error):
                return b""  # a corrupt archive reads as empty rather than stopping every file after it
        return bytes(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def list_files(path: Path) -> list[Path]:
    """The files of the set, oldest first: rotated (plain preferred over .gz per index), then active."""
    pat = re.compile(re.escape(path.name) + r"\.(\d+)(\.gz)?$")
    found: dict[int, Path] = {}
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        m = pat.match(name)
        if m and (int(m.group(1)) not in found or not m.group(2)):
            found[int(m.group(1))] = path.parent / name  # Docker tries `<name>.<k>` before `.gz`
    out = [found[i] for i in sorted(found, reverse=True)]
    if path.exists():
        out.append(path)
    return out


def _open_one(path: Path) -> OpenLog | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    st = os.fstat(fd)
    gz = os.pread(fd, 2, 0) == b"\x1f\x8b"
    ident = (st.st_dev, st.st_ino)
    last = None
    plain_size = None
    extra: dict[str, object] = {}
    if gz:
        extra = gzip_extra(path) or {}
        dev, ino = extra.get("dev"), extra.get("ino")
        if isinstance(dev, int) and isinstance(ino, int):
            ident = (dev, ino)
        if isinstance(extra.get("lastTime"), str):
            try:
                last = parse_time(str(extra["lastTime"]))
            except ValueError:
                last = None
        size = extra.get("size")
        if isinstance(size, int):
            plain_size = size
    return OpenLog(path, ident, fd, gz, last, plain_size, str(extra.get("tail")) if gz else None)


def open_set(path: Path) -> list[OpenLog]:
    """Open every file of the set at one instant (under the directory's shared lock)."""
    ctx = dir_lock(path.parent, exclusive=False) if path.parent.exists() else None
    if ctx is None:
        return []
    with ctx:
        gen = read_generation(path)
        out = []
        for p in list_files(path):
            o = _open_one(p)
            if o is not None:
                m = re.search(r"\.(\d+)(\.gz)?$", p.name[len(path.name):]) if p != path else None
                o.gen = None if gen is None else gen - int(m.group(1)) if m else gen
                out.append(o)
        return out


def open_active(path: Path) -> OpenLog | None:
    """The active file alone, with its generation (both read under the directory's lock)."""
    if not path.parent.exists():
        return None
    with dir_lock(path.parent, exclusive=False):
        o = _open_one(path)
        if o is not None:
            o.gen = read_generation(path)
        return o


class _Waker:
    """Sleeps until something in the log's directory changes (inotify), or `timeout` passes.

    Without inotify (not Linux, or out of watches) it just sleeps: following then polls."""

    _IN_EVENTS = 0x2 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200  # MODIFY CLOSE_WRITE MOVED_FROM/TO CREATE DELETE

    def __init__(self, directory: Path):
        self.fd = -1
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd < 0:
                return
            if libc.inotify_add_watch(fd, str(directory).encode(), self._IN_EVENTS) < 0:
                os.close(fd)
                return
            self.fd = fd
        except (OSError, AttributeError):
            self.fd = -1

    def wait(self, timeout: float) -> None:
        if self.fd < 0:
            time.sleep(timeout)
            return
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                while os.read(self.fd, 65536):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# How many newer files a follower keeps open while it is still busy with an older one; beyond that
# a file may be rotated away unread, which the generations then report.
MAX_PINNED = 64


class FileSetReader:
    """`LogReader` over one rotated set of files in one format.

    `on_warning(text)` hears about skipped data (rotations missed while following, undecodable
    records); `on_idle()` is called before the follower sleeps (the CLI flushes its output there)."""

    def __init__(self, path: Path, codec: Codec, poll: float = 0.02,
                 on_warning: Callable[[str], None] | None = None, on_idle: Callable[[], None] | None = None):
        self.path = Path(path)
        self.codec = codec
        self.poll = poll
        self.on_warning = on_warning
        self.on_idle = on_idle

    def _warn(self, text: str) -> None:
        if self.on_warning is not None:
            self.on_warning(text)

    def _decode_all(self, records: list[bytes], decode: Callable[[bytes], LogMessage],
                    where: Path) -> Iterator[LogMessage]:
        for rec in records:
            try:
                yield decode(rec)
            except (ValueError, KeyError, TypeError) as exc:
                self._warn(f"skipping an undecodable record in {where}: {exc}")

    def read(self, config: ReadConfig) -> Iterator[LogMessage]:
        files = open_set(self.path)
        try:
            yield from self._read(files, config)
        finally:
            for f in files:
                f.close()

    def _read(self, files: list[OpenLog], config: ReadConfig) -> Iterator[LogMessage]:
        decode = self.codec.decoder()
        active = files[-1] if files and files[-1].path == self.path and not files[-1].gz else None
        end = self.codec.complete_end(active.read_at, os.fstat(active.fd).st_size) if active else 0
        since_on = config.since_ns > 0
        if config.tail != 0:
            for msg in self._history(files, active, end, config, decode):
                if since_on:
                    if msg.timestamp_ns < config.since_ns:
                        continue
                    since_on = False  # as Docker: timestamps are not monotonic, check until the first hit
                if config.until_ns and msg.timestamp_ns > config.until_ns:
                    return
                yield msg
        if not config.follow:
            return
        if config.until_ns and time.time_ns() > config.until_ns:
            return
        if active is not None:
            files.remove(active)  # the follower owns and closes it
        yield from self._follow(active, end, config, decode, since_on)

    def _history(self, files: list[OpenLog], active: OpenLog | None, end: int, config: ReadConfig,
                 decode: Callable[[bytes], LogMessage]) -> Iterator[LogMessage]:
        if config.tail > 0:
            chunks: list[tuple[list[bytes], Path]] = []
            need = config.tail
            for f in reversed(files):
                if f is active:
                    start, _ = self.codec.tail_start(f.read_at, end, need)
                    recs, _ = self.codec.split(f.read_at(start, end - start))
                else:
                    data = f.content()

                    def from_memory(o: int, n: int, d: bytes = data) -> bytes:
                        return d[o : o + n]

                    start, _ = self.codec.tail_start(from_memory, len(data), need)
                    recs, _ = self.codec.split(data[start:])
                chunks.append((recs, f.path))
                need -= len(recs)
                if need <= 0:
                    break
            for recs, where in reversed(chunks):
                yield from self._decode_all(recs, decode, where)
            return
        for f in files:
            if f.gz:
                if config.since_ns and f.last_time_ns is not None and f.last_time_ns < config.since_ns:
                    continue  # Docker's trick: the gzip header says the whole file is older
                recs, _ = self.codec.split(f.content())
                yield from self._decode_all(recs, decode, f.path)
                continue
            fend = end if f is active else self.codec.complete_end(f.read_at, os.fstat(f.fd).st_size)
            start = self._since_start(f, fend, config.since_ns) if config.since_ns else 0
            yield from self._scan(f, start, fend, decode)

    def _first_time(self, f: OpenLog, start: int, end: int) -> int | None:
        size = 4096
        recs: list[bytes] = []
        while not recs and size < 4 * (end - start) + 4096:
            recs, _ = self.codec.split(f.read_at(start, min(size, end - start)))
            size *= 8  # a record longer than the probe
        try:
            return self.codec.decoder()(recs[0]).timestamp_ns if recs else None
        except (ValueError, KeyError, TypeError):
            return None

    def _since_start(self, f: OpenLog, end: int, since_ns: int) -> int:
        """Where to start reading a plain file for `--since`: a binary search over record times
        instead of Docker's scan from the start (docker/for-linux#972). Records are written in time
        order by one copier; a second of slack covers the parts of a long line, which keep their
        first part's time. Codecs that cannot find a record start from any offset are scanned."""
        sync = getattr(self.codec, "sync", None)
        if sync is None or end <= BLOCK:
            return 0
        last, count = self.codec.tail_start(f.read_at, end, 1)
        last_ts = self._first_time(f, last, end) if count else None
        if last_ts is not None and last_ts < since_ns - SINCE_SLACK_NS:
            return end  # all older
        lo, hi = 0, end  # lo is a record start known to be older than the target (or 0)
        while hi - lo > BLOCK:
            mid = sync(f.read_at, (lo + hi) // 2, end)
            if mid >= hi:
                break
            ts = self._first_time(f, mid, end)
            if ts is None:
                break
            if ts < since_ns - SINCE_SLACK_NS:
                lo = mid
            else:
                hi = mid
        return lo

    def _scan(self, f: OpenLog, start: int, end: int, decode: Callable[[bytes], LogMessage]) -> Iterator[LogMessage]:
        pos = start
        carry = b""
        while pos < end:
            data = carry + f.read_at(pos, min(4 << 20, end - pos))
            if len(data) == len(carry):
                break
            pos += len(data) - len(carry)
            recs, used = self.codec.split(data)
            carry = data[used:]
            yield from self._decode_all(recs, decode, f.path)

    def _identity_now(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _follow(self, cur: OpenLog | None, offset: int, config: ReadConfig,
                decode: Callable[[bytes], LogMessage], since_on: bool) -> Iterator[LogMessage]:
        done = config.done
        finishing = False
        waker = _Waker(self.path.parent)
        pinned: list[OpenLog] = []  # newer active files seen while `cur` was not finished, oldest first
        try:
            while True:
                if cur is None:
                    cur, offset = open_active(self.path), 0
                batch: list[LogMessage] = []
                if cur is not None:
                    now_ident = self._pin_newer(cur, pinned)
                    batch, offset = self._drain(cur, offset, decode)
                    if not batch and now_ident is not None and now_ident != cur.ident:
                        # Rotated: the old file is finished once drained again (the writer may
                        # have added to it between our read and its rename).
                        batch, offset = self._drain(cur, offset, decode)
                        if not batch:
                            nxt = self._after_rotation(cur, pinned)
                            if nxt is not None:
                                cur.close()
                                cur, batch = nxt
                                offset = 0
                                if not batch:
                                    continue  # drain the new file before deciding to stop
                for msg in batch:
                    if since_on:
                        if msg.timestamp_ns < config.since_ns:
                            continue
                        since_on = False
                    if config.until_ns and msg.timestamp_ns > config.until_ns:
                        return
                    yield msg
                if batch:
                    continue
                if finishing:
                    return
                if done is not None and done():
                    finishing = True  # one more pass: the writer may have written its last lines
                    continue
                if config.until_ns and time.time_ns() > config.until_ns:
                    return
                if self.on_idle is not None:
                    self.on_idle()
                waker.wait(self.poll)
        finally:
            waker.close()
            for f in [cur, *pinned]:
                if f is not None:
                    f.close()

    def _drain(self, f: OpenLog, offset: int, decode: Callable[[bytes], LogMessage]) -> tuple[list[LogMessage], int]:
        data = f.read_at(offset, 4 << 20)
        if not data:
            return [], offset
        recs, used = self.codec.split(data)  # stops before a record still being written
        return list(self._decode_all(recs, decode, f.path)), offset + used

    def _pin_newer(self, cur: OpenLog, pinned: list[OpenLog]) -> tuple[int, int] | None:
        """Open the active file if it is newer than `cur` and every pinned one; returns the
        identity the name has now (None while it does not exist)."""
        now_ident = self._identity_now()
        if now_ident is None or now_ident == cur.ident or (pinned and pinned[-1].ident == now_ident):
            return now_ident
        if len(pinned) >= MAX_PINNED:  # far behind a writer of tiny files: no more descriptors
            return now_ident
        f = open_active(self.path)
        if f is not None and f.ident != cur.ident and not (pinned and pinned[-1].ident == f.ident):
            pinned.append(f)
        elif f is not None:
            f.close()
        return now_ident

    def _after_rotation(self, cur: OpenLog, pinned: list[OpenLog] | None = None
                        ) -> tuple[OpenLog, list[LogMessage]] | None:
        """The file that followed `cur`, plus the records of whole files in between (compressed
        ones, when several rotations happened between two polls)."""
        files = open_set(self.path)
        if cur.gen is None and files and files[-1].gen is not None:
            # No count when `cur` was opened, one now: this writer counts, and `cur` was its first
            # file (an older pydock's writer never writes the count).
            cur.gen = 0
        if pinned:
            if cur.gen is not None and pinned[0].gen is not None and all(f.gen is not None for f in files):
                return self._to_pinned(cur, pinned, files)
            for f in pinned:  # no count to place them by: go by identity in the listing alone
                f.close()
            pinned.clear()
        found = [i for i, f in enumerate(files) if f.same_file(cur)]
        later = files[found[0] + 1 :] if found else files
        keep = later[-1] if later and later[-1].path == self.path and not later[-1].gz else None
        if keep is not None and cur.gen is not None and all(f.gen is not None for f in later):
            # generations say exactly how many files between `cur` and `keep` were deleted unread
            missed = (keep.gen or 0) - cur.gen - len(later)
            if missed > 0:
                self._warn_missed(missed)
        elif not found and len(files) > 1:
            self._warn("file rotations were missed while following logs; "
                       "lines in files deleted before they could be read were skipped")
        between: list[LogMessage] = []
        decode = self.codec.decoder()
        for f in later:
            if f is not keep:
                recs, _ = self.codec.split(f.content())
                between.extend(self._decode_all(recs, decode, f.path))
        for f in files:
            if f is not keep:
                f.close()
        if keep is None:
            return None
        return keep, between

    def _warn_missed(self, missed: int) -> None:
        self._warn(f"{missed} file rotation{'s were' if missed > 1 else ' was'} missed while following logs; "
                   "lines in files deleted before they could be read were skipped")

    def _to_pinned(self, cur: OpenLog, pinned: list[OpenLog], files: list[OpenLog]
                   ) -> tuple[OpenLog, list[LogMessage]]:
        """Continue with the oldest pinned file; files of generations in between that are still
        on disk (rotated, maybe compressed) are read whole, missing ones are reported."""
        nxt = pinned.pop(0)
        assert cur.gen is not None and nxt.gen is not None
        between_files = sorted((f for f in files if f.gen is not None and cur.gen < f.gen < nxt.gen),
                               key=lambda f: f.gen or 0)
        missed = nxt.gen - cur.gen - 1 - len(between_files)
        if missed > 0:
            self._warn_missed(missed)
        between: list[LogMessage] = []
        decode = self.codec.decoder()
        for f in between_files:
            recs, _ = self.codec.split(f.content())
            between.extend(self._decode_all(recs, decode, f.path))
        for f in files:
            f.close()
        return nxt, between
