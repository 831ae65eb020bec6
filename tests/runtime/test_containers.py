"""Containers end to end through the real CLI: isolation, rootfs, mounts, lifecycle, exit codes, state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
CLI = [sys.executable, "-m", "pydock"]


def _wait_for(pred, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_pid1_and_hostname(pd):
    p = pd("run", "--rm", "busybox", "sh", "-c", "echo $$; hostname; cat /proc/1/cmdline | tr '\\0' ' '")
    assert p.returncode == 0, p.stderr
    pid, hostname, cmdline = p.stdout.splitlines()
    assert pid == "1"
    assert len(hostname) == 12 and all(c in "0123456789abcdef" for c in hostname)
    assert cmdline.startswith("sh -c")
    p = pd("run", "--rm", "--hostname", "box1", "busybox", "hostname")
    assert p.stdout.strip() == "box1"


def test_isolation(pd):
    script = ("ls /sys/class/net; cat /proc/self/status | grep -E '^(CapBnd|NoNewPrivs)'; "
              "echo masked=$(cat /proc/timer_list /proc/keys | wc -c); touch /proc/sys/x 2>/dev/null || echo ro-procsys; "
              "touch /sys/x 2>/dev/null || echo ro-sys; ls /dev; ps -o pid,comm")
    p = pd("run", "--rm", "busybox", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.splitlines()[0] == "lo"  # a private network namespace: only loopback
    assert "CapBnd:\t00000000a80425fb" in out  # Docker's default capability set
    assert "NoNewPrivs:\t1" in out
    assert "ro-procsys" in out and "ro-sys" in out
    assert "masked=0" in out.split()  # Docker's masked paths read as empty
    assert os.path.getsize("/proc/timer_list") or Path("/proc/timer_list").read_text()  # not empty on the host
    for dev in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm"):
        assert dev in out.split()
    procs = [line.split() for line in out.splitlines() if line.strip().split(" ")[0].isdigit()]
    assert {pid for pid, *_ in procs} <= {"1", *[p[0] for p in procs]} and procs[0][0] == "1"
    assert len(procs) <= 2  # sh and ps: nothing of the host is visible
    p = pd("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    assert set(p.stdout.split()) == set(os.listdir("/sys/class/net"))


def test_loopback_is_up(pd):
    p = pd("run", "--rm", "busybox", "sh", "-c", "ip link show lo; ping -c 1 -W 1 127.0.0.1 >/dev/null && echo pong")
    assert p.returncode == 0, p.stderr
    assert "UP" in p.stdout and "pong" in p.stdout


def test_writes_stay_in_the_container(pd, busybox_store):
    marker = f"/pydock-marker-{os.getpid()}"
    p = pd("run", "--name", "wr", "busybox", "sh", "-c", f"cat /bin/added 2>/dev/null; echo x > {marker}; echo y > /bin/added; rm /etc/group")
    assert p.returncode == 0, p.stderr
    assert not Path(marker).exists()
    for layer in (pd.settings.images / "layers").iterdir():
        if layer.is_dir():
            assert not (layer / "bin/added").exists()
            assert (layer / "etc/group").exists()
    p = pd("run", "--rm", "busybox", "sh", "-c", "ls /bin/added /etc/group 2>&1; true")
    assert "/etc/group" in p.stdout and "No such file" in p.stdout
    # The same container keeps its own writes across a restart.
    pd("start", "wr", check=True)
    assert pd.out("wait", "wr") == "1"  # rm /etc/group fails: it is gone already
    assert pd("logs", "wr").stdout == "y\n"  # and /bin/added is still there


def test_bind_mounts_and_volumes_persist(pd, tmp_path):
    host = tmp_path / "shared"
    host.mkdir()
    pd("run", "--rm", "-v", f"{host}:/data", "-v", "vol1:/vol", "busybox", "sh", "-c",
       "echo bound > /data/f; echo kept > /vol/f", check=True)
    assert (host / "f").read_text() == "bound\n"
    p = pd("run", "--rm", "-v", f"{host}:/data:ro", "--mount", "type=volume,source=vol1,target=/vol",
           "busybox", "sh", "-c", "cat /data/f /vol/f; echo no > /data/g || echo ro")
    assert p.stdout.split() == ["bound", "kept", "ro"], p.stderr
    assert "vol1" in pd.out("volume", "ls", "-q").split()
    p = pd("run", "--rm", "--mount", "type=tmpfs,target=/scratch", "busybox", "sh", "-c",
           "grep /scratch /proc/mounts")
    assert "tmpfs" in p.stdout
    # A volume in use cannot be removed; once unused it can.
    pd("create", "--name", "user", "-v", "vol1:/vol", "busybox", check=True)
    p = pd("volume", "rm", "vol1")
    assert p.returncode == 1 and "in use" in p.stderr
    pd("rm", "user", check=True)
    pd("volume", "rm", "vol1", check=True)
    # Anonymous volumes: kept by a plain rm, removed by prune (named ones stay).
    pd("run", "--name", "anon", "-v", "/scratch", "-v", "named:/n", "busybox", "true", check=True)
    anon = [v for v in pd.out("volume", "ls", "-q").split() if v != "named"]
    assert len(anon) == 1 and len(anon[0]) == 64
    pd("rm", "anon", check=True)
    assert anon[0] in pd.out("volume", "prune", "-f")
    assert pd.out("volume", "ls", "-q").split() == ["named"]


def _cgroup_dirs(cid: str) -> list[str]:
    found = []
    for base, dirs, _ in os.walk("/sys/fs/cgroup"):
        if cid in dirs:
            found.append(os.path.join(base, cid))
        if base.count("/") > 6:
            dirs[:] = []
    return found


def _has_open(pid: int, path: str) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                return True
        except OSError:
            continue
    return False


def test_rm_leaves_nothing(pd, tmp_path):
    p = pd("run", "--rm", "busybox", "sh", "-c", "cat /proc/self/cgroup; hostname")
    assert p.returncode == 0, p.stderr
    short = p.stdout.split()[-1]
    cg = [line for line in p.stdout.splitlines() if "pydock/" in line]
    assert cg, p.stdout  # it ran in a cgroup of its own
    assert os.listdir(pd.settings.containers) == []
    assert short not in Path("/proc/mounts").read_text()
    assert not list((pd.settings.run / "containers").iterdir())
    full = cg[0].rsplit("/", 1)[-1]
    assert full.startswith(short) and not _cgroup_dirs(full)
    # -d --rm: gone after exit too, and a `wait` started while it ran still learns its exit code.
    gate = tmp_path / "gate"
    gate.mkdir()
    cid = pd.out("run", "-d", "--rm", "-v", f"{gate}:/gate", "busybox", "sh", "-c",
                 "while [ ! -e /gate/go ]; do sleep 0.05; done; exit 5")
    waiter = subprocess.Popen([*CLI, "wait", cid], env=pd.env, stdout=subprocess.PIPE, text=True)
    lock = str(pd.settings.containers / cid / "shim.lock")
    assert _wait_for(lambda: _has_open(waiter.pid, lock))  # the waiter holds the lock file open
    (gate / "go").touch()
    out, _ = waiter.communicate(timeout=30)
    assert out.strip() == "5"
    assert _wait_for(lambda: not (pd.settings.containers / cid).exists())
    assert not _cgroup_dirs(cid)


def test_stop_honours_timeout(pd):
    cid = pd.out("run", "-d", "busybox", "sleep", "60")
    t0 = time.monotonic()
    pd("stop", "-t", "1", cid, check=True)
    took = time.monotonic() - t0
    assert 1.0 <= took < 8.0  # sleep ignores SIGTERM as PID 1: SIGKILL after 1 s
    info = json.loads(pd.out("inspect", cid))[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137
    # A command that handles SIGTERM stops at once with its own code.
    cid = pd.out("run", "-d", "busybox", "sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done")
    t0 = time.monotonic()
    pd("stop", "-t", "20", cid, check=True)
    assert time.monotonic() - t0 < 10
    assert pd.out("inspect", "-f", "{{.State.ExitCode}}", cid) == "7"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["busybox", "true"], 0, ""),
    (["busybox", "sh", "-c", "exit 3"], 3, ""),
    (["--pull", "never", "nosuchimage:1"], 125, "Unable to find image 'nosuchimage:1'"),
    (["--bogus-flag", "busybox"], 125, "bogus-flag"),
    (["busybox", "/etc/passwd"], 126, "permission denied"),
    (["busybox", "nosuchcmd"], 127, 'exec: "nosuchcmd": executable file not found in $PATH'),
])
def test_exit_codes(pd, args, code, message):
    p = pd("run", "--rm", *args)
    assert p.returncode == code, p.stderr
    assert message in p.stderr
    if message:
        assert message in p.stderr.strip().splitlines()[-1]  # the last line names it (click adds usage)
    assert os.listdir(pd.settings.containers) == [] if pd.settings.containers.exists() else True


def test_name_in_use_and_nothing_half_made(pd):
    pd("create", "--name", "dup", "busybox", check=True)
    p = pd("run", "--name", "dup", "busybox", "true")
    assert p.returncode == 125 and 'name "/dup" is already in use' in p.stderr
    p = pd("run", "--log-opt", "max-size=banana", "busybox", "true")
    assert p.returncode == 125 and "max-size" in p.stderr
    p = pd("run", "-v", "relative:dir:zz", "busybox", "true")
    assert p.returncode == 125
    assert len(pd.out("ps", "-aq").split()) == 1


def test_concurrent_runs(pd):
    def run(_: int) -> subprocess.CompletedProcess[str]:
        return pd("run", "-d", "busybox", "sh", "-c", "echo hi; sleep 30")

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(run, range(10)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    ids = {r.stdout.strip() for r in results}
    assert len(ids) == 10
    rows = [json.loads(line) for line in pd.out("ps", "--no-trunc", "--format", "json").splitlines()]
    assert {r["ID"] for r in rows} == ids
    assert len({r["Names"] for r in rows}) == 10
    for cid in ids:
        cfg = json.loads((pd.settings.containers / cid / "config.json").read_text())
        state = json.loads((pd.settings.containers / cid / "state.json").read_text())
        assert cfg["Id"] == cid and state["Status"] == "running" and state["Pid"] > 0
    pd("rm", "-f", *ids, check=True)
    assert pd.out("ps", "-aq") == ""


def test_sigkilled_shim_is_reported(pd):
    cid = pd.out("run", "-d", "busybox", "sleep", "60")
    state = json.loads((pd.settings.containers / cid / "state.json").read_text())
    os.kill(state["ShimPid"], signal.SIGKILL)
    assert _wait_for(lambda: not os.path.exists(f"/proc/{state['Pid']}"))  # the container dies with it
    info = json.loads(pd.out("inspect", cid))[0]["State"]
    assert info["Status"] == "exited" and info["Running"] is False
    assert info["ExitCode"] == 137 and info["Error"] == "shim died"
    assert "Exited (137)" in pd.out("ps", "-a")
    # It can be started again (a fresh shim and cgroup), and removed.
    pd("start", cid, check=True)
    assert pd.out("inspect", "-f", "{{.State.Status}} {{.State.Error}}", cid) == "running"
    pd("rm", "-f", cid, check=True)
    assert not (pd.settings.containers / cid).exists()
    assert not _cgroup_dirs(cid)


def test_ps_inspect_and_filters(pd):
    a = pd.out("run", "-d", "--name", "alpha", "--label", "tier=web", "busybox", "sleep", "30")
    pd.out("create", "--name", "beta", "-e", "X=1", "busybox", "echo", "hi")
    assert pd.out("ps", "-q") == a[:12]
    assert set(pd.out("ps", "-aq").split()) == {a[:12], pd.out("ps", "-aq", "--filter", "name=beta")}
    assert pd.out("ps", "-q", "--filter", "label=tier=web") == a[:12]
    assert pd.out("ps", "-aq", "--filter", "status=created") != ""
    assert pd.out("ps", "--format", "{{.Names}} {{.State}}") == "alpha running"
    table = pd.out("ps", "-a", "--format", "table {{.Names}}\t{{.Status}}").splitlines()
    assert table[0].split() == ["NAMES", "STATUS"]
    info = json.loads(pd.out("inspect", "beta"))[0]
    assert info["Name"] == "/beta" and info["Image"].startswith("sha256:")
    assert info["Config"]["Cmd"] == ["echo", "hi"] and "X=1" in info["Config"]["Env"]
    assert info["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert info["State"]["Status"] == "created"
    p = pd("ps", "--filter", "bogus=1")
    assert p.returncode == 125 and "bogus" in p.stderr
    p = pd("rm", "alpha")
    assert p.returncode == 1 and "cannot remove a running container" in p.stderr
    pd("kill", "alpha", check=True)
    assert pd.out("wait", "alpha") == "137"


def test_foreground_run_streams_and_logs(pd):
    p = pd("run", "--name", "talk", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert p.returncode == 4
    assert p.stdout == "out\n" and p.stderr == "err\n"
    logs = pd("logs", "talk")
    assert logs.stdout == "out\n" and logs.stderr == "err\n"
    path = Path(json.loads(pd.out("inspect", "talk"))[0]["LogPath"])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    # Docker's json-file records; the two streams are separate pipes, so only each one's order is fixed.
    assert sorted((r["log"], r["stream"]) for r in records) == [("err\n", "stderr"), ("out\n", "stdout")]
    assert all(r["time"].endswith("Z") for r in records)


def test_ctrl_c_is_forwarded(pd):
    script = "trap 'echo got-int; exit 9' INT; echo ready; while true; do sleep 0.1; done"
    proc = subprocess.Popen([*CLI, "run", "--rm", "busybox", "sh", "-c", script],
                            env=pd.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert "got-int" in out and proc.returncode == 9


def test_user_workdir_env_entrypoint(pd, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROMFILE=yes\n")
    p = pd("run", "--rm", "-u", "nobody", "-w", "/tmp/work", "-e", "A=b", "--env-file", str(env_file),
           "busybox", "sh", "-c", "id -u; pwd; echo $A $FROMFILE $HOSTNAME")
    lines = p.stdout.splitlines()
    assert lines[0] == "65534" and lines[1] == "/tmp/work" and lines[2].startswith("b yes "), p.stderr
    p = pd("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert p.stdout == "via entrypoint\n"


def test_not_root_is_refused_clearly(pd):
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *CLI, "run",
                        "busybox", "true"], env=pd.env, capture_output=True, text=True, timeout=30, check=False)
    assert p.returncode == 125
    assert "needs root" in p.stderr


def test_container_prune_and_restart(pd):
    cid = pd.out("run", "-d", "busybox", "sh", "-c", "echo started; sleep 30")
    pd("restart", "-t", "0", cid, check=True)
    assert _wait_for(lambda: pd("logs", cid).stdout.count("started") == 2)
    assert pd.out("inspect", "-f", "{{.State.Running}}", cid) == "true"
    pd("create", "busybox", check=True)
    half = pd.settings.containers / ("e" * 64)  # what a `create` killed half-way leaves
    (half / "diff").mkdir(parents=True)
    out = pd.out("container", "prune", "-f")
    assert "Deleted Containers:" in out
    assert not half.exists()
    assert pd.out("ps", "-aq") == cid[:12]


def test_container_outlives_a_killed_cli(pd):
    script = "echo first; while true; do echo tick; sleep 0.1; done"
    proc = subprocess.Popen([*CLI, "run", "--name", "orphan", "busybox", "sh", "-c", script], env=pd.env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "first\n"
    proc.kill()  # the terminal's process goes away at once; the shim and the container stay
    proc.wait(timeout=10)
    proc.stdout.close()
    assert pd.out("inspect", "-f", "{{.State.Status}}", "orphan") == "running"
    before = pd("logs", "orphan").stdout.count("tick")
    assert _wait_for(lambda: pd("logs", "orphan").stdout.count("tick") > before + 3)


def test_concurrent_starts_make_one_shim(pd):
    cid = pd.out("create", "busybox", "sleep", "30")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: pd("start", cid), range(4)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    state = json.loads((pd.settings.containers / cid / "state.json").read_text())
    # Every shim of this test's state root (one container): exactly the one recorded.
    root = str(pd.settings.root)
    shims = [p for p in os.listdir("/proc") if p.isdigit() and "pydock.runtime.shim" in _cmdline(p)
             and f"--root\0{root}\0" in _cmdline(p)]
    assert state["Status"] == "running" and shims == [str(state["ShimPid"])]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_sigterm_to_shim_cleans_up(pd):
    cid = pd.out("run", "-d", "busybox", "sleep", "60")
    rm_id = pd.out("run", "-d", "--rm", "busybox", "sleep", "60")
    shims = {}
    for c in (cid, rm_id):
        state = json.loads((pd.settings.containers / c / "state.json").read_text())
        shims[c] = state["ShimPid"]
        os.kill(state["ShimPid"], signal.SIGTERM)
    assert _wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in shims.values()))
    info = json.loads(pd.out("inspect", cid))[0]["State"]
    assert info["Status"] == "exited" and info["ExitCode"] == 137 and info["Error"] == ""
    assert not _cgroup_dirs(cid) and not _cgroup_dirs(rm_id)
    assert not (pd.settings.containers / rm_id).exists()
