"""Recursive read-only mounts: `mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY)` (Linux 5.12+).

`mount(MS_REMOUNT|MS_BIND|MS_RDONLY|MS_REC)` only changes the top mount of a recursive bind: every
submount below it (a host's /sys/fs/cgroup/*, a volume's own submounts) stays writable. Docker 25+
and runc use mount_setattr for this; where the kernel lacks it, each submount found in
/proc/self/mountinfo is remounted read-only one by one (what older runc did).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from pydock.runtime import syscalls
from pydock.runtime.syscalls import MS_BIND, MS_RDONLY, MS_REMOUNT

from pydock.errors import RuntimeFailure

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_SYS_MOUNT_SETATTR = 442  # same number on every architecture (added after the tables were unified)
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8


def mount_setattr(fd: int, attr_set: int, attr_clr: int = 0, recursive: bool = True) -> int:
    """mount_setattr(2) on the mount `fd` (an O_PATH fd of its root); 0, or the errno."""
    attr = struct.pack("QQQQ", attr_set, attr_clr, 0, 0)
    buf = ctypes.create_string_buffer(attr, len(attr))
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    ret = _libc.syscall(ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(fd), b"", ctypes.c_uint(flags),
                        buf, ctypes.c_size_t(len(attr)))
    return 0 if ret == 0 else ctypes.get_errno()


def _submounts(path: str) -> list[str]:
    """Mount points at or below `path`, parents first, from this namespace's mountinfo."""
    prefix = path.rstrip("/") + "/"
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")  # \040 for a space
            if point == path or point.startswith(prefix):
                points.append(point)
    return sorted(set(points), key=len)


def make_readonly(fd: int) -> None:
    """Makes the mount whose root `fd` is, and every mount below it, read-only."""
    err = mount_setattr(fd, MOUNT_ATTR_RDONLY)
    if err == 0:
        return
    if err not in (errno.ENOSYS, errno.EINVAL):
        raise RuntimeFailure(f"making {os.readlink(f'/proc/self/fd/{fd}')} read-only: {os.strerror(err)}")
    path = os.readlink(f"/proc/self/fd/{fd}")
    for point in _submounts(path):
        syscalls.mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def writable_submounts(path: str) -> list[str]:
    """Mount points at or below `path` that are mounted read-write (for checks and tests)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            if (point == path or point.startswith(path.rstrip("/") + "/")) and "rw" in fields[5].split(","):
                out.append(point)
    return out
