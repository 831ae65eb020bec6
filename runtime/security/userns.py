"""User namespaces (`--userns auto`, daemon.json `"userns-remap": "default"`): each container gets
its own 65536 ids out of the subordinate ranges of the system user `pydock` (/etc/subuid,
/etc/subgid), and its root is the range's first id on the host.

Ids: `ensure_subids` adds the user (`useradd --system`) and one range per file
(`pydock:100000000:67108864`, 1024 containers' worth, moved above any range already there) when
they are missing. `allocate` hands out a free 65536-block at `create`, under `$ROOT/userns.lock`, and
records it twice: in the container's config.json (`HostConfig.IDMappings`, OCI's shape, shown by inspect) and as a slot file
`$ROOT/userns/<uid>.<gid>` holding the container's id, so concurrent `create`s never share a block;
`release` (at `rm`) frees it, and a slot whose container directory is gone is reclaimed.

Start, in three processes (the shim is multi-threaded, so it can neither enter a namespace nor
safely `clone` by hand):
1. `begin` (the shim): a throwaway child unshares a user namespace; the shim, which stays in the
   host's, writes its uid_map/gid_map and keeps an fd of it. That is the added step of the sync.
2. `enter` (the shim's child, "the helper", still root on the host, from container_init.run): a
   private mount namespace where it mounts the rootfs and every bind (volumes, /etc files, -v)
   with the host's privileges, so no state directory needs to be readable by the mapped root; the
   image layers are idmapped clones (idmapped.py). Then it joins the network namespace, the user
   namespace, unshares the PID namespace and clones the container's PID 1 with CLONE_PARENT, so
   PID 1 is the shim's child, as without a user namespace, and exits.
3. PID 1 carries on in container_init.run: its mount, UTS, IPC, network and cgroup namespaces are
   made inside the user namespace (owned by it), /proc, /dev and /sys mounted there.
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydock.runtime import syscalls
from pydock.runtime.atomic import Lock

from pydock.errors import RuntimeFailure, UsageError

CLONE_NEWUSER = 0x10000000
CLONE_PARENT = 0x00008000
PR_SET_CHILD_SUBREAPER = 36
RANGE = 65536  # ids per container, as Docker's and Podman's defaults
USER = "pydock"
FIRST = 100_000_000  # far above login users' ranges (useradd starts at 100000)
COUNT = RANGE * 1024
ETC = Path("/etc")
MODES = ("", "host", "auto")
_SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120}


@dataclass(frozen=True)
class IdMap:
    """The host's ids of the container's 0..size-1."""

    uid: int
    gid: int
    size: int = RANGE

    def to_json(self) -> dict[str, Any]:
        return {"UidMap": [{"ContainerID": 0, "HostID": self.uid, "Size": self.size}],
                "GidMap": [{"ContainerID": 0, "HostID": self.gid, "Size": self.size}]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IdMap | None:
        m = config.get("HostConfig", {}).get("IDMappings")
        if not m:
            return None
        u, g = m["UidMap"][0], m["GidMap"][0]
        return cls(int(u["HostID"]), int(g["HostID"]), int(u["Size"]))


# -- flags -----------------------------------------------------------------------------------------

def remapped(mode: str, daemon: dict[str, Any], privileged: bool, network: str) -> bool:
    """Whether a container gets a user namespace; refuses what Docker refuses with remapping on."""
    if mode not in MODES:
        raise UsageError(f"invalid --userns {mode!r}: auto or host")
    remap = str(daemon.get("userns-remap") or "")
    if remap not in ("", "default", USER, f"{USER}:{USER}"):
        raise UsageError(f"daemon.json userns-remap {remap!r} is not supported: use \"default\" "
                         f"(the subordinate ids of the user {USER})")
    on = mode == "auto" or (mode == "" and bool(remap))
    if on and privileged:
        raise UsageError("privileged mode is incompatible with user namespaces.  You must run the container "
                         "in the host namespace when running privileged mode")
    if on and network == "host":
        raise UsageError("cannot share the host's network namespace when user namespaces are enabled")
    return on


# -- subordinate ids -------------------------------------------------------------------------------

def _ranges(text: str, names: set[str]) -> list[tuple[int, int]]:
    out = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
            out.append((int(parts[1]), int(parts[2])))
    return out


def _all_ranges(text: str) -> list[tuple[int, int]]:
    return [(int(p[1]), int(p[2])) for p in (ln.strip().split(":") for ln in text.splitlines())
            if len(p) == 3 and p[1].isdigit() and p[2].isdigit()]


def ensure_subids(etc: Path = ETC) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The user's subordinate uid and gid ranges, made if missing (user and both lines)."""
    import pwd

    try:
        uid = pwd.getpwnam(USER).pw_uid
    except KeyError:
        if etc != ETC:
            uid = -1  # a test's /etc: no user database to add to
        else:
            import subprocess

            p = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                                "--shell", "/usr/sbin/nologin", USER], check=False, capture_output=True, text=True)
            if p.returncode not in (0, 9):  # 9: made meanwhile by another pydock
                raise RuntimeFailure(f"useradd {USER}: {p.stderr.strip() or p.returncode}")
            uid = pwd.getpwnam(USER).pw_uid
    names = {USER, str(uid)}
    files = (etc / "subuid", etc / "subgid")
    fds = [os.open(f, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644) for f in files]
    try:
        import fcntl

        for fd in fds:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another state root's pydock may be adding its line too
        texts = [f.read_text() for f in files]
        found = [_ranges(t, names) for t in texts]
        if not found[0] or not found[1]:
            start = FIRST
            taken = sorted(_all_ranges(texts[0]) + _all_ranges(texts[1]))
            for s, n in taken:  # the first place clear of every range in either file
                if s < start + COUNT and start < s + n:
                    start = s + n
            for i, fd in enumerate(fds):
                if not found[i]:
                    sep = "" if not texts[i] or texts[i].endswith("\n") else "\n"
                    os.lseek(fd, 0, os.SEEK_END)
                    os.write(fd, f"{sep}{USER}:{start}:{COUNT}\n".encode())
                    found[i] = [(start, COUNT)]
        return found[0], found[1]
    finally:
        for fd in fds:
            os.close(fd)


