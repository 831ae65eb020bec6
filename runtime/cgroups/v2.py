"""cgroup v2: one unified directory per container, Docker's v1-shaped limits converted as runc does.

Kernel quirks handled here:
- a controller is usable in a cgroup only once every ancestor lists it in `cgroup.subtree_control`;
- v2 keeps swap apart (`memory.swap.max`), where Docker's `--memory-swap` is memory plus swap;
- `cpu.weight` (1-10000, default 100) replaces `cpu.shares` (2-262144, default 1024);
- `io.bfq.weight` takes the blkio weight as is (same range); `io.weight` needs it rescaled;
- freezing is asynchronous: `cgroup.events` says `frozen 1` once every task has stopped;
- `cgroup.kill` (Linux 5.14) kills every task at once, so a fork bomb cannot outrun the kill.
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

from pydock.errors import CgroupError

from . import fs
from .layout import V2_CONTROLLERS, Layout
from .limits import CPU_PERIOD_US, UNLIMITED, Limits


def cpu_shares_to_weight(shares: int) -> int:
    """runc's (opencontainers/cgroups >= 0.0.2) ConvertCPUSharesToCgroupV2Value.

    A quadratic in log2(shares) through the minimum (2 -> 1), Docker's default (1024 -> 100) and the
    maximum (262144 -> 10000). Older runc used the linear 1 + (shares - 2) * 9999 / 262142, which gave
    the default 1024 shares a weight of 39 instead of 100 (kubernetes issue 131216).
    """
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return math.ceil(10**exponent)


def blkio_weight_to_io_weight(weight: int) -> int:
    """runc's ConvertBlkIOToIOWeightValue: blkio's 10-1000 onto io.weight's 1-10000."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def memory_swap_to_v2(memory_swap: int, memory: int) -> int:
    """runc's ConvertMemorySwapToCgroupV2Value: Docker's memory+swap total as v2's swap alone."""
    if memory == UNLIMITED and memory_swap == 0:
        return UNLIMITED
    if memory_swap in (UNLIMITED, 0):
        return memory_swap
    if memory in (0, UNLIMITED):
        raise CgroupError("unable to set swap limit without memory limit")
    if memory_swap < memory:
        raise CgroupError("memory+swap limit should be >= memory limit")
    return memory_swap - memory


def _max(value: int) -> str:
    return "max" if value == UNLIMITED else str(value)


class V2Cgroup:
    """One container's cgroup in the unified hierarchy."""

    def __init__(self, path: Path):
        self._path = path

    @property
    def paths(self) -> dict[str, str]:
        return {"unified": str(self._path)}

    def add_pid(self, pid: int) -> None:
        fs.write_pid(self._path, pid)

    def set_limits(self, limits: Limits) -> None:
        d = self._path
        memory = limits.memory
        if limits.memory_swap:
            current = memory or fs.read_int(d / "memory.max")
            swap = memory_swap_to_v2(limits.memory_swap, current)
            if not (d / "memory.swap.max").exists():
                raise CgroupError(f"swap limit not supported here: {d / 'memory.swap.max'} is missing")
            fs.write(d / "memory.swap.max", _max(swap))
        if memory:
            fs.write(d / "memory.max", _max(memory))
        if limits.memory_reservation:
            # runc maps Docker's soft limit to memory.low: best-effort protection, as soft_limit was.
            fs.write(d / "memory.low", limits.memory_reservation)
        if limits.nano_cpus:
            fs.write(d / "cpu.max", f"{limits.cpu_quota_us} {CPU_PERIOD_US}")
        if limits.cpu_shares:
            fs.write(d / "cpu.weight", cpu_shares_to_weight(limits.cpu_shares))
        if limits.cpuset_cpus:
            fs.write(d / "cpuset.cpus", limits.cpuset_cpus)
        if limits.pids_limit:
            fs.write(d / "pids.max", _max(limits.pids_limit))
        if limits.blkio_weight:
            if (d / "io.bfq.weight").exists():
                fs.write(d / "io.bfq.weight", limits.blkio_weight)
            else:
                fs.write(d / "io.weight", blkio_weight_to_io_weight(limits.blkio_weight))

    def freeze(self) -> None:
        self._freeze("1")

    def thaw(self) -> None:
        self._freeze("0")

    def _freeze(self, value: str) -> None:
        fs.write(self._path / "cgroup.freeze", value)
        deadline = time.monotonic() + 10
        while fs.parse_flat_keyed(self._path / "cgroup.events").get("frozen") != int(value):
            if time.monotonic() > deadline:
                raise CgroupError(f"{self._path / 'cgroup.events'} did not report frozen {value}")
            time.sleep(0.01)

    def is_frozen(self) -> bool:
        return fs.read(self._path / "cgroup.freeze").strip() == "1"

    def pids(self) -> list[int]:
        out: list[int] = []
        for dirpath, _dirs, files in os.walk(self._path):
            if "cgroup.procs" in files:
                out.extend(fs.parse_pids(Path(dirpath) / "cgroup.procs"))
        return out

    def oom_kill_count(self) -> int:
        return fs.parse_flat_keyed(self._path / "memory.events").get("oom_kill", 0)

    def remove(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            live = [p for p in self.pids() if fs.pid_alive(p)]
            if not live:
                break
            if (self._path / "cgroup.kill").exists():
                fs.write(self._path / "cgroup.kill", "1")
            else:
                for pid in live:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            if time.monotonic() > deadline:
                raise CgroupError(f"processes {live} would not die; cgroup left in place: {self._path}")
            time.sleep(0.01)
        fs.rmdir(self._path)


def create(layout: Layout, parent: str, container_id: str, limits: Limits) -> V2Cgroup:
    """Make `<parent>/<id>` in the unified tree, enabling the controllers in every ancestor on the way."""
    root = layout.unified or layout.mount_root
    wanted = [c for c in V2_CONTROLLERS if c in layout.v2_controllers]
    enable = " ".join(f"+{c}" for c in wanted)
    level = root
    made: Path | None = None
    d = root / parent / container_id
    try:
        for part in (*Path(parent).parts, container_id):
            if enable:
                fs.write(level / "cgroup.subtree_control", enable)
            nxt = level / part
            if not nxt.is_dir():
                try:
                    nxt.mkdir()
                except OSError as exc:
                    raise CgroupError(f"cannot create {nxt}: {os.strerror(exc.errno or 0)}") from exc
                if nxt == d:
                    made = nxt
            level = nxt
        handle = V2Cgroup(d)
        handle.set_limits(limits)
    except BaseException:
        if made is not None:
            try:
                fs.rmdir(made, timeout=1)
            except CgroupError:
                pass
        raise
    return handle
