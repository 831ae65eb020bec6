"""The shim's exit ordering (logs complete once the state says exited), `wait` on a created container,
`run -i` / `start -a -i` stdin, a foreground `run` with a restart policy, and named volumes filled
from the image on first use. Real containers through the real CLI."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
CLI = [sys.executable, "-m", "pydock"]


def _wait_for(pred, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


# -- 1. the driver is closed (every line flushed) before the exit is recorded --------------------

BURST = "i=0; while [ $i -lt 20000 ]; do echo line-$i-................................................; " \
        "i=$((i+1)); done; echo LAST"


def test_logs_complete_once_wait_returns(pd):
    cid = pd.out("run", "-d", "busybox", "sh", "-c", "seq 1 3000; echo LAST")
    assert pd.out("wait", cid) == "0"
    lines = pd("logs", cid).stdout.splitlines()
    assert lines[-1] == "LAST" and len(lines) == 3001


def test_exited_state_comes_after_every_line(pd):
    """Watches state.json directly: the moment it says exited, the (non-blocking, so asynchronous)
    driver has closed and every line is readable. Before the fix the state came first."""
    from pydock.logdrivers.base import ReadConfig
    from pydock.logdrivers.registry import open_reader
    from pydock.logdrivers.stats import read_stats

    cid = pd.out("create", "--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=64m",
                 "busybox", "sh", "-c", BURST)
    state_path = pd.settings.containers / cid / "state.json"
    pd("start", cid, check=True)
    state: dict = {}

    def exited() -> bool:
        nonlocal state
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError):
            return False
        return state.get("Status") == "exited"

    deadline = time.monotonic() + 60
    while not exited():  # no sleep: catch the first moment the state says exited
        assert time.monotonic() < deadline, "the container did not exit"
    stats = read_stats(pd.settings.containers / cid)
    reader = open_reader(pd.settings.containers / cid, "json-file", {})
    lines = [m.line for m in reader.read(ReadConfig(tail=-1, follow=False))]
    assert stats is not None and stats["closed"] is True, stats
    assert stats["dropped"] == 0
    assert len(lines) == 20001 and lines[-1] == b"LAST"


# -- 2. wait on a created container --------------------------------------------------------------

def test_wait_blocks_on_a_created_container_until_it_ran(pd):
    cid = pd.out("create", "busybox", "sh", "-c", "exit 7")
    waiter = subprocess.Popen([*CLI, "wait", cid], env=pd.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        time.sleep(1.0)
        assert waiter.poll() is None, waiter.communicate()
        pd("start", cid, check=True)
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 0, err
        assert out.strip() == "7"
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()


def test_wait_on_a_created_container_ends_when_it_is_removed(pd):
    cid = pd.out("create", "busybox", "true")
    waiter = subprocess.Popen([*CLI, "wait", cid], env=pd.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        time.sleep(1.0)
        assert waiter.poll() is None, waiter.communicate()
        pd("rm", cid, check=True)
        out, err = waiter.communicate(timeout=30)
        assert (waiter.returncode, out.strip()) == (0, "0"), err  # Docker prints 0 too
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()


# -- 3. stdin -------------------------------------------------------------------------------------

def test_run_i_forwards_stdin(pd):
    p = pd("run", "-i", "--rm", "busybox", "cat", input=b"hi\n")
    assert (p.returncode, p.stdout) == (0, "hi\n"), p.stderr
    big = b"".join(b"%06d\n" % i for i in range(50000))  # more than a pipe holds
    p = pd("run", "-i", "--rm", "busybox", "sh", "-c", "wc -l; echo end", input=big)
    assert (p.returncode, p.stdout.split()) == (0, ["50000", "end"]), p.stderr
    # Without -i the container's stdin is /dev/null, as in Docker.
    p = pd("run", "--rm", "busybox", "sh", "-c", "cat; echo none", input=b"not for you\n")
    assert (p.returncode, p.stdout) == (0, "none\n"), p.stderr


def test_start_a_i_forwards_stdin(pd):
    pd("create", "-i", "--name", "cat", "busybox", "sh", "-c", "cat; echo done", check=True)
    p = pd("start", "-a", "-i", "cat", input=b"abc\n")
    assert (p.returncode, p.stdout) == (0, "abc\ndone\n"), p.stderr


# -- 4. a foreground run with a restart policy returns at the first exit ---------------------------

def test_foreground_run_with_restart_policy_returns_at_first_exit(pd):
    p = pd("run", "--name", "again", "--restart", "always", "busybox", "sh", "-c", "echo once; exit 4",
           timeout=30)
    assert (p.returncode, p.stdout) == (4, "once\n"), p.stderr

    def restarted() -> bool:
        return int(pd.out("inspect", "-f", "{{.RestartCount}}", "again")) >= 2

    assert _wait_for(restarted), "the shim did not go on restarting the container"
    logs = pd("logs", "again").stdout.splitlines()
    assert logs.count("once") >= 2  # the restarts are still logged


# -- 5. named volumes are filled from the image on first use ------------------------------------

def _seeded_image_tar() -> bytes:
    busybox = shutil.which("busybox") or "/bin/busybox"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        def add(name: str, kind: bytes, data: bytes = b"", mode: int = 0o755, uid: int = 0, gid: int = 0,
                link: str = "") -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.uid, ti.gid, ti.linkname, ti.mtime = kind, mode, uid, gid, link, 1_600_000_000
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data else None)

        add("bin", tarfile.DIRTYPE)
        with open(busybox, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, f.read())
        add("bin/sh", tarfile.SYMTYPE, link="busybox")
        add("data", tarfile.DIRTYPE, mode=0o750, uid=1234, gid=5678)
        add("data/seed.txt", tarfile.REGTYPE, b"from the image\n", mode=0o640, uid=1234, gid=5678)
        add("data/sub", tarfile.DIRTYPE, mode=0o700)
        add("data/sub/deep", tarfile.REGTYPE, b"deep\n", mode=0o600)
        add("data/link", tarfile.SYMTYPE, link="seed.txt")
    return buf.getvalue()


def test_empty_named_volume_is_filled_from_the_image(pd, tmp_path):
    pd("import", "-", "seeded:1", input=_seeded_image_tar(), check=True)
    sh = ["seeded:1", "/bin/busybox", "sh", "-c"]
    p = pd("run", "--rm", "-v", "seedvol:/data", *sh, "cat /data/seed.txt /data/link /data/sub/deep")
    assert (p.returncode, p.stdout) == (0, "from the image\nfrom the image\ndeep\n"), p.stderr
    data = Path(json.loads(pd.out("volume", "inspect", "seedvol"))[0]["Mountpoint"])
    st = os.lstat(data / "seed.txt")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777, int(st.st_mtime)) == (1234, 5678, 0o640, 1_600_000_000)
    root = os.stat(data)
    assert (root.st_uid, root.st_gid, root.st_mode & 0o7777) == (1234, 5678, 0o750)
    assert os.readlink(data / "link") == "seed.txt"
    assert os.stat(data / "sub").st_mode & 0o7777 == 0o700
    # Not empty any more: a later container sees the volume's content, not the image's again.
    pd("run", "--rm", "-v", "seedvol:/data", *sh, "rm /data/seed.txt; echo mine > /data/own", check=True)
    p = pd("run", "--rm", "-v", "seedvol:/data", *sh, "ls /data")
    assert p.stdout.split() == ["link", "own", "sub"], p.stderr
    # nocopy (both spellings), bind mounts and anonymous-less tmpfs are never filled.
    for flags in (["-v", "bare:/data:nocopy"], ["--mount", "type=volume,src=bare2,dst=/data,volume-nocopy=true"],
                  ["-v", f"{tmp_path / 'bind'}:/data"]):
        p = pd("run", "--rm", *flags, *sh, "ls -A /data | wc -l")
        assert (p.returncode, p.stdout.strip()) == (0, "0"), (flags, p.stderr)
    # An anonymous volume is filled too, as in Docker.
    p = pd("run", "--rm", "-v", "/data", *sh, "cat /data/seed.txt")
    assert p.stdout == "from the image\n", p.stderr
