"""Named volumes: `$ROOT/volumes/<name>/_data` plus `meta.json` (created time, labels, anonymous flag).

A named volume that is empty when a container mounts it is first filled with what the image has at
the mount point (`fill_volume`, called by container_init before the bind mount), as Docker does;
`-v name:/dst:nocopy` or `--mount ...,volume-nocopy=true` leaves it empty.

Volumes outlive containers; `rm -v` and `--rm` remove a container's anonymous volumes only, and a
volume in use by any container (running or not) is never removed.
"""

from __future__ import annotations

import builtins
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydock.runtime.atomic import Lock, read_json, write_json
from pydock.runtime.names import new_id

from pydock.errors import ConflictError, NotFoundError, UsageError
from pydock.units import utc_iso

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(frozen=True)
class Volume:
    name: str
    mountpoint: Path
    created: str
    labels: Mapping[str, str] = field(default_factory=dict)
    anonymous: bool = False

    def inspect(self) -> dict[str, object]:
        return {"CreatedAt": self.created, "Driver": "local", "Labels": dict(self.labels),
                "Mountpoint": str(self.mountpoint), "Name": self.name, "Options": {}, "Scope": "local"}


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _lock(self) -> Lock:
        self.root.mkdir(parents=True, exist_ok=True)
        return Lock(self.root / ".lock")

    def _load(self, name: str) -> Volume:
        d = self.root / name
        try:
            meta = read_json(d / "meta.json")
        except FileNotFoundError:
            raise NotFoundError(f"no such volume: {name}") from None
        return Volume(name, d / "_data", meta.get("CreatedAt", ""), meta.get("Labels", {}),
                      bool(meta.get("Anonymous")))

    def get(self, name: str) -> Volume:
        if not _NAME_RE.match(name):
            raise NotFoundError(f"no such volume: {name}")
        return self._load(name)

    def list(self) -> builtins.list[Volume]:
        if not self.root.is_dir():
            return []
        return sorted((self._load(p.parent.name) for p in self.root.glob("*/meta.json")), key=lambda v: v.name)

    def create(self, name: str = "", labels: Mapping[str, str] | None = None) -> Volume:
        """Creates the volume, or returns it if it exists (as `docker volume create` does)."""
        anonymous = not name
        name = name or new_id()
        if not _NAME_RE.match(name):
            raise UsageError(f"invalid volume name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        with self._lock():
            d = self.root / name
            if (d / "meta.json").exists():
                return self._load(name)
            (d / "_data").mkdir(parents=True, exist_ok=True)
            write_json(d / "meta.json", {"CreatedAt": utc_iso(), "Labels": dict(labels or {}),
                                         "Anonymous": anonymous})
            return self._load(name)

    def remove(self, name: str, users: Callable[[str], builtins.list[str]], force: bool = False) -> None:
        with self._lock():
            vol = self.get(name)
            using = users(vol.name)
            if using:
                raise ConflictError(f"remove {name}: volume is in use - [{', '.join(using)}]")
            import shutil  # lazily: it loads lzma and bz2, which the shim does not need

            shutil.rmtree(self.root / vol.name)

    def prune(self, users: Callable[[str], builtins.list[str]], all_volumes: bool = False) -> builtins.list[str]:
        """Removes unused anonymous volumes (all unused ones with `all_volumes`), as Docker 23+ does."""
        gone: builtins.list[str] = []
        for vol in self.list():
            if (vol.anonymous or all_volumes) and not users(vol.name):
                self.remove(vol.name, users)
                gone.append(vol.name)
        return gone


def fill_volume(src: Path, volume_data: Path) -> bool:
    """Copies the tree at `src` (the image's content at the mount point, seen through the container's
    root) into an empty volume, keeping modes, owners, times, symlinks and device nodes; the volume's
    root takes the owner and mode of `src`. A volume with anything in it is left alone. True if copied."""
    import shutil  # lazily: it loads lzma and bz2, which the shim does not need

    with Lock(volume_data.parent / "copy.lock"):  # two containers starting on one new volume
        if not src.is_dir() or src.is_symlink() or any(os.scandir(volume_data)):
            return False
        if not any(os.scandir(src)):
            return False
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            out = volume_data if rel == "." else volume_data / rel
            for name in [*dirnames, *filenames]:
                s, d = os.path.join(dirpath, name), out / name
                st = os.lstat(s)
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(d)
                elif stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(s), d)
                elif stat.S_ISREG(st.st_mode):
                    shutil.copyfile(s, d, follow_symlinks=False)
                else:
                    os.mknod(d, st.st_mode, st.st_rdev)  # fifos, sockets, device nodes
                _copy_meta(st, d)
            dirnames[:] = [n for n in dirnames if not os.path.islink(os.path.join(dirpath, n))]
        _copy_meta(os.lstat(src), volume_data)
        for dirpath, _dirs, _files in os.walk(volume_data, topdown=False):
            # directory times last: filling a directory changed its mtime
            st_src = os.lstat(src / os.path.relpath(dirpath, volume_data))
            os.utime(dirpath, ns=(st_src.st_atime_ns, st_src.st_mtime_ns))
        return True


def _copy_meta(st: os.stat_result, dst: Path) -> None:
    os.lchown(dst, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
