"""cgroup v1 reader: one hierarchy per controller, so a container has a directory in each.

`paths` maps a controller (cpu, cpuacct, memory, blkio, pids) to the container's directory in it;
cpu and cpuacct may be one co-mounted directory. Kernel quirks handled here: cpuacct.stat counts in
USER_HZ (100 a second on every Linux ABI pydock runs on, as cAdvisor assumes); "unlimited" is a huge
page-aligned number; blkio keeps several sets of counters and only one is filled, depending on the
I/O scheduler, so we take the first set that has figures, in opencontainers/cgroups' order.
"""

from __future__ import annotations

from .host import DeviceNames
from .parsers import (
    CgroupParseError,
    flat_keys,
    parse_blkio_v1,
    parse_int,
    parse_ints,
    parse_limit,
    read_optional,
    read_required,
    read_spec,
)
from .procfs import pid_list
from .stats import BlkioDevice, CgroupReading, CpuSpec, CpuStats, MemoryStats, PidsStats

USER_HZ = 100
_CPUACCT_STAT = flat_keys("user", "system")
_CPU_STAT = flat_keys("nr_periods", "nr_throttled", "throttled_time")
_MEMORY_STAT = flat_keys(*(p + k for p in ("", "total_") for k in (
    "rss", "cache", "swap", "mapped_file", "inactive_file", "active_file", "pgfault", "pgmajfault")))
_OOM_CONTROL = flat_keys("oom_kill")
_NS_PER_TICK = 1_000_000_000 // USER_HZ

# (bytes file, operations file), most specific first (opencontainers/cgroups fs/blkio.go).
BLKIO_FILE_SETS = (
    ("blkio.bfq.io_service_bytes_recursive", "blkio.bfq.io_serviced_recursive"),
    ("blkio.io_service_bytes_recursive", "blkio.io_serviced_recursive"),
    ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"),
    ("blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"),
)


def read_cpu(cpu_dir: str | None, cpuacct_dir: str | None) -> CpuStats | None:
    if cpuacct_dir is None:
        return None
    percpu_path = f"{cpuacct_dir}/cpuacct.usage_percpu"
    percpu_text = read_optional(percpu_path)
    percpu = parse_ints(percpu_text, percpu_path) if percpu_text is not None else ()
    if percpu:  # cpuacct.usage is the sum of these same per-CPU counters: one file fewer per scrape
        usage = sum(percpu)
    else:
        usage_path = f"{cpuacct_dir}/cpuacct.usage"
        usage = parse_int(read_required(usage_path), usage_path)
    stat_path = f"{cpuacct_dir}/cpuacct.stat"
    ticks = _CPUACCT_STAT(read_required(stat_path), stat_path)
    try:
        user, system = ticks["user"], ticks["system"]
    except KeyError as exc:
        raise CgroupParseError(stat_path, f"no {exc.args[0]} line") from None
    throttling: dict[str, int] = {}
    if cpu_dir is not None:
        cpu_stat_path = f"{cpu_dir}/cpu.stat"
        cpu_stat = read_optional(cpu_stat_path)  # absent without CONFIG_CFS_BANDWIDTH
        if cpu_stat is not None:
            throttling = _CPU_STAT(cpu_stat, cpu_stat_path)
    return CpuStats(
        usage_ns=usage,
        user_ns=user * _NS_PER_TICK,
        system_ns=system * _NS_PER_TICK,
        per_cpu_ns=percpu,
        periods=throttling.get("nr_periods", 0),
        throttled_periods=throttling.get("nr_throttled", 0),
        throttled_ns=throttling.get("throttled_time", 0),
    )


def read_cpu_spec(cpu_dir: str | None) -> CpuSpec | None:
    if cpu_dir is None:
        return None
    shares_path = f"{cpu_dir}/cpu.shares"
    shares = parse_int(read_spec(shares_path, required=True) or "", shares_path)
    quota_path = f"{cpu_dir}/cpu.cfs_quota_us"
    quota = read_spec(quota_path)
    period_path = f"{cpu_dir}/cpu.cfs_period_us"
    period = read_spec(period_path)
    return CpuSpec(
        quota_us=parse_limit(quota, quota_path) if quota is not None else None,  # -1: no quota
        period_us=parse_int(period, period_path) if period is not None else 100_000,
        shares=shares,
    )


