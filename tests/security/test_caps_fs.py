"""Capabilities, --privileged, --read-only, --tmpfs, --shm-size, --sysctl, --init, --group-add and
devices, from inside real containers; bad values refused with one line and no container."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydock.runtime.security import capabilities, devices

pytestmark = pytest.mark.root

VETH = "ip link add pdsec0 type veth peer name pdsec1 && echo ADDED"  # in the container's own netns


def _status(pd, *args: str) -> dict[str, str]:
    p = pd("run", "--rm", *args, "busybox", "cat", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    return dict(line.split(":\t", 1) for line in p.stdout.splitlines() if ":\t" in line)


def test_cap_drop_all_leaves_nothing(pd):
    assert int(_status(pd, "--cap-drop", "ALL")["CapEff"], 16) == 0
    st = _status(pd, "--cap-drop", "all", "--cap-add", "cap_chown")
    assert int(st["CapEff"], 16) == 1 << capabilities.NUMBERS["CHOWN"]


def test_cap_add_net_admin(pd):
    assert "ADDED" not in pd("run", "--rm", "busybox", "sh", "-c", VETH).stdout
    assert "ADDED" in pd("run", "--rm", "--cap-add", "NET_ADMIN", "busybox", "sh", "-c", VETH).stdout
    assert "ADDED" in pd("run", "--rm", "--cap-add", "CAP_NET_ADMIN", "busybox", "sh", "-c", VETH).stdout


def test_cli_sends_caps_as_the_docker_cli_does(pd):
    assert capabilities.client_form([" sys_time", "CAP_NET_ADMIN", "sys_time"], ["net_admin", "mknod"]) == (
        ["CAP_NET_ADMIN", "CAP_SYS_TIME"], ["CAP_MKNOD"])
    assert capabilities.client_form(["all", "chown"], ["ALL"]) == (["ALL"], [])
    host = json.loads(pd.out("inspect", "-f", "{{json .HostConfig}}",
                             pd.out("create", "--cap-add", "sys_time", "--cap-drop", "chown", "busybox")))
    assert host["CapAdd"] == ["CAP_SYS_TIME"] and host["CapDrop"] == ["CAP_CHOWN"]


def test_privileged(pd):
    p = pd("run", "--rm", "--privileged", "busybox", "sh", "-c",
           f"{VETH}; grep -E 'Seccomp:' /proc/self/status; grep ' /sys ' /proc/self/mountinfo; ls /dev")
    assert "ADDED" in p.stdout and "Seccomp:\t0" in p.stdout, p.stdout + p.stderr
    sys_line = next(ln for ln in p.stdout.splitlines() if " /sys " in ln)
    assert sys_line.split()[5].startswith("rw")
    assert len(p.stdout.split()) > 20  # the host's device nodes
    host = json.loads(pd.out("inspect", "-f", "{{json .HostConfig}}", pd.out("create", "--privileged", "busybox")))
    assert host["Privileged"] is True and host["SeccompProfile"] == "unconfined"


def test_non_root_user_has_bounding_but_no_effective(pd):
    st = _status(pd, "--user", "1000", "--cap-add", "NET_ADMIN")
    assert int(st["CapEff"], 16) == 0 and int(st["CapAmb"], 16) == 0
    assert int(st["CapBnd"], 16) >> capabilities.NUMBERS["NET_ADMIN"] & 1


@pytest.mark.parametrize("args,needle", [
    (["--cap-add", "BOGUS"], "unknown capability CAP_BOGUS"),
    (["--cap-drop", "cap_nope"], "unknown capability CAP_NOPE"),
    (["--sysctl", "kernel.panic=1"], "sysctl 'kernel.panic' is not allowed"),
    (["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"], "host's network namespace"),
    (["--security-opt", "apparmor=foo"], "apparmor is not supported"),
    (["--device", "/etc/passwd"], "is not a device node"),
    (["--device-cgroup-rule", "x 1:2 q"], "invalid --device-cgroup-rule"),
    (["--tmpfs", "relative"], "must be absolute"),
    (["--shm-size", "lots"], "shm-size"),
])
def test_bad_values_refused_with_no_container(pd, args, needle):
    p = pd("run", "--rm", *args, "busybox", "true")
    assert p.returncode != 0 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert pd("ps", "-a", "-q").stdout.strip() == ""


def test_read_only_root_and_tmpfs(pd):
    p = pd("run", "--rm", "--read-only", "--tmpfs", "/scratch:size=1m,mode=1770", "busybox", "sh", "-c",
           "touch /x && echo ROOTW; touch /scratch/y && echo TMPW; touch /dev/shm/z && echo SHMW; "
           "stat -c %a /scratch; df -k /scratch | tail -1")
    out = p.stdout.split()
    assert "ROOTW" not in out and "TMPW" in out and "SHMW" in out, p.stdout + p.stderr
    assert "1770" in out and "1024" in out


def test_shm_size_and_sysctl(pd):
    p = pd("run", "--rm", "--shm-size", "128m", "--sysctl", "kernel.shmmax=123456", "--sysctl",
           "net.ipv4.ip_unprivileged_port_start=80", "busybox", "sh", "-c",
           "df -k /dev/shm | tail -1; cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_unprivileged_port_start")
    assert p.returncode == 0, p.stderr
    assert "131072" in p.stdout.split()[1] and p.stdout.split()[-2:] == ["123456", "80"]
    assert Path("/proc/sys/kernel/shmmax").read_text().strip() != "123456"


def test_init_is_pid_1_and_forwards_the_exit_code(pd):
    p = pd("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 3")
    assert p.returncode == 3 and p.stdout.startswith("/sbin/docker-init -- sh"), p.stdout + p.stderr
    # Zombies are reaped: an orphaned child that exits does not stay <defunct>.
    p = pd("run", "--rm", "--init", "busybox", "sh", "-c", "(sleep 0 &) ; sleep 0.3; ps -o stat | grep -c Z")
    assert p.stdout.strip() == "0", p.stdout


def test_group_add(pd):
    p = pd("run", "--rm", "--group-add", "10", "--group-add", "root", "--user", "1000", "busybox", "id", "-G")
    assert set(p.stdout.split()) >= {"10", "0"}, p.stdout + p.stderr


def test_device_is_mapped_and_others_denied(pd):
    st = os.stat("/dev/null")
    p = pd("run", "--rm", "--device", "/dev/null:/dev/mynull:rw", "busybox", "sh", "-c",
           "stat -c '%t:%T' /dev/mynull; echo x > /dev/mynull && echo WROTE; "
           "mknod /tmp/kmsg c 1 11; echo pydock-test > /tmp/kmsg && echo KMSG")
    out = p.stdout.split()
    assert f"{os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x}" in out and "WROTE" in out, p.stdout + p.stderr
    assert "KMSG" not in out  # c 1:11 is not in the allow-list
    p = pd("run", "--rm", "--device-cgroup-rule", "c 1:11 w", "busybox", "sh", "-c",
           "mknod /tmp/kmsg c 1 11; echo pydock-test > /tmp/kmsg && echo KMSG")
    assert "KMSG" in p.stdout.split(), p.stdout + p.stderr


def _cgroup2_mount() -> Path:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return Path(fields[4])
    pytest.fail("no cgroup2 mount on this host (the hybrid layout has one at /sys/fs/cgroup/unified)")


def test_v2_device_filter_loads_and_holds():
    """The BPF_PROG_TYPE_CGROUP_DEVICE program on a v2 cgroup: /dev/null opens, c 1:11 does not."""
    cg = _cgroup2_mount() / f"pydock-sec-{os.getpid()}"
    cg.mkdir()
    try:
        devices.attach(cg, devices.rules({}))
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            (cg / "cgroup.procs").write_text(str(os.getpid()))
            res = []
            for path in ("/dev/null", "/dev/kmsg"):
                try:
                    os.close(os.open(path, os.O_WRONLY))
                    res.append("ok")
                except OSError as exc:
                    res.append(str(exc.errno))
            os.write(w, " ".join(res).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        assert os.read(r, 100).decode().split() == ["ok", "1"]
        os.close(r)
    finally:
        cg.rmdir()


def test_device_filter_program_shape():
    prog = devices.device_filter(["c 1:3 rwm", "a *:* rwm"])
    assert len(prog) % 8 == 0 and prog[-8:] == bytes([0x95]) + bytes(7)  # ends in exit


def test_cgroup_namespace(pd):
    private = pd("run", "--rm", "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup").stdout.splitlines()
    assert private and all(line.endswith(":/") for line in private), private
    host = pd("run", "--rm", "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup").stdout
    assert "/pydock/" in host
    cid = pd.out("create", "busybox")
    mode = json.loads(pd.out("inspect", "-f", "{{json .HostConfig}}", cid))["CgroupnsMode"]
    from pydock.runtime import cgroups

    assert mode == ("private" if cgroups.detect_layout().kind == "v2" else "host")
