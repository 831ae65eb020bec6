"""cgroup v2 (unified) reader: one directory holds every controller's files.

Kernel quirks handled here: the root cgroup has no memory.current, cpu.max, cpu.weight or pids.*
(usage then comes from /proc/meminfo, as opencontainers/cgroups does); io.stat lists devices without
figures as a bare "MAJ:MIN"; there is no failcnt (0, like cAdvisor) and no per-CPU usage.
"""

from __future__ import annotations

from .host import DeviceNames, HostPaths, meminfo
from .parsers import (
    CgroupParseError,
    flat_keys,
    parse_int,
    parse_limit,
    parse_nested_keyed,
    read_optional,
    read_required,
    read_spec,
)
from .procfs import pid_list
from .stats import BlkioDevice, CgroupReading, CpuSpec, CpuStats, MemoryStats, PidsStats

DEFAULT_CFS_PERIOD_US = 100_000
_CPU_STAT = flat_keys("usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec")
_MEMORY_STAT = flat_keys("inactive_file", "anon", "file", "file_mapped", "active_file", "pgfault", "pgmajfault")
_MEMORY_EVENTS = flat_keys("oom_kill")


def read_cpu(d: str) -> CpuStats:
    path = f"{d}/cpu.stat"
    s = _CPU_STAT(read_required(path), path)
    try:
        usage, user, system = s["usage_usec"], s["user_usec"], s["system_usec"]
    except KeyError as exc:
        raise CgroupParseError(path, f"no {exc.args[0]} line") from None
    return CpuStats(
        usage_ns=usage * 1000,
        user_ns=user * 1000,
        system_ns=system * 1000,
        periods=s.get("nr_periods", 0),  # the nr_* lines appear only with the cpu controller on
        throttled_periods=s.get("nr_throttled", 0),
        throttled_ns=s.get("throttled_usec", 0) * 1000,
    )


def weight_to_shares(weight: int) -> int:
    """cAdvisor's inverse of the OCI shares->weight mapping: 2 + (w-1)*262142/9999."""
    return 2 + ((weight - 1) * 262142) // 9999


def read_cpu_spec(d: str) -> CpuSpec | None:
    max_path = f"{d}/cpu.max"
    cpu_max = read_spec(max_path)
    weight_path = f"{d}/cpu.weight"
    weight = read_spec(weight_path)
    if cpu_max is None and weight is None:
        return None  # the root cgroup, or the cpu controller is not enabled here
    quota: int | None = None
    period = DEFAULT_CFS_PERIOD_US
    if cpu_max is not None:
        parts = cpu_max.split()
        if len(parts) != 2:
            raise CgroupParseError(max_path, f"expected '<quota|max> <period>', got {cpu_max.strip()!r}")
        quota = parse_limit(parts[0], max_path)
        period = parse_int(parts[1], max_path)
    shares = weight_to_shares(parse_int(weight, weight_path)) if weight is not None else 1024
    return CpuSpec(quota_us=quota, period_us=period, shares=shares)


def read_memory(d: str, host: HostPaths) -> MemoryStats | None:
    stat_path = f"{d}/memory.stat"
    stat_text = read_optional(stat_path)
    if stat_text is None:
        return None  # memory controller not enabled for this cgroup
    s = _MEMORY_STAT(stat_text, stat_path)
    cur_path = f"{d}/memory.current"
    current = read_optional(cur_path)
    if current is not None:
        usage = parse_int(current, cur_path)
    else:  # the root cgroup has no memory.current
        mi = meminfo(str(host.proc / "meminfo"))
        usage = mi["MemTotal"] - mi["MemFree"]
    peak_path = f"{d}/memory.peak"  # kernel >= 5.19
    peak = read_optional(peak_path)
    swap_path = f"{d}/memory.swap.current"
    swap = read_optional(swap_path)
    events_path = f"{d}/memory.events"
    events = read_optional(events_path)
    oom_kills = _MEMORY_EVENTS(events, events_path).get("oom_kill", 0) if events is not None else 0
    try:
        inactive_file = s["inactive_file"]
        anon, file = s["anon"], s["file"]
    except KeyError as exc:
        raise CgroupParseError(stat_path, f"no {exc.args[0]} line") from None
    return MemoryStats(
        usage=usage,
        max_usage=parse_int(peak, peak_path) if peak is not None else 0,
        working_set=max(0, usage - inactive_file),
        rss=anon,
        cache=file,
        swap=parse_int(swap, swap_path) if swap is not None else 0,
        mapped_file=s.get("file_mapped", 0),
        inactive_file=inactive_file,
        active_file=s.get("active_file", 0),
        failcnt=0,
        pgfault=s.get("pgfault", 0),
        pgmajfault=s.get("pgmajfault", 0),
        hierarchical_pgfault=s.get("pgfault", 0),
        hierarchical_pgmajfault=s.get("pgmajfault", 0),
        oom_events=oom_kills,
        limit=_limit_file(f"{d}/memory.max"),
        swap_limit=_limit_file(f"{d}/memory.swap.max"),
        reservation=_limit_file(f"{d}/memory.min") or None,
    )


def _limit_file(path: str) -> int | None:
    text = read_spec(path)
    return None if text is None else parse_limit(text, path)


def read_io(d: str, devices: DeviceNames) -> tuple[BlkioDevice, ...]:
    path = f"{d}/io.stat"
    text = read_optional(path)
    if text is None:
        return ()
    out = []
    for (major, minor), f in sorted(parse_nested_keyed(text, path).items()):
        out.append(
            BlkioDevice(
                major=major,
                minor=minor,
                name=devices.name(major, minor),
                read_bytes=f.get("rbytes", 0),
                write_bytes=f.get("wbytes", 0),
                reads=f.get("rios", 0),
                writes=f.get("wios", 0),
            )
        )
    return tuple(out)


def read_pids(d: str) -> PidsStats | None:
    cur_path = f"{d}/pids.current"
    current = read_optional(cur_path)
    if current is None:
        return None
    return PidsStats(current=parse_int(current, cur_path), limit=_limit_file(f"{d}/pids.max"))


def read_members(d: str, with_tasks: bool = True) -> tuple[list[int], list[int]]:
    """cgroup.procs, and cgroup.threads unless `with_tasks` is false (then [])."""
    procs_path = f"{d}/cgroup.procs"
    threads_path = f"{d}/cgroup.threads"
    procs = pid_list(read_required(procs_path), procs_path)
    if not with_tasks:
        return procs, []
    threads_text = read_optional(threads_path)
    threads = pid_list(threads_text, threads_path) if threads_text is not None else procs
    return procs, threads


def read(d: str, host: HostPaths, devices: DeviceNames, with_tasks: bool = True) -> CgroupReading:
    """Everything cgroupfs says about the v2 cgroup directory `d`."""
    procs, tasks = read_members(d, with_tasks)
    return CgroupReading(
        cpu=read_cpu(d),
        cpu_spec=read_cpu_spec(d),
        memory=read_memory(d, host),
        blkio=read_io(d, devices),
        pids=read_pids(d),
        procs=procs,
        tasks=tasks,
    )
