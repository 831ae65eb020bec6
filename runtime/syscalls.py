"""Every raw syscall the runtime makes, in one place: namespaces, mounts, pivot_root, capabilities.

Python 3.11 has no `os.unshare`/`os.setns`, so these go through libc with ctypes. Every call checks
its return value and raises `RuntimeFailure` carrying errno's meaning and what was being attempted,
so an error from deep inside container set-up still says which mount or namespace failed.
"""

from __future__ import annotations

import _socket  # the C module: socket.py's enum set-up costs the shim milliseconds it does not need
import ctypes
import fcntl
import os
import struct

from pydock.errors import RuntimeFailure

# Named directly: ctypes.util.find_library runs /sbin/ldconfig, which costs ~100 ms per process.
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long

# Namespace flags (linux/sched.h).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# Mount flags (linux/mount.h).
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# prctl options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91, "riscv64": 91, "ppc64le": 184, "s390x": 185}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"{what}: {os.strerror(err)} (errno {err})")
    return ret


def _b(text: str | os.PathLike[str] | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare(0x{flags:x})")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), f"setns(fd {fd}, 0x{nstype:x})")


def mount(source: str | None, target: str | os.PathLike[str], fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    ret = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    _check(ret, f"mount {source or fstype or ''} on {os.fspath(target)} ({fstype or 'bind'})")


def umount(target: str | os.PathLike[str], flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {os.fspath(target)}")


_MACHINE = os.uname().machine  # what platform.machine() says, without importing platform


def pivot_root(new_root: str, put_old: str) -> None:
    nr = _SYS_PIVOT_ROOT.get(_MACHINE)
    if nr is None:
        raise RuntimeFailure(f"pivot_root: unsupported architecture {_MACHINE}")
    _check(_libc.syscall(ctypes.c_long(nr), _b(new_root), _b(put_old)), f"pivot_root({new_root}, {put_old})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname({name!r})")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option}, {arg2})")


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


class _SockFprog(ctypes.Structure):  # struct sock_fprog (linux/filter.h)
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp_program(code: bytes) -> None:
    """Installs a classic BPF program (struct sock_filter[], 8 bytes each) as this thread's seccomp
    filter. Without no_new_privs the kernel wants CAP_SYS_ADMIN, as for libseccomp's own load."""
    if not code or len(code) % 8 or len(code) // 8 > 0xFFFF:
        raise RuntimeFailure(f"loading the seccomp filter: not a BPF program ({len(code)} bytes)")
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.addressof(buf))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))


def last_cap() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def limit_capabilities(keep: frozenset[int]) -> None:
    """Drops every capability outside `keep` from the bounding set, clears the ambient set, and sets
    effective = permitted = `keep` (inheritable empty, as moby does since 20.10).

    For a root process the kernel computes the permitted set after execve from the bounding set, so
    the bounding set is what really limits the container's command."""
    for cap in range(last_cap() + 1):
        if cap not in keep:
            prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    mask = 0
    for cap in keep:
        mask |= 1 << cap
    lo, hi = mask & 0xFFFFFFFF, mask >> 32
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    data = struct.pack("IIIIII", lo, lo, 0, hi, hi, 0)
    nr = _SYS_CAPSET.get(_MACHINE)
    if nr is None:
        raise RuntimeFailure(f"capset: unsupported architecture {_MACHINE}")
    hbuf = ctypes.create_string_buffer(header, len(header))
    dbuf = ctypes.create_string_buffer(data, len(data))
    _check(_libc.syscall(ctypes.c_long(nr), hbuf, dbuf), "capset")


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def link_up(name: str = "lo") -> None:
    """Brings a network interface up (the loopback of a fresh network namespace starts down)."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sh", name.encode(), 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req + b"\0" * 22)[:18])[1]
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sh", name.encode(), flags | _IFF_UP) + b"\0" * 22)
    except OSError as exc:
        raise RuntimeFailure(f"bringing up interface {name}: {exc.strerror}") from exc
    finally:
        s.close()


# openat2(2) (linux/openat2.h): resolve a path as if `dirfd` were the root, so a symlink inside a
# container's rootfs (`/data -> /../../etc`) can never lead a mount outside it. The syscall number is
# the same on every architecture (it was added after the tables were unified).
_SYS_OPENAT2 = 437
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd: int, path: str | os.PathLike[str], flags: int, resolve: int, mode: int = 0) -> int:
    """A new fd for `path` relative to `dirfd`, with openat2's `resolve` restrictions; raises
    `RuntimeFailure` naming errno on failure (ENOSYS on kernels before 5.6)."""
    how = struct.pack("QQQ", flags, mode, resolve)
    hbuf = ctypes.create_string_buffer(how, len(how))
    ret = _libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), _b(path), hbuf,
                        ctypes.c_size_t(len(how)))
    return _check(int(ret), f"openat2({os.fspath(path)})")


def openat2_errno(dirfd: int, path: str | os.PathLike[str], flags: int, resolve: int) -> tuple[int, int]:
    """Like `openat2`, but returns (fd, 0) or (-1, errno) instead of raising, for callers that
    handle ENOENT or ENOSYS themselves."""
    how = struct.pack("QQQ", flags, 0, resolve)
    hbuf = ctypes.create_string_buffer(how, len(how))
    ret = int(_libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), _b(path), hbuf,
                            ctypes.c_size_t(len(how))))
    return (ret, 0) if ret >= 0 else (-1, ctypes.get_errno())
