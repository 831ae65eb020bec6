"""Size-based rotation and gzip compression of log files, shared by json-file, local and the cache.

Docker's scheme (`loggerutils/logfile.go`): before a record is written, if the active file already
holds `max-size` bytes it is renamed to `<name>.1` (older ones shift up to `<name>.<max-file - 1>`,
the oldest is deleted) and a fresh file is opened; with `max-file=1` the active file is unlinked and
recreated. Compression turns `<name>.1` into `<name>.1.gz` in the background, and the next rotation
waits for it. The gzip header's Extra field holds JSON `{"lastTime": RFC3339Nano}` as Docker's does;
pydock adds `"dev"`, `"ino"`, `"size"` and `"tail"` (a digest of the last 4 KiB) of the plain file
it came from, so a follower that was reading that file finds where to continue even after it was
compressed (an inode number is reused once the plain file is deleted, and files of fixed-width
lines all have one size; Docker ignores unknown keys there).

Every rotation also bumps a generation number kept in a hidden file beside the logs (`.<id>-json.gen`;
no file of Docker's is changed, and `*-json.log*` or `*.log` globs skip it): the active file is generation G,
`<name>.<i>` is G - i. A follower compares generations to know whether it skipped a file (with
`max-file=1` a file can be created and unlinked between two looks) and says how many.

Renames happen under an exclusive `flock` on the directory; readers take it shared while they list
and open the files, so they never see a half-shifted set. Records are written whole with one
`write(2)` each chunk, so a reader sees at most one incomplete record at the end of the active file.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from pydock.logdrivers.base import LogMessage
from pydock.logdrivers.jsonlog import format_time

# (data, need) -> the end offset of the first record ending at or after `need` (len(data) if none).
Cutter = Callable[[bytes, int], int]

GZIP_LEVEL = 1  # BestSpeed: the shim compresses in the background while the container logs


@contextmanager
def dir_lock(directory: str | os.PathLike[str], exclusive: bool) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def rotated_name(path: Path, index: int, gz: bool) -> Path:
    return path.with_name(f"{path.name}.{index}" + (".gz" if gz else ""))


def generation_path(path: Path) -> Path:
    # `<id>-json.gen` for `<id>-json.log`: hidden, and no match for `*-json.log*` or `*.log` globs
    return path.with_name(f".{path.stem}.gen")


def read_generation(path: Path) -> int | None:
    """The generation of the active file `path`; call it under the directory lock to pair it with
    the files seen. None when there is no count: no rotation yet (the writer then counts from 0),
    or a writer of an older pydock (readers then go by file identity alone)."""
    try:
        return int(generation_path(path).read_bytes())
    except (FileNotFoundError, ValueError):
        return None


def gzip_extra(path: Path) -> dict[str, object] | None:
    """The JSON in a gzip file's Extra field (Docker's `lastTime`, pydock's `dev`/`ino`), if any."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:2] != b"\x1f\x8b" or not head[3] & 4:
                return None
            (xlen,) = struct.unpack("<H", head[10:12])
            return json.loads(f.read(xlen))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def tail_digest(path: str | os.PathLike[str] | int, size: int) -> str:
    """Digest of a file's last 4 KiB (`path` may be an open descriptor)."""
    n = min(size, 4096)
    if isinstance(path, int):
        data = os.pread(path, n, size - n)
    else:
        with open(path, "rb") as f:
            f.seek(size - n)
            data = f.read(n)
    import hashlib  # here: the shim's writers never need OpenSSL mapped (megabytes of RSS)

    return hashlib.sha1(data).hexdigest()[:16]


def compress_file(src: Path, dst: Path, extra: dict[str, object], level: int = GZIP_LEVEL) -> None:
    """gzip `src` into `dst` with `extra` as the raw FEXTRA field, as Go's gzip.Header.Extra writes."""
    tmp = dst.with_name(dst.name + ".tmp")
    payload = json.dumps(extra, separators=(",", ":")).encode()
    st = os.stat(src)
    crc = 0
    size = 0
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        os.fchmod(fout.fileno(), 0o640)
        fout.write(b"\x1f\x8b\x08\x04" + struct.pack("<I", int(st.st_mtime)) + b"\x00\xff")
        fout.write(struct.pack("<H", len(payload)) + payload)
        while block := fin.read(1 << 20):
            crc = zlib.crc32(block, crc)
            size += len(block)
            fout.write(comp.compress(block))
        fout.write(comp.flush())
        fout.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
        fout.flush()
        os.fsync(fout.fileno())
    os.rename(tmp, dst)


