"""Reading an image's merged filesystem without mounting it, and turning a build container's
changes into a layer tar.

`ImageFS` answers "what does the image hold at this path" from its unpacked layers (overlayfs's
format, see archive.py: a 0/0 character device is a whiteout, `trusted.overlay.opaque=y` an opaque
directory), so COPY finds an existing destination, `--chown` names resolve through the image's
/etc/passwd, and a copy-driver container's rootfs can be compared with what it started from.

`upper_to_tar` writes an overlay upper directory as a layer: whiteouts become `.wh.NAME` entries and
opaque directories a `.wh..wh..opq` entry, as `docker commit` writes them. `copy_diff_to_tar` does
the same for the copy storage driver (no upper directory) by comparing the container's rootfs with
the image, the way moby's naive diff driver does.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from pydock.runtime.rootfs import OPAQUE_XATTR

from pydock.errors import BuildError

# Mount points container_init makes when the image lacks them: never part of a built layer (Docker
# keeps them in the container's init layer, below what a commit sees).
_STUB_FILES = frozenset({"etc/hostname", "etc/hosts", "etc/resolv.conf"})
_STUB_DIRS = frozenset({"proc", "sys", "dev", "dev/pts", "dev/shm", "dev/mqueue"})


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class ImageFS:
    """The merged view of unpacked layers (lowest first), read without a mount."""

    def __init__(self, layers: list[Path]) -> None:
        self.layers = list(layers)

    def lookup(self, rel: str) -> Path | None:
        """The top-most layer's entry for `rel` (no symlink followed), None if absent or whited out."""
        parts = [p for p in rel.strip("/").split("/") if p]
        if not parts:
            return self.layers[-1] if self.layers else None
        for layer in reversed(self.layers):
            p, hidden_below = layer, False
            for k, part in enumerate(parts):
                p = p / part
                try:
                    st = os.lstat(p)
                except (FileNotFoundError, NotADirectoryError):
                    break
                if _whiteout(st):
                    return None
                if k == len(parts) - 1:
                    return p
                if not stat.S_ISDIR(st.st_mode):
                    return None  # a file here hides the lower layers' directory
                if _opaque(p):
                    hidden_below = True
            if hidden_below:
                return None
        return None

    def realpath(self, rel: str) -> str:
        """`rel` with symlinks resolved inside the image's root ('/'-rooted, no leading slash)."""
        todo = [p for p in rel.strip("/").split("/") if p]
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            cur = "/".join([*done, part])
            found = self.lookup(cur)
            if found is not None and found.is_symlink():
                hops += 1
                if hops > 40:
                    raise BuildError(f"too many levels of symbolic links resolving /{rel}")
                target = os.readlink(found)
                if target.startswith("/"):
                    done = []
                todo = [p for p in target.split("/") if p] + todo
                continue
            done.append(part)
        return "/".join(done)

    def is_dir(self, rel: str) -> bool:
        found = self.lookup(self.realpath(rel))
        return found is not None and found.is_dir() and not found.is_symlink()

    def read_text(self, rel: str) -> str:
        found = self.lookup(self.realpath(rel))
        if found is None or not found.is_file():
            return ""
        return found.read_text(errors="replace")

    def listdir(self, rel: str) -> set[str]:
        """Names visible in the directory `rel` (whiteouts and opaque directories honoured)."""
        names: set[str] = set()
        gone: set[str] = set()
        parts = [p for p in rel.strip("/").split("/") if p]
        for layer in reversed(self.layers):
            d = layer.joinpath(*parts)
            try:
                entries = list(os.scandir(d))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for e in entries:
                if e.name in names or e.name in gone:
                    continue
                (gone if _whiteout(e.stat(follow_symlinks=False)) else names).add(e.name)
            if _opaque(d):
                break
        return names

    def ids(self, spec: str) -> tuple[int, int]:
        """uid and gid for `--chown=user[:group]` (names through the image's /etc/passwd and /etc/group;
        a user without a group uses the uid as gid, as Docker does)."""
        user, _, group = spec.partition(":")
        uid = _lookup_id(user, self.read_text("etc/passwd"), "user", spec)
        gid = _lookup_id(group, self.read_text("etc/group"), "group", spec) if group else uid
        return uid, gid


def _lookup_id(name: str, db: str, kind: str, spec: str) -> int:
    if name.isdigit():
        return int(name)
    for line in db.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise BuildError(f"unable to convert uid/gid chown string to host mapping: no such {kind} {name!r} "
                     f"in the image (--chown={spec})")


