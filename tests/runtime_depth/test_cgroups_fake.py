"""runtime.cgroups against fake trees of both layouts: every flag lands in the right file, in the right
unit; bad values are refused before anything is made; layout detection; freeze, pids, OOM count."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydock.runtime import cgroups
from pydock.runtime.cgroups import fs
from pydock.runtime.cgroups.v2 import blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2

from pydock.errors import CgroupError, UsageError

from .conftest import FakeCgroupfs, new_id

MiB = 1024 * 1024

# flags -> {file (v1, relative to the mount root, {id} is the container): value, ...} and the same for v2.
FLAG_CASES = [
    ({"memory": "32m"},
     {"memory/pydock/{id}/memory.limit_in_bytes": str(32 * MiB)},
     {"pydock/{id}/memory.max": str(32 * MiB)}),
    ({"memory": "32m", "memory_swap": "64m"},
     {"memory/pydock/{id}/memory.limit_in_bytes": str(32 * MiB),
      "memory/pydock/{id}/memory.memsw.limit_in_bytes": str(64 * MiB)},
     {"pydock/{id}/memory.max": str(32 * MiB), "pydock/{id}/memory.swap.max": str(32 * MiB)}),
    ({"memory": "32m", "memory_swap": "-1"},
     {"memory/pydock/{id}/memory.memsw.limit_in_bytes": "-1"},
     {"pydock/{id}/memory.swap.max": "max"}),
    ({"memory_reservation": "16m"},
     {"memory/pydock/{id}/memory.soft_limit_in_bytes": str(16 * MiB)},
     {"pydock/{id}/memory.low": str(16 * MiB)}),
    ({"cpus": "0.5"},
     {"cpu/pydock/{id}/cpu.cfs_quota_us": "50000", "cpu/pydock/{id}/cpu.cfs_period_us": "100000"},
     {"pydock/{id}/cpu.max": "50000 100000"}),
    ({"cpus": "1.25"},
     {"cpu/pydock/{id}/cpu.cfs_quota_us": "125000"},
     {"pydock/{id}/cpu.max": "125000 100000"}),
    ({"cpu_shares": "1024"},
     {"cpu/pydock/{id}/cpu.shares": "1024"},
     {"pydock/{id}/cpu.weight": "100"}),
    ({"cpu_shares": "2"},
     {"cpu/pydock/{id}/cpu.shares": "2"},
     {"pydock/{id}/cpu.weight": "1"}),
    ({"cpuset_cpus": "1-2"},
     {"cpuset/pydock/{id}/cpuset.cpus": "1-2", "cpuset/pydock/{id}/cpuset.mems": "0"},
     {"pydock/{id}/cpuset.cpus": "1-2"}),
    ({"pids_limit": "10"},
     {"pids/pydock/{id}/pids.max": "10"},
     {"pydock/{id}/pids.max": "10"}),
    ({"pids_limit": "-1"},
     {"pids/pydock/{id}/pids.max": "max"},
     {"pydock/{id}/pids.max": "max"}),
    ({"blkio_weight": "300"},
     {"blkio/pydock/{id}/blkio.bfq.weight": "300"},
     {"pydock/{id}/io.bfq.weight": "300"}),
]


@pytest.mark.parametrize("flags,v1_files,v2_files", FLAG_CASES, ids=[str(c[0]) for c in FLAG_CASES])
def test_every_flag_lands_in_its_file(fake_cgroupfs: FakeCgroupfs, flags, v1_files, v2_files) -> None:
    cid = new_id()
    fake_cgroupfs.kernel_mkdir(cid)
    lay = cgroups.detect_layout(fake_cgroupfs.root)
    handle = cgroups.create(cid, cgroups.limits_from_flags(**flags), layout=lay)
    expected = v2_files if fake_cgroupfs.kind == "v2" else v1_files
    for rel, value in expected.items():
        assert fake_cgroupfs.read(rel.format(id=cid)) == value, rel
    handle.remove()
    assert not any(Path(p).exists() for p in handle.paths.values())


def test_v1_paths_cover_every_hierarchy(tmp_path: Path) -> None:
    fake = FakeCgroupfs(tmp_path / "cg", "hybrid")
    cid = new_id()
    fake.kernel_mkdir(cid)
    handle = cgroups.create(cid, cgroups.Limits(), layout=cgroups.detect_layout(fake.root))
    assert sorted(handle.paths) == sorted(
        ["memory", "cpu", "cpuacct", "pids", "blkio", "cpuset", "freezer", "devices"])
    for controller, path in handle.paths.items():
        assert path == str(fake.root / controller / "pydock" / cid)
    # cpuset: both levels got the parent's cpus and mems, or no task could join.
    assert fake.read("cpuset/pydock/cpuset.cpus") == "0-3"
    assert fake.read(f"cpuset/pydock/{cid}/cpuset.cpus") == "0-3"
    assert fake.read(f"cpuset/pydock/{cid}/cpuset.mems") == "0"
    # The device allow-list ends with Docker's defaults (the fake file keeps the last write).
    assert fake.read(f"devices/pydock/{cid}/devices.deny") == "a"
    assert fake.read(f"devices/pydock/{cid}/devices.allow") == "c 10:200 rwm"
    handle.remove()


def test_v2_enables_controllers_in_every_parent(tmp_path: Path) -> None:
    fake = FakeCgroupfs(tmp_path / "cg", "v2")
    cid = new_id()
    fake.kernel_mkdir(cid)
    handle = cgroups.create(cid, cgroups.Limits(memory=64 * MiB), layout=cgroups.detect_layout(fake.root))
    assert handle.paths == {"unified": str(fake.root / "pydock" / cid)}
    for level in ("cgroup.subtree_control", "pydock/cgroup.subtree_control"):
        enabled = fake.read(level).split()
        # hugetlb is on the host but not asked for; the rest are.
        assert sorted(enabled) == sorted(["+cpuset", "+cpu", "+io", "+memory", "+pids"])
    handle.remove()


def test_v2_io_weight_rescaled_without_bfq(tmp_path: Path) -> None:
    fake = FakeCgroupfs(tmp_path / "cg", "v2")
    cid = new_id()
    fake.kernel_mkdir(cid)
    (fake.root / "pydock" / cid / "io.bfq.weight").unlink()  # a kernel without BFQ
    handle = cgroups.create(cid, cgroups.Limits(blkio_weight=750), layout=cgroups.detect_layout(fake.root))
    assert fake.read(f"pydock/{cid}/io.weight") == "7475"  # runc's own test value
    handle.remove()


@pytest.mark.parametrize("flags,reason", [
    ({"memory": "4m"}, "Minimum memory limit allowed is 6MB"),
    ({"memory_swap": "64m"}, "always set the Memory limit"),
    ({"memory": "64m", "memory_swap": "32m"}, "memoryswap limit should be larger than memory limit"),
    ({"memory": "32m", "memory_reservation": "64m"}, "can not be less than memory reservation"),
    ({"memory_reservation": "1m"}, "Minimum memory reservation allowed is 6MB"),
    ({"cpus": "0.001"}, "Range of CPUs is from 0.01"),
    ({"cpus": "64"}, "Range of CPUs is from 0.01"),
    ({"cpus": "0.0000000001"}, "too precise"),
    ({"cpu_shares": "1"}, "the kernel's range is 2 to 262144"),
    ({"cpu_shares": "262145"}, "the kernel's range is 2 to 262144"),
    ({"cpuset_cpus": "0-9"}, "Requested CPUs are not available"),
    ({"cpuset_cpus": "3-1"}, "Invalid value 3-1 for cpuset cpus"),
    ({"pids_limit": "-5"}, "invalid --pids-limit"),
    ({"blkio_weight": "5"}, "Range of blkio weight is from 10 to 1000"),
    ({"blkio_weight": "1001"}, "Range of blkio weight is from 10 to 1000"),
])
def test_bad_values_refused_before_anything_is_made(fake_cgroupfs: FakeCgroupfs, flags, reason) -> None:
    cid = new_id()
    lay = cgroups.detect_layout(fake_cgroupfs.root)
    with pytest.raises(UsageError, match=reason):
        cgroups.create(cid, cgroups.limits_from_flags(**flags), layout=lay)
    assert not list(fake_cgroupfs.root.rglob(cid))
    assert not list(fake_cgroupfs.root.rglob("pydock"))


def test_layout_detection(tmp_path: Path) -> None:
    for kind in ("hybrid", "v1", "v2"):
        fake = FakeCgroupfs(tmp_path / kind, kind)
        assert cgroups.detect_layout(fake.root).kind == kind
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CgroupError, match="no cgroup hierarchy"):
        cgroups.detect_layout(empty)


def test_update_merges_and_rewrites_live_limits(fake_cgroupfs: FakeCgroupfs) -> None:
    cid = new_id()
    fake_cgroupfs.kernel_mkdir(cid)
    lay = cgroups.detect_layout(fake_cgroupfs.root)
    first = cgroups.limits_from_flags(memory="32m", pids_limit="10")
    handle = cgroups.create(cid, first, layout=lay)
    again = cgroups.open(handle.paths)
    change = cgroups.limits_from_flags(memory="64m", memory_swap="128m")
    merged = first.merged(change)
    assert (merged.memory, merged.memory_swap, merged.pids_limit) == (64 * MiB, 128 * MiB, 10)
    again.set_limits(change)
    if fake_cgroupfs.kind == "v2":
        assert fake_cgroupfs.read(f"pydock/{cid}/memory.max") == str(64 * MiB)
        assert fake_cgroupfs.read(f"pydock/{cid}/memory.swap.max") == str(64 * MiB)
    else:
        assert fake_cgroupfs.read(f"memory/pydock/{cid}/memory.limit_in_bytes") == str(64 * MiB)
        assert fake_cgroupfs.read(f"memory/pydock/{cid}/memory.memsw.limit_in_bytes") == str(128 * MiB)
    assert fake_cgroupfs.read(f"{'' if fake_cgroupfs.kind == 'v2' else 'pids/'}pydock/{cid}/pids.max") == "10"
    again.remove()


def test_oom_kill_count_and_pids(fake_cgroupfs: FakeCgroupfs) -> None:
    cid = new_id()
    fake_cgroupfs.kernel_mkdir(cid)
    handle = cgroups.create(cid, cgroups.Limits(), layout=cgroups.detect_layout(fake_cgroupfs.root))
    if fake_cgroupfs.kind == "v2":
        events = fake_cgroupfs.root / "pydock" / cid / "memory.events"
        events.write_text(events.read_text().replace("oom_kill 0", "oom_kill 3"))
        (fake_cgroupfs.root / "pydock" / cid / "cgroup.procs").write_text("1\n")
    else:
        ctl = fake_cgroupfs.root / "memory" / "pydock" / cid / "memory.oom_control"
        ctl.write_text(ctl.read_text().replace("oom_kill 0", "oom_kill 3"))
        (fake_cgroupfs.root / "pids" / "pydock" / cid / "cgroup.procs").write_text("1\n")
    assert handle.oom_kill_count() == 3
    assert handle.pids() == [1]
    # pid 1 (this host's init) is alive: remove() must not be tried here; empty the fake list first.
    for procs in fake_cgroupfs.root.rglob("cgroup.procs"):
        procs.write_text("")
    handle.remove()


def test_freeze_and_thaw(fake_cgroupfs: FakeCgroupfs) -> None:
    cid = new_id()
    fake_cgroupfs.kernel_mkdir(cid)
    handle = cgroups.create(cid, cgroups.Limits(), layout=cgroups.detect_layout(fake_cgroupfs.root))
    stop = threading.Event()
    if fake_cgroupfs.kind == "v2":
        d = fake_cgroupfs.root / "pydock" / cid

        def kernel() -> None:  # the kernel reports the freeze asynchronously in cgroup.events
            while not stop.is_set():
                want = (d / "cgroup.freeze").read_text().strip() or "0"
                (d / "cgroup.events").write_text(f"populated 1\nfrozen {want}\n")
                time.sleep(0.01)

        threading.Thread(target=kernel, daemon=True).start()
    try:
        handle.freeze()
        assert handle.is_frozen()
        if fake_cgroupfs.kind != "v2":
            assert fake_cgroupfs.read(f"freezer/pydock/{cid}/freezer.state") == "FROZEN"
        handle.thaw()
        assert not handle.is_frozen()
    finally:
        stop.set()
    handle.remove()


def test_conversions_match_runc() -> None:
    # opencontainers/cgroups utils_test.go cases
    assert {s: cpu_shares_to_weight(s) for s in (0, 1, 2, 3, 1024, 262143, 262144, 262145)} == {
        0: 0, 1: 1, 2: 1, 3: 2, 1024: 100, 262143: 10000, 262144: 10000, 262145: 10000}
    assert [blkio_weight_to_io_weight(w) for w in (0, 10, 1000)] == [0, 1, 10000]
    assert memory_swap_to_v2(0, 0) == 0
    assert memory_swap_to_v2(-1, 0) == -1
    assert memory_swap_to_v2(500, 200) == 300
    assert memory_swap_to_v2(1000, 1000) == 0
    with pytest.raises(CgroupError):
        memory_swap_to_v2(300, 400)
    with pytest.raises(CgroupError):
        memory_swap_to_v2(300, 0)


def test_cpu_list_round_trip() -> None:
    assert fs.parse_cpu_list("0-3,5,7-8") == {0, 1, 2, 3, 5, 7, 8}
    assert fs.format_cpu_list({0, 1, 2, 3, 5, 7, 8}) == "0-3,5,7-8"
    with pytest.raises(ValueError):
        fs.parse_cpu_list("a-b")


def test_host_config_round_trip() -> None:
    lim = cgroups.limits_from_flags(memory="1g", memory_swap="-1", cpus="1.5", cpu_shares="512",
                                    cpuset_cpus="0", pids_limit="100", blkio_weight="500")
    hc = lim.to_host_config()
    assert hc["Memory"] == 1024**3 and hc["MemorySwap"] == -1 and hc["NanoCpus"] == 1_500_000_000
    assert cgroups.Limits.from_host_config(hc) == lim
    assert cgroups.with_docker_defaults(cgroups.Limits(memory=32 * MiB)).memory_swap == 64 * MiB


def test_swap_support_is_detected_per_layout(fake_cgroupfs: FakeCgroupfs) -> None:
    lay = cgroups.detect_layout(fake_cgroupfs.root)
    assert not cgroups.swap_limit_supported(lay) if fake_cgroupfs.kind == "v2" else cgroups.swap_limit_supported(lay)
    if fake_cgroupfs.kind == "v2":
        fake_cgroupfs.kernel_mkdir(new_id())  # a child cgroup shows memory.swap.max when swap is accounted
        assert cgroups.swap_limit_supported(lay)
    else:
        (fake_cgroupfs.root / "memory" / "memory.memsw.limit_in_bytes").unlink()
        assert not cgroups.swap_limit_supported(lay)
