"""A container's root filesystem: the image's layers read-only under a per-container upper directory.

With overlayfs the rootfs is mounted inside the container's own mount namespace, so it disappears
with the container and never shows in the host's /proc/mounts. Where overlayfs is unavailable (or
`PYDOCK_STORAGE_DRIVER=copy`), the layers are merged once into `<container dir>/rootfs`, honouring
the whiteouts archive.py stored, and that copy is bind-mounted instead. Either way, writes inside a
container never reach the image or the host.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydock.runtime import syscalls

from pydock.errors import RuntimeFailure

OVERLAY = "overlay"
OPAQUE_XATTR = "trusted.overlay.opaque"  # overlayfs's mark of a directory that hides the layers below
COPY = "copy"


def choose_driver(probe_dir: Path) -> str:
    """`overlay` if this kernel and filesystem can mount it (probed once, remembered in `probe_dir`)."""
    forced = os.environ.get("PYDOCK_STORAGE_DRIVER", "")
    if forced in (OVERLAY, COPY):
        return forced
    marker = probe_dir / "storage-driver"
    try:
        return marker.read_text().strip()
    except FileNotFoundError:
        pass
    probe_dir.mkdir(parents=True, exist_ok=True)
    base = probe_dir / f"probe.{os.getpid()}"
    dirs = [base / n for n in ("lower", "upper", "work", "merged")]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    result = COPY
    try:
        syscalls.mount("overlay", dirs[3], "overlay", 0,
                       f"lowerdir={dirs[0]},upperdir={dirs[1]},workdir={dirs[2]}")
        syscalls.umount(dirs[3], syscalls.MNT_DETACH)
        result = OVERLAY
    except RuntimeFailure:
        result = COPY
    finally:
        import shutil  # lazily: it loads lzma and bz2, which the shim does not need

        shutil.rmtree(base, ignore_errors=True)
    marker.write_text(result)
    return result


def prepare(driver: str, container_dir: Path, layers: list[Path]) -> None:
    """Makes the per-container directories (at create time)."""
    if driver == OVERLAY:
        (container_dir / "diff").mkdir(mode=0o755)
        (container_dir / "work").mkdir(mode=0o700)
    else:
        merge_layers(layers, container_dir / "rootfs")


def mount(driver: str, container_dir: Path, layers: list[Path], target: Path) -> None:
    """Mounts the rootfs at `target`; called inside the container's mount namespace."""
    if driver == OVERLAY:
        # overlayfs lists the uppermost lower layer first.
        lower = ":".join(str(p) for p in reversed(layers))
        syscalls.mount("overlay", target, "overlay", 0,
                       f"lowerdir={lower},upperdir={container_dir / 'diff'},workdir={container_dir / 'work'}")
    else:
        syscalls.mount(str(container_dir / "rootfs"), target, None, syscalls.MS_BIND | syscalls.MS_REC)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def remove_path(path: Path) -> None:
    """Removes a file, link or whole directory; a missing path is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil  # lazily: it loads lzma and bz2, which the shim does not need

        shutil.rmtree(path)
    else:
        os.unlink(path)


def merge_layers(layers: list[Path], dest: Path) -> None:
    """Copies the layers into `dest`, lowest first, applying whiteouts and opaque directories."""
    dest.mkdir(mode=0o755)
    for layer in layers:
        links: dict[tuple[int, int], Path] = {}
        _merge_dir(layer, dest, links)


def _merge_dir(src: Path, dst: Path, links: dict[tuple[int, int], Path]) -> None:
    import shutil  # lazily: it loads lzma and bz2, which the shim does not need

    for entry in os.scandir(src):
        s, d = Path(entry.path), dst / entry.name
        st = entry.stat(follow_symlinks=False)
        if _is_whiteout(st):
            remove_path(d)
            continue
        if stat.S_ISDIR(st.st_mode):
            if _is_opaque(s) or (d.exists() and not d.is_dir()) or d.is_symlink():
                remove_path(d)
            if not d.exists():
                os.mkdir(d, 0o700)
            _merge_dir(s, d, links)
            os.lchown(d, st.st_uid, st.st_gid)
            os.chmod(d, stat.S_IMODE(st.st_mode))
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
            continue
        remove_path(d)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], d)
            continue
        if stat.S_ISREG(st.st_mode):
            shutil.copyfile(s, d, follow_symlinks=False)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            os.mknod(d, st.st_mode, st.st_rdev)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(d)
        else:
            continue
        os.lchown(d, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(d, stat.S_IMODE(st.st_mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        if st.st_nlink > 1:
            links[key] = d
