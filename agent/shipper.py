"""The agent's log shipper: tails every container log on the host and pushes it to the collector.

At least once and in order per container. For each container the shipper reads its log files oldest
first (rotated, compressed, then active) from the offsets in its checkpoint, POSTs one gzip NDJSON
batch (internals §4), and moves the checkpoint only after the collector's 2xx, writing it atomically
(temp file, fsync, rename, fsync of the directory). A crash anywhere re-sends at most the batch in
flight, which the collector drops as duplicates by (container, file_id, offset).

File identity survives rotation and compression: a file is known by a hash of its first bytes
(decompressed), and its `file_id` on the wire is `<dev>:<inode>:<head hash>` as first seen (the
inode alone is reused by rotation), so `x-json.log` renamed to `x-json.log.1` and
then compressed to `x-json.log.1.gz` (a new inode) is still the same logical file at the same offset.
Back-pressure: one batch is in memory at a time; while the collector is slow or down the shipper
simply falls behind on disk and retries with backoff.

Multiline entries (stack traces, indented continuation lines) are grouped here, per container and
stream, before they are sent: one record whose line joins the lines with "\n", its offset the last
line's. Why here and not in the collector's ingest: only the shipper knows whether a trace is complete.
It reads the file itself, so it sees the next line when it is already written (a backlog after an
outage groups exactly, however the pushes are cut), and it knows it stands at the end of the file;
the collector would see only pushes, cut by batch size and round-robin, and could not tell a pause of
the writer from a shipper that is behind. And at least once stays simple: a group that may still grow
(at the end of the active file, younger than the flush timeout, default 1 s) is not sent, and the
checkpoint stays before its first line, so the next round reads it again; a crash loses nothing, as
nothing of it was acknowledged. The collector would have had to keep partial groups durably across
pushes and restarts. Container labels (`pydock.multiline.pattern`) are also at hand here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydock.logdrivers.base import LogMessage
from pydock.logdrivers.rotate import gzip_extra

log = logging.getLogger("pydock.agent.shipper")

HEAD_BYTES = 512  # bytes hashed to recognise a file after it is renamed or compressed
FORGET_AFTER_S = 600.0  # a vanished file's entry is kept this long (it may reappear compressed)
MULTILINE_LABEL = "pydock.multiline.pattern"  # a regex marking the first line of an entry (Fluent Bit's start_state)
GROUP_MAX_LINES = 1000
GROUP_MAX_BYTES = 256 << 10
_PY_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_PY_FINAL = re.compile(r"^[A-Za-z_][\w.]*(?::|$)")
_GO_FRAME = re.compile(r"^[\w.\-/*()\[\]{}]+\(.*\)$")  # main.main(), main.(*T).run(0xc000012345)
_TRACES = {"Traceback (most recent call last):": "py", "panic: ": "go", "fatal error: ": "go",
           "Exception in thread ": "java"}


def _log_files(record_dir: Path, log_type: str) -> list[Path]:
    from pydock.logdrivers import files

    return files.log_files(record_dir, log_type)


def _iter_records(path: Path, offset: int) -> Iterator[tuple[LogMessage, int]]:
    from pydock.logdrivers import files

    return files.iter_file_records(path, offset)


@dataclass(frozen=True)
class ContainerLogs:
    id: str
    name: str
    dir: Path
    log_type: str
    multiline: str = ""  # the container's `pydock.multiline.pattern` label


class _Group:
    """Consecutive lines of one stream that form one entry. `start`: the file offset before its first
    line (where reading resumes if it is held); `blanks`: trailing blank lines not yet known to belong
    (a blank line inside a Go panic or between chained Python tracebacks does)."""

    __slots__ = ("blanks", "end", "last_ts", "lines", "mode", "size", "start", "stream", "ts")

    def __init__(self, stream: str, line: str, ts: int, start: int, end: int, mode: str) -> None:
        self.stream = stream
        self.lines, self.ts, self.last_ts, self.start, self.end = [line], ts, ts, start, end
        self.mode, self.size = mode, len(line)
        self.blanks: list[tuple[str, int, int, int]] = []  # (line, ts, start, end)

    def add(self, line: str, ts: int, end: int) -> None:
        for b in self.blanks:
            self.lines.append(b[0])
        self.blanks = []
        self.lines.append(line)
        self.size += len(line) + 1
        self.last_ts, self.end = ts, end


class Multiline:
    """Groups the lines of one file, per stream. Without a pattern: Python tracebacks (`Traceback
    (most recent call last):`, indented frames, the final `XxxError: ...`, chained ones), Java
    (`Exception in thread ...`, `at ...`, `Caused by: ...`, `... N more`), Go (`panic: `/`fatal
    error: `, `goroutine N [running]:` and what follows until a blank line followed by something
    else), and lines starting with whitespace join the entry before them. With a pattern: a line it
    matches starts an entry, every other line joins the current one."""

    def __init__(self, pattern: re.Pattern[str] | None) -> None:
        self.pattern = pattern
        self.open: dict[str, _Group] = {}

    def feed(self, stream: str, line: str, ts: int, start: int, end: int) -> list[_Group]:
        """Take one line; return the groups it closes, in file order."""
        g = self.open.get(stream)
        if g is not None and g.size < GROUP_MAX_BYTES and len(g.lines) < GROUP_MAX_LINES and self._joins(g, line):
            if line.strip() or not self._blank_may_join(g):
                g.add(line, ts, end)
            else:
                g.blanks.append((line, ts, start, end))
            return []
        closed = self.close(stream)
        self.open[stream] = _Group(stream, line, ts, start, end, self._mode(line))
        return closed

    def close(self, stream: str) -> list[_Group]:
        g = self.open.pop(stream, None)
        if g is None:
            return []
        blanks = [_Group(stream, b[0], b[1], b[2], b[3], "single") for b in g.blanks]
        g.blanks = []
        return [g, *blanks]

    def _mode(self, line: str) -> str:
        if self.pattern is not None:
            return "custom"
        if not line.strip():
            return "single"
        for prefix, mode in _TRACES.items():
            if line.startswith(prefix):
                return mode
        return "plain"

    def _blank_may_join(self, g: _Group) -> bool:
        return g.mode in ("go", "py_end", "py_chain")

    def _joins(self, g: _Group, line: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(line) is None
        indented = line[:1] in (" ", "\t") and bool(line.strip())
        m = g.mode
        if m == "single":
            return False
        if not line.strip():
            return self._blank_may_join(g)
        if m == "py":
            if indented:
                return True
            if _PY_FINAL.match(line):
                g.mode = "py_end"  # the exception line (`ValueError: bad`, `KeyboardInterrupt`) ends it
                return True
            return False
        if m == "py_end":
            if line.startswith(_PY_CHAIN):
                g.mode = "py_chain"
                return True
            return indented and not g.blanks
        if m == "py_chain":
            if line.startswith("Traceback (most recent call last):"):
                g.mode = "py"
                return True
            return False
        if m == "go":
            if g.blanks:
                return line.startswith("goroutine ")
            return indented or line.startswith(("goroutine ", "[signal ", "created by ")) or \
                _GO_FRAME.match(line) is not None
        return indented or line.startswith("Caused by: ")  # plain, java

    @staticmethod
    def may_grow(g: _Group) -> bool:
        """Whether more lines may still join (so it is held at the end of the active file)."""
        return g.mode in ("custom", "py", "py_end", "py_chain", "go", "java") or len(g.lines) > 1


def discover(containers_dir: Path,
             cache: dict[str, tuple[int, ContainerLogs | None]] | None = None) -> list[ContainerLogs]:
    """Every container under the state root whose config names a log driver with files to read.
    `cache` (config path -> (mtime_ns, result)) spares re-reading configs that did not change."""
    out: list[ContainerLogs] = []
    try:
        entries = sorted(os.scandir(containers_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return out
    seen: set[str] = set()
    for e in entries:
        cpath = os.path.join(e.path, "config.json")
        try:
            mtime = os.stat(cpath).st_mtime_ns
            hit = cache.get(cpath) if cache is not None else None
            if hit is not None and hit[0] == mtime:
                found = hit[1]
            else:
                with open(cpath, "rb") as f:
                    cfg = json.load(f)
                log_type = ((cfg.get("HostConfig") or {}).get("LogConfig") or {}).get("Type") or "json-file"
                labels = (cfg.get("Config") or {}).get("Labels") or {}
                found = None if log_type == "none" else ContainerLogs(
                    cfg.get("Id") or e.name, str(cfg.get("Name", "")).lstrip("/"), Path(e.path), log_type,
                    str(labels.get(MULTILINE_LABEL) or "") if isinstance(labels, dict) else "")
                if cache is not None:
                    cache[cpath] = (mtime, found)
        except (OSError, ValueError):
            continue  # being created or removed: next round
        seen.add(cpath)
        if found is not None:
            out.append(found)
    if cache is not None:
        for k in set(cache) - seen:
            del cache[k]
    return out


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        start = f.read(2)
        f.seek(0)
        if start == b"\x1f\x8b":
            try:
                with gzip.open(f) as g:
                    return g.read(HEAD_BYTES)
            except (OSError, EOFError):
                return b""  # still being written by the compressor
        return f.read(HEAD_BYTES)


def _file_id(path: Path) -> str | None:
    """dev:inode; for a compressed file the identity of the plain file it was made from, which
    pydock's rotation records in the gzip header (Docker's files lack it: then the gz's own)."""
    try:
        st = path.stat()
    except OSError:
        return None
    extra = gzip_extra(path)
    if extra and "dev" in extra and "ino" in extra:
        return f"{extra['dev']}:{extra['ino']}"
    return f"{st.st_dev}:{st.st_ino}"


