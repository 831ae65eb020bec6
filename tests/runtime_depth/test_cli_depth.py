"""The runtime-depth commands through the real CLI: run's flags, update, pause/unpause with ps, top,
inspect after an OOM, events, system boot, and refusals that leave nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import wait_for

pytestmark = pytest.mark.root
CLI = [sys.executable, "-m", "pydock"]
MiB = 1024 * 1024


def pd(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and p.returncode != 0:
        raise AssertionError(f"pydock {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def inspect(ref: str) -> dict[str, Any]:
    return json.loads(pd("inspect", ref).stdout)[0]


def test_run_flags_reach_config_and_cgroup(rt: Any) -> None:
    from pydock.runtime import cgroups

    p = pd("run", "-d", "--name", "lim", "-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m",
           "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50",
           "--blkio-weight", "300", "--restart", "on-failure:2", "busybox", "sleep", "60")
    cid = p.stdout.strip()
    # As dockerd: a weight the host's I/O scheduler cannot take (none/mq-deadline) is dropped with a warning.
    weighted = cgroups.blkio_weight_supported(cgroups.detect_layout())
    assert (cgroups.BLKIO_WEIGHT_DISCARDED in p.stderr) is not weighted, p.stderr
    hc = inspect("lim")["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"], hc["NanoCpus"], hc["CpuShares"],
            hc["CpusetCpus"], hc["PidsLimit"], hc["BlkioWeight"]) == (
        64 * MiB, -1, 32 * MiB, 500_000_000, 512, "0", 50, 300 if weighted else 0)
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    paths = rt.store.get(cid).cgroup_paths
    if "unified" not in paths:
        assert Path(paths["memory"], "memory.limit_in_bytes").read_text().strip() == str(64 * MiB)
        assert Path(paths["cpu"], "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert Path(paths["cpu"], "cpu.shares").read_text().strip() == "512"
        assert Path(paths["cpuset"], "cpuset.cpus").read_text().strip() == "0"
        assert Path(paths["pids"], "pids.max").read_text().strip() == "50"
    else:
        assert Path(paths["unified"], "memory.max").read_text().strip() == str(64 * MiB)
        assert Path(paths["unified"], "cpu.max").read_text().strip() == "50000 100000"


@pytest.mark.parametrize("flags,reason", [
    (["-m", "4m"], "Minimum memory limit allowed is 6MB"),
    (["--cpus", "99"], "Range of CPUs is from 0.01"),
    (["--pids-limit", "-3"], "invalid --pids-limit"),
    (["--blkio-weight", "2000"], "Range of blkio weight"),
    (["--restart", "always:3"], "maximum retry count cannot be used"),
    (["--restart", "sometimes"], "invalid restart policy"),
    (["--rm", "--restart", "always"], "Conflicting options: --restart and --rm"),
    (["--health-cmd", "true", "--health-retries", "-1"], "--health-retries cannot be negative"),
])
def test_bad_flags_are_refused_and_nothing_is_made(rt: Any, flags: list[str], reason: str) -> None:
    p = pd("run", "-d", *flags, "busybox", "true", check=False)
    assert p.returncode == 125 and reason in p.stderr
    # No record (and so no id a cgroup could be named after: the fake-tree tests check no cgroup is made).
    assert rt.store.list() == []
    assert not (rt.settings.root / "containers").exists() or not any((rt.settings.root / "containers").iterdir())


def test_oom_shows_in_inspect_with_137(rt: Any) -> None:
    p = pd("run", "--name", "hog", "-m", "32m", "busybox", "tail", "/dev/zero", check=False)
    assert p.returncode == 137
    state = inspect("hog")["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137 and state["Status"] == "exited"
    from pydock.runtime import cgroups

    if cgroups.swap_limit_supported(cgroups.detect_layout()):  # dockerd's default: as much swap as memory
        assert inspect("hog")["HostConfig"]["MemorySwap"] == 64 * MiB
    oom = json.loads(pd("events", "--since", "0", "--until", str(time.time()), "--filter", "event=oom",
                        "--format", "{{json .}}").stdout)
    assert oom["Actor"]["Attributes"]["name"] == "hog"


def test_pause_shows_in_ps_and_top_lists_processes(rt: Any) -> None:
    pd("run", "-d", "--name", "p1", "busybox", "sh", "-c", "sleep 60 & sleep 61")
    assert pd("pause", "p1").stdout.strip() == "p1"
    ps = pd("ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert "p1 Up" in ps and "(Paused)" in ps
    assert inspect("p1")["State"]["Status"] == "paused"
    err = pd("pause", "p1", check=False)
    assert err.returncode == 1 and "already paused" in err.stderr
    pd("unpause", "p1")
    assert inspect("p1")["State"]["Status"] == "running"
    top = pd("top", "p1").stdout.splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"]
    cmds = [line.split(None, 7)[-1] for line in top[1:]]
    assert sorted(cmds) == ["sleep 60", "sleep 61"] or sorted(cmds) == ["sh -c sleep 60 & sleep 61", "sleep 60"]


def test_update_via_cli_and_restart_policy(rt: Any) -> None:
    pd("run", "-d", "--name", "u1", "-m", "64m", "busybox", "sleep", "60")
    assert pd("update", "--memory", "48m", "--memory-swap", "96m", "--restart", "always", "u1").stdout.strip() == "u1"
    hc = inspect("u1")["HostConfig"]
    assert hc["Memory"] == 48 * MiB and hc["RestartPolicy"]["Name"] == "always"
    bad = pd("update", "--cpus", "0.001", "u1", check=False)
    assert bad.returncode == 1 and "Range of CPUs" in bad.stderr
    assert inspect("u1")["HostConfig"]["NanoCpus"] == 0  # nothing changed


def test_health_in_ps_and_inspect(rt: Any) -> None:
    pd("run", "-d", "--name", "h1", "--health-cmd", "exit 1", "--health-interval", "100ms",
       "--health-retries", "2", "busybox", "sleep", "60")
    wait_for(lambda: inspect("h1")["State"]["Health"]["Status"] == "unhealthy", what="unhealthy")
    assert inspect("h1")["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "exit 1"]
    assert "(unhealthy)" in pd("ps", "--format", "{{.Status}}").stdout


def test_exec_cli_exit_code_env_workdir_and_detach(rt: Any) -> None:
    pd("run", "-d", "--name", "e1", "busybox", "sleep", "60")
    p = pd("exec", "-e", "A=1", "-w", "/etc", "-u", "nobody", "e1", "sh", "-c", "echo $A $(pwd) $(id -un); exit 6",
           check=False)
    assert p.returncode == 6 and p.stdout.split() == ["1", "/etc", "nobody"]
    p = subprocess.run([*CLI, "exec", "-i", "e1", "cat"], input="through stdin\n", capture_output=True, text=True,
                       timeout=30, check=False)
    assert p.stdout == "through stdin\n"
    pd("exec", "-d", "e1", "sh", "-c", "echo detached > /tmp/d")
    wait_for(lambda: pd("exec", "e1", "cat", "/tmp/d", check=False).stdout == "detached\n", what="detached exec")
    missing = pd("exec", "e1", "nope", check=False)
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    pd("stop", "-t", "1", "e1")
    stopped = pd("exec", "e1", "true", check=False)
    assert stopped.returncode != 0 and "is not running" in stopped.stderr


def test_system_boot_cli(rt: Any) -> None:
    cid = pd("run", "-d", "--restart", "always", "busybox", "sleep", "60").stdout.strip()
    shim = rt.store.get(cid).state["ShimPid"]
    os.kill(shim, 9)
    wait_for(lambda: rt.store.get(cid).status == "exited", what="the shim's death to show")
    out = pd("system", "boot").stdout
    assert f"{cid[:12]} started" in out
    assert rt.store.get(cid).status == "running"


def test_daemon_json_defaults_and_ulimits(rt: Any, pydock_env: dict[str, str]) -> None:
    Path(pydock_env["PYDOCK_CONFIG"]).write_text(json.dumps({
        "log-driver": "json-file", "log-opts": {"max-size": "1m", "labels": "tier"},
        "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 700, "Hard": 900}}}))
    pd("run", "-d", "--name", "d1", "busybox", "sleep", "60")
    hc = inspect("d1")["HostConfig"]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "labels": "tier"}}
    assert pd("exec", "d1", "sh", "-c", "ulimit -n; ulimit -Hn").stdout.split() == ["700", "900"]
    limits = Path(f"/proc/{rt.store.get('d1').pid}/limits").read_text()
    assert [line.split()[3:5] for line in limits.splitlines() if line.startswith("Max open files")] == [["700", "900"]]
    # A container's own --ulimit wins over the default of the same name.
    pd("run", "-d", "--name", "d2", "--ulimit", "nofile=300:400", "--log-driver", "json-file",
       "busybox", "sleep", "60")
    assert pd("exec", "d2", "sh", "-c", "ulimit -n; ulimit -Hn").stdout.split() == ["300", "400"]
    assert inspect("d2")["HostConfig"]["LogConfig"]["Config"] == {}  # daemon log-opts go with its default only
    # cgroup-parent: where the container's cgroups go (a flag of the same name wins).
    pd("run", "-d", "--name", "d3", "--cgroup-parent", "pydock-test-parent", "busybox", "sleep", "60")
    paths = rt.store.get("d3").cgroup_paths
    assert all("/pydock-test-parent/" in p for p in paths.values())
    assert inspect("d3")["HostConfig"]["CgroupParent"] == "pydock-test-parent"
    pd("rm", "-f", "d3")
    assert not any(Path(p).exists() for p in paths.values())
    for p in {Path(p).parent for p in paths.values()}:
        p.rmdir()  # the parent is shared by design, so pydock leaves it: this test made it, it removes it
    Path(pydock_env["PYDOCK_CONFIG"]).write_text('{"log-driver": "json-file", "bogus": 1}')
    bad = pd("run", "-d", "busybox", "true", check=False)
    assert bad.returncode == 125 and "bogus" in bad.stderr


def test_events_cli_streams_a_lifecycle_in_order(rt: Any) -> None:
    import select

    stream = subprocess.Popen([*CLI, "events", "--filter", "container=ev1", "--format", "{{json .}}"],
                              stdout=subprocess.PIPE, bufsize=0)
    try:
        time.sleep(0.5)  # let it start following before anything happens
        pd("run", "-d", "--name", "ev1", "busybox", "sleep", "60")
        pd("pause", "ev1")
        pd("unpause", "ev1")
        pd("stop", "-t", "1", "ev1")
        pd("rm", "ev1")
        data = b""
        deadline = time.monotonic() + 20
        assert stream.stdout is not None
        while data.count(b"\n") < 8 and time.monotonic() < deadline:
            ready, _, _ = select.select([stream.stdout], [], [], 0.5)
            if ready:
                data += os.read(stream.stdout.fileno(), 65536)
        got = [json.loads(line)["Action"] for line in data.splitlines()]
        assert got == ["create", "start", "pause", "unpause", "kill", "die", "stop", "destroy"]
    finally:
        stream.kill()
        stream.wait()