def read_memory(d: str | None) -> MemoryStats | None:
    if d is None:
        return None
    usage_path = f"{d}/memory.usage_in_bytes"
    usage = parse_int(read_required(usage_path), usage_path)
    stat_path = f"{d}/memory.stat"
    s = _MEMORY_STAT(read_required(stat_path), stat_path)
    hierarchical = _use_hierarchy(d)
    p = "total_" if hierarchical else ""
    try:
        # cAdvisor subtracts total_inactive_file whatever use_hierarchy says
        inactive_file = s["total_inactive_file"]
        rss, cache = s[p + "rss"], s[p + "cache"]
    except KeyError as exc:
        raise CgroupParseError(stat_path, f"no {exc.args[0]} line") from None
    max_path = f"{d}/memory.max_usage_in_bytes"
    failcnt_path = f"{d}/memory.failcnt"
    oom_path = f"{d}/memory.oom_control"
    oom = read_optional(oom_path)
    return MemoryStats(
        usage=usage,
        max_usage=parse_int(read_required(max_path), max_path),
        working_set=max(0, usage - inactive_file),
        rss=rss,
        cache=cache,
        swap=s.get(p + "swap", 0),  # present only with swap accounting
        mapped_file=s.get(p + "mapped_file", 0),
        inactive_file=inactive_file,
        active_file=s.get("total_active_file", 0),
        failcnt=parse_int(read_required(failcnt_path), failcnt_path),
        pgfault=s.get("pgfault", 0),
        pgmajfault=s.get("pgmajfault", 0),
        hierarchical_pgfault=s.get("total_pgfault", 0),
        hierarchical_pgmajfault=s.get("total_pgmajfault", 0),
        # oom_kill appeared in memory.oom_control in Linux 4.13
        oom_events=_OOM_CONTROL(oom, oom_path).get("oom_kill", 0) if oom is not None else 0,
        limit=_limit_file(f"{d}/memory.limit_in_bytes", required=True),
        swap_limit=_limit_file(f"{d}/memory.memsw.limit_in_bytes"),  # absent without swapaccount=1
        reservation=_limit_file(f"{d}/memory.soft_limit_in_bytes"),
    )


_HIERARCHY: dict[str, bool] = {}


def _use_hierarchy(d: str) -> bool:
    """memory.use_hierarchy, read once per cgroup: it cannot change once the cgroup has children, and
    Linux 5.x+ fixes it at 1 (absent on some kernels: 1 too)."""
    known = _HIERARCHY.get(d)
    if known is None:
        path = f"{d}/memory.use_hierarchy"
        text = read_optional(path)
        known = text is None or parse_int(text, path) == 1
        if len(_HIERARCHY) > 10000:  # bounded: cgroups come and go
            _HIERARCHY.clear()
        _HIERARCHY[d] = known
    return known


def _limit_file(path: str, required: bool = False) -> int | None:
    text = read_spec(path, required)
    return None if text is None else parse_limit(text, path)


_ABSENT: set[str] = set()


def read_blkio(d: str | None, devices: DeviceNames) -> tuple[BlkioDevice, ...]:
    if d is None:
        return ()
    for bytes_file, ops_file in BLKIO_FILE_SETS:
        bytes_path = f"{d}/{bytes_file}"
        if bytes_path in _ABSENT:
            continue
        text = read_optional(bytes_path)
        if text is None:
            if len(_ABSENT) > 50000:  # bounded: cgroups come and go
                _ABSENT.clear()
            _ABSENT.add(bytes_path)  # which sets exist depends on the kernel's build, not on time
            continue
        by_dev = parse_blkio_v1(text, bytes_path)
        if not by_dev:
            continue  # this set is not the one the kernel fills
        ops_path = f"{d}/{ops_file}"
        ops_text = read_optional(ops_path)
        ops = parse_blkio_v1(ops_text, ops_path) if ops_text is not None else {}
        out = []
        for (major, minor), b in sorted(by_dev.items()):
            o = ops.get((major, minor), {})
            out.append(
                BlkioDevice(
                    major=major,
                    minor=minor,
                    name=devices.name(major, minor),
                    read_bytes=b.get("Read", 0),
                    write_bytes=b.get("Write", 0),
                    reads=o.get("Read", 0),
                    writes=o.get("Write", 0),
                )
            )
        return tuple(out)
    return ()


def read_pids(d: str | None) -> PidsStats | None:
    if d is None:
        return None
    cur_path = f"{d}/pids.current"
    current = read_optional(cur_path)
    if current is None:  # the root of the pids hierarchy has no pids.current
        return None
    return PidsStats(current=parse_int(current, cur_path), limit=_limit_file(f"{d}/pids.max"))


def read_members(d: str, with_tasks: bool = True) -> tuple[list[int], list[int]]:
    """cgroup.procs, and tasks unless `with_tasks` is false (then [], one file fewer: the threads are
    counted by pids.current, and task states are refreshed less often, see cgroups.ProcessCache)."""
    procs_path = f"{d}/cgroup.procs"
    procs = pid_list(read_required(procs_path), procs_path)
    if not with_tasks:
        return procs, []
    tasks_path = f"{d}/tasks"
    return procs, pid_list(read_required(tasks_path), tasks_path)


MEMBER_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "blkio")


def read(paths: dict[str, str], devices: DeviceNames, with_tasks: bool = True) -> CgroupReading:
    """Everything the v1 hierarchies say about one cgroup; controllers not in `paths` are None."""
    members_dir = next((paths[c] for c in MEMBER_CONTROLLERS if c in paths), None)
    procs, tasks = read_members(members_dir, with_tasks) if members_dir is not None else ([], [])
    return CgroupReading(
        cpu=read_cpu(paths.get("cpu"), paths.get("cpuacct")),
        cpu_spec=read_cpu_spec(paths.get("cpu")),
        memory=read_memory(paths.get("memory")),
        blkio=read_blkio(paths.get("blkio"), devices),
        pids=read_pids(paths.get("pids")),
        procs=procs,
        tasks=tasks,
    )
