"""Archive safety: every path-escaping entry is refused, naming it, and nothing is left unpacked."""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pydock.runtime import archive

from pydock.errors import ImageError


def _refused(make_tar: Callable[..., Path], tmp_path: Path, entries: list, needle: str) -> str:
    tar = make_tar(entries)
    dest = tmp_path / "layer"
    with pytest.raises(ImageError) as err:
        archive.unpack(tar, dest)
    assert needle in str(err.value)
    assert not dest.exists()
    assert not dest.with_name("layer.partial").exists()
    return str(err.value)


def test_absolute_path_refused(make_tar, tmp_path):
    msg = _refused(make_tar, tmp_path, [("ok", "x", {}), ("/etc/evil", "x", {})], "/etc/evil")
    assert "absolute" in msg


def test_dotdot_refused(make_tar, tmp_path):
    msg = _refused(make_tar, tmp_path, [("a/b", "x", {}), ("a/../../evil", "x", {})], "a/../../evil")
    assert "escapes" in msg


def test_symlink_climbing_out_refused(make_tar, tmp_path):
    entries = [("etc", None, {}), ("etc/link", None, {"type": tarfile.SYMTYPE, "linkname": "../../../etc/passwd"})]
    assert "etc/link" in _refused(make_tar, tmp_path, entries, "escapes the root")


def test_write_through_symlink_refused(make_tar, tmp_path):
    entries = [("d", None, {"type": tarfile.SYMTYPE, "linkname": "/tmp"}), ("d/evil", "x", {})]
    _refused(make_tar, tmp_path, entries, "d/evil")


def test_hardlink_outside_refused(make_tar, tmp_path):
    entries = [("h", None, {"type": tarfile.LNKTYPE, "linkname": "../../etc/shadow"})]
    assert "hard link" in _refused(make_tar, tmp_path, entries, "'h'")
    entries = [("h", None, {"type": tarfile.LNKTYPE, "linkname": "/etc/shadow"})]
    _refused(make_tar, tmp_path, entries, "/etc/shadow")
    entries = [("h", None, {"type": tarfile.LNKTYPE, "linkname": "missing"})]
    _refused(make_tar, tmp_path, entries, "not an earlier file")


def test_symlinks_inside_accepted(make_tar, tmp_path):
    # Absolute targets resolve inside the root (as busybox's applet links do); relative ones that
    # stay inside are fine.
    entries = [("bin", None, {}), ("bin/busybox", "elf", {"mode": 0o755}),
               ("bin/sh", None, {"type": tarfile.SYMTYPE, "linkname": "/bin/busybox"}),
               ("bin/ls", None, {"type": tarfile.SYMTYPE, "linkname": "../bin/busybox"}),
               ("bin/hl", None, {"type": tarfile.LNKTYPE, "linkname": "bin/busybox"})]
    dest = tmp_path / "layer"
    size = archive.unpack(make_tar(entries), dest)
    assert size == 3
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert (dest / "bin/hl").stat().st_ino == (dest / "bin/busybox").stat().st_ino
    assert stat.S_IMODE((dest / "bin/busybox").stat().st_mode) == 0o755


@pytest.mark.root
def test_whiteouts_stored_in_overlay_format(make_tar, tmp_path):
    entries = [("etc", None, {}), ("etc/.wh.gone", "", {}), ("opq", None, {}), ("opq/.wh..wh..opq", "", {}),
               ("opq/new", "n", {})]
    dest = tmp_path / "layer"
    archive.unpack(make_tar(entries), dest)
    st = os.lstat(dest / "etc/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(dest / "opq", archive.OPAQUE_XATTR) == b"y"
    assert not (dest / "etc/.wh.gone").exists()
    assert (dest / "opq/new").read_text() == "n"


def test_not_a_tar(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(ImageError, match="bad.tar"):
        archive.unpack(bad, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_hardlink_through_replaced_dir_refused(make_tar, tmp_path):
    # d/f is a file, then d becomes a symlink to the host's /etc: a link to d/f must not follow it.
    entries = [("d", None, {}), ("d/passwd", "x", {}), ("d", None, {"type": tarfile.SYMTYPE, "linkname": "/etc"}),
               ("h", None, {"type": tarfile.LNKTYPE, "linkname": "d/passwd"})]
    _refused(make_tar, tmp_path, entries, "'h'")
