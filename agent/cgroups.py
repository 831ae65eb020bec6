"""The one entry point for reading a container's figures, whatever the host's cgroup layout.

`Hierarchies.detect(root)` finds the layout once; `read_stats(ref, ...)` dispatches to the v1, v2 or
hybrid module and adds the /proc figures (processes, fds, sockets, task states, network).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydock.errors import CgroupError

from . import cgroupv1, cgroupv2, hybrid
from .host import DeviceNames, HostPaths
from .procfs import network_stats, process_stats
from .stats import CgroupStats

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
) -> CgroupStats:
    """One read of `ref`. Network comes from `init_pid`'s namespace, or with `network_from_members`
    from the first process in cgroup.procs (containers of other runtimes); otherwise none."""
    if hierarchies.kind == "v2":
        unified = ref.paths.get("unified")
        if unified is None:
            raise CgroupError(f"cgroup {ref.id}: no v2 directory among {sorted(ref.paths)} on a v2 host")
        reading = cgroupv2.read(unified, host, devices)
    elif hierarchies.kind == "hybrid":
        reading = hybrid.read(ref.paths, host, devices)
    else:
        reading = cgroupv1.read(ref.paths, devices)
    processes = process_stats(host.proc, reading.procs, reading.tasks) if with_processes else None
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
