"""Parsers shared by the v1 and v2 readers: one read per file, and errors that name the file.

Files are read with bare syscalls (no stat, no buffering layer): a scrape of 100 containers reads
well over a thousand small files. Files on the kernel's pseudo filesystems (cgroupfs, procfs) are
opened once and re-read with pread at offset 0, which makes the kernel regenerate their content
(seq_file restarts at 0), so a scrape pays one syscall a file instead of three; see `FileCache`. A file
that does not parse raises `CgroupParseError` with its path; it never quietly becomes 0.
"""

from __future__ import annotations

import errno
import os
import resource
import threading
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import TypeVar

from pydock.errors import CgroupError

from .stats import UNLIMITED_THRESHOLD, Limit


class CgroupParseError(CgroupError):
    """A cgroup or /proc file is missing or does not parse; `path` names it."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path


def _read_fd(fd: int) -> bytes:
    data = os.pread(fd, 65536, 0)
    if len(data) == 65536:  # big files (v1 memory.stat on many NUMA nodes): keep reading
        chunks = [data]
        while chunk := os.pread(fd, 65536, sum(map(len, chunks))):
            chunks.append(chunk)
        data = b"".join(chunks)
    return data


# Files opened afresh on every read. v1 keeps the pid list of cgroup.procs and tasks with the open file
# and reloads it only once it has been unused for a second (kernel/cgroup/cgroup-v1.c,
# CGROUP_PIDLIST_DESTROY_DELAY): a re-read of a kept fd would miss processes that joined. An open
# /proc/PID/net/* file holds its network namespace (seq_open_net) and goes on reading it after PID has
# exited, where a fresh open fails or finds the process that now has that pid.
_UNCACHED = ("/cgroup.procs", "/tasks", "/cgroup.threads", "/net/dev")

# pread on an fd whose file went away: the cgroup was removed (ENODEV) or the process died (ESRCH).
_GONE = (errno.ENODEV, errno.ESRCH, errno.ENOENT)


class FileCache:
    """Open fds of cgroupfs and procfs files, re-read with pread: one syscall a read instead of three.

    Only files under a mount of type cgroup, cgroup2 or proc are kept (the kernel makes their content at
    each read from offset 0, and they are never replaced, only removed), except those in `_UNCACHED`;
    regular files, such as the fixture trees of the tests, are opened and closed every time. A removed
    cgroup's file reads ENODEV and a dead process's ESRCH (never a newer process that reuses the pid):
    the fd is then closed and the path opened afresh. `sweep()`, called after every full read, closes
    the fds that no read used since the sweep before, so containers that are gone do not pin fds. At
    most half the soft RLIMIT_NOFILE is kept open."""

    def __init__(self, mountinfo: str = "/proc/self/mountinfo", capacity: int | None = None) -> None:
        self._fds: dict[str, list[int]] = {}  # path -> [fd, generation of its last read]
        self._gen = 0
        self._lock = threading.Lock()
        self._mountinfo = mountinfo
        self._prefixes: tuple[str, ...] | None = None  # read at the first miss, not at import
        self.capacity = capacity  # None: half the soft RLIMIT_NOFILE at the first miss

    def _setup(self) -> tuple[str, ...]:
        # PYDOCK_AGENT_KEEP_FDS_UNDER (colon-separated directories): trees whose files are rewritten in
        # place only, never replaced, treated like cgroupfs; bench/agent_scrape.py's synthetic trees on
        # tmpfs use it so that they are read with the syscalls of a real host.
        extra = tuple(p.rstrip("/") + "/" for p in os.environ.get("PYDOCK_AGENT_KEEP_FDS_UNDER", "").split(":") if p)
        self._prefixes = _pseudo_mounts(self._mountinfo) + extra
        if self.capacity is None:
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            self.capacity = (1 << 16) if soft == resource.RLIM_INFINITY else soft // 2
        return self._prefixes

    def read(self, path: str) -> bytes:
        with self._lock:
            hit = self._fds.get(path)
            if hit is not None:
                hit[1] = self._gen
                try:
                    data = os.pread(hit[0], 65536, 0)
                    return data if len(data) < 65536 else _read_fd(hit[0])
                except OSError as exc:
                    del self._fds[path]
                    os.close(hit[0])
                    if exc.errno not in _GONE:
                        raise
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            prefixes = self._prefixes if self._prefixes is not None else self._setup()
            keep = (path.startswith(prefixes) and not path.endswith(_UNCACHED)
                    and len(self._fds) < (self.capacity or 0))
            try:
                data = _read_fd(fd)
            except BaseException:
                os.close(fd)
                raise
            if keep:
                self._fds[path] = [fd, self._gen]
            else:
                os.close(fd)
            return data

    def sweep(self) -> None:
        with self._lock:
            stale = [p for p, (_, gen) in self._fds.items() if gen < self._gen]
            for p in stale:
                os.close(self._fds.pop(p)[0])
            self._gen += 1

    def close(self) -> None:
        with self._lock:
            for fd, _ in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def __len__(self) -> int:
        return len(self._fds)


def _pseudo_mounts(mountinfo: str) -> tuple[str, ...]:
    """Mount points of cgroup, cgroup2 and proc filesystems, each with a trailing slash."""
    try:
        fd = os.open(mountinfo, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ()
    try:
        text = _read_fd(fd).decode("utf-8", "replace")
    finally:
        os.close(fd)
    out = []
    for line in text.splitlines():
        fields, sep, tail = line.partition(" - ")
        parts = fields.split()
        if sep and len(parts) > 4 and tail.split(" ", 1)[0] in ("cgroup", "cgroup2", "proc"):
            mount = parts[4].replace("\\040", " ")
            out.append(mount.rstrip("/") + "/")
    return tuple(out)


FILES = FileCache()


def read_text(path: str) -> str:
    """The whole file; raises FileNotFoundError/OSError as the kernel says."""
    return FILES.read(path).decode("ascii", "replace")


def read_required(path: str) -> str:
    try:
        return read_text(path)
    except OSError as exc:
        raise CgroupParseError(path, exc.strerror or str(exc)) from exc


def read_optional(path: str) -> str | None:
    """None when the file does not exist (an older kernel, a controller not enabled)."""
    try:
        return read_text(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CgroupParseError(path, exc.strerror or str(exc)) from exc


def parse_int(text: str, path: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise CgroupParseError(path, f"expected an integer, got {text.strip()[:40]!r}") from None


def parse_limit(text: str, path: str) -> Limit:
    """v2 "max" or a v1 value above 2**62 is None (unlimited); -1 (v1 cfs_quota_us) too."""
    t = text.strip()
    if t == "max":
        return None
    v = parse_int(t, path)
    if v < 0 or v >= UNLIMITED_THRESHOLD:
        return None
    return v


T = TypeVar("T")
MEMO_LIMIT = 20000  # paths remembered per parser; cleared past that (cgroups come and go)


def unchanged(parse: Callable[[str, str], T]) -> Callable[[str, str], T]:
    """Reuse the last result for `path` while the file's text is the same, byte for byte.

    Most containers sit idle between two scrapes, and then most of their files read the same (memory.stat,
    cpu.stat, net/dev, blkio); comparing the text is far cheaper than splitting and converting it again.
    The result is shared between calls: callers only read it."""
    memo: dict[str, tuple[str, T]] = {}

    @wraps(parse)
    def cached(text: str, path: str) -> T:
        hit = memo.get(path)
        if hit is not None and hit[0] == text:
            return hit[1]
        value = parse(text, path)
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[path] = (text, value)
        return value

    return cached


@unchanged
def parse_flat_keyed(text: str, path: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, memory.events, cpuacct.stat)."""
    parts = text.split()
    if len(parts) == 2 * text.count("\n"):  # the usual shape: convert in one pass, in C
        try:
            return dict(zip(parts[::2], map(int, parts[1::2])))
        except ValueError:
            pass  # find the culprit line below, to name it
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line:
            continue
        fields = line.split()
        if len(fields) != 2:
            raise CgroupParseError(path, f"expected 'key value', got {line[:60]!r}")
        try:
            out[fields[0]] = int(fields[1])
        except ValueError:
            raise CgroupParseError(path, f"value of {fields[0]!r} is not an integer: {fields[1][:40]!r}") from None
    return out


