"""The escape set run on every CI: each way out a container has tried is refused.

/proc/sysrq-trigger writes and /proc/kcore reads (masked or read-only, or absent from this kernel),
mounting a new proc, a bind destination that is a symlink to the host's /, a volume whose image
content is a symlink out of the container, and ptrace of the shim (outside the container's PID
namespace, and ptrace needs CAP_SYS_PTRACE besides)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _busybox_image(pd, make_tar, name: str, extra: list) -> str:  # type: ignore[type-arg]
    import tarfile

    bb = Path("/bin/busybox")
    applets = subprocess.run([str(bb), "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    entries: list = [(d, None, {}) for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp")]
    entries.append(("bin/busybox", bb.read_bytes(), {"mode": 0o755}))
    entries += [(a, None, {"type": tarfile.SYMTYPE, "linkname": "/bin/busybox"}) for a in sorted(set(applets))
                if a != "bin/busybox"]
    pd("import", "-c", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", str(make_tar(entries + extra)), name, check=True)
    return name


def test_sysrq_and_kcore_refused(pd):
    p = pd("run", "--rm", "busybox", "sh", "-c",
           "echo h > /proc/sysrq-trigger && echo SYSRQ; head -c 16 /proc/kcore | wc -c; "
           "mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo PROC; "
           "mount -t sysfs sysfs /tmp/p && echo SYSFS; echo 1 > /proc/sys/kernel/sysrq && echo PROCSYS")
    out = p.stdout.split()
    assert not {"SYSRQ", "PROC", "SYSFS", "PROCSYS"} & set(out), p.stdout + p.stderr
    assert out[0] == "0"  # nothing of the host's memory image


def test_bind_destination_symlink_to_host_root(pd, make_tar, tmp_path):
    ref = _busybox_image(pd, make_tar, "esc/root:1", [("data", None, {"type": __import__("tarfile").SYMTYPE,
                                                                     "linkname": "/"})])
    host = tmp_path / "src"
    host.mkdir()
    p = pd("run", "--rm", "-v", f"{host}:/data", ref, "true")
    assert p.returncode == 125 and "/data" in p.stderr, p.stderr
    assert os.listdir(host) == []


def test_volume_content_symlink_not_followed(pd, make_tar):
    import tarfile

    ref = _busybox_image(pd, make_tar, "esc/vol:1", [("data", None, {}), ("data/leak", None,
                         {"type": tarfile.SYMTYPE, "linkname": "/etc/shadow"})])
    p = pd("run", "--rm", "-v", "escvol:/data", ref, "readlink", "/data/leak")
    assert p.stdout.strip() == "/etc/shadow", p.stderr
    vol = Path(pd.env["PYDOCK_ROOT"]) / "volumes" / "escvol" / "_data" / "leak"
    assert vol.is_symlink() and os.readlink(vol) == "/etc/shadow"  # a link, never the host's file


def test_ptrace_of_the_shim_refused(pd, probe_dir):
    cid = pd.out("run", "-d", "-v", f"{probe_dir}:/probe:ro", "busybox", "sleep", "30")
    state = json.loads(pd.out("inspect", cid))[0]["State"]
    shim = int(Path(f"/proc/{state['Pid']}/status").read_text().split("PPid:\t")[1].split()[0])
    for target in (str(shim),):
        p = pd("exec", cid, "/probe/probe", f"ptrace={target}")
        assert p.stdout.strip() in ("ptrace=ESRCH", "ptrace=EPERM"), p.stdout + p.stderr
    assert Path(f"/proc/{shim}").exists()


def test_exec_gets_the_containers_confinement(pd):
    cid = pd.out("run", "-d", "--cap-drop", "ALL", "busybox", "sleep", "30")
    p = pd("exec", cid, "grep", "-E", "CapEff|Seccomp:", "/proc/self/status")
    assert p.stdout.split() == ["CapEff:", "0000000000000000", "Seccomp:", "2"], p.stdout + p.stderr
    cid = pd.out("run", "-d", "--security-opt", "seccomp=unconfined", "busybox", "sleep", "30")
    assert pd("exec", cid, "grep", "Seccomp:", "/proc/self/status").stdout.split() == ["Seccomp:", "0"]
