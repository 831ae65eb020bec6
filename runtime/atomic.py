"""Crash-safe files: atomic JSON writes (temp file, fsync, rename) and advisory locks.

Every record pydock keeps on disk goes through `write_json`, so a reader sees either the old or the
new content, never a torn file, even if the writer is SIGKILLed half-way (the rename alone gives
that: a killed process loses nothing the kernel's page cache holds). `durable=True` (the default)
adds the fsyncs that make the write survive a power loss too; files rewritten all the time whose
latest version means nothing after a reboot (state.json: every container is stopped then, and a lost
state.json reads as dead) pass `durable=False` and skip two fsyncs, milliseconds each.

`Lock` is an flock on a file: locks die with their process, so a crashed command never leaves a
stale lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pydock.errors import PydockError


def write_json(path: Path, data: Any, durable: bool = True) -> None:
    write_bytes(path, (json.dumps(data, indent=None, separators=(",", ":")) + "\n").encode(), durable)


def write_bytes(path: Path, payload: bytes, durable: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if not durable:
        return
    # The rename is durable only once the directory entry is on disk too.
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_json(path: Path) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())


class Lock:
    """An exclusive flock on `path` (created if missing), usable as a context manager."""

    def __init__(self, path: Path, shared: bool = False) -> None:
        self.path = path
        self.shared = shared
        self.fd = -1

    def acquire(self, timeout: float | None = None) -> bool:
        """Blocks (up to `timeout` seconds, forever if None); returns False on timeout."""
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        if timeout is None:
            fcntl.flock(self.fd, mode)
            return True
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self.fd, mode | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = -1
                    return False
                time.sleep(0.01)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def is_locked(path: Path) -> bool:
    """True if some process holds an flock on `path` (used to tell a live shim from a dead one).

    Opens read-only so that read-only callers such as the agent can ask too."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise PydockError(f"cannot test lock {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return False
