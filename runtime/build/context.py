"""The files COPY and ADD read, and the layer tars they make.

A `FileTree` is a directory to copy from: the build context (with its .dockerignore) or the merged
root filesystem of another stage (`COPY --from`). Sources are resolved lexically inside it (Go's
`filepath.Match` wildcards, no `..` above the root, no path through a symlink), and hashed by content
and mode for the layer cache, as the classic builder does (mtimes and owners do not count: a `touch`
keeps the cache, an edit does not).

`LayerWriter` writes the new layer directly, without a container: each copied entry, and each parent
directory with the metadata it has in the image (a missing one is made 0755), so the layer changes
nothing but what was copied. ADD extracts a local tar archive (plain, gzip, bzip2, xz or zstd) into the
destination, its entries checked as archive.py checks layers.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydock.runtime import archive
from pydock.runtime.build import ignore
from pydock.runtime.build.layers import ImageFS

from pydock.errors import BuildError, ImageError

_GLOB = frozenset("*?[")


@dataclass
class FileTree:
    root: Path
    patterns: list[ignore.Pattern] = field(default_factory=list)
    what: str = "build context"

    @classmethod
    def context(cls, root: Path) -> FileTree:
        return cls(root, ignore.load(root))

    def excluded(self, rel: str) -> bool:
        return ignore.excluded(self.patterns, rel)

    def _missing(self, src: str, cmd: str) -> BuildError:
        if self.what == "build context":
            return BuildError(f"{cmd} failed: file not found in build context or excluded by .dockerignore: "
                              f"stat {src}: file does not exist")
        return BuildError(f"{cmd} failed: stat {src} in {self.what}: file does not exist")

    def resolve(self, src: str, cmd: str) -> list[str]:
        """The relative paths `src` names (wildcards expanded), refused if none exists."""
        rel = posixpath.normpath("/" + src).lstrip("/") if src.startswith("/") else posixpath.normpath(src)
        if rel == ".." or rel.startswith("../"):
            raise BuildError(f"{cmd} failed: forbidden path outside the {self.what}: {src}")
        rel = "" if rel == "." else rel
        parts = rel.split("/") if rel else []
        found = [""]
        for k, part in enumerate(parts):
            nxt = []
            for base in found:
                d = self._path(base) if base else self.root
                if any(c in _GLOB for c in part):
                    try:
                        names = sorted(os.listdir(d)) if d.is_dir() and not d.is_symlink() else []
                    except OSError:
                        names = []
                    nxt += [f"{base}/{n}" if base else n for n in names if fnmatch.fnmatchcase(n, part)]
                else:
                    cand = f"{base}/{part}" if base else part
                    if k < len(parts) - 1 and self._path(cand).is_symlink():
                        raise BuildError(f"{cmd} failed: {src}: a path through a symlink is not supported")
                    nxt.append(cand)
            found = [f for f in nxt if os.path.lexists(self._path(f)) and not (f and self.excluded(f))]
        if not found:
            raise self._missing(src, cmd)
        return found

    def _path(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def walk(self, rel: str) -> Iterator[tuple[str, Path, os.stat_result]]:
        """The entries below the directory `rel` (relative to it), sorted, parents first."""
        base = self._path(rel)
        for name in sorted(os.listdir(base)):
            full = f"{rel}/{name}" if rel else name
            p = base / name
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                if self.excluded(full) and not any(pt.exclusion for pt in self.patterns):
                    continue
                if not self.excluded(full):
                    yield full, p, st
                yield from self.walk(full)
            elif not self.excluded(full):
                yield full, p, st

    def digest(self, rels: list[str]) -> str:
        """The content hash of the sources (names, types, modes, contents, link targets)."""
        h = hashlib.sha256()
        for rel in rels:
            p = self._path(rel)
            st = os.lstat(p)
            items = [(rel, p, st)]
            if stat.S_ISDIR(st.st_mode):
                items += list(self.walk(rel))
            for r, path, s in items:
                h.update(f"{r}\0{s.st_mode:o}\0".encode("utf-8", "surrogateescape"))
                if stat.S_ISREG(s.st_mode):
                    with open(path, "rb") as f:
                        h.update(hashlib.file_digest(f, "sha256").digest())
                elif stat.S_ISLNK(s.st_mode):
                    h.update(os.readlink(path).encode("utf-8", "surrogateescape"))
                h.update(b"\n")
        return "sha256:" + h.hexdigest()


def is_archive(path: Path) -> bool:
    """A local tar (plain or compressed) that ADD extracts; other files are copied as they are."""
    try:
        with archive.open_decompressed(path) as f:
            head = f.read(512)
    except (OSError, EOFError, ValueError):
        return False
    if len(head) < 512:
        return False
    try:
        ti = tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return bool(ti.name)


class LayerWriter:
    """Writes a COPY/ADD layer: entries under destinations, parents with the image's metadata."""

    def __init__(self, tf: tarfile.TarFile, image: ImageFS, ids: tuple[int, int] | None, chmod: int | None) -> None:
        self.tf, self.image, self.ids, self.chmod = tf, image, ids, chmod
        self.written: set[str] = set()
        self.now = int(time.time())

    def _dir_entry(self, rel: str, owned: bool) -> None:
        if rel in self.written or not rel:
            return
        self.written.add(rel)
        ti = tarfile.TarInfo(rel)
        ti.type = tarfile.DIRTYPE
        found = self.image.lookup(rel)
        if found is not None and found.is_dir() and not found.is_symlink():
            st = os.lstat(found)
            ti.mode, ti.uid, ti.gid, ti.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
        else:
            ti.mode, ti.mtime = 0o755, self.now
            if owned and self.ids:
                ti.uid, ti.gid = self.ids
        self.tf.addfile(ti)

    def parents(self, rel: str) -> None:
        parts = rel.split("/")
        for k in range(1, len(parts)):
            self._dir_entry("/".join(parts[:k]), owned=False)

    def dest_dir(self, rel: str) -> None:
        """The destination directory itself: kept as the image has it, or made (owned by --chown)."""
        if rel:
            self.parents(rel)
            self._dir_entry(rel, owned=True)

    def add(self, rel: str, path: Path, st: os.stat_result, links: dict[tuple[int, int], str]) -> None:
        self.parents(rel)
        ti = tarfile.TarInfo(rel)
        ti.mtime = int(st.st_mtime)
        ti.mode = stat.S_IMODE(st.st_mode)
        if self.chmod is not None and not stat.S_ISLNK(st.st_mode):
            ti.mode = self.chmod
        ti.uid, ti.gid = self.ids or (0, 0)
        mode = st.st_mode
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(mode) and st.st_nlink > 1 and key in links:
            ti.type, ti.linkname = tarfile.LNKTYPE, links[key]
            self.tf.addfile(ti)
            return
        if stat.S_ISREG(mode):
            links[key] = rel
            ti.size = st.st_size
            with open(path, "rb") as f:
                self.tf.addfile(ti, f)
            return
        if stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
        else:
            return  # devices and sockets in a context are not copied
        self.written.add(rel)
        self.tf.addfile(ti)

    def extract(self, dest: str, tar_path: Path, src: str) -> None:
        """ADD of a local archive: its entries under `dest`, owners and modes as the archive has them."""
        try:
            with archive.open_tar(tar_path) as src_tf:
                entries = archive.check_members(archive.bounded_members(src_tf, src))
                for rel, m in entries:
                    if posixpath.basename(rel).startswith(archive.WHITEOUT_PREFIX):
                        raise BuildError(f"ADD failed: {src}: the entry {m.name!r} has a whiteout's name")
                    name = f"{dest}/{rel}" if dest else rel
                    self.parents(name)
                    ti = _copy_info(m, name)
                    if m.islnk():
                        link = archive._norm(m.linkname, m.name)
                        ti.linkname = f"{dest}/{link}" if dest else link
                    if m.isdir():
                        self.written.add(name)
                    fobj = src_tf.extractfile(m) if m.isreg() else None
                    self.tf.addfile(ti, fobj)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BuildError(f"ADD failed: {src}: not a readable archive: {exc}") from exc
        except ImageError as exc:
            raise BuildError(f"ADD failed: {src}: {exc}") from exc


def _copy_info(m: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    for attr in ("size", "mtime", "mode", "type", "linkname", "uid", "gid", "devmajor", "devminor"):
        setattr(ti, attr, getattr(m, attr))
    ti.pax_headers = {k: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
    return ti
