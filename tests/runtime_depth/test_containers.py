"""Runtime depth on real containers: OOM, pids, live update, exec, pause, health, restart, events, boot."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from pydock.runtime import cgroups, resources
from pydock.runtime import exec as rexec
from pydock.runtime.events import EventJournal
from pydock.runtime.health import healthcheck_from_flags
from pydock.runtime.restart import RestartPolicy, boot
from pydock.runtime.store import SHIM_LOCK

from pydock.errors import CommandNotFound, ConflictError

from .conftest import run_container, wait_for

pytestmark = pytest.mark.root
MiB = 1024 * 1024


def actions(rt: Any, cid: str) -> list[str]:
    return [e.action for e in EventJournal(rt.settings.root).read() if e.id == cid]


def exited(rt: Any, cid: str) -> Any:
    """The record once the container exited for good: its shim is gone, so every event is written."""
    return wait_for(lambda: (r := rt.store.get(cid)).status == "exited" and _shim_gone(r) and r,
                    what=f"{cid[:12]} to exit")


def exec_out(rec: Any, *argv: str, tmp: Path) -> tuple[int, str]:
    out = tmp / f"exec-{time.monotonic_ns()}"
    with open(out, "wb") as f:
        code = rexec.run(rec, rexec.spec_for(rec, argv), os.open(os.devnull, os.O_RDONLY), f.fileno(), f.fileno())
    return code, out.read_text()


def test_over_memory_limit_is_oom_killed_and_reported(rt: Any) -> None:
    rec = run_container(rt, "sh", "-c", "echo start; tail /dev/zero", host_config={"Memory": 32 * MiB})
    assert Path(rec.cgroup_paths["memory"] if "memory" in rec.cgroup_paths else rec.cgroup_paths["unified"]).is_dir()
    done = exited(rt, rec.id)
    assert done.state["ExitCode"] == 137
    assert done.state["OOMKilled"] is True
    acts = wait_for(lambda: (a := actions(rt, rec.id)) and a[-1] == "die" and a, what="the die event")
    assert acts[:2] == ["create", "start"] and acts[-2:] == ["oom", "die"]
    die = next(e for e in EventJournal(rt.settings.root).read() if e.id == rec.id and e.action == "die")
    assert die.attributes["exitCode"] == "137"


def test_pids_limit_stops_a_fork_bomb_at_ten(rt: Any) -> None:
    # The bomb forks until the kernel refuses (busybox's sh then gives up); PID 1 outlives it and
    # forks one more `sleep`, so the cgroup sits exactly at its limit.
    rec = run_container(rt, "sh", "-c", 'sh -c "while true; do sleep 60 & done"; sleep 60; echo end',
                        host_config={"PidsLimit": 10})
    handle = cgroups.open(rec.cgroup_paths)
    paths = rec.cgroup_paths
    events = Path(paths["pids"] if "pids" in paths else paths["unified"], "pids.events")
    wait_for(lambda: events.exists() and int(events.read_text().split()[1]) > 0, what="a refused fork")
    wait_for(lambda: len(handle.pids()) == 10, what="ten tasks")
    time.sleep(0.3)
    assert len(handle.pids()) == 10
    assert rt.store.get(rec.id).status == "running"
    log = Path(rec.log_path).read_text()
    assert "can't fork" in log


def test_update_changes_a_live_limit(rt: Any) -> None:
    rec = run_container(rt, "sleep", "60", host_config={"Memory": 64 * MiB, "MemorySwap": 64 * MiB, "PidsLimit": 50})
    resources.update(rt.settings, rec.id, cgroups.limits_from_flags(memory="32m", memory_swap="32m",
                                                                    pids_limit="20", cpus="0.5"))
    paths = rt.store.get(rec.id).cgroup_paths
    if "unified" in paths:
        u = Path(paths["unified"])
        assert (u / "memory.max").read_text().strip() == str(32 * MiB)
        assert (u / "cpu.max").read_text().strip() == "50000 100000"
    else:
        assert Path(paths["memory"], "memory.limit_in_bytes").read_text().strip() == str(32 * MiB)
        assert Path(paths["pids"], "pids.max").read_text().strip() == "20"
        assert Path(paths["cpu"], "cpu.cfs_quota_us").read_text().strip() == "50000"
    host = json.loads((rec.dir / "config.json").read_text())["HostConfig"]
    assert (host["Memory"], host["PidsLimit"], host["NanoCpus"]) == (32 * MiB, 20, 500_000_000)
    with pytest.raises(Exception, match="Minimum memoryswap limit should be larger than memory limit"):
        resources.update(rt.settings, rec.id, cgroups.limits_from_flags(memory="48m"))


def test_exec_sees_the_pid_namespace_and_files(rt: Any, tmp_path: Path) -> None:
    rec = run_container(rt, "sh", "-c", "echo inside > /tmp/marker; sleep 60")
    wait_for(lambda: Path(f"/proc/{rec.pid}/root/tmp/marker").exists(), what="the marker")
    code, out = exec_out(rec, "sh", "-c", "cat /tmp/marker; cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                         "echo self=$$; hostname; exit 7", tmp=tmp_path)
    lines = out.splitlines()
    assert code == 7
    assert lines[0] == "inside"
    assert lines[1].strip() == "sleep 60"  # PID 1 is the container's (sh exec'd its last command)
    assert lines[2] != "self=1" and int(lines[2].split("=")[1]) < 100  # a small pid: its own namespace
    assert lines[3] == rec.config["Config"]["Hostname"]
    with pytest.raises(CommandNotFound):
        rexec.run(rec, rexec.spec_for(rec, ["no-such-command"]))
    spec = rexec.spec_for(rec, ["sh", "-c", "id -u; pwd; echo $FOO"], env=("FOO=bar",), user="65534", workdir="/tmp")
    out_file = tmp_path / "u"
    with open(out_file, "wb") as f:
        assert rexec.run(rec, spec, os.open(os.devnull, os.O_RDONLY), f.fileno(), f.fileno()) == 0
    assert out_file.read_text().split() == ["65534", "/tmp", "bar"]


def test_pause_stops_a_counter_and_unpause_resumes(rt: Any) -> None:
    rec = run_container(rt, "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/c; usleep 20000; done")
    counter = Path(f"/proc/{rec.pid}/root/tmp/c")

    def value() -> int:
        text = counter.read_text().strip()
        return int(text) if text else 0

    wait_for(lambda: counter.exists() and value() > 2, what="the counter")
    resources.pause(rt.settings, rec.id)
    paused = rt.store.get(rec.id)
    assert paused.status == "paused" and paused.state["Paused"] is True
    with pytest.raises(ConflictError, match="is paused"):
        rexec.check_running(paused)
    frozen = value()
    time.sleep(0.3)
    assert value() == frozen
    resources.unpause(rt.settings, rec.id)
    assert rt.store.get(rec.id).status == "running"
    wait_for(lambda: value() > frozen, what="the counter to resume")
    assert actions(rt, rec.id)[-2:] == ["pause", "unpause"]


def test_health_turns_unhealthy_after_the_retries(rt: Any) -> None:
    hc = healthcheck_from_flags(cmd="test -e /tmp/ok", interval="200ms", timeout="2s", retries=2)
    rec = run_container(rt, "sh", "-c", "touch /tmp/ok; sleep 1.5; rm /tmp/ok; sleep 60", healthcheck=hc)
    assert rt.store.get(rec.id).state["Health"]["Status"] == "starting"
    wait_for(lambda: rt.store.get(rec.id).state["Health"]["Status"] == "healthy", what="healthy")
    health = wait_for(lambda: (h := rt.store.get(rec.id).state["Health"])["Status"] == "unhealthy" and h,
                      what="unhealthy")
    assert health["FailingStreak"] >= 2
    assert health["Log"][-1]["ExitCode"] == 1 and len(health["Log"]) <= 5
    # The event is journaled just after the state is saved: wait for it rather than race it.
    def health_events() -> list[str] | None:
        s = [a for a in actions(rt, rec.id) if a.startswith("health_status")]
        return s if len(s) >= 2 else None

    statuses = wait_for(health_events, what="the health_status events")
    assert statuses == ["health_status: healthy", "health_status: unhealthy"]


def test_restart_on_failure_counts_and_backs_off(rt: Any) -> None:
    rec = run_container(rt, "sh", "-c", "exit 3", host_config={"RestartPolicy": RestartPolicy.parse("on-failure:3").to_json()})
    wait_for(lambda: not rt.store.get(rec.id).running and rt.store.get(rec.id).state.get("RestartCount") == 3
             and not (rec.dir / SHIM_LOCK).exists() or _shim_gone(rec), what="the retries to run out")
    done = exited(rt, rec.id)
    assert done.state["RestartCount"] == 3 and done.state["ExitCode"] == 3
    evs = [e for e in EventJournal(rt.settings.root).read() if e.id == rec.id]
    assert [e.action for e in evs] == ["create"] + ["start", "die", "restart"] * 3 + ["start", "die"]
    restarts = [e for e in evs if e.action == "restart"]
    assert [float(e.attributes["delay"]) for e in restarts] == [0.1, 0.2, 0.4]
    # Each restart came at least its delay after the exit before it.
    dies = [e for e in evs if e.action == "die"]
    for die, restart in zip(dies, restarts):
        assert (restart.time_nano - die.time_nano) / 1e9 >= float(restart.attributes["delay"])


def _shim_gone(rec: Any) -> bool:
    from pydock.runtime.atomic import is_locked

    return not is_locked(rec.dir / SHIM_LOCK)


def test_stop_ends_always_until_next_start(rt: Any) -> None:
    rec = run_container(rt, "sh", "-c", "sleep 0.3; exit 1",
                        host_config={"RestartPolicy": RestartPolicy.parse("always").to_json()})
    wait_for(lambda: rt.store.get(rec.id).state.get("RestartCount", 0) >= 2, what="two restarts")
    rt.stop(rec.id, timeout=2)
    assert wait_for(lambda: _shim_gone(rec), what="the shim to exit")
    stopped = rt.store.get(rec.id)
    assert stopped.status == "exited" and stopped.state["ManuallyStopped"] is True
    time.sleep(0.6)
    assert rt.store.get(rec.id).status == "exited"  # stayed down
    rt.start(rec.id).close()
    again = rt.store.get(rec.id)
    assert again.state["ManuallyStopped"] is False and again.state["RestartCount"] == 0
    wait_for(lambda: rt.store.get(rec.id).state.get("RestartCount", 0) >= 1, what="a restart after start")


def test_system_boot_brings_back_always_and_unless_stopped(rt: Any) -> None:
    policies = {"always": None, "unless-stopped": None, "no": None, "stopped-unless": None}
    for name in policies:
        pol = "unless-stopped" if name == "stopped-unless" else name
        policies[name] = run_container(rt, "sleep", "60", host_config={"RestartPolicy": {"Name": pol, "MaximumRetryCount": 0}})
    rt.stop(policies["stopped-unless"].id, timeout=1)
    # A host reboot: every shim dies at once, without running its clean-up.
    for name, rec in policies.items():
        shim = rt.store.get(rec.id).state.get("ShimPid")
        if shim:
            os.kill(shim, signal.SIGKILL)
    for rec in policies.values():
        wait_for(lambda r=rec: _shim_gone(r), what="shims to die")
        assert rt.store.get(rec.id).status == "exited"
    outcome = dict(boot(rt.settings.root, lambda cid: rt.start(cid).close()))
    assert outcome[policies["always"].id] == "started"
    assert outcome[policies["unless-stopped"].id] == "started"
    assert outcome[policies["stopped-unless"].id].startswith("skipped")
    assert policies["no"].id not in outcome
    assert rt.store.get(policies["always"].id).status == "running"
    assert rt.store.get(policies["no"].id).status == "exited"


def test_events_arrive_in_order_for_a_lifecycle(rt: Any) -> None:
    rec = run_container(rt, "sleep", "60")
    rt.stop(rec.id, timeout=1)
    rt.remove(rec.id)
    assert actions(rt, rec.id) == ["create", "start", "kill", "die", "stop", "destroy"]