def flat_keys(*keys: str) -> Callable[[str, str], dict[str, int]]:
    """A parser of `key value` files that keeps only `keys` (those present): memory.stat has some fifty
    lines and the agent uses seven to ten of them, so only those are converted and remembered (the
    memo of `unchanged` then holds a small dict per file, not fifty ints). One split of the text; a
    text that is not `key value` lines goes to parse_flat_keyed, which names the broken line."""
    wanted = frozenset(keys)

    @unchanged
    def parse(text: str, path: str) -> dict[str, int]:
        parts = text.split()
        if len(parts) == 2 * text.count("\n"):
            found = dict(zip(parts[::2], parts[1::2]))
            try:
                return {k: int(found[k]) for k in wanted.intersection(found)}
            except ValueError:
                pass
        full = parse_flat_keyed.__wrapped__(text, path)  # type: ignore[attr-defined]  # raises, naming the line
        return {k: v for k, v in full.items() if k in wanted}

    return parse


@unchanged
def parse_ints(text: str, path: str) -> tuple[int, ...]:
    """Space-separated integers on one line (cpuacct.usage_percpu)."""
    try:
        return tuple(int(x) for x in text.split())
    except ValueError:
        raise CgroupParseError(path, f"expected integers, got {text.strip()[:60]!r}") from None


