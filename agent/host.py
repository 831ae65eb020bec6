"""Where the agent reads the kernel's files, and the machine-wide facts (cores, memory, disks).

Everything takes its roots from `HostPaths`, so tests point it at fixture trees and the agent at `/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .parsers import CgroupParseError, read_optional, read_required


@dataclass(frozen=True)
class HostPaths:
    cgroup: Path = Path("/sys/fs/cgroup")
    proc: Path = Path("/proc")
    sys: Path = Path("/sys")
    etc: Path = Path("/etc")
    docker: Path | None = Path("/var/lib/docker")  # Docker's state, for its containers' names and images


@dataclass(frozen=True)
class MachineInfo:
    cpu_cores: int
    memory_bytes: int
    boot_id: str
    machine_id: str
    system_uuid: str


def machine_info(host: HostPaths) -> MachineInfo:
    cpuinfo_path = str(host.proc / "cpuinfo")
    cores = sum(1 for line in read_required(cpuinfo_path).splitlines() if line.startswith("processor"))
    if cores == 0:
        raise CgroupParseError(cpuinfo_path, "no 'processor' lines")
    meminfo_path = str(host.proc / "meminfo")
    mem = meminfo(meminfo_path).get("MemTotal")
    if mem is None:
        raise CgroupParseError(meminfo_path, "no MemTotal line")

    def text(p: Path) -> str:
        try:
            return (read_optional(str(p)) or "").strip()
        except CgroupParseError:  # product_uuid is root-only on some hosts; a missing label is ""
            return ""

    return MachineInfo(
        cpu_cores=cores,
        memory_bytes=mem,
        boot_id=text(host.proc / "sys/kernel/random/boot_id"),
        machine_id=text(host.etc / "machine-id"),
        system_uuid=text(host.sys / "class/dmi/id/product_uuid"),
    )


def meminfo(path: str) -> dict[str, int]:
    """/proc/meminfo in bytes (the file says kB, meaning KiB)."""
    out: dict[str, int] = {}
    for line in read_required(path).splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            raise CgroupParseError(path, f"value of {key!r} is not an integer") from None
        out[key] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
    return out


class DeviceNames:
    """major:minor -> "/dev/<name>", as cAdvisor labels `device`; looked up once per device.

    /sys/dev/block/M:m is a link whose last part is the kernel's name (vda, dm-0, loop0); where /sys has
    no such link, /proc/partitions is the fallback, and "M:m" itself the last resort (two unknown devices
    must not collapse into one series).
    """

    def __init__(self, host: HostPaths) -> None:
        self._host = host
        self._cache: dict[tuple[int, int], str] = {}
        self._partitions: dict[tuple[int, int], str] | None = None

    def name(self, major: int, minor: int) -> str:
        key = (major, minor)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        name = self._lookup(major, minor)
        self._cache[key] = name
        return name

    def _lookup(self, major: int, minor: int) -> str:
        try:
            target = os.readlink(self._host.sys / "dev/block" / f"{major}:{minor}")
            return "/dev/" + os.path.basename(target)
        except OSError:
            pass
        if self._partitions is None:
            self._partitions = {}
            text = read_optional(str(self._host.proc / "partitions")) or ""
            for line in text.splitlines()[1:]:
                parts = line.split()
                if len(parts) == 4 and parts[0].isdigit() and parts[1].isdigit():
                    self._partitions[(int(parts[0]), int(parts[1]))] = "/dev/" + parts[3]
        return self._partitions.get((major, minor), f"{major}:{minor}")


def system_cpu_usage_ns(proc: Path) -> int:
    """The host's total CPU time (all CPUs, all modes) from /proc/stat, as Docker's system_cpu_usage."""
    path = str(proc / "stat")
    for line in read_required(path).splitlines():
        if line.startswith("cpu "):
            try:
                ticks = sum(int(x) for x in line.split()[1:8])  # user..softirq, as Docker sums
            except ValueError:
                raise CgroupParseError(path, "the cpu line has a non-integer field") from None
            return ticks * (1_000_000_000 // 100)  # USER_HZ
    raise CgroupParseError(path, "no aggregate 'cpu' line")
