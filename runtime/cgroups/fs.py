"""Reading and writing cgroup control files, and the parsers both cgroup versions share.

Every failure is a `CgroupError` naming the file, so a refused write says which knob and why
(the kernel answers EINVAL for an out-of-range value, EBUSY for a cpuset in use, and so on).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterable
from pathlib import Path

from pydock.errors import CgroupError


def read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise CgroupError(f"cannot read {path}: {os.strerror(exc.errno or 0)}") from exc


def read_int(path: Path) -> int:
    text = read(path).strip()
    if text == "max":
        return -1  # "max" is unlimited; pydock's types spell that -1, as Docker's API does
    try:
        return int(text)
    except ValueError as exc:
        raise CgroupError(f"cannot parse {path}: {text!r} is not a number") from exc


def write(path: Path, value: str | int) -> None:
    """Write one value, the way the kernel expects: one write() call, no partial retries."""
    data = str(value).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise CgroupError(f"cannot open {path}: {os.strerror(exc.errno or 0)}") from exc
    try:
        os.write(fd, data)
    except OSError as exc:
        reason = os.strerror(exc.errno or 0)
        if exc.errno == errno.EINVAL:
            reason += " (the kernel refused the value)"
        raise CgroupError(f"cannot write {data.decode()!r} to {path}: {reason}") from exc
    finally:
        os.close(fd)


def write_pid(dir_: Path, pid: int) -> None:
    # A task still in TASK_NEW answers EINVAL; runc retries the same way.
    for _ in range(5):
        try:
            write(dir_ / "cgroup.procs", pid)
            return
        except CgroupError as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError) and cause.errno == errno.EINVAL:
                time.sleep(0.03)
                continue
            raise
    write(dir_ / "cgroup.procs", pid)


def parse_flat_keyed(path: Path) -> dict[str, int]:
    """Files of `key value` lines: memory.events, memory.oom_control, cgroup.events, pids.events."""
    out: dict[str, int] = {}
    for line in read(path).splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            out[parts[0]] = int(parts[1])
        except ValueError as exc:
            raise CgroupError(f"cannot parse {path}: bad line {line!r}") from exc
    return out


def parse_pids(path: Path) -> list[int]:
    text = read(path)
    try:
        return [int(x) for x in text.split()]
    except ValueError as exc:
        raise CgroupError(f"cannot parse {path}: not a list of pids") from exc


def parse_cpu_list(text: str) -> set[int]:
    """The kernel's list format (`0-3,5,7-8`), as in cpuset.cpus and /sys/devices/system/cpu/online."""
    cpus: set[int] = set()
    text = text.strip()
    if not text:
        return cpus
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"bad cpu list element {part!r}")
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise ValueError(f"bad cpu range {part!r}")
        cpus.update(range(a, b + 1))
    return cpus


def format_cpu_list(cpus: Iterable[int]) -> str:
    out: list[str] = []
    run: list[int] = []
    for c in sorted(set(cpus)):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def pid_alive(pid: int, proc: Path = Path("/proc")) -> bool:
    """True for a running task; a zombie has already left its cgroup in all but name."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()
    return bool(state) and state[0] not in ("Z", "X")


def rmdir(dir_: Path, timeout: float = 5.0) -> None:
    """Remove a cgroup directory and the child cgroups below it, deepest first.

    Waits out the kernel's EBUSY while exiting tasks leave the cgroup.
    """
    try:
        dir_.rmdir()  # the usual case, a leaf whose tasks are gone: one syscall, no listing of its files
        return
    except FileNotFoundError:
        return
    except OSError:
        pass  # child cgroups, tasks still leaving, or a fake tree: the walk below
    if not dir_.is_dir():
        return
    for child in dir_.iterdir():
        if child.is_dir() and not child.is_symlink():
            rmdir(child, timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            dir_.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno == errno.ENOTEMPTY and any(c.is_file() for c in dir_.iterdir()):
                # cgroupfs never answers ENOTEMPTY (a cgroup with children is EBUSY): this is a plain
                # directory, a fake tree standing in for the kernel's, whose control files are real files.
                for child in dir_.iterdir():
                    if child.is_file():
                        child.unlink()
                continue
            if exc.errno == errno.EBUSY and time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            raise CgroupError(f"cannot remove {dir_}: {os.strerror(exc.errno or 0)}") from exc