@unchanged
def parse_nested_keyed(text: str, path: str) -> dict[tuple[int, int], dict[str, int]]:
    """v2 io.stat: `MAJ:MIN key=value ...`; a device line without fields has no figures yet."""
    out: dict[tuple[int, int], dict[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        dev = _parse_dev(parts[0], path)
        fields: dict[str, int] = {}
        for item in parts[1:]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CgroupParseError(path, f"expected key=value, got {item[:40]!r}")
            try:
                fields[key] = int(value)
            except ValueError:
                # io.stat's cost.* fields can be fractional in some kernels; we use none of them
                if key.startswith("cost."):
                    continue
                raise CgroupParseError(path, f"value of {key!r} is not an integer: {value[:40]!r}") from None
        if fields:
            out[dev] = fields
    return out


@unchanged
def parse_blkio_v1(text: str, path: str) -> dict[tuple[int, int], dict[str, int]]:
    """v1 blkio.*io_service*: `MAJ:MIN Op value` lines, then a `Total n` line for all devices."""
    out: dict[tuple[int, int], dict[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or (parts[0] == "Total" and len(parts) == 2):
            continue
        if len(parts) != 3:
            raise CgroupParseError(path, f"expected 'MAJ:MIN Op value', got {line[:60]!r}")
        dev = _parse_dev(parts[0], path)
        try:
            out.setdefault(dev, {})[parts[1]] = int(parts[2])
        except ValueError:
            raise CgroupParseError(path, f"value is not an integer: {parts[2][:40]!r}") from None
    return out


def _parse_dev(text: str, path: str) -> tuple[int, int]:
    major, sep, minor = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(major), int(minor)
    except ValueError:
        raise CgroupParseError(path, f"expected MAJ:MIN, got {text[:40]!r}") from None


SPEC_TTL_SECONDS = 10.0  # cgroups of other runtimes: nothing tells the agent that their limits changed
OWNED_SPEC_TTL_SECONDS = 300.0  # pydock's own: re-read when the record changes, this is only a backstop


class SpecCache:
    """Limits and weights (memory.max, cpu.max, cpu.shares, pids.max...), by cgroup directory.

    They change only through `pydock update` (or another runtime's equivalent), while every scrape of
    every container would otherwise pay six or seven file reads for them. For a directory that is
    `own`ed (a pydock container's cgroup) they are kept until `forget` (the agent's discovery calls it
    when the container's record changes: `pydock update` rewrites config.json after the kernel took the
    new limits), or OWNED_SPEC_TTL_SECONDS at most; for any other cgroup, SPEC_TTL_SECONDS.
    Figures (usage, counters) are never cached."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._dirs: dict[str, dict[str, tuple[float, str | None]]] = {}  # dir -> file -> (expiry, text)
        self._owned: set[str] = set()
        self._lock = threading.Lock()

    def read(self, path: str, required: bool = False) -> str | None:
        d, _, name = path.rpartition("/")
        now = self.clock()
        files = self._dirs.get(d)
        hit = files.get(name) if files is not None else None
        if hit is not None and hit[0] > now:
            text = hit[1]
        else:
            text = read_required(path) if required else read_optional(path)
            ttl = OWNED_SPEC_TTL_SECONDS if d in self._owned else SPEC_TTL_SECONDS
            with self._lock:
                if files is None:
                    if len(self._dirs) > 20000:  # bounded: cgroups come and go
                        self._dirs.clear()
                    files = self._dirs[d] = {}
                files[name] = (now + ttl, text)
        if text is None and required:
            raise CgroupParseError(path, "No such file or directory")
        return text

    def own(self, dirs: Iterable[str]) -> None:
        """These directories' limits change only with their record: keep them until `forget`."""
        with self._lock:
            for d in dirs:
                self._owned.add(d.rstrip("/"))
                self._dirs.pop(d.rstrip("/"), None)  # entries made under the short TTL

    def forget(self, dirs: Iterable[str]) -> None:
        with self._lock:
            for d in dirs:
                self._dirs.pop(d.rstrip("/"), None)
                self._owned.discard(d.rstrip("/"))


SPECS = SpecCache()


def read_spec(path: str, required: bool = False) -> str | None:
    """A limit or weight file through `SPECS` (see SpecCache)."""
    return SPECS.read(path, required)
