"""The real `docker` CLI (28) against `pydock system service`: every command goes through the
Engine API, and what it makes is the same record `pydock ps` shows."""

from __future__ import annotations

import json
import os
import pty
import select
import time

import pytest

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

LOOP = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"


def test_version_info_ping_and_errors(api) -> None:
    v = json.loads(api.docker("version", "--format", "{{json .}}").stdout)
    assert v["Server"]["ApiVersion"] == "1.50" and v["Server"]["MinAPIVersion"] == "1.24"
    assert v["Client"]["ApiVersion"] == "1.50"  # negotiated: nothing downgraded
    info = json.loads(api.docker("info", "--format", "{{json .}}").stdout)
    assert info["Images"] == 1 and info["Containers"] == 0 and info["OSType"] == "linux"
    status, headers, body = api.request("HEAD", "/_ping")
    assert status == 200 and headers["api-version"] == "1.50" and body == b""
    assert api.request("GET", "/v1.24/version")[0] == 200
    status, _, body = api.request("GET", "/v1.99/version")
    assert status == 400 and b"too new" in body
    status, _, body = api.request("GET", "/v1.41/containers/nope/json")
    assert status == 404 and json.loads(body) == {"message": "No such container: nope"}
    status, _, body = api.request("POST", "/containers/create", b"{not json")
    assert status == 400 and b"malformed JSON" in body
    status, _, body = api.request("POST", "/containers/create", {"Image": "busybox", "Cmd": "true", "Env": [1]})
    assert status == 400 and b"Config.Env" in body


