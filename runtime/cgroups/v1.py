"""cgroup v1: one directory per controller hierarchy, one writer per controller.

Kernel quirks handled here:
- a new cpuset cgroup starts with empty `cpuset.cpus`/`cpuset.mems`, and a task cannot join it until
  both are filled, so each level copies them from its parent (as runc does);
- `memory.limit_in_bytes` may never exceed `memory.memsw.limit_in_bytes`, so the order of the two
  writes depends on whether the limit grows or shrinks;
- `blkio.weight` exists only with the CFQ scheduler; with BFQ (kernels >= 5.0) it is `blkio.bfq.weight`;
- freezing is asynchronous: `freezer.state` reads FREEZING until every task has stopped.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from pydock.errors import CgroupError

from . import fs
from .layout import Layout
from .limits import CPU_PERIOD_US, UNLIMITED, Limits

# Docker's default device allow-list (runc's AllowedDevices): mknod of anything, and the usual
# character devices (null, zero, full, random, urandom, tty, console, ptmx, pts, tun).
DEFAULT_DEVICE_RULES = (
    "c *:* m", "b *:* m",
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
)


class V1Cgroup:
    """One container's cgroups in the v1 hierarchies: `paths` maps a controller to its directory."""

    def __init__(self, paths: dict[str, Path]):
        self._paths = dict(paths)

    @property
    def paths(self) -> dict[str, str]:
        return {c: str(p) for c, p in self._paths.items()}

    def _dirs(self) -> list[Path]:
        # cpu and cpuacct are often one hierarchy mounted twice: act on each directory once.
        seen: dict[str, Path] = {}
        for p in self._paths.values():
            seen.setdefault(os.path.realpath(p), p)
        return list(seen.values())

    def _dir(self, controller: str) -> Path | None:
        return self._paths.get(controller)

    def add_pid(self, pid: int) -> None:
        for d in self._dirs():
            fs.write_pid(d, pid)

    def set_limits(self, limits: Limits) -> None:
        mem = self._dir("memory")
        if mem is not None:
            self._set_memory(mem, limits)
        cpu = self._dir("cpu")
        if cpu is not None:
            if limits.cpu_shares:
                fs.write(cpu / "cpu.shares", limits.cpu_shares)
            if limits.nano_cpus:
                fs.write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
                fs.write(cpu / "cpu.cfs_quota_us", limits.cpu_quota_us)
        cpuset = self._dir("cpuset")
        if cpuset is not None and limits.cpuset_cpus:
            fs.write(cpuset / "cpuset.cpus", limits.cpuset_cpus)
        pids = self._dir("pids")
        if pids is not None and limits.pids_limit:
            fs.write(pids / "pids.max", "max" if limits.pids_limit == UNLIMITED else limits.pids_limit)
        blkio = self._dir("blkio")
        if blkio is not None and limits.blkio_weight:
            for name in ("blkio.weight", "blkio.bfq.weight"):
                if (blkio / name).exists():
                    fs.write(blkio / name, limits.blkio_weight)
                    break
            else:
                raise CgroupError(f"blkio weight is not supported here: no blkio.weight or blkio.bfq.weight in {blkio}")

    @staticmethod
    def _set_memory(d: Path, limits: Limits) -> None:
        memory, swap = limits.memory, limits.memory_swap
        if memory == UNLIMITED and swap == 0:
            swap = UNLIMITED  # runc: unlimited memory with swap unset means unlimited swap too
        memsw = d / "memory.memsw.limit_in_bytes"
        if swap and not memsw.exists():
            raise CgroupError(f"swap limit not supported by this kernel ({memsw} is missing: swap accounting is off)")
        if memory and swap:
            current = fs.read_int(d / "memory.limit_in_bytes")
            # Growing: raise memsw first so memory never exceeds it; shrinking: the other way round.
            if swap == UNLIMITED or current < swap:
                fs.write(memsw, swap)
                fs.write(d / "memory.limit_in_bytes", memory)
            else:
                fs.write(d / "memory.limit_in_bytes", memory)
                fs.write(memsw, swap)
        elif memory:
            fs.write(d / "memory.limit_in_bytes", memory)
        elif swap:
            fs.write(memsw, swap)
        if limits.memory_reservation:
            fs.write(d / "memory.soft_limit_in_bytes", limits.memory_reservation)

    def freeze(self) -> None:
        self._freezer_state("FROZEN")

    def thaw(self) -> None:
        self._freezer_state("THAWED")

    def _freezer_state(self, state: str) -> None:
        d = self._dir("freezer")
        if d is None:
            raise CgroupError("no freezer cgroup for this container: cannot pause or unpause")
        deadline = time.monotonic() + 10
        while True:
            fs.write(d / "freezer.state", state)
            if fs.read(d / "freezer.state").strip() == state:
                return
            if time.monotonic() > deadline:
                raise CgroupError(f"{d / 'freezer.state'} did not reach {state}")
            time.sleep(0.01)

    def is_frozen(self) -> bool:
        d = self._dir("freezer")
        return d is not None and fs.read(d / "freezer.state").strip() == "FROZEN"

    def pids(self) -> list[int]:
        # The pids (or freezer) hierarchy holds every task of the container; read child cgroups too.
        for c in ("pids", "freezer", "memory", "cpu"):
            d = self._dir(c)
            if d is not None and d.is_dir():
                return _walk_procs(d)
        return []

    def oom_kill_count(self) -> int:
        d = self._dir("memory")
        if d is None:
            return 0
        return fs.parse_flat_keyed(d / "memory.oom_control").get("oom_kill", 0)

    def remove(self) -> None:
        """Kill what is left (frozen first, so a fork bomb cannot outrun the kill), then rmdir everywhere."""
        deadline = time.monotonic() + 10
        frozen = False
        while True:
            live = [p for p in self.pids() if fs.pid_alive(p)]
            if not live:
                break
            if not frozen and self._dir("freezer") is not None and self._dir("freezer").is_dir():  # type: ignore[union-attr]
                try:
                    self.freeze()
                    frozen = True
                except CgroupError:
                    pass
            for pid in live:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                # SIGKILL is delivered only once the tasks run again.
                self.thaw()
                frozen = False
            if time.monotonic() > deadline:
                raise CgroupError(f"processes {live} would not die; cgroups left in place: {self.paths}")
            time.sleep(0.01)
        for d in self._dirs():
            fs.rmdir(d)


