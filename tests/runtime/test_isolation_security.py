"""Security review of isolation and image handling, as a runc/moby maintainer would check it.

Archives: every hostile entry is refused naming it, with nothing left in the image store. Containers:
Docker's capability sets, masked and read-only /proc paths, a minimal /dev, no way back to the host's
filesystem, private namespaces, no leaked fds, read-only binds that stay read-only, and mount
destinations that symlinks in the image cannot lead outside the rootfs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pydock.runtime import archive, container_init, syscalls
from pydock.runtime.images import ImageStore

from pydock.errors import ImageError, RuntimeFailure

pytestmark = pytest.mark.root

Entries = list[tuple[str, bytes | str | None, dict[str, object]]]

# moby's oci/caps/defaults.go, by name: the reference the container's sets are compared with.
DOCKER_DEFAULT_CAPS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
                       "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18,
                       "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}
DOCKER_MASK = sum(1 << n for n in DOCKER_DEFAULT_CAPS.values())
# moby's oci/defaults.go.
DOCKER_MASKED = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                 "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                 "/sys/devices/virtual/powercap")
DOCKER_READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def _store_snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _refused(make_tar: Callable[..., Path], tmp_path: Path, entries: Entries, needle: str) -> str:
    """Unpacks into a store-like directory holding another layer; asserts the refusal names `needle`
    and that the directory is exactly as before (nothing half-unpacked, nothing removed)."""
    tar = make_tar(entries)
    layers = tmp_path / "layers"
    (layers / "other").mkdir(parents=True, exist_ok=True)
    (layers / "other" / "f").write_text("other layer")
    before = _store_snapshot(tmp_path)
    with pytest.raises(ImageError) as err:
        archive.unpack(tar, layers / "new")
    assert needle in str(err.value), str(err.value)
    assert _store_snapshot(tmp_path) == before
    assert (layers / "other" / "f").read_text() == "other layer"
    return str(err.value)


def _unpacked(make_tar: Callable[..., Path], tmp_path: Path, entries: Entries) -> Path:
    dest = tmp_path / "ok"
    archive.unpack(make_tar(entries), dest)
    return dest


SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE


# -- archives ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [".wh...", ".wh..", ".wh.", "d/.wh...", "d/.wh.."])
def test_whiteout_cannot_remove_outside_its_directory(make_tar, tmp_path, name):
    # `.wh...` used to remove `<layer>.partial/..`: the whole layers directory of the store.
    entries: Entries = [("d", None, {}), ("d/f", "x", {}), (name, "", {})]
    _refused(make_tar, tmp_path, entries, repr(name))


def test_whiteout_through_symlink_refused(make_tar, tmp_path):
    entries: Entries = [("l", None, {"type": SYM, "linkname": "/"}), ("l/.wh.etc", "", {})]
    _refused(make_tar, tmp_path, entries, "'l/.wh.etc'")


def test_aufs_metadata_skipped_and_whiteouts_stored(make_tar, tmp_path):
    dest = _unpacked(make_tar, tmp_path, [("d", None, {}), ("d/.wh.gone", "", {}), (".wh..wh.plnk", None, {}),
                                          (".wh..wh.plnk/1.2", "x", {})])
    st = os.lstat(dest / "d" / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert sorted(os.listdir(dest)) == ["d"]


@pytest.mark.parametrize("entries,needle", [
    # a chain: b -> /etc is fine (resolved inside the root), but writing through a -> b is not
    ([("b", None, {"type": SYM, "linkname": "/etc"}), ("a", None, {"type": SYM, "linkname": "b"}),
      ("a/passwd", "x", {})], "'a/passwd'"),
    # a symlink whose relative target climbs out through another symlink's name
    ([("sub", None, {}), ("sub/l1", None, {"type": SYM, "linkname": "."}),
      ("l2", None, {"type": SYM, "linkname": "sub/l1/../../.."})], "'l2'"),
    # created earlier in the same archive, then written through (also deeper)
    ([("x", None, {}), ("x/y", None, {"type": SYM, "linkname": "/"}), ("x/y/etc/shadow", "x", {})],
     "'x/y/etc/shadow'"),
    # a hard link to a symlink, and to itself
    ([("s", None, {"type": SYM, "linkname": "/etc/shadow"}), ("h", None, {"type": LNK, "linkname": "s"})],
     "'h'"),
    ([("f", "x", {}), ("f", None, {"type": LNK, "linkname": "f"})], "hard link to itself"),
    # a hard link to a file that a later whiteout removed
    ([("f", "x", {}), (".wh.f", "", {}), ("h", None, {"type": LNK, "linkname": "f"})], "'h'"),
    # absolute and climbing paths, also hidden after a harmless prefix
    ([("ok", "x", {}), ("/abs", "x", {})], "'/abs'"),
    ([("a/b/../../../up", "x", {})], "'a/b/../../../up'"),
])
def test_escaping_entries_refused(make_tar, tmp_path, entries, needle):
    _refused(make_tar, tmp_path, entries, needle)


def test_very_long_names_refused_cleanly(make_tar, tmp_path):
    long_component = "n" * 300
    _refused(make_tar, tmp_path, [("ok", "x", {}), (f"d/{long_component}", "x", {})], "longer than the kernel")
    deep = "/".join(["d" * 200] * 25)
    _refused(make_tar, tmp_path, [(deep, "x", {})], "longer than the kernel")


def test_duplicates_last_wins(make_tar, tmp_path):
    dest = _unpacked(make_tar, tmp_path, [("f", "first", {}), ("f", "second", {}), ("d", "file", {}),
                                          ("d", None, {}), ("d/g", "g", {})])
    assert (dest / "f").read_text() == "second"
    assert (dest / "d").is_dir() and (dest / "d" / "g").read_text() == "g"


def test_setuid_kept_and_devices_created_as_in_docker(make_tar, tmp_path):
    dest = _unpacked(make_tar, tmp_path, [
        ("suid", "x", {"mode": 0o4755, "uid": 0, "gid": 0}),
        ("sgid", "x", {"mode": 0o2755, "uid": 1000, "gid": 1000}),
        ("null", None, {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3, "mode": 0o666}),
        ("disk", None, {"type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0, "mode": 0o660}),
        ("fifo", None, {"type": tarfile.FIFOTYPE, "mode": 0o600}),
    ])
    st = os.lstat(dest / "suid")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and st.st_uid == 0
    st = os.lstat(dest / "sgid")
    assert stat.S_IMODE(st.st_mode) == 0o2755 and (st.st_uid, st.st_gid) == (1000, 1000)  # chown first
    st = os.lstat(dest / "null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    st = os.lstat(dest / "disk")
    assert stat.S_ISBLK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)


def test_huge_pax_header_refused_before_it_is_read(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("f")
        ti.pax_headers = {"comment": "x" * (archive.MAX_HEADER_BYTES + 10)}
        tf.addfile(ti, io.BytesIO(b""))
    tar = tmp_path / "pax.tar"
    tar.write_bytes(buf.getvalue())
    with pytest.raises(ImageError, match="exceeds"):
        archive.unpack(tar, tmp_path / "layer")
    assert sorted(os.listdir(tmp_path)) == ["pax.tar"]


def test_entry_count_bounded(make_tar, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_ENTRIES", 10)
    _refused(make_tar, tmp_path, [(f"f{i}", "x", {}) for i in range(20)], "more than 10 archive entries")


def test_gzip_bomb_bounded_by_free_space(tmp_path, monkeypatch):
    # 64 MiB of zeros in a ~64 KiB gzip: refused before anything is written when the disk is short.
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tf:
        ti = tarfile.TarInfo("zeros")
        ti.size = 64 << 20
        tf.addfile(ti, _Zeros(ti.size))  # type: ignore[arg-type]
    assert bomb.stat().st_size < 1 << 20
    real = os.statvfs(tmp_path)

    class Small:
        f_bavail, f_frsize = 1000, real.f_frsize

    monkeypatch.setattr(archive.os, "statvfs", lambda _p: Small)
    with pytest.raises(ImageError, match="more than the"):
        archive.unpack(bomb, tmp_path / "layer")
    assert sorted(os.listdir(tmp_path)) == ["bomb.tar.gz"]


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return b"\0" * n


def test_decompression_memory_bounded(tmp_path):
    # 512 MiB of zeros behind a 512 KiB gzip: hashing and listing it stay far below its size in memory.
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tf:
        ti = tarfile.TarInfo("zeros")
        ti.size = 512 << 20
        tf.addfile(ti, _Zeros(ti.size))  # type: ignore[arg-type]
    small = tmp_path / "small.tar.gz"
    with tarfile.open(small, "w:gz") as tf:
        ti = tarfile.TarInfo("zeros")
        ti.size = 1 << 10
        tf.addfile(ti, _Zeros(ti.size))  # type: ignore[arg-type]
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak (pytest's, 180 MB late in the
    # suite) into the child's ru_maxrss across exec; VmHWM belongs to the new address space alone.
    code = ("import re, sys; from pathlib import Path; from pydock.runtime import archive; "
            "p = Path(sys.argv[1]); archive.diff_id(p); tf = archive.open_tar(p); "
            "archive.check_members(archive.bounded_members(tf, 'bomb')); "
            "print(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))")

    def peak_kib(path: Path) -> int:
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
        return int(out.stdout)

    # Against the same work on a 1 KiB archive (the interpreter's own size differs between hosts):
    # holding even an eighth of the 512 MiB would show.
    base, peak = peak_kib(small), peak_kib(bomb)
    assert peak - base < 64 * 1024, (base, peak)


def _layer(entries: Entries, tarball: Callable[[Entries], bytes]) -> tuple[bytes, str]:
    data = tarball(entries)
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def _save(tarball, tmp_path: Path, layers: list[bytes], names: list[str],  # type: ignore[no-untyped-def]
          extra: Entries | None = None) -> Path:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(la).hexdigest() for la in layers]}})
    files: Entries = [("c.json", config, {})]
    files += [(n, la, {}) for n, la in zip(names, layers) if not n.startswith("/") and ".." not in n]
    files += extra or []
    files.append(("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["t/x:1"], "Layers": names}]), {}))
    out = tmp_path / "save.tar"
    out.write_bytes(tarball(files))
    return out


@pytest.mark.parametrize("layer_name", ["../../etc/passwd", "/etc/passwd", "a/../../x.tar"])
def test_manifest_layer_path_outside_archive_refused(tmp_path, tarball, layer_name):
    store = ImageStore(tmp_path / "images")
    good, _ = _layer([("f", "x", {})], tarball)
    saved = _save(tarball, tmp_path, [good], [layer_name])
    with pytest.raises(ImageError) as err:
        store.load(saved)
    assert repr(layer_name) in str(err.value)
    assert _store_snapshot(store.layers) == [] and _store_snapshot(store.configs) == []


def test_oci_digest_with_dotdot_refused(tmp_path, tarball):
    store = ImageStore(tmp_path / "images")
    index = {"schemaVersion": 2, "manifests": [{"digest": "sha256:../../../../etc/passwd", "size": 1}]}
    saved = tmp_path / "oci.tar"
    saved.write_bytes(tarball([("oci-layout", "{}", {}), ("index.json", json.dumps(index), {})]))
    with pytest.raises(ImageError, match="invalid digest"):
        store.load(saved)


def test_failed_load_leaves_no_layer_behind(tmp_path, tarball):
    store = ImageStore(tmp_path / "images")
    good, _ = _layer([("fine", "x", {})], tarball)
    bad, _ = _layer([("d", None, {}), ("d/.wh...", "", {})], tarball)
    saved = _save(tarball, tmp_path, [good, bad], ["l1.tar", "l2.tar"])
    with pytest.raises(ImageError, match=r"\.wh\.\.\."):
        store.load(saved)
    assert _store_snapshot(store.layers) == [] and _store_snapshot(store.configs) == []
    assert not store.repos_file.exists()


def test_oversized_manifest_refused(tmp_path, tarball, monkeypatch):
    from pydock.runtime import images

    monkeypatch.setattr(images, "MAX_METADATA", 1000)
    store = ImageStore(tmp_path / "images")
    good, _ = _layer([("f", "x", {})], tarball)
    saved = _save(tarball, tmp_path, [good], ["l.tar"], extra=[("pad.json", "x", {})])
    big = tmp_path / "big.tar"
    with tarfile.open(saved) as src, tarfile.open(big, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == "manifest.json":
                data += b" " * 2000  # still valid JSON, now over the limit
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(ImageError, match="manifest.json is 2"):
        store.load(big)


# -- a container's view -----------------------------------------------------------------------------

def _busybox_entries() -> Entries:
    bb = Path("/bin/busybox")
    applets = subprocess.run([str(bb), "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    entries: Entries = [(d, None, {}) for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp")]
    entries.append(("bin/busybox", bb.read_bytes(), {"mode": 0o755}))
    entries += [(a, None, {"type": SYM, "linkname": "/bin/busybox"}) for a in sorted(set(applets))
                if a != "bin/busybox"]
    entries.append(("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/tmp:/bin/sh\n", {}))
    entries.append(("etc/group", "root:x:0:\nu:x:1000:\n", {}))
    return entries


def _image(pd, make_tar, name: str, extra: Entries) -> str:  # type: ignore[no-untyped-def]
    tar = make_tar(_busybox_entries() + extra)
    pd("import", "-c", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", str(tar), name, check=True)
    return name


def _status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_capabilities_are_dockers_default(pd):
    p = pd("run", "--rm", "busybox", "cat", "/proc/1/status")
    assert p.returncode == 0, p.stderr
    st = _status(p.stdout)
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert int(st[field], 16) == DOCKER_MASK, (field, st[field])
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
    assert st["NoNewPrivs"] == "1"


def test_user_1000_has_no_capabilities(pd):
    p = pd("run", "--rm", "-u", "1000", "busybox", "sh", "-c", "id -u; id -g; cat /proc/self/status")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == "1000"
    st = _status(p.stdout)
    assert st["Uid"].split() == ["1000"] * 4
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0 and int(st["CapAmb"], 16) == 0
    assert int(st["CapBnd"], 16) == DOCKER_MASK


def test_masked_and_readonly_paths(pd):
    script = "; ".join(
        [f"if [ -d {p} ]; then echo {p} present 0 $(ls -A {p} | wc -l); "
         f"elif [ -e {p} ]; then echo {p} present $(cat {p} | wc -c) 0; "
         f"else echo {p} absent; fi" for p in DOCKER_MASKED]
        + ["touch /sys/x 2>&1 | grep -q 'Read-only' && echo /sys ro || echo /sys rw", "cat /proc/1/mountinfo"])
    p = pd("run", "--rm", "busybox", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    mountpoints = {line.split()[4] for line in lines if len(line.split()) > 5 and line.split()[4].startswith("/")}
    for path in DOCKER_MASKED:
        line = next(x for x in lines if x.startswith(path + " "))
        host = os.path.exists(path) and not path.startswith("/sys/")  # /sys differs in a new netns
        if line.split()[1] == "present":
            assert line.split()[2:] == ["0", "0"], line  # reads as empty, lists as empty
            assert path in mountpoints, path
        else:
            assert not host, f"{path} exists on the host but not in the container"
    options = {line.split()[4]: line.split()[5] for line in lines if len(line.split()) > 5}
    for path in DOCKER_READONLY:
        if os.path.exists(path):  # on the host, so in the container's /proc too
            assert options.get(path, "").split(",")[0] == "ro", (path, options.get(path))
    assert "/sys ro" in lines


def test_dev_is_minimal_and_device_cgroup_holds(pd):
    p = pd("run", "--rm", "busybox", "sh", "-c",
           "ls -A /dev; mknod /tmp/vda b 8 0 && (head -c1 /tmp/vda >/dev/null 2>&1 && echo OPENED || echo DENIED)")
    assert p.returncode == 0, p.stderr
    names = set(p.stdout.split()) - {"OPENED", "DENIED"}
    assert names == {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx", "fd",
                     "stdin", "stdout", "stderr", "core"}
    if Path("/sys/fs/cgroup/devices").is_dir():  # v1 devices controller: Docker's allow-list
        assert "DENIED" in p.stdout and "OPENED" not in p.stdout


def test_no_way_back_to_the_host_fs(pd):
    p = pd("run", "--rm", "busybox", "sh", "-c",
           "cat /proc/1/mountinfo; echo ---; umount / 2>&1; echo umount=$?; umount -l /proc 2>&1; echo umountp=$?; "
           "mount -t tmpfs t /tmp 2>&1; echo mount=$?; mount --bind / /tmp 2>&1; echo bind=$?; "
           "chroot / true; echo chroot=$?")
    assert p.returncode == 0, p.stderr
    mounts, _, rest = p.stdout.partition("---\n")
    roots = [line.split() for line in mounts.splitlines()]
    assert sum(1 for r in roots if r[4] == "/") == 1  # one root, no old root stacked anywhere
    allowed = {"/", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/dev", "/dev/pts", "/dev/shm",
               "/dev/mqueue", "/sys", *DOCKER_MASKED, *DOCKER_READONLY, "/proc/interrupts"}
    assert {r[4] for r in roots} <= allowed, {r[4] for r in roots} - allowed
    assert "umount=0" not in rest and "umountp=0" not in rest and "mount=0" not in rest and "bind=0" not in rest


def test_no_fd_of_the_shim_leaks_into_the_container(pd):
    # Looked at from the host: the container's PID 1 holds its stdio and nothing else of the shim's
    # (a leaked host fd is CVE-2024-21626's way out of the rootfs).
    cid = pd.out("run", "-d", "busybox", "sleep", "60")
    pid = int(pd.out("inspect", "-f", "{{.State.Pid}}", cid))
    fds = sorted(os.listdir(f"/proc/{pid}/fd"), key=int)
    assert fds == ["0", "1", "2"], [(fd, os.readlink(f"/proc/{pid}/fd/{fd}")) for fd in fds]


def test_namespaces_are_private(pd):
    kinds = ("uts", "ipc", "net", "mnt", "pid")
    p = pd("run", "--rm", "busybox", "sh", "-c",
           " ".join(f"readlink /proc/self/ns/{k};" for k in kinds) + " ip -o link; ls /proc")
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    for k, inside in zip(kinds, out):
        assert inside != os.readlink(f"/proc/self/ns/{k}"), k
    links = [line for line in out if ": " in line and "link/" in line]
    assert len(links) == 1 and links[0].split(": ")[1] == "lo" and ",UP" in links[0]
    pids = [int(x) for x in " ".join(out[len(kinds):]).split() if x.isdigit()]
    assert 1 in pids and len(pids) <= 3  # sh, ls: no host process
    host_uts = os.readlink("/proc/self/ns/uts")
    p = pd("run", "--rm", "--network", "host", "busybox", "readlink", "/proc/self/ns/net")
    assert p.stdout.strip() == os.readlink("/proc/self/ns/net") and host_uts


def test_files_owned_as_in_the_image(pd, make_tar):
    ref = _image(pd, make_tar, "sec/own:1", [("srv", None, {"mode": 0o750, "uid": 1234, "gid": 5678}),
                                             ("srv/f", "x", {"mode": 0o4750, "uid": 1234, "gid": 5678})])
    p = pd("run", "--rm", ref, "stat", "-c", "%u %g %a", "/srv", "/srv/f")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == ["1234 5678 750", "1234 5678 4750"]


def test_readonly_bind_stays_readonly(pd, tmp_path):
    host = tmp_path / "ro"
    host.mkdir()
    (host / "f").write_text("host")
    p = pd("run", "--rm", "-v", f"{host}:/dst:ro", "busybox", "sh", "-c",
           "echo x > /dst/f; echo w=$?; mount -o remount,rw /dst; echo r=$?; mount -o remount,rw,bind /dst; "
           "echo b=$?; echo y > /dst/f; echo w2=$?; grep ' /dst ' /proc/self/mountinfo")
    assert p.returncode == 0, p.stderr
    for marker in ("w=0", "r=0", "b=0", "w2=0"):
        assert marker not in p.stdout.split(), p.stdout
    assert " ro," in p.stdout.splitlines()[-1] or p.stdout.splitlines()[-1].split()[5].startswith("ro")
    assert (host / "f").read_text() == "host"


@pytest.mark.parametrize("link", ["/../../../../etc", "/./../etc/../../etc", "/tmp/../../../etc/."])
def test_symlinked_mount_destination_stays_in_rootfs(pd, make_tar, tmp_path, link):
    # An image whose /data points "up" to the host's /etc: the bind must land on the rootfs's /etc.
    ref = _image(pd, make_tar, "sec/link:1", [("data", None, {"type": SYM, "linkname": link})])
    host = tmp_path / "src"
    host.mkdir()
    (host / "marker").write_text("from host dir\n")
    p = pd("run", "--rm", "-v", f"{host}:/data", "--mount", "type=tmpfs,target=/data/../tmp/t", ref, "sh", "-c",
           "cat /data/marker; cat /etc/marker; grep -c ' /etc ' /proc/self/mountinfo")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["from host dir", "from host dir", "1"]  # it landed in the rootfs
    assert not Path("/etc/marker").exists()
    # Only the mount points of the /etc files bound over the image's (now the host dir's) /etc.
    assert set(os.listdir(host)) <= {"marker", "hostname", "hosts", "resolv.conf"}


def test_mount_destination_resolving_to_root_refused(pd, make_tar, tmp_path):
    ref = _image(pd, make_tar, "sec/toroot:1", [("data", None, {"type": SYM, "linkname": "/etc/../../.."})])
    host = tmp_path / "src"
    host.mkdir()
    p = pd("run", "--rm", "-v", f"{host}:/data", ref, "true")
    assert p.returncode == 125 and "/data" in p.stderr and "root" in p.stderr, p.stderr
    assert os.listdir(host) == []  # no /proc, /dev or /sys made in the host's directory


def test_symlinked_proc_refused(pd, make_tar):
    ref = _image(pd, make_tar, "sec/proc:1", [("fake", None, {}), ("proc", None, {"type": SYM, "linkname": "/fake"})])
    p = pd("run", "--rm", ref, "true")
    assert p.returncode == 125 and "/proc" in p.stderr and "not a directory" in p.stderr


def test_open_in_root_never_leaves_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "elsewhere").mkdir()
    os.symlink("/../../../etc", root / "data")
    made = container_init._mount_target(root, "/data", True)
    assert made == root / "etc"
    fd = container_init._open_in_root(root, "/data", made)
    try:
        assert os.readlink(f"/proc/self/fd/{fd}") == str(root / "etc")
    finally:
        os.close(fd)
    # The tree changed between resolving and opening (a racing container on a shared volume).
    with pytest.raises(RuntimeFailure, match="changed"):
        container_init._open_in_root(root, "/data", root / "elsewhere")
    # The raw syscall: a symlink to the host's / is followed to the root's own /.
    os.symlink("/", root / "up")
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = syscalls.openat2(rootfd, "up/..", os.O_PATH, syscalls.RESOLVE_IN_ROOT)
        assert os.readlink(f"/proc/self/fd/{fd}") == str(root)
        os.close(fd)
    finally:
        os.close(rootfd)


def _run_with_host_root_fd(pd, *args: str) -> str:  # type: ignore[no-untyped-def]
    """Runs `pydock ARGS` with an fd of the host's / open (as a careless caller might) and returns
    what the container says about that fd number."""
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        script = f"if [ -e /proc/1/fd/{fd}/etc ] || [ -e /proc/self/fd/{fd}/etc ]; then echo LEAK; else echo none; fi"
        p = subprocess.run([sys.executable, "-m", "pydock", *args, "sh", "-c", script], env=pd.env,
                           pass_fds=(fd,), check=False,
                           capture_output=True, text=True, timeout=60)
    finally:
        os.close(fd)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_callers_fds_do_not_reach_the_container(pd):
    assert _run_with_host_root_fd(pd, "run", "--rm", "busybox") == "none"


def test_exec_does_not_leak_callers_fds(pd):
    cid = pd.out("run", "-d", "busybox", "sleep", "60")
    assert _run_with_host_root_fd(pd, "exec", cid) == "none"