def test_run_detached_ps_inspect_logs_stop_rm(api) -> None:
    cid = api.docker("run", "-d", "--name", "web", "--label", "tier=front", "busybox", "sh", "-c", LOOP).stdout.strip()
    assert len(cid) == 64
    assert "web" in api.docker("ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert "web" in api.pydock("ps")  # the same record, seen by the CLI
    assert api.docker("inspect", "-f", "{{.State.Status}}", "web").stdout.strip() == "running"
    time.sleep(0.5)
    tail = api.docker("logs", "--tail", "2", "web").stdout.splitlines()
    assert len(tail) == 2 and all(line.startswith("line ") for line in tail)
    assert int(tail[1].split()[1]) == int(tail[0].split()[1]) + 1
    assert api.docker("ps", "-a", "--filter", "label=tier=front", "-q").stdout.strip() == cid[:12]
    assert api.docker("ps", "-a", "--filter", "name=nomatch", "-q").stdout.strip() == ""
    api.docker("stop", "-t", "1", "web")
    assert api.docker("ps", "-q").stdout.strip() == ""
    exited = api.docker("ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}").stdout.split()
    assert exited == ["web"]
    status, _, _ = api.request("POST", f"/containers/{cid}/stop")
    assert status == 304  # already stopped
    api.docker("rm", "-f", "web")
    assert api.docker("ps", "-a", "-q").stdout.strip() == ""
    assert api.runtime().store.list() == []


def test_run_rm_passes_exit_code_and_streams(api) -> None:
    p = api.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert p.returncode == 3
    assert p.stdout == "out\n" and p.stderr == "err\n"
    deadline = time.monotonic() + 5
    while api.runtime().store.list() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.runtime().store.list() == []
    p = api.docker("run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z", input=b"hello stdin\n")
    assert p.stdout == "HELLO STDIN\n"


def test_logs_follow_ends_when_container_stops(api) -> None:
    api.docker("run", "-d", "--name", "short", "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.3; done")
    t0 = time.monotonic()
    p = api.docker("logs", "-f", "short", timeout=20)
    assert p.stdout.split() == ["n1", "n2", "n3"]
    assert time.monotonic() - t0 < 10


def test_stats_no_stream_sane(api) -> None:
    api.docker("run", "-d", "--name", "busy", "busybox", "sh", "-c", "while :; do :; done")
    time.sleep(0.5)
    row = json.loads(api.docker("stats", "--no-stream", "--format", "{{json .}}", "busy").stdout)
    cpu = float(row["CPUPerc"].rstrip("%"))
    assert 5.0 < cpu <= 100.0 * (os.cpu_count() or 1) + 5
    usage = row["MemUsage"].split(" / ")[0]
    assert usage != "0B" and usage.endswith(("KiB", "MiB"))
    assert int(row["PIDs"]) >= 1


def _pty_run(argv: list[str], env: dict[str, str], keys: bytes, wait: float = 15) -> tuple[bytes, int]:
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    out, sent, t0 = b"", False, time.monotonic()
    try:
        while time.monotonic() - t0 < wait:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
            if not sent and b"#" in out:  # the shell's prompt
                os.write(fd, keys)
                sent = True
    finally:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done == 0:  # still running after `wait`: the test fails on its output, not by hanging
            os.kill(pid, 9)
            _, st = os.waitpid(pid, 0)
        os.close(fd)
    return out, os.waitstatus_to_exitcode(st)


def test_exec_plain_and_in_a_pty(api) -> None:
    api.docker("run", "-d", "--name", "box", "busybox", "sleep", "300")
    p = api.docker("exec", "box", "sh", "-c", "echo hi from exec; echo e >&2; exit 4", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (4, "hi from exec\n", "e\n")
    out, code = _pty_run([api.docker_bin, "exec", "-it", "box", "sh"], api.env, b"tty; echo m$((6*7)); exit 5\n")
    assert code == 5
    assert b"/dev/pts/" in out and b"m42" in out
    status, _, body = api.request("POST", "/containers/box/exec", {"Cmd": []})
    assert status == 400 and b"Cmd" in body


def test_run_it_in_a_pty(api) -> None:
    out, code = _pty_run([api.docker_bin, "run", "-it", "--rm", "busybox", "sh"], api.env, b"echo r$((6*7)); exit 6\n")
    assert code == 6 and b"r42" in out


def test_events_since(api) -> None:
    t0 = time.time()
    api.docker("run", "--rm", "--name", "ev", "busybox", "true")
    time.sleep(0.3)
    p = api.docker("events", "--since", str(int(t0)), "--until", str(int(time.time()) + 1),
                   "--filter", "container=ev", "--format", "{{json .}}")
    actions = [json.loads(line)["Action"] for line in p.stdout.splitlines()]
    for a in ("create", "start", "die", "destroy"):
        assert a in actions, actions


def test_images_volumes_networks(api) -> None:
    images = api.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert images == ["busybox:latest"]
    api.docker("volume", "create", "--label", "k=v", "data1")
    assert api.docker("volume", "ls", "-q").stdout.split() == ["data1"]
    assert api.docker("volume", "inspect", "-f", "{{.Labels.k}}", "data1").stdout.strip() == "v"
    api.docker("run", "--rm", "-v", "data1:/d", "busybox", "sh", "-c", "echo kept > /d/f")
    assert api.docker("run", "--rm", "-v", "data1:/d", "busybox", "cat", "/d/f").stdout == "kept\n"
    api.docker("volume", "rm", "data1")
    assert api.docker("volume", "ls", "-q").stdout.strip() == ""
    names = set(api.docker("network", "ls", "--format", "{{.Name}}").stdout.split())
    assert {"bridge", "host", "none"} <= names


def test_unsupported_host_config_refused_by_name(api) -> None:
    p = api.docker("run", "--ipc", "host", "busybox", "true", check=False)
    assert p.returncode == 125 and "HostConfig.IpcMode" in p.stderr
    p = api.docker("run", "--oom-kill-disable", "busybox", "true", check=False)
    assert p.returncode == 125 and "HostConfig.OomKillDisable" in p.stderr
    p = api.docker("run", "--cap-add", "NOT_A_CAP", "busybox", "true", check=False)  # the CLI's own check
    assert p.returncode == 125 and "NOT_A_CAP" in p.stderr
    assert api.runtime().store.list() == []  # nothing half-made


def _status(api, *flags: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out = api.docker("run", "--rm", *flags, "busybox", "cat", "/proc/self/status").stdout
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def test_security_flags_through_the_api(api) -> None:
    default = _status(api)
    assert default["Seccomp"].strip() == "2" and default["CapEff"].strip() == "00000000a80425fb"
    assert _status(api, "--cap-drop", "ALL")["CapEff"].strip() == "0000000000000000"
    added = int(_status(api, "--cap-add", "NET_ADMIN")["CapEff"], 16)
    assert added & (1 << 12)  # CAP_NET_ADMIN
    privileged = _status(api, "--privileged")
    assert privileged["Seccomp"].strip() == "0" and int(privileged["CapEff"], 16) > added
    assert _status(api, "--security-opt", "seccomp=unconfined")["Seccomp"].strip() == "0"
    p = api.docker("run", "--rm", "--read-only", "--tmpfs", "/scratch:size=1m", "busybox", "sh", "-c",
                   "touch /x 2>/dev/null && echo wrote-root; touch /scratch/y && echo wrote-tmpfs", check=False)
    assert p.stdout == "wrote-tmpfs\n", p.stderr
    out = api.docker("run", "--rm", "--sysctl", "kernel.shmmni=1000", "busybox", "cat",
                     "/proc/sys/kernel/shmmni").stdout
    assert out.strip() == "1000"
    hc = json.loads(api.docker("create", "--name", "sec", "--cap-add", "SYS_TIME", "--init", "--shm-size", "32m",
                               "busybox", "true").stdout and api.docker("inspect", "sec").stdout)[0]["HostConfig"]
    assert hc["CapAdd"] == ["CAP_SYS_TIME"] and hc["Init"] is True and hc["ShmSize"] == 32 << 20
    host_map = api.docker("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map").stdout.split()
    assert host_map[:2] == ["0", "0"]
    # The docker CLI only sends "host"; pydock's `auto` (a remapped range) through the raw API:
    status, _, body = api.request("POST", "/containers/create?name=uns", {
        "Image": "busybox", "Cmd": ["cat", "/proc/self/uid_map"], "HostConfig": {"UsernsMode": "auto"}})
    assert status == 201, body
    api.docker("start", "-a", "uns")
    uid_map = api.docker("logs", "uns").stdout.split()
    assert uid_map[0] == "0" and int(uid_map[1]) > 0 and uid_map[2] == "65536"
    status, _, body = api.request("POST", "/containers/create", {
        "Image": "busybox", "HostConfig": {"UsernsMode": "sideways"}})
    assert status == 400 and b"sideways" in body


def test_rename_pause_update_top_prune(api) -> None:
    api.docker("run", "-d", "--name", "a1", "busybox", "sleep", "300")
    api.docker("rename", "a1", "a2")
    assert api.docker("inspect", "-f", "{{.Name}}", "a2").stdout.strip() == "/a2"
    assert "sleep 300" in api.docker("top", "a2").stdout
    api.docker("pause", "a2")
    assert api.docker("inspect", "-f", "{{.State.Status}}", "a2").stdout.strip() == "paused"
    api.docker("unpause", "a2")
    api.docker("update", "--memory", "64m", "--memory-swap", "128m", "a2")
    assert api.docker("inspect", "-f", "{{.HostConfig.Memory}}", "a2").stdout.strip() == str(64 << 20)
    api.docker("kill", "a2")
    assert api.docker("wait", "a2").stdout.strip() == "137"
    assert "Deleted Containers" in api.docker("container", "prune", "-f").stdout
    assert api.docker("ps", "-aq").stdout.strip() == ""
