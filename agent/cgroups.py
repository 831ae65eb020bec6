"""The one entry point for reading a container's figures, whatever the host's cgroup layout.

`Hierarchies.detect(root)` finds the layout once; `read_stats(ref, ...)` dispatches to the v1, v2 or
hybrid module and adds the /proc figures (processes, fds, sockets, task states, network).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydock.errors import CgroupError

from . import cgroupv1, cgroupv2, hybrid
from .host import DeviceNames, HostPaths
from .procfs import network_stats, process_stats
from .stats import CgroupStats, ProcessStats

V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "blkio", "pids")


@dataclass(frozen=True)
class Hierarchies:
    """The host's cgroup mounts: `kind` is "v2", "v1" or "hybrid"."""

    kind: str
    root: Path
    v1: dict[str, Path] = field(default_factory=dict)  # controller -> its hierarchy's mount
    unified: Path | None = None

    @classmethod
    def detect(cls, root: Path) -> Hierarchies:
        if (root / "cgroup.controllers").exists():
            return cls("v2", root, unified=root)
        v1 = {c: root / c for c in V1_CONTROLLERS if (root / c).is_dir()}
        if not v1:  # "cpu,cpuacct" co-mounted without the usual symlinks
            for entry in os.scandir(root) if root.is_dir() else ():
                for c in entry.name.split(","):
                    if c in V1_CONTROLLERS and entry.is_dir():
                        v1.setdefault(c, Path(entry.path))
        unified = root / "unified"
        if (unified / "cgroup.controllers").exists():
            return cls("hybrid", root, v1=v1, unified=unified)
        return cls("v1", root, v1=v1)

    def paths_for(self, cgroup_path: str) -> dict[str, str]:
        """Directories of the cgroup `cgroup_path` ("/", "/docker/<id>") that exist on this host."""
        rel = cgroup_path.strip("/")
        out: dict[str, str] = {}
        for ctrl, mount in self.v1.items():
            d = mount / rel if rel else mount
            if d.is_dir():
                out[ctrl] = str(d)
        if self.unified is not None:
            d = self.unified / rel if rel else self.unified
            if d.is_dir():
                out["unified"] = str(d)
        return out

    def cgroup_path_of(self, directory: str) -> str:
        """The inverse of `paths_for` for one directory: "/pydock/<id>" for .../memory/pydock/<id>."""
        d = directory.rstrip("/")
        mounts = [str(m) for m in self.v1.values()] + ([str(self.unified)] if self.unified is not None else [])
        for mount in sorted(mounts, key=len, reverse=True):
            if d == mount:
                return "/"
            if d.startswith(mount + "/"):
                return d[len(mount):]
        return directory


@dataclass(frozen=True)
class CgroupRef:
    """A cgroup to read: `id` is its path as cAdvisor labels it ("/" for the root)."""

    id: str
    paths: dict[str, str]


PROCESS_STATS_SECONDS = 10.0


class ProcessCache:
    """File descriptors, sockets and task states of each cgroup, reused for up to `seconds`.

    They cost a walk of /proc for every process (a readlink per open fd) and every thread, by far the
    dearest part of a container's read, and change slowly; cAdvisor computes them in its per-container
    housekeeping (1 s, backing off to 60 s) rather than at scrape time. Here they are taken again when the
    figure is older than `seconds`, or at once when cgroup.procs lists other processes than when it was
    taken (a process started or ended). `container_processes` (cgroup.procs) and, where the pids
    controller is on, `container_threads` (pids.current) are read at every scrape. 0 disables the cache."""

    def __init__(self, seconds: float = PROCESS_STATS_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._taken: dict[str, tuple[float, list[int], ProcessStats]] = {}  # cgroup id -> (when, procs, stats)
        self._seen: set[str] = set()

    def fresh(self, cgroup_id: str, procs: list[int]) -> ProcessStats | None:
        """The figures taken for this cgroup, if young enough and its processes are the same."""
        self._seen.add(cgroup_id)
        hit = self._taken.get(cgroup_id)
        if hit is None or self.seconds <= 0 or self.clock() - hit[0] >= self.seconds or hit[1] != procs:
            return None
        return replace(hit[2], processes=len(procs))

    def due(self, cgroup_id: str) -> bool:
        """Whether the next read must take the figures (and so read the task list)."""
        hit = self._taken.get(cgroup_id)
        return hit is None or self.seconds <= 0 or self.clock() - hit[0] >= self.seconds

    def put(self, cgroup_id: str, procs: list[int], stats: ProcessStats) -> None:
        self._seen.add(cgroup_id)
        self._taken[cgroup_id] = (self.clock(), procs, stats)

    def sweep(self) -> None:
        """Forget cgroups that the last read did not see (called after every full read)."""
        for gone in set(self._taken) - self._seen:
            del self._taken[gone]
        self._seen = set()


def read_stats(
    ref: CgroupRef,
    hierarchies: Hierarchies,
    host: HostPaths,
    devices: DeviceNames,
    *,
    init_pid: int | None = None,
    with_processes: bool = True,
    network_from_members: bool = False,
    now: float | None = None,
    process_cache: ProcessCache | None = None,
) -> CgroupStats:
    """One read of `ref`. Network comes from `init_pid`'s namespace, or with `network_from_members`
    from the first process in cgroup.procs (containers of other runtimes); otherwise none. With a
    `process_cache`, fds, sockets and task states may be up to its `seconds` old (see ProcessCache)."""
    with_tasks = with_processes and (process_cache is None or process_cache.due(ref.id))
    if hierarchies.kind == "v2":
        unified = ref.paths.get("unified")
        if unified is None:
            raise CgroupError(f"cgroup {ref.id}: no v2 directory among {sorted(ref.paths)} on a v2 host")
        reading = cgroupv2.read(unified, host, devices, with_tasks)
    elif hierarchies.kind == "hybrid":
        reading = hybrid.read(ref.paths, host, devices, with_tasks)
    else:
        reading = cgroupv1.read(ref.paths, devices, with_tasks)
    processes = None
    if with_processes:
        if process_cache is not None:
            processes = process_cache.fresh(ref.id, reading.procs)
        if processes is None:
            tasks = reading.tasks
            if not with_tasks:  # due again because the processes changed: the task list is needed now
                tasks = _tasks(ref.paths, reading.procs)
            processes = process_stats(host.proc, reading.procs, tasks)
            if process_cache is not None:
                process_cache.put(ref.id, reading.procs, processes)
    if init_pid is None and network_from_members and reading.procs:
        init_pid = reading.procs[0]
    network = network_stats(host.proc, init_pid) if init_pid else ()
    return CgroupStats(
        layout=hierarchies.kind,
        timestamp=time.time() if now is None else now,
        cpu=reading.cpu,
        cpu_spec=reading.cpu_spec,
        memory=reading.memory,
        blkio=reading.blkio,
        pids=reading.pids,
        processes=processes,
        network=network,
    )


def _tasks(paths: dict[str, str], procs: list[int]) -> list[int]:
    """The task list of a cgroup whose read skipped it: v1 `tasks`, else v2 `cgroup.threads`."""
    members_dir = next((paths[c] for c in cgroupv1.MEMBER_CONTROLLERS if c in paths), None)
    if members_dir is not None:
        return cgroupv1.read_members(members_dir)[1]
    if "unified" in paths:
        return cgroupv2.read_members(paths["unified"])[1]
    return procs
