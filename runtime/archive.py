"""Safe unpacking of layer tarballs into a directory, in overlayfs's on-disk format.

Every entry is checked before anything is written: absolute paths, `..` that climbs above the root,
symlinks whose relative target climbs out, hard links to anything but an earlier entry, and entries
that would be written through a symlink are refused with an `ImageError` naming the entry. The
layer is unpacked into a scratch directory that is renamed into place only when complete, so a
failure leaves nothing half-unpacked. `unpack_stream` (a pull: the tar as it downloads) applies the
same checks entry by entry, each before that entry is written into the scratch directory; since a
check looks only at earlier entries, it refuses exactly what checking all entries first refuses,
and a refusal, or a digest found wrong at the end of the stream, removes the scratch directory.

Whiteouts are stored the way overlayfs reads them in a lower layer: `.wh.NAME` becomes a 0/0
character device NAME, and `.wh..wh..opq` becomes the `trusted.overlay.opaque=y` xattr on its
directory. The copy fallback of rootfs.py interprets the same format.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pydock.runtime.rootfs import OPAQUE_XATTR, remove_path

from pydock.errors import ImageError

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
WHITEOUT_META_PREFIX = ".wh..wh."  # aufs bookkeeping (.wh..wh.plnk, ...): skipped, as moby does
_CHUNK = 1 << 20
# Bounds on what a hostile archive can make us hold in memory or on disk. A GNU long name or a pax
# header is read whole by tarfile, so its size is checked before it is read; the member list is
# kept in memory, so its length is bounded too (real layers hold well under 10^5 entries).
MAX_HEADER_BYTES = 1 << 20
MAX_ENTRIES = 1 << 19
_NAME_MAX = 255
_PATH_MAX = 4096


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses a pax header or GNU long name too big to read into memory."""

    def _proc_pax(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        _check_header_size(self)
        return super()._proc_pax(tarfile)  # type: ignore[misc]

    def _proc_gnulong(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        _check_header_size(self)
        return super()._proc_gnulong(tarfile)  # type: ignore[misc]


def _check_header_size(ti: tarfile.TarInfo) -> None:
    if ti.size > MAX_HEADER_BYTES:
        raise ImageError(f"archive header of {ti.size} bytes (entry {ti.name!r}) exceeds the "
                         f"{MAX_HEADER_BYTES}-byte limit")


def open_tar(path: Path) -> tarfile.TarFile:
    """`tarfile.open(path, "r:*")` with header sizes bounded (see `_BoundedTarInfo`)."""
    return tarfile.open(path, "r:*", tarinfo=_BoundedTarInfo)


def bounded_members(tf: tarfile.TarFile, what: str) -> list[tarfile.TarInfo]:
    """All members of `tf`, refusing an archive with more than MAX_ENTRIES of them."""
    out = []
    for m in tf:
        out.append(m)
        if len(out) > MAX_ENTRIES:
            raise ImageError(f"{what}: more than {MAX_ENTRIES} archive entries")
    return out


def open_decompressed(path: Path) -> BinaryIO:
    """Opens a tarball, plain or gzip/bzip2/xz compressed (detected by content, not by name)."""
    f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = f.read(6)
    f.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if magic[:3] == b"BZh":
        return bz2.BZ2File(f)  # type: ignore[return-value]
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(f)  # type: ignore[return-value]
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard  # only zstd layers pay for the import

        return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True, closefd=True)  # type: ignore[return-value]
    return f


def diff_id(path: Path) -> str:
    """`sha256:<hex>` of the uncompressed tar stream (an OCI/Docker layer's DiffID)."""
    h = hashlib.sha256()
    try:
        with open_decompressed(path) as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ImageError(f"{path.name}: cannot decompress: {exc}") from exc
    return "sha256:" + h.hexdigest()


def _norm(name: str, entry: str) -> str:
    """The entry's path relative to the root, lexically resolved; refuses what leaves the root."""
    if name.startswith("/"):
        raise ImageError(f"archive entry {entry!r} has an absolute path")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise ImageError(f"archive entry {entry!r} escapes the root with '..'")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def _forget(path: str, *sets: set[str]) -> None:
    """Drops `path` and everything below it from each set (it was replaced or whited out)."""
    for s in sets:
        gone = {p for p in s if p == path or p.startswith(path + "/")}
        s.difference_update(gone)


def check_members(members: list[tarfile.TarInfo]) -> list[tuple[str, tarfile.TarInfo]]:
    """Validates every entry; returns (normalised path, member) pairs in archive order.

    aufs metadata entries (`.wh..wh.*` other than the opaque marker) are dropped from the result."""
    checker = _Checker()
    out = []
    for m in members:
        path = checker.check(m)
        if path is not None:
            out.append((path, m))
    return out


class _Checker:
    """The entry checks of `check_members`, one entry at a time: an entry is judged by the entries
    before it only, so a streamed layer is checked entry by entry before each is written."""

    def __init__(self) -> None:
        self.seen_files: set[str] = set()
        self.symlinks: set[str] = set()
        self.parents: set[str] = set()  # every directory that has had an entry below it

    def check(self, m: tarfile.TarInfo) -> str | None:
        """The entry's normalised path, or None for an entry to skip; raises ImageError if unsafe."""
        path = _norm(m.name, m.name)
        if not path:
            if m.isdir():
                return None  # "./" itself
            raise ImageError(f"archive entry {m.name!r} names the root itself")
        if len(path.encode("utf-8", "surrogateescape")) >= _PATH_MAX or any(
                len(p.encode("utf-8", "surrogateescape")) > _NAME_MAX for p in path.split("/")):
            raise ImageError(f"archive entry {m.name[:64]!r}... has a name longer than the kernel allows")
        parents_of = path.split("/")
        base = parents_of[-1]
        for i in range(1, len(parents_of)):
            prefix = "/".join(parents_of[:i])
            if prefix in self.symlinks:
                raise ImageError(f"archive entry {m.name!r} would be written through the symlink {prefix!r}")
        if any(p.startswith(WHITEOUT_META_PREFIX) for p in parents_of[:-1]):
            return None  # inside an aufs metadata directory (.wh..wh.plnk/...)
        if base.startswith(WHITEOUT_PREFIX):
            if base == OPAQUE_MARKER:  # hides the lower layers only: this layer's entries stay
                return path
            if base.startswith(WHITEOUT_META_PREFIX):
                return None
            hidden = base[len(WHITEOUT_PREFIX):]
            if hidden in ("", ".", ".."):
                # `.wh...` would otherwise remove the directory above the layer: the whole store.
                raise ImageError(f"archive entry {m.name!r} is a whiteout of {hidden!r}, which names no file")
            target = "/".join([*parents_of[:-1], hidden])
            _forget(target, self.seen_files, self.symlinks, self.parents)
            return path
        if m.issym():
            if not m.linkname.startswith("/"):
                # Relative targets are resolved from the link's directory; absolute ones are resolved
                # inside the root (as in a chroot), so only relative ones can climb out.
                depth = len(path.split("/")) - 1
                for part in m.linkname.split("/"):
                    if part == "..":
                        depth -= 1
                        if depth < 0:
                            raise ImageError(f"archive entry {m.name!r} is a symlink to {m.linkname!r}, "
                                             "which escapes the root")
                    elif part not in ("", "."):
                        depth += 1
            self.symlinks.add(path)
        elif m.islnk():
            if m.linkname.startswith("/"):
                raise ImageError(f"archive entry {m.name!r} is a hard link to the absolute path {m.linkname!r}")
            try:
                target = _norm(m.linkname, m.name)
            except ImageError:
                raise ImageError(f"archive entry {m.name!r} is a hard link to {m.linkname!r}, "
                                 "outside the root") from None
            if target == path:
                raise ImageError(f"archive entry {m.name!r} is a hard link to itself")
            if target not in self.seen_files:
                raise ImageError(f"archive entry {m.name!r} is a hard link to {m.linkname!r}, "
                                 "which is not an earlier file of the archive")
        elif not (m.isreg() or m.isdir() or m.ischr() or m.isblk() or m.isfifo()):
            raise ImageError(f"archive entry {m.name!r} has an unsupported type {m.type!r}")
        if not m.isdir() and path in self.parents:
            # A non-directory replaces a whole subtree: later hard links must not reach into it
            # (it may now be a symlink to the host's /etc). Rare, so the scan is affordable.
            self.seen_files = {f for f in self.seen_files if not f.startswith(path + "/")}
            self.symlinks = {s for s in self.symlinks if not s.startswith(path + "/")}
            self.parents = {p for p in self.parents if p != path and not p.startswith(path + "/")}
        for i in range(1, len(parents_of)):
            self.parents.add("/".join(parents_of[:i]))
        if m.isreg() or m.islnk():
            self.seen_files.add(path)
        else:
            self.seen_files.discard(path)
        if not m.issym():
            self.symlinks.discard(path)
        return path


def _ensure_parent(root: Path, rel: str) -> Path:
    """Creates missing parents of `rel` and refuses (again, on disk) any parent that is a symlink."""
    cur = root
    for part in rel.split("/")[:-1]:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            os.mkdir(cur, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise ImageError(f"archive entry {rel!r} would be written through the symlink {part!r}")
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(cur)
            os.mkdir(cur, 0o755)
    return root / rel


def _xattrs(m: tarfile.TarInfo) -> Iterator[tuple[str, bytes]]:
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr."):]
            # A layer must not set the kernel's own attributes: trusted.overlay.* would steer
            # overlayfs (redirects, opacity) and security.* carries LSM labels. File capabilities
            # are the one security.* attribute images legitimately carry (ping's cap_net_raw).
            if name.startswith(("trusted.", "security.")) and name != "security.capability":
                continue
            yield name, value.encode("utf-8", "surrogateescape")


def _apply_meta(path: Path, m: tarfile.TarInfo) -> None:
    os.lchown(path, m.uid, m.gid)
    if not m.issym():
        os.chmod(path, m.mode & 0o7777)
    for key, value in _xattrs(m):
        try:
            os.setxattr(path, key, value, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                raise
    os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)


def _extract(tf: tarfile.TarFile, entries: list[tuple[str, tarfile.TarInfo]], root: Path) -> None:
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    for rel, m in entries:
        try:
            _extract_one(tf, rel, m, root, dirs)
        except (OSError, EOFError, tarfile.TarError, zlib.error, lzma.LZMAError) as exc:
            raise ImageError(f"archive entry {m.name!r}: {getattr(exc, 'strerror', None) or exc}") from exc
    _finish_dirs(dirs)


def _finish_dirs(dirs: list[tuple[Path, tarfile.TarInfo]]) -> None:
    """Directory modes and times last, deepest first: writing into them changed their mtime, and a
    read-only directory must still accept its entries while unpacking."""
    for path, m in reversed(dirs):
        try:
            _apply_meta(path, m)
        except OSError as exc:
            raise ImageError(f"archive entry {m.name!r}: {exc.strerror or exc}") from exc


def _copy_data(tf: tarfile.TarFile, m: tarfile.TarInfo, dst: BinaryIO) -> None:
    src = tf.extractfile(m)
    assert src is not None
    with src:
        shutil.copyfileobj(src, dst, _CHUNK)


def _extract_one(tf: tarfile.TarFile, rel: str, m: tarfile.TarInfo, root: Path,
                 dirs: list[tuple[Path, tarfile.TarInfo]],
                 copy_data: Callable[[tarfile.TarFile, tarfile.TarInfo, BinaryIO], None] = _copy_data) -> None:
    base = posixpath.basename(rel)
    if base == OPAQUE_MARKER:
        d = _ensure_parent(root, rel).parent
        d.mkdir(exist_ok=True)
        os.setxattr(d, OPAQUE_XATTR, b"y")
        return
    if base.startswith(WHITEOUT_PREFIX):
        hidden = base[len(WHITEOUT_PREFIX):]
        if hidden in ("", ".", "..") or "/" in hidden:  # check_members refused these already
            raise ImageError(f"archive entry {m.name!r} is a whiteout of {hidden!r}, which names no file")
        target = _ensure_parent(root, rel).parent / hidden
        remove_path(target)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return
    path = _ensure_parent(root, rel)
    if m.isdir():
        try:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                remove_path(path)
                os.mkdir(path, 0o700)
        except FileNotFoundError:
            os.mkdir(path, 0o700)
        dirs.append((path, m))
        return
    remove_path(path)
    if m.isreg():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as dst:
            copy_data(tf, m, dst)
    elif m.issym():
        os.symlink(m.linkname, path)
    elif m.islnk():
        link_target = _norm(m.linkname, m.name)
        _ensure_parent(root, link_target)  # refuses, on disk too, a target reached through a symlink
        os.link(root / link_target, path, follow_symlinks=False)
        return  # a hard link shares its target's metadata
    elif m.ischr() or m.isblk():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
    elif m.isfifo():
        os.mkfifo(path, 0o600)
    _apply_meta(path, m)


def unpack(tar_path: Path, dest: Path) -> int:
    """Unpacks the layer at `tar_path` into the new directory `dest`; returns the bytes it holds.

    All entries are checked first; the layer is unpacked beside `dest` and renamed into place.
    Memory is bounded (header sizes, entry count); disk use by the free space checked up front.
    A tar that ends right after its last file's data (no padding, no end blocks: umoci 0.4.7 writes
    such layers, and Go's reader takes them) is unpacked from a copy with the missing zeros added;
    its content, and so its DiffID, is what it was."""
    try:
        return _unpack(tar_path, dest)
    except _ShortTar:
        padded = dest.with_name(dest.name + ".padded")
        try:
            with open_decompressed(tar_path) as src, open(padded, "wb") as dst:
                n = 0
                while chunk := src.read(_CHUNK):
                    dst.write(chunk)
                    n += len(chunk)
                dst.write(b"\0" * ((-n) % 512 + 1024))
            try:
                return _unpack(padded, dest)
            except _ShortTar as exc:
                raise ImageError(f"{tar_path.name}: corrupt tar archive: {exc}") from None
        finally:
            padded.unlink(missing_ok=True)


class _ShortTar(ImageError):
    """The tar stream ended inside an entry's data or padding."""


def _unpack(tar_path: Path, dest: Path) -> int:
    try:
        tf = open_tar(tar_path)
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ImageError(f"{tar_path.name}: not a readable tar archive: {exc}") from exc
    scratch = dest.with_name(dest.name + ".partial")
    with tf:
        try:
            entries = check_members(bounded_members(tf, tar_path.name))
        except tarfile.ReadError as exc:
            if "unexpected end of data" in str(exc):
                raise _ShortTar(str(exc)) from exc
            raise ImageError(f"{tar_path.name}: corrupt tar archive: {exc}") from exc
        except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
            raise ImageError(f"{tar_path.name}: corrupt tar archive: {exc}") from exc
        size = sum(m.size for _, m in entries if m.isreg())
        st = os.statvfs(dest.parent)
        if size > st.f_bavail * st.f_frsize:
            raise ImageError(f"{tar_path.name}: the layer holds {size} bytes, more than the "
                             f"{st.f_bavail * st.f_frsize} free in {dest.parent}")
        remove_path(scratch)
        os.mkdir(scratch, 0o755)
        try:
            _extract(tf, entries, scratch)
            os.rename(scratch, dest)
        except BaseException:
            remove_path(scratch)
            raise
    return size


def unpack_stream(src: BinaryIO, dest: Path, scratch: Path, what: str,
                  commit: Callable[[], None] = lambda: None) -> int:
    """Unpacks an uncompressed tar read from `src` as it arrives (no seeking) into the new directory
    `dest`; returns the bytes its files hold. `src.read(n)` may return fewer than n bytes; b"" is
    the end.

    Each entry passes the same checks as in `unpack` before it is written (they judge an entry by
    the entries before it, so checking as the stream goes refuses what checking up front refuses),
    with the same bounds on headers and entry count; free space is checked as files arrive. The
    layer is written into `scratch` (on the filesystem of `dest`). `commit()` runs once the archive
    is unpacked: it is where the caller finishes verifying the stream (digests); only when it
    returns is `scratch` renamed to `dest`. On any error `scratch` is removed: nothing of the layer
    is left, whether an entry was refused or the stream's digest turned out wrong."""
    remove_path(scratch)
    os.mkdir(scratch, 0o755)
    try:
        size = _extract_stream(_Forward(src), scratch, what)
        commit()
        os.rename(scratch, dest)
    except BaseException:
        remove_path(scratch)
        raise
    return size


class _Forward:
    """A reader that cannot seek, as the file tarfile reads: `tell()`, and `seek()` forward only
    (skipping). Members are read in archive order, so tarfile never seeks back; its stream mode
    ("r|") would do as well, at the cost of joining and slicing every block of data it passes on."""

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self._buf = memoryview(b"")
        self._pos = 0  # offset of the end of _buf in the stream

    def tell(self) -> int:
        return self._pos - len(self._buf)

    def _fill(self) -> bool:
        data = self._src.read(_CHUNK)
        if not data:
            return False
        self._buf = memoryview(data)
        self._pos += len(data)
        return True

    def read_some(self, n: int) -> memoryview:
        """Up to n bytes (at least one unless at the end), without copying them."""
        if not self._buf and not self._fill():
            return memoryview(b"")
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read(self, n: int = -1) -> bytes:
        parts = []
        while n < 0 or n > 0:
            got = self.read_some(n if n >= 0 else _CHUNK)
            if not got:
                break
            parts.append(got)
            if n > 0:
                n -= len(got)
        return b"".join(parts)

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET or pos < self.tell():
            raise tarfile.StreamError("the layer stream cannot seek backwards")
        while pos > self.tell():
            if not self.read_some(pos - self.tell()):
                break
        return self.tell()

    def copy_data(self, tf: tarfile.TarFile, m: tarfile.TarInfo, dst: BinaryIO) -> None:
        """A regular member's data, straight from the stream's buffers into `dst`."""
        if m.sparse is not None:
            _copy_data(tf, m, dst)
            return
        self.seek(m.offset_data)
        left = m.size
        while left:
            chunk = self.read_some(min(left, _CHUNK))
            if not chunk:
                raise tarfile.ReadError("unexpected end of data")
            dst.write(chunk)
            left -= len(chunk)


def _extract_stream(src: _Forward, root: Path, what: str) -> int:
    try:
        tf = tarfile.TarFile(fileobj=src, mode="r", tarinfo=_BoundedTarInfo)  # type: ignore[arg-type]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageError(f"{what}: not a readable tar archive: {exc}") from exc
    st = os.statvfs(root)
    free = st.f_bavail * st.f_frsize
    checker = _Checker()
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    size = count = 0
    with tf:
        members = iter(tf)
        while True:
            try:
                m = next(members, None)
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise ImageError(f"{what}: corrupt tar archive: {exc}") from exc
            if m is None:
                break
            count += 1
            if count > MAX_ENTRIES:
                raise ImageError(f"{what}: more than {MAX_ENTRIES} archive entries")
            rel = checker.check(m)
            if rel is None:
                continue
            if m.isreg():
                size += m.size
                if size > free:
                    raise ImageError(f"{what}: the layer holds more than the {free} bytes free in {root.parent}")
            try:
                _extract_one(tf, rel, m, root, dirs, src.copy_data)
            except (OSError, EOFError, tarfile.TarError) as exc:
                raise ImageError(f"archive entry {m.name!r}: {getattr(exc, 'strerror', None) or exc}") from exc
    _finish_dirs(dirs)
    return size