def _sig(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:20]


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class Checkpoint:
    """{container_id: [{"file_id", "sig", "sig_len", "offset", "seen"}]} persisted as one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.containers: dict[str, list[dict[str, Any]]] = {}
        try:
            data = json.loads(path.read_bytes())
            self.containers = data.get("containers", {})
        except FileNotFoundError:
            pass

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.path, json.dumps({"version": 1, "containers": self.containers}).encode())

    def match(self, cid: str, head: bytes) -> dict[str, Any] | None:
        for ent in self.containers.get(cid, []):
            n = ent["sig_len"]
            if len(head) >= n and _sig(head[:n]) == ent["sig"]:
                return ent
        return None


class PushError(Exception):
    """The collector did not acknowledge a batch (network error or non-2xx); the batch is retried."""


class Shipper:
    def __init__(
        self,
        containers_dir: Path,
        collector_url: str,
        checkpoint_path: Path,
        token: str = "",
        host: str = "",
        batch_lines: int = 5000,
        batch_bytes: int = 4 << 20,
        poll_s: float = 0.25,
        timeout_s: float = 30.0,
        client: httpx.Client | None = None,
        multiline_flush_s: float = 1.0,
    ) -> None:
        self.containers_dir = containers_dir
        self.url = collector_url.rstrip("/") + "/api/v1/logs/push"
        self.checkpoint = Checkpoint(checkpoint_path)
        self.host = host or socket.gethostname()
        self.batch_lines = batch_lines
        self.batch_bytes = batch_bytes
        self.poll_s = poll_s
        self.multiline_flush_ns = int(multiline_flush_s * 1e9)
        self._patterns: dict[str, re.Pattern[str] | None] = {}
        headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = client or httpx.Client(timeout=timeout_s)
        self.headers = headers
        self._rr = 0
        self._configs: dict[str, tuple[int, ContainerLogs | None]] = {}
        self._heads: dict[str, tuple[tuple[int, int, int], bytes]] = {}
        self.shipped = 0
        self.failures = 0
        self.checkpoint_errors = 0  # OSError saving the checkpoint (disk full): retried, exported
        self.up = True  # the last round succeeded

    # One round: build at most one batch, push it, then move the checkpoint.
    def ship_once(self) -> int:
        containers = discover(self.containers_dir, self._configs)
        if not containers:
            return 0
        self._rr = (self._rr + 1) % len(containers)
        order = containers[self._rr:] + containers[: self._rr]  # no container starves the others
        lines: list[bytes] = []
        size = 0
        moves: list[tuple[dict[str, Any], int]] = []
        new_entries = False
        now = time.time()
        live = {c.id for c in containers}
        for c in order:
            if len(lines) >= self.batch_lines or size >= self.batch_bytes:
                break
            try:
                paths = _log_files(c.dir, c.log_type)
            except OSError:
                continue
            for i, path in enumerate(paths):
                try:
                    head = self._head(path)
                except OSError:
                    continue  # rotated away between listing and opening
                if not head:
                    continue
                ent = self.checkpoint.match(c.id, head)
                if ent is not None and ent.get("done"):
                    ent["seen"] = now
                    continue
                if ent is None:
                    if len(head) < HEAD_BYTES and i < len(paths) - 1:
                        continue  # an older file still being compressed: its head is not whole yet
                    fid = _file_id(path)
                    if fid is None:
                        continue
                    sig = _sig(head)
                    # Rotation reuses inodes (the active file often gets the inode of the one just
                    # compressed away): the head's hash keeps two files with one inode apart.
                    ent = {"file_id": f"{fid}:{sig[:12]}", "sig": sig, "sig_len": len(head), "offset": 0,
                           "seen": now}
                    # Known before anything of it is sent: if the push is stored but its answer is
                    # lost, the re-send carries the same file_id even if the file is compressed meanwhile.
                    self.checkpoint.containers.setdefault(c.id, []).append(ent)
                    new_entries = True
                ent["seen"] = now
                start = ent["offset"]
                end = start
                complete = i < len(paths) - 1  # a rotated file: the driver writes only the active one
                grouper = Multiline(self._pattern(c))
                held: list[_Group] = []

                def emit(groups: list[_Group], c: ContainerLogs = c, ent: dict[str, Any] = ent) -> None:
                    nonlocal size
                    for g in groups:
                        rec = {"host": self.host, "container_id": c.id, "container_name": c.name,
                               "stream": g.stream, "time_ns": g.ts, "line": "\n".join(g.lines),
                               "file_id": ent["file_id"], "offset": g.end}
                        b = json.dumps(rec, ensure_ascii=False).encode()
                        lines.append(b)
                        size += len(b) + 1

                full = False
                try:
                    prev = start
                    for msg, off in _iter_records(path, start):
                        emit(grouper.feed(msg.source, msg.line.decode("utf-8", "replace"), msg.timestamp_ns,
                                          prev, off))
                        prev = end = off
                        # each open group is one more record once it closes
                        if len(lines) + len(grouper.open) >= self.batch_lines or size >= self.batch_bytes:
                            full = True
                            break
                except (OSError, EOFError, ValueError) as e:
                    log.debug("reading %s: %s", path, e)
                    held = [g for st in list(grouper.open) for g in grouper.close(st)]
                else:
                    young = time.time_ns() - self.multiline_flush_ns
                    for st in list(grouper.open):
                        g = grouper.open[st]
                        # An entry that may still grow waits: at the end of the active file for the flush
                        # timeout, where a full batch cut the reading for the next round (a single plain
                        # line is not held: the next line would rarely continue it, and holding it would
                        # send the other stream's lines after it twice). A rotated file is complete.
                        if Multiline.may_grow(g) and (full or (not complete and g.last_ts > young)):
                            held.append(g)
                            del grouper.open[st]
                        else:
                            emit(grouper.close(st))
                    if end == start and complete and not held:
                        # A rotated file is complete: read to its end, it needs no reading again,
                        # which spares decompressing it.
                        ent["done"] = True
                if held:
                    # Read again from the first held line next round (lines of the other stream after it
                    # are sent again: the collector drops them as duplicates).
                    end = min(g.start for g in held)
                if end != start:
                    moves.append((ent, end))
                if len(lines) >= self.batch_lines or size >= self.batch_bytes:
                    break
        if new_entries:
            self.checkpoint.save()
        if lines:
            self._push(b"\n".join(lines) + b"\n")
        for ent, off in moves:
            ent["offset"] = off
        self._forget(live, now)
        if lines:
            self.checkpoint.save()
        self.shipped += len(lines)
        return len(lines)

    def _pattern(self, c: ContainerLogs) -> re.Pattern[str] | None:
        if not c.multiline:
            return None
        if c.multiline not in self._patterns:
            try:
                self._patterns[c.multiline] = re.compile(c.multiline)
            except re.error as e:
                log.warning("container %s: label %s %r is not a valid regex (%s); the default grouping applies",
                            c.name, MULTILINE_LABEL, c.multiline, e)
                self._patterns[c.multiline] = None
        return self._patterns[c.multiline]

    def _head(self, path: Path) -> bytes:
        """The file's first bytes. A whole head (HEAD_BYTES) of a file that is not being written is
        kept: the key includes ctime, which changes with every write and differs for a new file that
        reuses a deleted file's inode (rotation does that), so a stale head is never returned."""
        st = path.stat()
        ident = (st.st_dev, st.st_ino, st.st_ctime_ns)
        key = str(path)
        hit = self._heads.get(key)
        if hit is not None and hit[0] == ident:
            return hit[1]
        head = _head(path)
        if len(head) == HEAD_BYTES:
            if len(self._heads) > 10_000:
                self._heads.clear()
            self._heads[key] = (ident, head)
        return head

    def _forget(self, live: set[str], now: float) -> None:
        for cid in list(self.checkpoint.containers):
            ents = [e for e in self.checkpoint.containers[cid] if now - e.get("seen", now) < FORGET_AFTER_S]
            if cid not in live and not ents:
                del self.checkpoint.containers[cid]
            else:
                self.checkpoint.containers[cid] = ents

    def _push(self, payload: bytes) -> None:
        body = gzip.compress(payload, compresslevel=1)
        try:
            resp = self.client.post(self.url, content=body, headers=self.headers)
        except httpx.HTTPError as e:
            raise PushError(f"push to {self.url}: {e}") from e
        if resp.status_code // 100 != 2:
            raise PushError(f"push to {self.url}: HTTP {resp.status_code}: {resp.text[:200]}")

    def run(self, stop: threading.Event) -> None:
        """Ship until `stop` is set: immediately again while there is a backlog, with capped
        exponential backoff while the collector does not acknowledge."""
        backoff = 0.0
        while not stop.is_set():
            try:
                n = self.ship_once()
                backoff = 0.0
            except (PushError, OSError) as e:
                # An OSError is the checkpoint's (disk full, read-only): the batch is re-sent once it
                # can be saved, which the collector's dedup absorbs; the thread must not die of it.
                if isinstance(e, OSError):
                    self.checkpoint_errors += 1
                else:
                    self.failures += 1
                self.up = False
                backoff = min(max(backoff * 2, 0.25), 5.0)
                log.warning("log shipper: %s; retrying in %.2fs", e, backoff)
                stop.wait(backoff)
                continue
            self.up = True
            if n < self.batch_lines:
                stop.wait(self.poll_s)

    def close(self) -> None:
        self.client.close()


def metrics_text(shipper: Shipper) -> str:
    """The shipper's health in Prometheus text (appended to the agent's /metrics): a failing shipper
    shows there instead of only in a log line."""
    return ("# HELP pydock_log_shipper_up 1 if the log shipper's last round succeeded.\n"
            "# TYPE pydock_log_shipper_up gauge\n"
            f"pydock_log_shipper_up {int(shipper.up)}\n"
            "# HELP pydock_log_shipper_errors_total Failed log shipper rounds, by what failed.\n"
            "# TYPE pydock_log_shipper_errors_total counter\n"
            f'pydock_log_shipper_errors_total{{reason="push"}} {shipper.failures}\n'
            f'pydock_log_shipper_errors_total{{reason="checkpoint"}} {shipper.checkpoint_errors}\n')


def start_background(shipper: Shipper) -> tuple[threading.Thread, threading.Event]:
    """Run `shipper` in a daemon thread; set the returned event to stop it (then join the thread)."""
    stop = threading.Event()
    t = threading.Thread(target=shipper.run, args=(stop,), name="log-shipper", daemon=True)
    t.start()
    return t, stop
