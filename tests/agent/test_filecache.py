"""The fd cache behind every cgroupfs and /proc read: fresh content on each read, regular files never kept,
fds of removed cgroups and dead processes dropped, unused fds closed by `sweep()`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydock.agent.parsers import FileCache

from .live import LiveCgroup


def _mountinfo(tmp_path: Path, mount: Path, fstype: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(f"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
                    f"31 23 0:28 / {mount} rw,relatime - {fstype} {fstype} rw,memory\n")
    return str(path)


def test_only_files_under_pseudo_mounts_are_kept(tmp_path: Path) -> None:
    cg, other = tmp_path / "cg", tmp_path / "cgroup-lookalike"  # a prefix of the mount, not under it
    cg.mkdir()
    other.mkdir()
    (cg / "memory.current").write_text("1\n")
    (other / "memory.current").write_text("2\n")
    cache = FileCache(_mountinfo(tmp_path, cg, "cgroup2"))
    try:
        assert cache.read(str(cg / "memory.current")) == b"1\n"
        assert cache.read(str(other / "memory.current")) == b"2\n"
        assert len(cache) == 1  # the regular-looking path outside the mount was opened and closed
        (cg / "memory.current").write_text("4096\n")  # rewritten in place: the kept fd reads it again
        assert cache.read(str(cg / "memory.current")) == b"4096\n"
        with pytest.raises(FileNotFoundError):
            cache.read(str(cg / "memory.max"))
    finally:
        cache.close()
    plain = FileCache(_mountinfo(tmp_path, cg, "ext4"))
    try:
        plain.read(str(cg / "memory.current"))
        assert len(plain) == 0
    finally:
        plain.close()


def test_sweep_closes_fds_that_no_read_used(tmp_path: Path) -> None:
    cg = tmp_path / "cg"
    cg.mkdir()
    for name in ("a", "b"):
        (cg / name).write_text(name)
    cache = FileCache(_mountinfo(tmp_path, cg, "cgroup"))
    try:
        cache.read(str(cg / "a"))
        cache.read(str(cg / "b"))
        fd_a = cache._fds[str(cg / "a")][0]
        cache.sweep()  # both were read since the last sweep: kept
        assert len(cache) == 2
        cache.read(str(cg / "a"))
        cache.sweep()  # b was not: closed
        assert list(cache._fds) == [str(cg / "a")]
        cache.sweep()
        assert len(cache) == 0
        with pytest.raises(OSError):
            os.fstat(fd_a)  # really closed, not only forgotten
    finally:
        cache.close()


def test_capacity_bounds_the_open_fds(tmp_path: Path) -> None:
    cg = tmp_path / "cg"
    cg.mkdir()
    cache = FileCache(_mountinfo(tmp_path, cg, "cgroup2"), capacity=3)
    try:
        for i in range(5):
            (cg / str(i)).write_text(str(i))
            assert cache.read(str(cg / str(i))) == str(i).encode()
        assert len(cache) == 3
    finally:
        cache.close()


@pytest.mark.root
def test_live_cgroup_and_process_files(tmp_path: Path) -> None:
    cache = FileCache()  # this process's real mounts
    cg = LiveCgroup()
    try:
        current = os.path.join(cg.paths["pids" if "pids" in cg.paths else "unified"], "pids.current")
        procs = os.path.join(next(iter(cg.paths.values())), "cgroup.procs")
        assert cache.read(current) == b"0\n" and cache.read(procs) == b""
        assert len(cache) == 1  # pids.current is kept; cgroup.procs never is (v1 caches its pid list)
        p = cg.spawn([sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.DEVNULL)
        assert cache.read(current) == b"1\n"  # the kept fd reads fresh content
        assert cache.read(procs).split() == [str(p.pid).encode()]  # at once, not a second later
        stat = f"/proc/{p.pid}/stat"
        assert cache.read(stat).startswith(f"{p.pid} (".encode())
        assert b"Inter-|" in cache.read(f"/proc/{p.pid}/net/dev")
        assert len(cache) == 2  # net/dev is never kept: its fd would go on reading a dead process's netns
    finally:
        cg.close()  # kills the process and removes the cgroup
    with pytest.raises(FileNotFoundError):
        cache.read(current)  # the fd reads ENODEV: dropped, and the path is gone
    with pytest.raises(FileNotFoundError):
        cache.read(stat)  # ESRCH, never another process that reuses the pid
    assert len(cache) == 0
    cache.close()
