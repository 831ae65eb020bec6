"""The new mount API (Linux 5.2+) through ctypes: `open_tree`, `mount_setattr(MOUNT_ATTR_IDMAP)`,
`fsopen`/`fsconfig`/`fsmount` and `move_mount`, for user-namespaced containers (userns.py).

These make *detached* mounts: an idmapped clone of an image layer, or an overlayfs built on such
clones, held only by a file descriptor. The shim makes them with the host's privileges (an idmapped
mount needs CAP_SYS_ADMIN over the filesystem's owner, the host) and the container's init attaches
the overlay in its own mount namespace with `move_mount`, so nothing shows in the host's mount table.
The syscall numbers are the same on every architecture (added after the tables were unified).
"""

from __future__ import annotations

import ctypes
import os
import struct

from pydock.errors import RuntimeFailure

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long

_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_FSOPEN = 430
_SYS_FSCONFIG = 431
_SYS_FSMOUNT = 432
_SYS_MOUNT_SETATTR = 442

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOUNT_ATTR_IDMAP = 0x00100000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6


class MountApiError(RuntimeFailure):
    """A call of the mount API failed; `errno` says why (ENOSYS, EINVAL: the kernel lacks it)."""

    def __init__(self, what: str, err: int) -> None:
        super().__init__(f"{what}: {os.strerror(err)} (errno {err})")
        self.errno = err


def _call(what: str, nr: int, *args: object) -> int:
    ret = int(_libc.syscall(ctypes.c_long(nr), *args))
    if ret < 0:
        raise MountApiError(what, ctypes.get_errno())
    return ret


def clone_tree(path: str) -> int:
    """A detached copy of the mount at `path` (open_tree OPEN_TREE_CLONE), as an fd."""
    return _call(f"open_tree({path})", _SYS_OPEN_TREE, ctypes.c_int(AT_FDCWD), os.fsencode(path),
                 ctypes.c_uint(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC))


def set_idmap(fd: int, userns_fd: int) -> None:
    """Idmaps the detached mount `fd` with the user namespace `userns_fd`'s mapping: a file owned by
    uid N on disk is seen as the namespace's N, i.e. the host's `start + N`."""
    attr = struct.pack("QQQQ", MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
    buf = ctypes.create_string_buffer(attr, len(attr))
    _call("mount_setattr(MOUNT_ATTR_IDMAP)", _SYS_MOUNT_SETATTR, ctypes.c_int(fd), b"",
          ctypes.c_uint(AT_EMPTY_PATH), buf, ctypes.c_size_t(len(attr)))


def fs_mount(fstype: str, options: list[tuple[str, str]]) -> int:
    """A detached mount of a new `fstype` superblock configured by `options` (fsconfig strings, in
    order: overlayfs's `lowerdir+` may repeat), as an fd."""
    fs = _call(f"fsopen({fstype})", _SYS_FSOPEN, os.fsencode(fstype), ctypes.c_uint(FSOPEN_CLOEXEC))
    try:
        for key, value in options:
            _call(f"fsconfig({fstype}, {key}={value})", _SYS_FSCONFIG, ctypes.c_int(fs),
                  ctypes.c_uint(FSCONFIG_SET_STRING), key.encode(), os.fsencode(value), ctypes.c_int(0))
        _call(f"fsconfig({fstype}, create)", _SYS_FSCONFIG, ctypes.c_int(fs), ctypes.c_uint(FSCONFIG_CMD_CREATE),
              None, None, ctypes.c_int(0))
        return _call(f"fsmount({fstype})", _SYS_FSMOUNT, ctypes.c_int(fs), ctypes.c_uint(FSMOUNT_CLOEXEC),
                     ctypes.c_uint(0))
    finally:
        os.close(fs)


def attach(fd: int, target: str | os.PathLike[str]) -> None:
    """Attaches the detached mount `fd` at `target` in this process's mount namespace."""
    _call(f"move_mount(fd {fd}, {os.fspath(target)})", _SYS_MOVE_MOUNT, ctypes.c_int(fd), b"",
          ctypes.c_int(AT_FDCWD), os.fsencode(target), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