# 1 PiB/s: far above any disk, so the rule never delays a bio.
_ACCOUNTING_BPS = 1 << 50


def enable_io_accounting(blkio: Path, sys_block: Path = Path("/sys/block")) -> None:
    """Turns on per-cgroup block I/O counting for every disk.

    Since Linux 5.x blk-throttle counts bios in `blkio.throttle.io_service_bytes` only for a cgroup with
    a throttle rule on the device (and the cfq/bfq sets exist only under those schedulers), so on a v1
    host with the none/mq-deadline schedulers `container_fs_*` would stay empty; Docker and cAdvisor
    show nothing there. A read and a write rule far above any disk's speed turns counting on.
    --device-*-bps rules, when given, are written after these and replace them per device.
    """
    try:
        disks = sorted(sys_block.iterdir())
    except OSError:
        return
    for disk in disks:
        if disk.name.startswith(("loop", "ram")):
            continue  # loop devices' I/O reaches the disk under them, which is counted
        try:
            dev = (disk / "dev").read_text().strip()
        except OSError:
            continue
        for name in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
            try:
                fs.write(blkio / name, f"{dev} {_ACCOUNTING_BPS}")
            except CgroupError:
                # A disk the throttle does not take (some virtual ones refuse rules) just stays uncounted.
                pass


def _walk_procs(d: Path) -> list[int]:
    out: list[int] = []
    for dirpath, _dirs, files in os.walk(d):
        if "cgroup.procs" in files:
            out.extend(fs.parse_pids(Path(dirpath) / "cgroup.procs"))
    return out


def _copy_cpuset(parent: Path, child: Path) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        target = child / name
        if not target.exists() or not fs.read(target).strip():
            fs.write(target, fs.read(parent / name).strip())


def create(layout: Layout, parent: str, container_id: str, limits: Limits) -> V1Cgroup:
    """Make `<parent>/<id>` in every v1 hierarchy, set the device list and the limits."""
    paths: dict[str, Path] = {}
    made: list[Path] = []
    try:
        for controller, mount in layout.v1.items():
            d = mount / parent / container_id
            paths[controller] = d
            level = mount
            for part in (*Path(parent).parts, container_id):
                nxt = level / part
                if not nxt.is_dir():
                    try:
                        nxt.mkdir()
                    except OSError as exc:
                        raise CgroupError(f"cannot create {nxt}: {os.strerror(exc.errno or 0)}") from exc
                    if nxt == d:
                        made.append(nxt)  # the shared parent stays: other containers live in it
                if controller == "cpuset":
                    _copy_cpuset(level, nxt)
                level = nxt
        handle = V1Cgroup(paths)
        devices = paths.get("devices")
        if devices is not None:
            fs.write(devices / "devices.deny", "a")
            for rule in DEFAULT_DEVICE_RULES:
                fs.write(devices / "devices.allow", rule)
        blkio = paths.get("blkio")
        if blkio is not None:
            enable_io_accounting(blkio)
        handle.set_limits(limits)
    except BaseException:
        # Nothing half-made: take down exactly what this call created.
        for d in made:
            try:
                fs.rmdir(d, timeout=1)
            except CgroupError:
                pass
        raise
    return handle