def _tarinfo(path: Path, name: str, st: os.stat_result, links: dict[tuple[int, int], str]) -> tarfile.TarInfo | None:
    ti = tarfile.TarInfo(name)
    ti.mode, ti.uid, ti.gid, ti.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            ti.type, ti.linkname = tarfile.LNKTYPE, links[key]
            return ti
        if st.st_nlink > 1:
            links[key] = name
        ti.type, ti.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return None  # sockets: not part of an image
    xattrs: dict[str, str] = {}
    try:
        for key_name in os.listxattr(path, follow_symlinks=False):
            if key_name.startswith("trusted.") or (key_name.startswith("security.")
                                                   and key_name != "security.capability"):
                continue  # overlayfs's own bookkeeping and LSM labels stay out of layers
            value = os.getxattr(path, key_name, follow_symlinks=False)
            xattrs["SCHILY.xattr." + key_name] = value.decode("utf-8", "surrogateescape")
    except OSError:
        pass
    if xattrs:
        ti.pax_headers = xattrs
    return ti


def _add(tf: tarfile.TarFile, path: Path, ti: tarfile.TarInfo) -> None:
    if ti.type == tarfile.REGTYPE:
        with open(path, "rb") as f:
            tf.addfile(ti, f)
    else:
        tf.addfile(ti)


def _marker(tf: tarfile.TarFile, name: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.mode = 0o600
    tf.addfile(ti)


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every entry below `root`, sorted, parents before children."""
    base = root / rel if rel else root
    for name in sorted(os.listdir(base)):
        r = f"{rel}/{name}" if rel else name
        p = base / name
        st = os.lstat(p)
        yield r, p, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, r)


def upper_to_tar(upper: Path, lower: ImageFS, out: Path) -> None:
    """The overlay upper directory `upper` of a build container as a layer tar at `out`."""
    links: dict[tuple[int, int], str] = {}
    skip: list[str] = []
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for rel, path, st in _walk(upper):
            if any(rel.startswith(s + "/") for s in skip):
                continue
            if _stub(rel, st, path, lower):
                skip.append(rel)
                continue
            if _whiteout(st):
                parent, _, name = rel.rpartition("/")
                _marker(tf, f"{parent}/.wh.{name}" if parent else f".wh.{name}")
                continue
            ti = _tarinfo(path, rel, st, links)
            if ti is None:
                continue
            _add(tf, path, ti)
            if ti.isdir() and _opaque(path):
                _marker(tf, f"{rel}/.wh..wh..opq")


def _stub(rel: str, st: os.stat_result, path: Path, lower: ImageFS) -> bool:
    if rel in _STUB_FILES and stat.S_ISREG(st.st_mode) and st.st_size == 0:
        return lower.lookup(rel) is None
    if rel in _STUB_DIRS and stat.S_ISDIR(st.st_mode) and not os.listdir(path):
        return lower.lookup(rel) is None
    return False


def _same(a: os.stat_result, b: os.stat_result, pa: Path, pb: Path) -> bool:
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return False
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) == os.readlink(pb)
    if stat.S_ISDIR(a.st_mode):
        return True  # its entries are compared one by one
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns and a.st_rdev == b.st_rdev


def copy_diff_to_tar(rootfs: Path, lower: ImageFS, out: Path) -> None:
    """The changes of a copy-driver container (its merged `rootfs`) against `lower`, as a layer tar."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        _diff_dir(tf, rootfs, "", lower, links, [])


def _diff_dir(tf: tarfile.TarFile, rootfs: Path, rel: str, lower: ImageFS,
              links: dict[tuple[int, int], str], pending: list[tuple[str, Path, os.stat_result]]) -> None:
    """Compares one directory; `pending` are parent directories not yet written (written once a
    change below them is, so the layer keeps their metadata)."""
    here = rootfs / rel if rel else rootfs
    names = sorted(os.listdir(here))
    before = lower.listdir(rel)

    def flush() -> None:
        for prel, ppath, pst in pending:
            ti = _tarinfo(ppath, prel, pst, links)
            if ti is not None:
                tf.addfile(ti)
        pending.clear()

    for name in sorted(before - set(names)):
        flush()
        _marker(tf, f"{rel}/.wh.{name}" if rel else f".wh.{name}")
    for name in names:
        r = f"{rel}/{name}" if rel else name
        path = here / name
        st = os.lstat(path)
        old = lower.lookup(r)
        old_st = os.lstat(old) if old is not None else None
        if old is not None and old_st is not None and stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(old_st.st_mode):
            mark = (r, path, st)
            if not _same(st, old_st, path, old):
                flush()
                ti = _tarinfo(path, r, st, links)
                assert ti is not None
                tf.addfile(ti)
                _diff_dir(tf, rootfs, r, lower, links, pending)
            else:
                pending.append(mark)
                _diff_dir(tf, rootfs, r, lower, links, pending)
                if pending and pending[-1] is mark:  # nothing changed below: not written
                    pending.pop()
            continue
        if old is not None and old_st is not None and _same(st, old_st, path, old):
            continue
        if old is None and _stub(r, st, path, lower):
            continue
        flush()
        ti = _tarinfo(path, r, st, links)
        if ti is None:
            continue
        _add(tf, path, ti)
        if ti.isdir():
            for sub, spath, sst in _walk(rootfs, r):
                sti = _tarinfo(spath, sub, sst, links)
                if sti is not None:
                    _add(tf, spath, sti)