def _blocks(ranges: list[tuple[int, int]]) -> list[int]:
    return [s + i * RANGE for s, n in ranges for i in range(n // RANGE)]


# -- allocation ------------------------------------------------------------------------------------

def allocate(root: Path, cid: str, etc: Path = ETC) -> IdMap:
    """A block no other container of this state root holds, recorded for `cid` (its directory must
    exist: a slot whose container directory is gone is free again)."""
    uids, gids = ensure_subids(etc)
    slots = root / "userns"
    slots.mkdir(mode=0o700, exist_ok=True)
    with Lock(root / "userns.lock"):
        used_u, used_g = set(), set()
        for f in slots.iterdir():
            owner = f.read_text().strip()
            if not (root / "containers" / owner).is_dir():
                _free(root, f)
                continue
            u, _, g = f.name.partition(".")
            used_u.add(int(u))
            used_g.add(int(g))
        free_u = [b for b in _blocks(uids) if b not in used_u]
        free_g = [b for b in _blocks(gids) if b not in used_g]
        if not free_u or not free_g:
            raise RuntimeFailure(f"no free range of {RANGE} subordinate ids left for user {USER} "
                                 f"({etc / 'subuid'}, {etc / 'subgid'}): remove containers or widen the ranges")
        m = IdMap(free_u[0], free_g[0])
        (slots / f"{m.uid}.{m.gid}").write_text(cid + "\n")
        return m


def release(root: Path, cid: str) -> None:
    slots = root / "userns"
    if not slots.is_dir():
        return
    with Lock(root / "userns.lock"):
        for f in slots.iterdir():
            if f.read_text().strip() == cid:
                _free(root, f)


def _free(root: Path, slot: Path) -> None:
    """Frees a range (under userns.lock): its slot, and the shifted layer copies made for it where
    idmapped mounts were refused (idmapped.py), which no other container can be using: a range has
    one holder, and the next one to get it makes them again at its first start."""
    slot.unlink()
    cache = root / "userns-layers" / slot.name
    if cache.is_dir():
        from pydock.runtime import rootfs

        rootfs.remove_path(cache)


def prepare_container(cdir: Path, m: IdMap, driver: str) -> None:
    """At create: what the container's root must own on the host: the upper and work directories
    (so `/` shows as root's), the /etc files pydock binds, or the whole copy (copy driver)."""
    for name in ("diff", "work", "hostname", "hosts", "resolv.conf"):
        if os.path.lexists(cdir / name):
            os.lchown(cdir / name, m.uid, m.gid)
    if driver != "overlay" and (cdir / "rootfs").is_dir():
        from pydock.runtime.security.idmapped import shift_tree

        shift_tree(cdir / "rootfs", m)


# -- start -----------------------------------------------------------------------------------------

@dataclass
class Start:
    """One start's user namespace: its fd, the map, and the pipe the helper reports PID 1 on."""

    idmap: IdMap
    fd: int
    pid_r: int
    pid_w: int
    cache: Path  # shifted copies of layers, where idmapped mounts are refused (idmapped.py)

    def close_parent(self) -> None:
        """The shim's side, after the fork: the child holds what it needs."""
        for fd in (self.fd, self.pid_w):
            os.close(fd)

    def container_pid(self, helper: int) -> int:
        """Reaps the helper (the shim's child); PID 1's pid, 0 if none was made."""
        data = b""
        while chunk := os.read(self.pid_r, 64):
            data += chunk
        os.close(self.pid_r)
        while True:
            try:
                os.waitpid(helper, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
        return int(data) if data.strip().isdigit() else 0


def begin(root: Path, m: IdMap) -> Start:
    """The shim, before forking the container: a user namespace with `m` written as its maps."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # only ctypes and os: nothing that could need a lock another thread held
        code = 1
        try:
            os.close(ready_r)
            os.close(done_w)  # our copy: the shim's close must reach us as EOF
            syscalls.unshare(CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise RuntimeFailure("unshare(CLONE_NEWUSER) failed in the user namespace's helper")
        for name, start in (("uid_map", m.uid), ("gid_map", m.gid)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"0 {start} {m.size}\n")
        fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise RuntimeFailure(f"writing the user namespace's id maps: {exc}") from exc
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    return Start(m, fd, pid_r, pid_w, root / "userns-layers")


def _clone_parent() -> int:
    """fork(2) as clone(CLONE_PARENT|SIGCHLD): the child is our parent's child. Only in a
    single-threaded process (the helper), so no lock can be held by a thread that is not copied."""
    nr = _SYS_CLONE.get(syscalls._MACHINE)
    if nr is None:
        raise RuntimeFailure(f"clone: unsupported architecture {syscalls._MACHINE}")
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.syscall.restype = ctypes.c_long
    flags = ctypes.c_ulong(CLONE_PARENT | signal.SIGCHLD)
    args = (ctypes.c_ulong(0), flags) if syscalls._MACHINE == "s390x" else (flags, ctypes.c_ulong(0))
    ret = int(libc.syscall(ctypes.c_long(nr), *args, ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))
    if ret < 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"clone(CLONE_PARENT): {os.strerror(err)} (errno {err})")
    return ret


def _host_ppid() -> int:
    with open("/proc/self/stat") as f:  # still the host's /proc: pids as the shim sees them
        return int(f.read().rpartition(")")[2].split()[1])


def enter(cfg: Any, setup_binds: Any, mount_sysfs: Any) -> None:
    """The helper's part (see the module's docstring); returns only in the container's PID 1."""
    us: Start = cfg.userns
    shim = os.getppid()
    syscalls.unshare(syscalls.CLONE_NEWNS)  # owned by the host's user namespace: our mounts
    setup_binds(cfg)
    if cfg.netns:  # a namespace the shim plumbed, owned by the host: joined before we lose that
        fd = os.open(cfg.netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, syscalls.CLONE_NEWNET)
        finally:
            os.close(fd)
        # PID 1 will lack CAP_SYS_ADMIN and CAP_NET_ADMIN over this namespace: its sysfs (which
        # shows the mounter's netns) and its loopback are done here.
        syscalls.link_up("lo")
        mount_sysfs(cfg.target)
    syscalls.setns(us.fd, CLONE_NEWUSER)
    os.close(us.fd)
    os.setgroups([0])
    os.setresgid(0, 0, 0)  # the mapped root: the host's root is nobody in here
    os.setresuid(0, 0, 0)
    syscalls.unshare(syscalls.CLONE_NEWPID)  # owned by the new user namespace: /proc mounts there
    pid = _clone_parent()
    if pid == 0:
        os.close(us.pid_w)
        syscalls.set_pdeathsig(signal.SIGKILL)  # cleared by clone; the shim is our parent now
        if _host_ppid() != shim:
            os._exit(125)  # the shim died before we could tie ourselves to it
        return
    os.write(us.pid_w, str(pid).encode())
    os._exit(0)


def chown_volume(data: Path, m: IdMap) -> None:
    """An empty volume still owned by the host's root becomes the container root's, as Docker's
    volumes under a remapped root are; one with content keeps its owners (fill_volume copies the
    image's, already mapped)."""
    try:
        st = os.lstat(data)
    except FileNotFoundError:
        return
    if st.st_uid == 0 and st.st_gid == 0 and not any(os.scandir(data)):
        os.chown(data, m.uid, m.gid)

