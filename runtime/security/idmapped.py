"""The rootfs of a user-namespaced container: image layers that show as root's inside.

Preferred: each layer is cloned as a detached mount idmapped with the container's user namespace
(`open_tree(OPEN_TREE_CLONE)` + `mount_setattr(MOUNT_ATTR_IDMAP)`), and overlayfs is built on
those clones (`fsopen` with one `lowerdir+` each, Linux 6.8+; overlayfs takes idmapped lower layers
since 5.19), by the helper, still root on the host, so overlayfs keeps reading the layers'
`trusted.overlay.*` marks. The upper directory belongs to the mapped root: what the container
writes lands as the range's ids. Nothing is copied; a layer stays shared with every other container.

Fallback, where the kernel or the layers' filesystem refuses an idmapped mount (the errno is
logged in shim.log): a copy of each layer with every owner shifted by the range's start, made once
per range and layer under `$ROOT/userns-layers/<uid>.<gid>/`, kept while the range is held and
removed when it is freed (userns.release: it costs the layers' size per range in use, and the copy's
time at the first start).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from pydock.runtime import rootfs
from pydock.runtime.atomic import Lock
from pydock.runtime.security import mountapi


def mount_rootfs(cfg: Any) -> None:
    """Mounts the container's rootfs at `cfg.target` (the helper, in its own mount namespace)."""
    us = cfg.userns
    layers = list(cfg.layers)
    if cfg.storage_driver != rootfs.OVERLAY:  # the per-container copy, shifted at create
        rootfs.mount(cfg.storage_driver, cfg.container_dir, layers, cfg.target)
        return
    try:
        fd = _idmapped_overlay(layers, cfg.container_dir, us.fd)
    except mountapi.MountApiError as exc:
        print(f"userns: idmapped overlay refused ({exc}); using shifted copies of the layers", file=sys.stderr)
        shifted = [shifted_layer(layer, us.idmap, us.cache) for layer in layers]
        rootfs.mount(rootfs.OVERLAY, cfg.container_dir, shifted, cfg.target)
        return
    try:
        mountapi.attach(fd, cfg.target)
    finally:
        os.close(fd)


def _idmapped_overlay(layers: list[Path], cdir: Path, userns_fd: int) -> int:
    clones: list[int] = []
    try:
        for layer in layers:
            clones.append(mountapi.clone_tree(str(layer)))
            mountapi.set_idmap(clones[-1], userns_fd)
        # The uppermost lower layer first, as in `lowerdir=`.
        opts = [("lowerdir+", f"/proc/self/fd/{fd}") for fd in reversed(clones)]
        opts += [("upperdir", str(cdir / "diff")), ("workdir", str(cdir / "work"))]
        return mountapi.fs_mount("overlay", opts)
    finally:
        for fd in clones:
            os.close(fd)


def shift_tree(path: Path, m: Any) -> None:
    """Adds the range's start to the owner of every file under `path` (not following links)."""
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            _shift(os.path.join(dirpath, name), m)
    _shift(str(path), m)


def _shift(p: str, m: Any) -> None:
    st = os.lstat(p)
    if st.st_uid >= m.size or st.st_gid >= m.size:
        return  # already shifted (a copy interrupted half-way), or an id the range cannot map
    os.lchown(p, m.uid + st.st_uid, m.gid + st.st_gid)
    if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
        os.chmod(p, stat.S_IMODE(st.st_mode))  # chown clears set-id bits; the image's stay


def shifted_layer(layer: Path, m: Any, cache: Path) -> Path:
    """`layer` copied with shifted owners, once per range (`cp -a` keeps xattrs, whiteouts, links)."""
    import subprocess

    dest = cache / f"{m.uid}.{m.gid}" / layer.name
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Lock(dest.parent / ".lock"):
        if dest.is_dir():
            return dest
        tmp = dest.with_name(dest.name + ".tmp")
        rootfs.remove_path(tmp)
        subprocess.run(["cp", "-a", str(layer), str(tmp)], check=True, capture_output=True)
        shift_tree(tmp, m)
        os.rename(tmp, dest)
    return dest
