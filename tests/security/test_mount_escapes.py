"""The mount half of the escape set: a container with the host's network cannot reach the host's
cgroupfs through /sys, and `-v SRC:DST:ro` is read-only all the way down (submounts of SRC too).

Both failed before security/mountattr.py: /sys was the host's bound recursively with only its top
made read-only, so `echo $$ > /sys/fs/cgroup/devices/cgroup.procs` left the container's cgroups.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def test_host_network_sees_no_writable_sys(pd):
    out = pd("run", "--rm", "--network", "host", "busybox", "sh", "-c",
             "grep ' /sys' /proc/self/mountinfo; echo $$ > /sys/fs/cgroup/devices/cgroup.procs && echo ESCAPED;"
             " echo $$ > /sys/fs/cgroup/memory/cgroup.procs && echo ESCAPED; cat /proc/self/cgroup")
    assert "ESCAPED" not in out.stdout, out.stdout
    sys_lines = [ln for ln in out.stdout.splitlines() if " /sys" in ln and " - " in ln]
    assert sys_lines, out.stdout
    for ln in sys_lines:
        assert ln.split()[5].split(",")[0] == "ro", ln
    # The host's network is still what the container sees in /sys/class/net.
    host_links = sorted(p.name for p in Path("/sys/class/net").iterdir())
    inside = pd("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net").stdout.split()
    assert sorted(inside) == host_links


@pytest.fixture
def src_with_submount(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(src / "sub")], check=True)
    try:
        yield src
    finally:
        subprocess.run(["umount", "-l", str(src / "sub")], check=False)


def test_readonly_volume_is_recursive(pd, src_with_submount):
    out = pd("run", "--rm", "-v", f"{src_with_submount}:/data:ro", "busybox", "sh", "-c",
             "touch /data/top && echo TOP; touch /data/sub/x && echo SUB; grep ' /data' /proc/self/mountinfo")
    assert "TOP" not in out.stdout and "SUB" not in out.stdout, out.stdout + out.stderr
    assert not (src_with_submount / "sub" / "x").exists()
    lines = [ln for ln in out.stdout.splitlines() if " /data" in ln]
    assert len(lines) == 2 and all(ln.split()[5].startswith("ro") for ln in lines), out.stdout
