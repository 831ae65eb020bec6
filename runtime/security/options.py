"""Docker's security flags -> HostConfig keys (Docker's names), validated before anything is made.

`host_config(...)` takes plain values (the CLI, the API server and compose all call it) and returns
`CapAdd`, `CapDrop`, `Privileged`, `ReadonlyRootfs`, `SecurityOpt`, `Devices`, `DeviceCgroupRules`,
`Tmpfs`, `ShmSize`, `Sysctls`, `Init`, `GroupAdd`, `UsernsMode` (`""`, `host`, `auto`; `UsernsRemap` says
whether the container gets a user namespace, daemon.json's `userns-remap` included), plus `SeccompProfile`: `builtin`, `unconfined` or
the custom profile itself (read once at create, as the docker CLI sends the file's content), so a
later change of the file does not change a container that exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydock.runtime.security import capabilities, devices, seccomp, sysctls

from pydock.errors import UsageError

DEFAULT_SHM = 64 * 1024 * 1024
_TMPFS_OPTS = {"rw", "ro", "nosuid", "nodev", "noexec", "exec", "suid", "dev", "size", "mode", "uid", "gid",
               "nr_inodes", "nr_blocks"}


def parse_security_opt(items: Iterable[str], daemon_profile: str = "") -> tuple[list[str], Any, bool]:
    """`--security-opt`: `seccomp=PATH|unconfined|builtin`, `no-new-privileges[=true|false]` (also
    Docker's old `no-new-privileges:true`), `label=...`/`apparmor=...` (no LSM here: refused).
    Returns (the options as given, the seccomp profile value, no_new_privileges)."""
    opts, profile_src, nnp = [], daemon_profile or seccomp.BUILTIN, True
    for item in items:
        key, sep, value = item.partition("=")
        if not sep and ":" in item:
            key, _, value = item.partition(":")
            sep = ":"
        if key == "seccomp" and sep:
            profile_src = value
        elif key == "no-new-privileges":
            if value.lower() not in ("", "true", "false", "1", "0"):
                raise UsageError(f"invalid --security-opt {item!r}: no-new-privileges takes true or false")
            nnp = value.lower() in ("", "true", "1")
        elif key in ("apparmor", "label", "systempaths", "mask", "unmask"):
            if key == "systempaths" and value == "unconfined":
                opts.append(item)
                continue
            raise UsageError(f"invalid --security-opt {item!r}: {key} is not supported by pydock "
                             "(no LSM is in use here)")
        else:
            raise UsageError(f"invalid --security-opt {item!r}: expected seccomp=PROFILE or no-new-privileges")
        opts.append(item)
    profile = seccomp.read_profile(profile_src)
    value: Any = seccomp.BUILTIN if profile_src in ("", seccomp.BUILTIN) else \
        (seccomp.UNCONFINED if profile is None else profile)
    return opts, value, nnp


def parse_tmpfs(text: str) -> tuple[str, str]:
    """`--tmpfs /run[:rw,size=64m,mode=1777]` -> (path, mount data)."""
    path, _, opts = text.partition(":")
    if not path.startswith("/") or path == "/":
        raise UsageError(f"invalid --tmpfs {text!r}: the path must be absolute and not /")
    for o in filter(None, opts.split(",")):
        if o.partition("=")[0] not in _TMPFS_OPTS:
            raise UsageError(f"invalid --tmpfs {text!r}: unknown option {o!r}")
    return path, opts


def host_config(*, cap_add: Iterable[str] = (), cap_drop: Iterable[str] = (), privileged: bool = False,
                security_opt: Iterable[str] = (), read_only: bool = False, tmpfs: Iterable[str] = (),
                shm_size: str | int | None = None, sysctl: Iterable[str] | Mapping[str, str] = (),
                init: bool = False, group_add: Iterable[str] = (), device: Iterable[str] = (),
                device_cgroup_rule: Iterable[str] = (), network: str = "none", cgroupns: str = "",
                userns: str = "", daemon: Mapping[str, Any] | None = None) -> dict[str, Any]:
    daemon = daemon or {}
    from pydock.runtime.security.userns import remapped  # pure checks: no namespace is made here

    remap = remapped(userns, dict(daemon), privileged, network)
    if cgroupns not in ("", "host", "private"):
        raise UsageError(f"invalid --cgroupns {cgroupns!r}: host or private")
    if not cgroupns:  # Docker's default: private where the host is cgroup v2 only, else the host's
        from pydock.runtime import cgroups

        cgroupns = "private" if cgroups.detect_layout().kind == "v2" else "host"
    # validated, then kept as the client sent them (dockerd's validateHostConfig does the same)
    add, drop = list(cap_add), list(cap_drop)
    for c in add:
        capabilities.normalize(c, "--cap-add")
    for c in drop:
        capabilities.normalize(c, "--cap-drop")
    opts, profile, nnp = parse_security_opt(security_opt, str(daemon.get("seccomp-profile") or ""))
    if not any(o.startswith("no-new-privileges") for o in opts) and "no-new-privileges" in daemon:
        nnp = bool(daemon["no-new-privileges"])
    if privileged:
        profile = seccomp.UNCONFINED  # Docker: --privileged runs without seccomp
    tmpfs_map = dict(parse_tmpfs(t) for t in tmpfs)
    shm = DEFAULT_SHM
    if shm_size not in (None, ""):
        from pydock.units import ram_bytes

        shm = ram_bytes(str(shm_size), "--shm-size")
        if shm <= 0:
            raise UsageError(f"invalid --shm-size {shm_size!r}: must be greater than 0")
    sysctl_map = dict(sysctl) if isinstance(sysctl, Mapping) else sysctls.parse(sysctl, network)
    sysctls.check(sysctl_map, network)
    for g in group_add:
        if not g or ":" in g:
            raise UsageError(f"invalid --group-add {g!r}: a group name or number")
    return {
        "CapAdd": add or None, "CapDrop": drop or None, "Privileged": privileged, "ReadonlyRootfs": read_only,
        "SecurityOpt": opts or None, "SeccompProfile": profile, "NoNewPrivileges": nnp,
        "Devices": [devices.parse_device(d).to_json() for d in device],
        "DeviceCgroupRules": [devices.parse_rule(r) for r in device_cgroup_rule] or None,
        "Tmpfs": tmpfs_map or None, "ShmSize": shm, "Sysctls": sysctl_map or None,
        "Init": init or None, "GroupAdd": list(group_add) or None, "UsernsMode": userns, "CgroupnsMode": cgroupns,
        "UsernsRemap": remap,  # pydock's: ids allocated at create (security/userns.py); Docker shows only UsernsMode
    }


def security_options(daemon: Mapping[str, Any]) -> list[str]:
    """`pydock info`'s SecurityOptions, in Docker's `name=...` form."""
    src = str(daemon.get("seccomp-profile") or "")
    out = [f"name=seccomp,profile={'builtin' if src in ('', 'builtin') else src}"]
    if daemon.get("no-new-privileges", True):  # pydock's default: on (Docker's is off)
        out.append("name=no-new-privileges")
    if daemon.get("userns-remap"):
        out.append("name=userns")
    return out
