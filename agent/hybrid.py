"""Hybrid hosts: v1 hierarchies for the controllers, plus a v2 mount (usually /sys/fs/cgroup/unified).

Debian 10-12 and Ubuntu before 21.10 boot this way. The v1 hierarchies hold the figures; a controller
lives in only one of the two, so one that the kernel moved to the v2 mount (listed in its
cgroup.controllers) is read there with the v2 parsers, the rest with v1's.
"""

from __future__ import annotations

from dataclasses import replace

from . import cgroupv1, cgroupv2
from .host import DeviceNames, HostPaths
from .parsers import read_optional
from .stats import CgroupReading


def read(paths: dict[str, str], host: HostPaths, devices: DeviceNames, with_tasks: bool = True) -> CgroupReading:
    v1_paths = {k: v for k, v in paths.items() if k != "unified"}
    reading = cgroupv1.read(v1_paths, devices, with_tasks)
    unified = paths.get("unified")
    if unified is None:
        return reading
    controllers_text = read_optional(f"{unified}/cgroup.controllers") or ""
    on_v2 = set(controllers_text.split())
    if not on_v2:
        return reading  # the common case: an empty v2 mount that only tracks processes
    changes: dict[str, object] = {}
    if "cpu" in on_v2 and reading.cpu is None:
        changes["cpu"] = cgroupv2.read_cpu(unified)
        changes["cpu_spec"] = cgroupv2.read_cpu_spec(unified)
    if "memory" in on_v2 and reading.memory is None:
        changes["memory"] = cgroupv2.read_memory(unified, host)
    if "io" in on_v2 and not reading.blkio:
        changes["blkio"] = cgroupv2.read_io(unified, devices)
    if "pids" in on_v2 and reading.pids is None:
        changes["pids"] = cgroupv2.read_pids(unified)
    if not reading.procs and not reading.tasks:
        changes["procs"], changes["tasks"] = cgroupv2.read_members(unified, with_tasks)
    return replace(reading, **changes)  # type: ignore[arg-type]
