"""The v1 and v2 readers against trees captured from real hosts: every figure is checked against the
file it comes from, and the capture's known workload (README of the fixtures) where it shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydock.agent import cgroupv1, cgroupv2, hybrid
from pydock.agent.cgroups import CgroupRef, Hierarchies, read_stats
from pydock.agent.host import DeviceNames, machine_info, system_cpu_usage_ns
from pydock.agent.parsers import CgroupParseError, parse_limit
from pydock.agent.procfs import parse_net_dev

from .conftest import CTR, FAKE, V1, V2, fixture_host, flat, read, v1_paths, v2_paths

MIB = 1024 * 1024


def test_layout_detection() -> None:
    assert Hierarchies.detect(V1).kind == "v1"
    assert Hierarchies.detect(V2).kind == "v2"
    h = Hierarchies.detect(V1)
    assert h.paths_for("/" + CTR)["memory"] == str(V1 / "memory" / CTR)
    assert h.cgroup_path_of(str(V1 / "memory" / CTR)) == "/" + CTR


def test_v2_reader_matches_files() -> None:
    host = fixture_host(V2)
    d = V2 / CTR
    s = read_stats(CgroupRef("/" + CTR, v2_paths()), Hierarchies.detect(V2), host, DeviceNames(host), init_pid=443)
    cpu = flat(d / "cpu.stat")
    assert s.layout == "v2"
    assert s.cpu is not None
    assert s.cpu.usage_ns == cpu["usage_usec"] * 1000
    assert s.cpu.user_ns == cpu["user_usec"] * 1000
    assert s.cpu.system_ns == cpu["system_usec"] * 1000
    assert s.cpu.per_cpu_ns == ()
    assert (s.cpu.periods, s.cpu.throttled_periods) == (cpu["nr_periods"], cpu["nr_throttled"])
    assert s.cpu.throttled_ns == cpu["throttled_usec"] * 1000
    assert s.cpu.throttled_periods > 0  # the workload spun at half a core: it was throttled
    assert s.cpu_spec is not None
    assert (s.cpu_spec.quota_us, s.cpu_spec.period_us) == (50000, 100000)
    assert s.cpu_spec.shares == 2 + (int(read(d / "cpu.weight")) - 1) * 262142 // 9999
    mem = flat(d / "memory.stat")
    m = s.memory
    assert m is not None
    assert m.usage == int(read(d / "memory.current"))
    assert m.working_set == m.usage - mem["inactive_file"]
    assert (m.rss, m.cache, m.mapped_file) == (mem["anon"], mem["file"], mem["file_mapped"])
    assert m.swap == int(read(d / "memory.swap.current"))
    assert m.max_usage == int(read(d / "memory.peak")) > 80 * MIB  # it held 80 MiB at its peak
    assert m.failcnt == 0  # v2 has no failcnt
    assert (m.pgfault, m.pgmajfault) == (mem["pgfault"], mem["pgmajfault"])
    assert m.oom_events == flat(d / "memory.events")["oom_kill"]
    assert m.limit == 256 * MIB == int(read(d / "memory.max"))
    assert m.swap_limit is None  # memory.swap.max says "max": unlimited, said so in the type
    io = s.blkio
    assert len(io) == 1
    assert (io[0].major, io[0].minor, io[0].name) == (254, 0, "/dev/vda")
    assert io[0].write_bytes == 64 * MIB  # dd oflag=direct wrote 64 MiB
    assert (io[0].read_bytes, io[0].reads, io[0].writes) == (1232896, 110, 64)
    assert s.pids is not None
    assert (s.pids.current, s.pids.limit) == (int(read(d / "pids.current")), 64)
    assert s.processes is not None
    assert (s.processes.processes, s.processes.threads) == (2, 2)
    assert (s.processes.fds, s.processes.sockets) == (5, 2)  # fake /proc: 3 + 2 fds, 2 sockets
    assert s.processes.task_states["sleeping"] == 1 and s.processes.task_states["running"] == 1
    assert [i.name for i in s.network] == ["eth0", "ifb0", "ifb1"]  # lo left out, as cAdvisor does
    eth0 = s.network[0]
    assert (eth0.rx_bytes, eth0.rx_packets, eth0.tx_bytes, eth0.tx_packets) == (625, 10, 1473, 18)


def test_v1_reader_matches_files() -> None:
    host = fixture_host(V1)
    s = read_stats(CgroupRef("/" + CTR, v1_paths()), Hierarchies.detect(V1), host, DeviceNames(host),
                   with_processes=False)
    acct = V1 / "cpuacct" / CTR
    assert s.cpu is not None
    assert s.cpu.usage_ns == int(read(acct / "cpuacct.usage"))
    ticks = flat(acct / "cpuacct.stat")
    assert (s.cpu.user_ns, s.cpu.system_ns) == (ticks["user"] * 10**7, ticks["system"] * 10**7)
    assert s.cpu.per_cpu_ns == tuple(int(x) for x in read(acct / "cpuacct.usage_percpu").split())
    cpu_stat = flat(V1 / "cpu" / CTR / "cpu.stat")
    assert (s.cpu.periods, s.cpu.throttled_periods, s.cpu.throttled_ns) == (
        cpu_stat["nr_periods"], cpu_stat["nr_throttled"], cpu_stat["throttled_time"])
    assert s.cpu_spec is not None
    assert (s.cpu_spec.quota_us, s.cpu_spec.period_us, s.cpu_spec.shares) == (50000, 100000, 1024)
    md = V1 / "memory" / CTR
    mem = flat(md / "memory.stat")
    m = s.memory
    assert m is not None
    assert m.usage == int(read(md / "memory.usage_in_bytes"))
    assert m.working_set == m.usage - mem["total_inactive_file"]
    assert (m.rss, m.cache, m.mapped_file, m.swap) == (
        mem["total_rss"], mem["total_cache"], mem["total_mapped_file"], mem["total_swap"])
    assert m.max_usage == int(read(md / "memory.max_usage_in_bytes")) > 80 * MIB
    assert m.failcnt == int(read(md / "memory.failcnt"))
    assert (m.hierarchical_pgfault, m.pgmajfault) == (mem["total_pgfault"], mem["pgmajfault"])
    assert m.limit == 256 * MIB
    assert m.swap_limit is None and m.reservation is None  # 9223372036854771712 is v1's "unlimited"
    assert m.oom_events == flat(md / "memory.oom_control")["oom_kill"]
    assert s.blkio == ()  # every blkio file set of this capture holds only "Total 0"
    assert s.pids is not None and (s.pids.current, s.pids.limit) == (1, 64)


def test_v1_blkio_takes_first_filled_set(tmp_path: Path) -> None:
    d = tmp_path / "blkio"
    shutil.copytree(V1 / "blkio" / CTR, d)
    (d / "blkio.throttle.io_service_bytes").write_text(
        "254:0 Read 4096\n254:0 Write 67108864\n254:0 Sync 67112960\n254:0 Async 0\n254:0 Discard 0\n"
        "254:0 Total 67112960\nTotal 67112960\n")
    (d / "blkio.throttle.io_serviced").write_text("254:0 Read 1\n254:0 Write 64\nTotal 65\n")
    host = fixture_host(V1)
    io = cgroupv1.read_blkio(str(d), DeviceNames(host))
    assert len(io) == 1
    assert (io[0].name, io[0].read_bytes, io[0].write_bytes, io[0].reads, io[0].writes) == (
        "/dev/vda", 4096, 64 * MIB, 1, 64)


def test_hybrid_reads_v1_when_unified_is_empty(tmp_path: Path) -> None:
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("\n")
    host = fixture_host(V1)
    paths = {**v1_paths(), "unified": str(unified)}
    assert hybrid.read(paths, host, DeviceNames(host)) == cgroupv1.read(v1_paths(), DeviceNames(host))


def test_hybrid_reads_controllers_moved_to_v2() -> None:
    host = fixture_host(V2)
    paths = {"cpu": str(V1 / "cpu" / CTR), "cpuacct": str(V1 / "cpuacct" / CTR), "unified": str(V2 / CTR)}
    r = hybrid.read(paths, host, DeviceNames(host))
    assert r.cpu is not None and r.cpu.per_cpu_ns  # from v1
    assert r.memory is not None and r.memory.usage == int(read(V2 / CTR / "memory.current"))  # from v2
    assert r.pids is not None and r.pids.current == 2


def test_device_names_fall_back_to_partitions_then_numbers() -> None:
    names = DeviceNames(fixture_host(V2))
    assert names.name(254, 0) == "/dev/vda"  # /sys/dev/block link
    assert names.name(254, 16) == "/dev/vdb"  # /proc/partitions
    assert names.name(7, 3) == "7:3"  # unknown: its numbers, never "" (series must stay distinct)


def test_v2_root_has_no_memory_current_usage_from_meminfo() -> None:
    host = fixture_host(V2)
    m = cgroupv2.read_memory(str(V2), host)
    meminfo = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in read(FAKE / "proc/meminfo").splitlines()}
    assert m is not None and m.usage == meminfo["MemTotal"] - meminfo["MemFree"]
    assert m.limit is None


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("memory.stat", "anon 12\nfile notanumber\n", "value of 'file' is not an integer"),
        ("memory.current", "12 KB\n", "expected an integer"),
        ("cpu.stat", "usage_usec 1\n", "no user_usec line"),
        ("io.stat", "254:0 rbytes=1 wbytes\n", "expected key=value"),
    ],
)
def test_parse_errors_name_the_file(tmp_path: Path, name: str, content: str, fragment: str) -> None:
    d = tmp_path / "ctr"
    shutil.copytree(V2 / CTR, d)
    (d / name).write_text(content)
    host = fixture_host(V2)
    with pytest.raises(CgroupParseError) as exc:
        cgroupv2.read(str(d), host, DeviceNames(host))
    assert exc.value.path == str(d / name)
    assert fragment in str(exc.value)


def test_limits_and_net_dev_parsing() -> None:
    assert parse_limit("max\n", "f") is None
    assert parse_limit("9223372036854771712\n", "f") is None
    assert parse_limit("-1\n", "f") is None
    assert parse_limit("268435456\n", "f") == 268435456
    with pytest.raises(CgroupParseError):
        parse_net_dev("h1\nh2\n  eth0: 1 2 3\n", "dev")


def test_machine_facts_from_fake_proc() -> None:
    host = fixture_host(V2)
    m = machine_info(host)
    assert m.cpu_cores == read(FAKE / "proc/cpuinfo").count("processor\t:")
    assert m.memory_bytes == int(read(FAKE / "proc/meminfo").split()[1]) * 1024
    assert m.machine_id == "0123456789abcdef0123456789abcdef"
    assert m.system_uuid == ""  # absent from the fixture: an empty label, not an error
    cpu = [int(x) for x in read(FAKE / "proc/stat").splitlines()[0].split()[1:8]]
    assert system_cpu_usage_ns(host.proc) == sum(cpu) * 10**7


def test_limits_are_reread_after_the_spec_ttl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydock.agent import parsers

    clock = [1000.0]
    monkeypatch.setattr(parsers, "SPECS", parsers.SpecCache(clock=lambda: clock[0]))
    d = tmp_path / "ctr"
    shutil.copytree(V2 / CTR, d)
    host = fixture_host(V2)
    assert cgroupv2.read(str(d), host, DeviceNames(host)).memory.limit == 256 * MIB  # type: ignore[union-attr]
    (d / "memory.max").write_text(f"{128 * MIB}\n")
    (d / "memory.current").write_text("4096\n")
    cached = cgroupv2.read(str(d), host, DeviceNames(host)).memory
    assert cached is not None and cached.usage == 4096  # figures are always fresh
    assert cached.limit == 256 * MIB  # a limit is re-read at most every SPEC_TTL_SECONDS
    clock[0] += parsers.SPEC_TTL_SECONDS  # a cgroup nobody owns: its limits are re-read after the TTL
    assert cgroupv2.read(str(d), host, DeviceNames(host)).memory.limit == 128 * MIB  # type: ignore[union-attr]


def test_parse_results_are_reused_only_while_the_text_is_the_same(tmp_path: Path) -> None:
    from pydock.agent.parsers import parse_flat_keyed

    path = str(tmp_path / "memory.stat")
    first = parse_flat_keyed("anon 1\nfile 2\n", path)
    assert parse_flat_keyed("anon 1\nfile 2\n", path) is first  # same text: not parsed again
    changed = parse_flat_keyed("anon 1\nfile 3\n", path)
    assert changed == {"anon": 1, "file": 3}
    assert parse_flat_keyed("anon 1\nfile 2\n", str(tmp_path / "other")) == first  # keyed by path too
    with pytest.raises(CgroupParseError):
        parse_flat_keyed("anon 1\nfile x\n", path)
    with pytest.raises(CgroupParseError):  # a failure is never remembered as a result
        parse_flat_keyed("anon 1\nfile x\n", path)
    assert parse_flat_keyed("anon 1\nfile 3\n", path) == changed


def test_an_idle_container_reads_the_same_twice_and_a_changed_file_shows(tmp_path: Path) -> None:
    d = tmp_path / "ctr"
    shutil.copytree(V2 / CTR, d)
    host = fixture_host(V2)
    a = cgroupv2.read(str(d), host, DeviceNames(host))
    assert cgroupv2.read(str(d), host, DeviceNames(host)) == a
    stat = (d / "memory.stat").read_text()
    assert "\nfile_mapped 0\n" in stat and a.memory is not None and a.memory.mapped_file == 0
    (d / "memory.stat").write_text(stat.replace("\nfile_mapped 0\n", "\nfile_mapped 4096\n"))
    b = cgroupv2.read(str(d), host, DeviceNames(host)).memory
    assert b is not None and b.mapped_file == 4096
