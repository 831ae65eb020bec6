"""runtime/cgroups/attach.py: which cgroup.procs the warmer writes, and that its no-op migrations leave
the process where it was (timings are bench/start_latency's, never asserted here)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydock.runtime.cgroups import detect_layout
from pydock.runtime.cgroups.attach import AttachWarmer, own_procs_file
from pydock.runtime.cgroups.layout import Layout

HYBRID = "12:pids:/user.slice/u\n11:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/s\n0::/user.slice/s\n"
V2 = "0::/system.slice/ssh.service\n"


def test_v1_picks_a_hierarchy_pydock_uses(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text(HYBRID)
    layout = Layout("hybrid", tmp_path, v1={"pids": tmp_path / "pids", "cpu": tmp_path / "cpu"})
    assert own_procs_file(layout, tmp_path / "cgroup") == tmp_path / "pids/user.slice/u/cgroup.procs"


def test_v2_uses_the_unified_line(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text(V2)
    layout = Layout("v2", tmp_path)
    assert own_procs_file(layout, tmp_path / "cgroup") == tmp_path / "system.slice/ssh.service/cgroup.procs"


def test_nothing_to_write_without_a_known_hierarchy(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text("1:name=systemd:/x\n")
    assert own_procs_file(Layout("v1", tmp_path, v1={"pids": tmp_path / "pids"}), tmp_path / "cgroup") is None
    assert own_procs_file(Layout("v1", tmp_path), tmp_path / "absent") is None


def test_the_warmer_leaves_the_process_in_its_cgroup() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    before = Path("/proc/self/cgroup").read_text()
    procs = own_procs_file(detect_layout())
    assert procs is not None and str(os.getpid()) in procs.read_text().split()
    warmer = AttachWarmer.start()
    assert warmer is not None
    time.sleep(0.03)  # several no-op migrations
    warmer.stop()
    warmer._thread.join(1)
    assert not warmer._thread.is_alive()
    assert Path("/proc/self/cgroup").read_text() == before
