"""User namespaces (`--userns auto`, daemon.json `userns-remap`): the maps, file ownership on both
sides, distinct ranges for concurrent containers, freeing at rm, seccomp still in force, and bad
values refused with nothing made. The subordinate ids are the host's (/etc/subuid, user pydock)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from pydock.runtime.security import userns

pytestmark = pytest.mark.root


def _map(pd, *args: str) -> tuple[int, int]:
    p = pd("run", "--rm", *args, "busybox", "cat", "/proc/self/uid_map")
    assert p.returncode == 0, p.stderr
    inside, start, size = (int(x) for x in p.stdout.split())
    return start, size if inside == 0 else -1


def _slots(pd) -> list[str]:
    d = pd.settings.root / "userns"
    return sorted(f.name for f in d.iterdir()) if d.is_dir() else []


def test_auto_maps_root_to_a_range_and_files_show_as_root(pd):
    p = pd("run", "--rm", "--userns", "auto", "-v", "uvol:/data", "busybox", "sh", "-c",
           "cat /proc/self/uid_map; stat -c %u /bin/busybox / /etc/hosts; echo x > /data/f; id -u")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    inside, start, size = (int(x) for x in lines[0].split())
    assert (inside, size) == (0, userns.RANGE) and start >= userns.FIRST
    assert lines[1:5] == ["0", "0", "0", "0"], p.stdout  # busybox, /, /etc/hosts as root's; id -u
    f = pd.settings.root / "volumes" / "uvol" / "_data" / "f"
    assert (f.stat().st_uid, f.stat().st_gid) == (start, start)
    assert _slots(pd) == []  # --rm freed the range


def test_default_and_host_have_no_user_namespace(pd):
    assert _map(pd) == (0, 4294967295)
    assert _map(pd, "--userns", "host") == (0, 4294967295)


def test_concurrent_containers_get_disjoint_ranges_and_rm_frees(pd):
    ids: list[str] = []

    def create() -> None:
        ids.append(pd.out("create", "--userns", "auto", "busybox", "true"))

    threads = [threading.Thread(target=create) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    maps = [json.loads(pd.out("inspect", "-f", "{{json .HostConfig.IDMappings}}", i)) for i in ids]
    starts = {m["UidMap"][0]["HostID"] for m in maps}
    assert len(starts) == 3 and all(b - a >= userns.RANGE for a, b in zip(sorted(starts), sorted(starts)[1:]))
    assert len(_slots(pd)) == 3
    assert pd.out("inspect", "-f", "{{.HostConfig.UsernsMode}}", ids[0]) == "auto"
    first = min(starts)
    gone = ids[[m["UidMap"][0]["HostID"] for m in maps].index(first)]
    pd("rm", gone, check=True)
    assert len(_slots(pd)) == 2
    again = pd.out("create", "--userns", "auto", "busybox", "true")  # the freed range, first fit
    m = json.loads(pd.out("inspect", "-f", "{{json .HostConfig.IDMappings}}", again))
    assert m["UidMap"][0]["HostID"] == first


def test_seccomp_still_refuses_unshare_and_exec_joins(pd):
    p = pd("run", "--rm", "--userns", "auto", "busybox", "sh", "-c", "unshare -U true && echo NESTED")
    assert "NESTED" not in p.stdout and "Operation not permitted" in p.stderr, p.stdout + p.stderr
    cid = pd.out("run", "-d", "--userns", "auto", "busybox", "sleep", "30")
    out = pd.out("exec", cid, "sh", "-c", "cat /proc/self/uid_map; touch /e; stat -c %u /e")
    assert out.split()[1] != "0" and out.split()[-1] == "0"
    pid = int(pd.out("inspect", "-f", "{{.State.Pid}}", cid))
    assert os.stat(f"/proc/{pid}").st_uid == int(out.split()[1])


def test_device_in_a_user_namespace_is_the_host_node_bound(pd):
    # no mknod in a user namespace: the host's node is bind-mounted (runc does the same); the cgroup's
    # device rules still apply, so an unlisted node stays closed
    p = pd("run", "--rm", "--userns", "auto", "--device", "/dev/zero:/dev/myzero", "busybox", "sh", "-c",
           "head -c 4 /dev/myzero | od -An -tx1; stat -c '%t:%T' /dev/myzero")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["00", "00", "00", "00", "1:5"]


def test_daemon_userns_remap_default(pd, pydock_env):
    Path(pydock_env["PYDOCK_CONFIG"]).write_text('{"userns-remap": "default"}')
    start, size = _map(pd)
    assert start >= userns.FIRST and size == userns.RANGE
    assert _map(pd, "--userns", "host") == (0, 4294967295)
    assert "name=userns" in pd.out("info")
    p = pd("run", "--rm", "--privileged", "busybox", "true")
    assert p.returncode != 0 and "privileged mode is incompatible with user namespaces" in p.stderr
    assert pd("run", "--rm", "--privileged", "--userns", "host", "busybox", "true").returncode == 0


@pytest.mark.parametrize("args,needle", [
    (["--userns", "bogus"], "invalid --userns 'bogus'"),
    (["--userns", "auto", "--privileged"], "privileged mode is incompatible with user namespaces"),
    (["--userns", "auto", "--network", "host"], "cannot share the host's network namespace"),
])
def test_bad_values_refused_with_nothing_made(pd, args, needle):
    p = pd("run", "--rm", *args, "busybox", "true")
    assert p.returncode != 0 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert pd("ps", "-a", "-q").stdout.strip() == "" and _slots(pd) == []


def test_subid_lines_added_once_clear_of_other_ranges(tmp_path):
    (tmp_path / "subuid").write_text("alice:100000:65536\nbig:100000000:131072\n")
    (tmp_path / "subgid").write_text("alice:100000:65536")
    uids, gids = userns.ensure_subids(tmp_path)
    assert uids == gids == [(100000000 + 131072, userns.COUNT)]
    assert userns.ensure_subids(tmp_path) == (uids, gids)
    assert (tmp_path / "subgid").read_text().splitlines()[-1] == f"pydock:{100000000 + 131072}:{userns.COUNT}"
    assert (tmp_path / "subuid").read_text().count("pydock:") == 1


def test_shifted_copy_fallback_keeps_marks_and_setid_bits(tmp_path):
    from pydock.runtime.security import idmapped

    layer = tmp_path / "layer"
    (layer / "opq").mkdir(parents=True)
    os.setxattr(layer / "opq", "trusted.overlay.opaque", b"y")
    os.mknod(layer / "gone", 0o20000 | 0o600, os.makedev(0, 0))  # a whiteout
    (layer / "su").write_text("x")
    os.chown(layer / "su", 5, 6)
    os.chmod(layer / "su", 0o4755)
    m = userns.IdMap(200_000_000, 300_000_000)
    copy = idmapped.shifted_layer(layer, m, tmp_path / "cache")
    st = os.stat(copy / "su")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (200_000_005, 300_000_006, 0o4755)
    assert os.getxattr(copy / "opq", "trusted.overlay.opaque") == b"y"
    assert os.lstat(copy / "gone").st_rdev == 0 and os.lstat(copy / "gone").st_uid == 200_000_000
    assert idmapped.shifted_layer(layer, m, tmp_path / "cache") == copy  # cached per range


def test_freeing_a_range_drops_its_shifted_layer_copies(tmp_path):
    root = tmp_path / "state"
    (root / "containers" / "c1").mkdir(parents=True)
    m = userns.allocate(root, "c1", etc=tmp_path)
    copy = root / "userns-layers" / f"{m.uid}.{m.gid}" / "sha256-layer"
    copy.mkdir(parents=True)
    (copy / "f").write_text("x")
    held = root / "userns-layers" / "1.1"  # another range's copies stay
    held.mkdir()
    userns.release(root, "c1")
    assert not copy.parent.exists() and held.is_dir()
    (root / "containers" / "c2").mkdir()
    m2 = userns.allocate(root, "c2", etc=tmp_path)
    (root / "userns-layers" / f"{m2.uid}.{m2.gid}").mkdir()
    (root / "containers" / "c2").rmdir()  # gone without `rm`: freed at the next allocation
    userns.allocate(root, "c3", etc=tmp_path)
    assert not (root / "userns-layers" / f"{m2.uid}.{m2.gid}").exists()
