"""What runs in the container's first process between fork and exec: namespaces, mounts, pivot_root,
/proc, /dev, /sys, masked paths, hostname, loopback, user, capabilities, then execve of the command.

The shim forks this process after `unshare(CLONE_NEWPID)`, so it is PID 1 of a fresh PID namespace,
and the command it execs stays PID 1. It waits on `sync_fd` until the shim has placed it in its
cgroup, so the container's first instruction already runs inside it. Any failure is written to
`err_fd` as `<exit code> <message>` (the fd is close-on-exec: EOF there means exec succeeded).

After pivot_root the container's tree is all there is, so everything this module needs is imported
before it starts.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydock.runtime import rootfs, syscalls
from pydock.runtime.security import confine, mountattr
from pydock.runtime.security.confine import DEFAULT_SECURITY, SecurityConfig
from pydock.runtime.syscalls import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_STRICTATIME,
)

from pydock.errors import CommandNotFound, CommandNotInvokable, PydockError, RuntimeFailure

# moby's oci/caps/defaults.go: Docker's default capability set.
DEFAULT_CAPS = frozenset({
    0,   # CAP_CHOWN
    1,   # CAP_DAC_OVERRIDE
    3,   # CAP_FOWNER
    4,   # CAP_FSETID
    5,   # CAP_KILL
    6,   # CAP_SETGID
    7,   # CAP_SETUID
    8,   # CAP_SETPCAP
    10,  # CAP_NET_BIND_SERVICE
    13,  # CAP_NET_RAW
    18,  # CAP_SYS_CHROOT
    27,  # CAP_MKNOD
    29,  # CAP_AUDIT_WRITE
    31,  # CAP_SETFCAP
})
# moby's oci/defaults.go: paths hidden from containers, and paths made read-only.
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# name, major, minor: the devices of runc's default /dev.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))


@dataclass(frozen=True)
class Mount:
    """A mount resolved by the lifecycle: `source` is a host path (bind) or empty (tmpfs)."""

    kind: str  # "bind" or "tmpfs"
    source: str
    target: str
    read_only: bool = False
    data: str = ""
    copy_up: bool = False  # a named volume: filled with the image's content at `target` while empty


@dataclass(frozen=True)
class InitConfig:
    container_dir: Path
    target: Path  # where the rootfs is mounted before pivot_root
    storage_driver: str
    layers: tuple[Path, ...]
    argv: tuple[str, ...]
    env: tuple[str, ...]
    workdir: str
    user: str
    hostname: str
    network: str  # "none" or "host"
    mounts: tuple[Mount, ...]
    etc_files: tuple[tuple[str, Path], ...]  # (/etc/hostname, host file) bound over the image's
    console_socket: int = -1  # runtime depth: with -t, where to send the pty master (runtime/tty.py)
    security: SecurityConfig = DEFAULT_SECURITY  # security room: caps, seccomp, devices (runtime/security/)
    netns: str = ""  # network room: a netns file to join (bridged, container:NAME); '' makes a fresh one
    userns: Any = None  # security room: --userns auto, a security.userns.Start (the namespace, its ids)
    seccomp_cache: Path | None = None  # where compiled seccomp programs are kept (security/seccomp_cache.py)


def _secure_path(root: Path, path: str) -> Path:
    """`path` inside `root`, resolving symlinks as if `root` were `/`, so no mount lands outside it."""
    cur = root
    parts = [p for p in path.split("/") if p not in ("", ".")]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            cur = cur.parent if cur != root else root
            continue
        nxt = cur / part
        if nxt.is_symlink():
            hops += 1
            if hops > 40:
                raise RuntimeFailure(f"too many symlinks resolving {path} in the container")
            link = os.readlink(nxt)
            if link.startswith("/"):
                cur = root
            parts = [p for p in link.split("/") if p not in ("", ".")] + parts
            continue
        cur = nxt
    return cur


def _mkdirs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def _mount_target(root: Path, target: str, is_dir: bool) -> Path:
    """Makes the mount point `target` inside `root` (symlinks resolved inside it) and returns its path."""
    dst = _secure_path(root, target)
    if dst == root:
        # Over the root itself, the mount would become the container's root (and get /proc made in it).
        raise RuntimeFailure(f"mount destination {target} resolves to the container's root directory")
    if is_dir:
        _mkdirs(dst)
    elif not os.path.lexists(dst):
        _mkdirs(dst.parent)
        dst.touch()
    return dst


def _open_in_root(root: Path, target: str, made: Path) -> int:
    """An O_PATH fd of `target` resolved by the kernel with `root` as `/` (openat2 RESOLVE_IN_ROOT):
    whatever symlinks the image or a shared volume holds, and even if they change under us, the fd
    is inside the rootfs. It must be the object `_mount_target` made, or the tree changed meanwhile.

    Mounting on `/proc/self/fd/N` instead of a path is runc's defence against CVE-2021-30465."""
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd, err = syscalls.openat2_errno(rootfd, target, os.O_PATH | os.O_CLOEXEC,
                                         syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS)
    finally:
        os.close(rootfd)
    if fd < 0 and err == errno.ENOSYS:  # before Linux 5.6: the userland resolution, not followed again
        fd = os.open(made, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    elif fd < 0:
        raise RuntimeFailure(f"mount point {target} in the container: {os.strerror(err)}")
    try:
        st, want = os.fstat(fd), os.lstat(made)
        real = os.readlink(f"/proc/self/fd/{fd}")
        inside = real == str(root) or real.startswith(str(root).rstrip("/") + "/")
        if (st.st_dev, st.st_ino) != (want.st_dev, want.st_ino) or not inside:
            raise RuntimeFailure(f"mount point {target} in the container changed while it was resolved")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _mount_in_root(root: Path, target: str, made: Path, source: str | None, fstype: str | None,
                   flags: int, data: str | None = None) -> None:
    """mount(2) on `target` inside `root`, through an fd that cannot point outside it."""
    fd = _open_in_root(root, target, made)
    try:
        syscalls.mount(source, f"/proc/self/fd/{fd}", fstype, flags, data)
    finally:
        os.close(fd)


def _setup_mounts(cfg: InitConfig) -> None:
    root = cfg.target
    if cfg.userns is None:
        _setup_binds(cfg)
    else:
        # security room: the helper mounted the rootfs and the binds with the host's privileges
        # (security/userns.py). Inherited from a more privileged namespace they are locked
        # together, and pivot_root refuses a locked root: a bind of it onto itself is ours.
        syscalls.mount(str(root), root, None, MS_BIND | MS_REC)
    _require_dir(root, "/proc")
    proc = _mount_target(root, "/proc", True)
    _mount_in_root(root, "/proc", proc, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _require_dir(root, "/dev")
    dev = _mount_target(root, "/dev", True)
    _mount_in_root(root, "/dev", dev, "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    _setup_dev(dev)
    if cfg.userns is None or not cfg.netns:  # else the helper did, in that netns (security/userns.py)
        _mount_sysfs(root)


def _mount_sysfs(root: Path) -> None:
    _require_dir(root, "/sys")
    sys_dir = _mount_target(root, "/sys", True)
    # A fresh sysfs even with the host's network (it shows its mounter's netns, the host's then), as
    # runc does: a bind of the host's /sys would bring its writable /sys/fs/cgroup/* mounts along.
    _mount_in_root(root, "/sys", sys_dir, "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _setup_binds(cfg: InitConfig) -> None:
    """The rootfs, then every tmpfs and bind (volumes, -v, the /etc files) in it."""
    root = cfg.target
    syscalls.mount(None, "/", None, MS_REC | MS_PRIVATE)
    if cfg.userns is not None:  # security room: idmapped image layers (security/idmapped.py)
        from pydock.runtime.security import idmapped

        idmapped.mount_rootfs(cfg)
    else:
        rootfs.mount(cfg.storage_driver, cfg.container_dir, list(cfg.layers), root)
    for m in cfg.mounts:
        if m.kind == "tmpfs":
            dst = _mount_target(root, m.target, True)
            _mount_in_root(root, m.target, dst, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, m.data or None)
            continue
        dst = _mount_target(root, m.target, os.path.isdir(m.source))
        if m.copy_up:
            from pydock.runtime.volumes import fill_volume  # only for volumes: most containers have none

            fill_volume(dst, Path(m.source))
        _mount_in_root(root, m.target, dst, m.source, None, MS_BIND | MS_REC)
        if m.read_only:
            # Opened again: the new fd is the bind mount's root. Recursive: a submount of the source
            # must not stay writable (security/mountattr.py).
            _readonly_in_root(root, m.target, dst)
    for name, src in cfg.etc_files:
        if (root / "etc").is_dir() and not (root / "etc").is_symlink():
            dst = _mount_target(root, name, False)
            _mount_in_root(root, name, dst, str(src), None, MS_BIND)


def _readonly_in_root(root: Path, target: str, made: Path) -> None:
    fd = _open_in_root(root, target, made)
    try:
        mountattr.make_readonly(fd)
    finally:
        os.close(fd)


def _require_dir(root: Path, name: str) -> None:
    """/proc, /dev and /sys must be real directories (or absent) in the image, as runc requires
    (CVE-2019-19921): a symlink there would let an image move /proc, and the masks with it."""
    try:
        st = os.lstat(root / name.lstrip("/"))
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeFailure(f"{name} in the container's root filesystem is not a directory; "
                             "refusing to mount over it")


def _setup_dev(dev: Path) -> None:
    """Fills the fresh tmpfs mounted at `dev` with runc's default devices and mounts."""
    for name, major, minor in DEVICES:
        node = dev / name
        try:
            os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(major, minor))
            os.chmod(node, 0o666)  # mknod's mode is filtered by the umask
        except PermissionError:  # no CAP_MKNOD here (a user namespace): bind the host's node instead
            node.touch()
            syscalls.mount(f"/dev/{name}", node, None, MS_BIND)
    (dev / "pts").mkdir()
    syscalls.mount("devpts", dev / "pts", "devpts", MS_NOSUID | MS_NOEXEC,
                   "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", dev / "ptmx")
    (dev / "shm").mkdir()
    syscalls.mount("shm", dev / "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")
    (dev / "mqueue").mkdir()
    syscalls.mount("mqueue", dev / "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")):
        os.symlink(target, dev / name)


def _pivot(root: Path) -> None:
    # pivot_root(".", ".") stacks the old root over the new one; unmounting it leaves only the new
    # root, with no directory needed for the old one (runc's trick).
    os.chdir(root)
    syscalls.pivot_root(".", ".")
    syscalls.umount(".", syscalls.MNT_DETACH)
    os.chdir("/")


def _mask_paths() -> None:
    for path in MASKED_PATHS:
        try:
            if os.path.isdir(path):
                syscalls.mount("tmpfs", path, "tmpfs", MS_RDONLY)
            elif os.path.exists(path):
                syscalls.mount("/dev/null", path, None, MS_BIND)
        except RuntimeFailure:
            if os.path.exists(path):
                raise
    for path in READONLY_PATHS:
        if os.path.exists(path):
            syscalls.mount(path, path, None, MS_BIND | MS_REC)
            syscalls.mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC)


def _lookup_user(spec: str) -> tuple[int, int, list[int], str]:
    """Docker's `-u name|uid[:group|gid]`, read from the container's own /etc/passwd and /etc/group."""
    user, _, group = spec.partition(":")
    passwd = _read_db("/etc/passwd")
    entry = next((e for e in passwd if e[0] == user or (user.isdigit() and e[2] == user)), None)
    if entry is None and not user.isdigit():
        raise RuntimeFailure(f"unable to find user {user}: no matching entries in passwd file")
    uid = int(user) if user.isdigit() else int(entry[2])  # type: ignore[index]
    gid = int(entry[3]) if entry else 0
    home = entry[5] if entry and len(entry) > 5 else "/"
    groups_db = _read_db("/etc/group")
    if group:
        g = next((e for e in groups_db if e[0] == group or (group.isdigit() and e[2] == group)), None)
        if g is None and not group.isdigit():
            raise RuntimeFailure(f"unable to find group {group}: no matching entries in group file")
        gid = int(group) if group.isdigit() else int(g[2])  # type: ignore[index]
    name = entry[0] if entry else ""
    extra = [int(e[2]) for e in groups_db if len(e) > 3 and name and name in e[3].split(",")]
    return uid, gid, sorted({gid, *extra}), home


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def _find_command(argv0: str, env: dict[str, str]) -> str:
    if "/" in argv0:
        path = argv0
        if not os.path.exists(path):
            raise CommandNotFound(f'exec: "{argv0}": stat {argv0}: no such file or directory')
    else:
        for d in env.get("PATH", "").split(":"):
            candidate = os.path.join(d or ".", argv0)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                path = candidate
                break
        else:
            raise CommandNotFound(f'exec: "{argv0}": executable file not found in $PATH')
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise CommandNotInvokable(f'exec: "{argv0}": permission denied')
    return path


def run(cfg: InitConfig, sync_fd: int, err_fd: int) -> None:
    """Never returns: execs the command, or reports on `err_fd` and exits with Docker's code."""
    try:
        syscalls.set_pdeathsig(signal.SIGKILL)  # the container dies with its shim, never orphaned
        if os.read(sync_fd, 1) != b"1":
            os._exit(125)  # the shim went away before placing us in the cgroup
        os.close(sync_fd)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if cfg.userns is not None:  # security room: --userns; goes on in PID 1, made in the namespace
            from pydock.runtime.security import userns

            userns.enter(cfg, _setup_binds, _mount_sysfs)
        os.setsid()
        flags = syscalls.CLONE_NEWNS | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWIPC
        if cfg.security.cgroupns_private:  # security room: --cgroupns private (after the shim placed us)
            flags |= syscalls.CLONE_NEWCGROUP
        if cfg.netns and cfg.userns is not None:
            pass  # security room: the helper joined it before entering the user namespace
        elif cfg.netns:  # network room: the shim plumbed this namespace already (runtime/network/bridge.py)
            netfd = os.open(cfg.netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(netfd, syscalls.CLONE_NEWNET)
            finally:
                os.close(netfd)
        elif cfg.network != "host":
            flags |= syscalls.CLONE_NEWNET
        syscalls.unshare(flags)
        _setup_mounts(cfg)
        # devices, /dev/shm, the seccomp filter built (or read from its cache)
        sec = confine.before_pivot(cfg.security, cfg.target, cfg.seccomp_cache)
        _pivot(cfg.target)
        confine.after_pivot(sec)  # sysctls, while /proc/sys is still writable
        if not cfg.security.privileged:
            _mask_paths()
        if cfg.console_socket >= 0:  # runtime depth: -t, a pty on the container's devpts
            from pydock.runtime import tty

            tty.open_container_console(cfg.console_socket)
        syscalls.sethostname(cfg.hostname)
        if cfg.network != "host" and not (cfg.netns and cfg.userns is not None):  # else the helper did
            syscalls.link_up("lo")
        env = dict(e.partition("=")[::2] for e in cfg.env)
        uid, gid, groups, home = _lookup_user(cfg.user) if cfg.user else (0, 0, [0], "/root")
        env.setdefault("HOME", home)
        workdir = cfg.workdir or "/"
        os.makedirs(workdir, exist_ok=True)  # Docker makes a missing working directory
        os.chdir(workdir)
        path = _find_command(cfg.argv[0], env)
        confine.before_caps(sec)  # read-only root; no_new_privs (or, without it, the filter now)
        syscalls.limit_capabilities(cfg.security.caps)
        extra_groups = confine.group_ids(sec, _read_db)  # --group-add
        if cfg.user:
            os.setgroups(sorted({*groups, *extra_groups}))
            os.setgid(gid)
            os.setuid(uid)
        elif extra_groups:
            os.setgroups(sorted({0, *extra_groups}))
        os.umask(0o022)
        _close_fds_on_exec()
        confine.before_exec(sec)  # seccomp last: nothing of ours runs under the container's filter
        try:
            os.execve(path, list(cfg.argv), env)
        except OSError as exc:
            reason = os.strerror(exc.errno or 0).lower()
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise CommandNotFound(f'exec: "{cfg.argv[0]}": {reason}') from exc
            raise CommandNotInvokable(f'exec: "{cfg.argv[0]}": {reason}') from exc
    except PydockError as exc:
        _fail(err_fd, exc.exit_code, str(exc))
    except OSError as exc:
        _fail(err_fd, 125, f"container init: {exc}")
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the shim must hear why
        _fail(err_fd, 125, f"container init: {type(exc).__name__}: {exc}")


def _close_fds_on_exec() -> None:
    """Marks every fd above stderr close-on-exec, so nothing the shim held open (its pipes, a lock,
    a directory) reaches the container's command: a leaked fd of a host directory is a way out of
    the rootfs (runc's CVE-2024-21626). /proc here is the container's own."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:  # the fd listdir itself used, closed by now
                pass


def _fail(err_fd: int, code: int, message: str) -> None:
    try:
        os.write(err_fd, f"{code} {message}".encode()[:4000])
    finally:
        os._exit(code)
