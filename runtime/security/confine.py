"""What the container's init does with the security settings, step by step between fork and exec.

`config(host_config, user)` builds the `SecurityConfig` from the record (lifecycle.init_config);
container_init calls, in order: `before_pivot` (device nodes, /dev/shm size, a writable /sys for
--privileged, and the seccomp filter built, or read from its cache, while the host's libseccomp and
/run are still reachable),
`after_pivot` (sysctls, before /proc/sys turns read-only), `before_caps` (read-only root,
no_new_privs, and the filter loaded now if no_new_privs is off: it needs CAP_SYS_ADMIN then, as in
runc), `group_ids`, and `before_exec` (the filter loaded last, with no_new_privs on).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydock.runtime import syscalls
from pydock.runtime.security import capabilities, devices, seccomp, seccomp_cache, sysctls
from pydock.runtime.syscalls import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT

from pydock.errors import RuntimeFailure

TINI = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init")
INIT_PATH = "/sbin/docker-init"


@dataclass(frozen=True)
class SecurityConfig:
    caps: frozenset[int] = capabilities.numbers(capabilities.DEFAULT)
    cap_names: tuple[str, ...] = capabilities.DEFAULT
    seccomp: Any = seccomp.BUILTIN  # "builtin", "unconfined" or a profile dict
    no_new_privs: bool = True
    privileged: bool = False
    readonly_rootfs: bool = False
    shm_size: int = 64 * 1024 * 1024
    sysctls: tuple[tuple[str, str], ...] = ()
    group_add: tuple[str, ...] = ()
    cgroupns_private: bool = False  # --cgroupns private: the container sees its cgroup as /
    host_config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def _bounding() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return -1


def config(host: dict[str, Any]) -> SecurityConfig:
    names = capabilities.effective_set(host.get("CapAdd") or (), host.get("CapDrop") or (),
                                       bool(host.get("Privileged")))
    # A capability the shim itself lacks (a host where even root has no CAP_SYS_RESOURCE) cannot be
    # given: for --privileged (or ALL) that is "all the capabilities there are", as runc computes it.
    own = _bounding()
    names = [n for n in names if own >> capabilities.NUMBERS[n] & 1]
    return SecurityConfig(
        caps=capabilities.numbers(names), cap_names=tuple(names),
        seccomp=host.get("SeccompProfile", seccomp.BUILTIN), no_new_privs=host.get("NoNewPrivileges", True),
        privileged=bool(host.get("Privileged")), readonly_rootfs=bool(host.get("ReadonlyRootfs")),
        shm_size=int(host.get("ShmSize") or 64 * 1024 * 1024),
        sysctls=tuple((host.get("Sysctls") or {}).items()), group_add=tuple(host.get("GroupAdd") or ()),
        cgroupns_private=host.get("CgroupnsMode") == "private", host_config=host)


def init_binary() -> str:
    for p in TINI:
        if os.path.exists(p):
            return p
    raise RuntimeFailure("--init needs tini: apt-get install tini (pydock runs /usr/bin/tini-static as PID 1)")


@dataclass
class Prepared:
    cfg: SecurityConfig
    filter: seccomp.Filter | seccomp_cache.Program | None


def before_pivot(cfg: SecurityConfig, root: Path, seccomp_cache_dir: Path | None = None) -> Prepared:
    devices.make_nodes(root / "dev", cfg.host_config)
    if cfg.shm_size != 64 * 1024 * 1024:
        syscalls.mount(None, root / "dev" / "shm", None, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                       f"mode=1777,size={cfg.shm_size}")
    if cfg.privileged:  # a writable /sys: the superblock (fresh, read-only) and then the mount itself
        syscalls.mount(None, root / "sys", None, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        syscalls.mount(None, root / "sys", None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    flt = None
    if cfg.seccomp != seccomp.UNCONFINED:  # the program kept from an earlier start with the same inputs
        flt = seccomp_cache.program(cfg.seccomp, {f"CAP_{n}" for n in cfg.cap_names}, cfg.no_new_privs,
                                    seccomp_cache_dir)
    return Prepared(cfg, flt)


def after_pivot(p: Prepared) -> None:
    sysctls.apply(dict(p.cfg.sysctls))


def for_exec(host: dict[str, Any]) -> Prepared:
    """`pydock exec`'s share of the container's confinement: its capabilities and seccomp filter
    (built here, on the host's side of setns, like before_pivot does for the container)."""
    cfg = config(host)
    flt = None
    if cfg.seccomp != seccomp.UNCONFINED:
        profile = seccomp.read_profile(seccomp.BUILTIN) if cfg.seccomp == seccomp.BUILTIN else cfg.seccomp
        flt = seccomp.build(profile, {f"CAP_{n}" for n in cfg.cap_names}, cfg.no_new_privs)
    return Prepared(dataclasses.replace(cfg, readonly_rootfs=False), flt)


def before_caps(p: Prepared) -> None:
    if p.cfg.readonly_rootfs:
        syscalls.mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    if p.cfg.no_new_privs:
        syscalls.set_no_new_privs()
    elif p.filter is not None:
        p.filter.load()
        p.filter = None


def group_ids(p: Prepared, read_db: Any) -> list[int]:
    """--group-add, by number or by name in the container's /etc/group."""
    out = []
    db = read_db("/etc/group")
    for g in p.cfg.group_add:
        if g.isdigit():
            out.append(int(g))
            continue
        entry = next((e for e in db if e and e[0] == g and len(e) > 2), None)
        if entry is None:
            raise RuntimeFailure(f"unable to find group {g}: no matching entries in group file")
        out.append(int(entry[2]))
    return out


def before_exec(p: Prepared) -> None:
    if p.filter is not None:
        p.filter.load()


def with_security(init_cfg: Any, host: dict[str, Any]) -> Any:
    """The InitConfig with the container's SecurityConfig, its --tmpfs mounts and, for --init, tini
    bound read-only at /sbin/docker-init and put in front of the command (Docker's docker-init)."""
    from pydock.runtime.container_init import Mount

    mounts = list(init_cfg.mounts)
    for path, opts in (host.get("Tmpfs") or {}).items():
        data = [o for o in opts.split(",") if "=" in o and o.partition("=")[0] != "mode"]
        mode = next((o for o in opts.split(",") if o.startswith("mode=")), "mode=1777")
        mounts.append(Mount("tmpfs", "", path, data=",".join([mode, *data])))
    argv = init_cfg.argv
    if host.get("Init"):
        mounts.append(Mount("bind", init_binary(), INIT_PATH, read_only=True))
        argv = (INIT_PATH, "--", *argv)
    return dataclasses.replace(init_cfg, security=config(host), mounts=tuple(mounts), argv=argv)


DEFAULT_SECURITY = SecurityConfig()  # Docker's defaults: what InitConfig carries unless told otherwise
