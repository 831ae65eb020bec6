"""The version-neutral stats record: what one read of a container's cgroup and /proc gives.

The v1, v2 and hybrid readers all return these frozen dataclasses, so the exporter, the stats API and
`pydock stats` never ask which layout a host has. Units are the kernel's finest: nanoseconds for CPU
time, bytes for memory and I/O. A limit is `Limit`: an int, or None for "max" (no limit), never a magic
number such as v1's 9223372036854771712.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# None means unlimited ("max" on v2, a value at or above 2**62 on v1).
Limit = int | None

# v1 writes "unlimited" as PAGE_COUNTER_MAX * page size, 0x7FFFFFFFFFFFF000 on 4 KiB pages; cAdvisor
# treats everything above 2**62 as unlimited, and so do we.
UNLIMITED_THRESHOLD = 1 << 62


@dataclass(frozen=True)
class CpuStats:
    usage_ns: int
    user_ns: int
    system_ns: int
    per_cpu_ns: tuple[int, ...] = ()  # v1 only: cpuacct.usage_percpu; v2 has no per-CPU figures
    periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0


@dataclass(frozen=True)
class CpuSpec:
    quota_us: Limit  # None: no CFS quota
    period_us: int
    shares: int  # v1 cpu.shares; v2 cpu.weight mapped back to shares as cAdvisor does


@dataclass(frozen=True)
class MemoryStats:
    usage: int
    max_usage: int
    working_set: int  # usage - inactive_file, clamped at 0 (cAdvisor, docker stats)
    rss: int
    cache: int
    swap: int
    mapped_file: int
    inactive_file: int
    active_file: int
    failcnt: int  # v1 memory.failcnt; v2 has none and reports 0, like cAdvisor
    pgfault: int
    pgmajfault: int
    hierarchical_pgfault: int
    hierarchical_pgmajfault: int
    oom_events: int  # v2 memory.events oom_kill; v1 memory.oom_control oom_kill
    limit: Limit
    swap_limit: Limit
    reservation: Limit


@dataclass(frozen=True)
class BlkioDevice:
    major: int
    minor: int
    name: str  # "/dev/vda" as cAdvisor names it, or "major:minor" when the host does not say
    read_bytes: int
    write_bytes: int
    reads: int
    writes: int


@dataclass(frozen=True)
class PidsStats:
    current: int
    limit: Limit


@dataclass(frozen=True)
class NetInterface:
    name: str
    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


TASK_STATES = ("sleeping", "running", "stopped", "uninterruptible", "iowaiting")


@dataclass(frozen=True)
class ProcessStats:
    processes: int
    threads: int
    fds: int
    sockets: int
    task_states: dict[str, int] = field(default_factory=dict)  # keys from TASK_STATES


@dataclass(frozen=True)
class CgroupStats:
    """One container's figures at `timestamp` (unix seconds). Parts a layout lacks are None."""

    layout: str  # "v1", "v2" or "hybrid"
    timestamp: float
    cpu: CpuStats | None
    cpu_spec: CpuSpec | None
    memory: MemoryStats | None
    blkio: tuple[BlkioDevice, ...]
    pids: PidsStats | None
    processes: ProcessStats | None
    network: tuple[NetInterface, ...]


@dataclass(frozen=True)
class CgroupReading:
    """What a layout module reads from cgroupfs alone; `cgroups.read_stats` adds /proc figures."""

    cpu: CpuStats | None
    cpu_spec: CpuSpec | None
    memory: MemoryStats | None
    blkio: tuple[BlkioDevice, ...]
    pids: PidsStats | None
    procs: list[int]  # cgroup.procs
    tasks: list[int]  # v1 tasks / v2 cgroup.threads