def _unlink_held(path: Path) -> list[int]:
    """Unlinks `path`, keeping it open: the returned fd is the file's last reference, so the costly
    part of removing it (freeing its pages and blocks) waits for that fd's close."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        os.unlink(path)
        return []
    try:
        os.unlink(path)
    except OSError:
        os.close(fd)
        raise
    return [fd]


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


class RotatingFile:
    """The active log file of one container and its rotated siblings.

    `write(data, last_ns)` takes whole records; `cut` finds record boundaries so rotation happens
    between records exactly where Docker's per-record size check would put it."""

    def __init__(self, path: Path, cut: Cutter, max_size: int = -1, max_file: int = 1,
                 compress: bool = False, mode: int = 0o640):
        self.path = Path(path)
        self.max_size = max_size
        self.max_file = max_file
        self.compress = compress
        self._cut = cut
        self._mode = mode
        self._compressor: threading.Thread | None = None
        self._compress_error: BaseException | None = None
        self._releaser: threading.Thread | None = None
        self._last_ns = 0
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        self.rotations = 0
        self._generation = read_generation(self.path) or 0  # a restarted container continues the count

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self._mode)
        return fd

    def write(self, data: bytes, last_ns: int) -> None:
        if self.max_size <= 0:
            self._write(data)
            self._last_ns = last_ns
            return
        while data:
            if self._size >= self.max_size:
                self._rotate()
            end = self._cut(data, self.max_size - self._size)
            self._write(data[:end] if end < len(data) else data)
            self._last_ns = last_ns
            data = data[end:]

    def write_parts(self, parts: list[bytes | memoryview], last_ns: int) -> None:
        """`write` of the records that `parts` hold together, with one `writev(2)` when no rotation
        falls inside them (the common case); otherwise joined and cut as `write` cuts."""
        total = sum(map(len, parts))
        if self.max_size > 0 and self._size + total > self.max_size:
            self.write(b"".join(parts), last_ns)
            return
        n = os.writev(self._fd, parts)
        self._size += n
        if n < total:  # a short write (a full disk, a signal): the rest as `_write` does it
            self._write(b"".join(parts)[n:])
        self._last_ns = last_ns

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
            self._size += n

    def _wait_compressor(self) -> None:
        if self._compressor is not None:
            self._compressor.join()
            self._compressor = None

    def _rotate(self) -> None:
        self._wait_compressor()
        st = os.fstat(self._fd)
        dropped: list[int] = []  # fds of unlinked files, closed on another thread (_release_later)
        with dir_lock(self.path.parent, exclusive=True):
            if self.max_file < 2:
                os.unlink(self.path)
                dropped.append(self._fd)
                self._fd = -1
            else:
                last = rotated_name(self.path, self.max_file - 1, self.compress)
                for stale in (last, rotated_name(self.path, self.max_file - 1, False)):
                    if stale.exists():
                        dropped += _unlink_held(stale)
                for i in range(self.max_file - 1, 1, -1):
                    for gz in (True, False):
                        src = rotated_name(self.path, i - 1, gz)
                        if src.exists():
                            os.rename(src, rotated_name(self.path, i, gz))
                os.rename(self.path, rotated_name(self.path, 1, False))
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = self._open()
            self._size = 0
            self._generation += 1
            gen_fd = os.open(generation_path(self.path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                             self._mode)
            try:
                os.write(gen_fd, b"%d" % self._generation)
            finally:
                os.close(gen_fd)
        self.rotations += 1
        self._release_later(dropped)
        if self.compress and self.max_file >= 2:
            extra = {"lastTime": format_time(self._last_ns), "dev": st.st_dev, "ino": st.st_ino,
                     "size": st.st_size, "tail": tail_digest(rotated_name(self.path, 1, False), st.st_size)}
            self._compressor = threading.Thread(target=self._compress_one, args=(extra,),
                                                name="log-compress", daemon=True)
            self._compressor.start()

    def _release_later(self, fds: list[int]) -> None:
        """Closes the last fds of unlinked log files on a short-lived thread. Freeing a 10 MB file
        (its pages, and its blocks through ext4's journal) happens at that close: 0.7 ms, and up to
        35 ms while writeback is busy, that the copier would otherwise spend with the container's
        pipe filling (measured with strace -T, docs/performance.md "The log path")."""
        self._wait_releaser()
        if fds:
            self._releaser = threading.Thread(target=_close_all, args=(fds,), name="log-release", daemon=True)
            self._releaser.start()

    def _wait_releaser(self) -> None:
        if self._releaser is not None:
            self._releaser.join()
            self._releaser = None

    def _compress_one(self, extra: dict[str, object]) -> None:
        src = rotated_name(self.path, 1, False)
        dst = rotated_name(self.path, 1, True)
        try:
            compress_file(src, dst, extra)
            with dir_lock(self.path.parent, exclusive=True):
                os.unlink(src)
        except OSError as exc:  # the plain file stays readable; the error surfaces at close
            self._compress_error = exc

    def close(self) -> None:
        self._wait_compressor()
        self._wait_releaser()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._compress_error is not None:
            err, self._compress_error = self._compress_error, None
            raise OSError(f"compressing rotated log of {self.path}: {err}")



class RecordEncoder(Protocol):
    def message(self, msg: LogMessage) -> bytes: ...

    def chunk(self, source: str, data: bytes, timestamp_ns: int) -> bytes: ...

    # Optional: `chunk_parts(source, data, ns) -> (buffers for one writev, number of records)`.


class RecordWriter:
    """Encoded records appended to a `RotatingFile` under one lock: the writer of every driver that
    keeps files (json-file, local, the dual-logging cache); only the encoding differs."""

    def __init__(self, encoder: RecordEncoder, file: RotatingFile):
        self._enc = encoder
        self._file = file
        self._lock = threading.Lock()

    def log(self, msg: LogMessage) -> None:
        data = self._enc.message(msg)
        with self._lock:
            self._file.write(data, msg.timestamp_ns)

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> int | None:
        """Complete lines of one stream (each ending in a newline) that share a timestamp. Returns
        how many lines that was when the encoder knows it for free (the caller need not count)."""
        parts = getattr(self._enc, "chunk_parts", None)
        if parts is not None:
            bufs, lines = parts(source, data, timestamp_ns)
            with self._lock:
                self._file.write_parts(bufs, timestamp_ns)
            return int(lines)
        records = self._enc.chunk(source, data, timestamp_ns)
        with self._lock:
            self._file.write(records, timestamp_ns)
        return None

    @property
    def rotations(self) -> int:
        return self._file.rotations

    def close(self) -> None:
        with self._lock:
            self._file.close()


class RecordFileDriver:
    """What json-file, local and the dual-logging cache share: every record goes to their writer."""

    _writer: RecordWriter

    def log(self, msg: LogMessage) -> None:
        self._writer.log(msg)

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> int | None:
        return self._writer.log_chunk(source, data, timestamp_ns)

    def close(self) -> None:
        self._writer.close()
