"""`POST /containers/create`: Docker's body (Config + HostConfig + NetworkingConfig) as the same
`ContainerSpec` that `pydock run` builds.

Every field pydock honours is mapped; every other field must hold its zero value (what the docker
CLI sends when the flag is not given), else the request is refused naming the field: a setting
that would be silently ignored (say `Privileged` or `PortBindings`) is worse than an error.
The limits, restart policy, ulimits and cgroup parent go through the CLI's own validation
(`depth_fields`, the flag strings rebuilt from the body's numbers), so both refuse alike.
"""

from __future__ import annotations

from typing import Any

from pydock.api.backend import body_dict
from pydock.api.http import ApiError
from pydock.runtime.spec import ContainerSpec, MountSpec, parse_volume

# Config fields pydock honours; the rest must be zero. Attach*/StdinOnce are the client's business.
_CONFIG_USED = {"Image", "Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Hostname", "Labels", "Tty",
                "OpenStdin", "StopSignal", "StopTimeout", "Healthcheck", "Volumes", "AttachStdin",
                "AttachStdout", "AttachStderr", "StdinOnce", "ArgsEscaped", "Domainname", "ExposedPorts",
                "OnBuild", "Shell", "NetworkDisabled", "MacAddress"}
_CONFIG_ZERO_ONLY = {"Domainname", "OnBuild", "Shell", "NetworkDisabled", "MacAddress"}
_HOST_USED = {"Binds", "Mounts", "LogConfig", "NetworkMode", "RestartPolicy", "AutoRemove", "Memory",
              "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpusetCpus", "PidsLimit",
              "BlkioWeight", "Ulimits", "CgroupParent", "ConsoleSize", "PortBindings", "PublishAllPorts",
              "ExtraHosts", "Dns",
              # the security room's flags (runtime/security), through the CLI's security_host_config
              "CapAdd", "CapDrop", "Privileged", "ReadonlyRootfs", "SecurityOpt", "Tmpfs", "ShmSize", "Sysctls",
              "Init", "GroupAdd", "Devices", "DeviceCgroupRules", "CgroupnsMode", "UsernsMode"}
# Fields whose non-zero default from the docker CLI means "not set".
_HOST_DEFAULTS: dict[str, tuple[Any, ...]] = {"Isolation": ("", "default"), "CgroupnsMode": ("", "private", "host"),
                                               "MemorySwappiness": (None, -1), "OomKillDisable": (None, False),
                                               "IpcMode": ("", "private", "shareable"), "ShmSize": (0, 67108864)}


def _zero(v: Any) -> bool:
    return v in (None, "", 0, False) or v == [] or v == {}


def _strs(v: Any, field: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ApiError(400, f"invalid {field}: expected a list of strings")
    return list(v)


def _refuse_unsupported(section: str, obj: dict[str, Any], used: set[str], zero_only: frozenset[str] | set[str] = frozenset(),
                        defaults: dict[str, tuple[Any, ...]] | None = None) -> None:
    for key, value in obj.items():
        if key in used and key not in zero_only:
            continue
        ok = (defaults or {}).get(key)
        if _zero(value) or (ok is not None and value in ok):
            continue
        raise ApiError(400, f"{section}.{key} is not supported by pydock (got {value!r})")


def _security(host: dict[str, Any], mode: str) -> dict[str, Any]:
    """The security HostConfig fields as the `run` flags they come from (`--cap-add` ...), so the CLI's
    validation refuses a bad value alike."""
    tmpfs = body_dict(host.get("Tmpfs"), "HostConfig.Tmpfs")
    sysctls = body_dict(host.get("Sysctls"), "HostConfig.Sysctls")
    devices = []
    for d in host.get("Devices") or []:
        if not isinstance(d, dict) or not d.get("PathOnHost"):
            raise ApiError(400, "invalid HostConfig.Devices: each needs PathOnHost")
        devices.append(f"{d['PathOnHost']}:{d.get('PathInContainer') or d['PathOnHost']}:"
                       f"{d.get('CgroupPermissions') or 'rwm'}")
    shm = host.get("ShmSize")
    return {"cap_add": tuple(_strs(host.get("CapAdd"), "HostConfig.CapAdd")),
            "cap_drop": tuple(_strs(host.get("CapDrop"), "HostConfig.CapDrop")), "caps_as_sent": True,
            "privileged": bool(host.get("Privileged")), "read_only": bool(host.get("ReadonlyRootfs")),
            "security_opt": tuple(_strs(host.get("SecurityOpt"), "HostConfig.SecurityOpt")),
            "tmpfs": tuple(f"{k}:{v}" if v else str(k) for k, v in tmpfs.items()),
            "shm_size": str(int(shm)) if isinstance(shm, int | float) and shm > 0 else None,
            "sysctl": tuple(f"{k}={v}" for k, v in sysctls.items()), "init": bool(host.get("Init")),
            "group_add": tuple(_strs(host.get("GroupAdd"), "HostConfig.GroupAdd")), "device": tuple(devices),
            "device_cgroup_rule": tuple(_strs(host.get("DeviceCgroupRules"), "HostConfig.DeviceCgroupRules")),
            "cgroupns": str(host.get("CgroupnsMode") or ""), "userns": str(host.get("UsernsMode") or ""),
            "network": "none" if mode in ("default", "") else mode}


def _mount(m: Any) -> MountSpec:
    if not isinstance(m, dict):
        raise ApiError(400, "invalid HostConfig.Mounts: each mount must be an object")
    kind = m.get("Type") or "volume"
    target = m.get("Target") or ""
    if not isinstance(target, str) or not target.startswith("/"):
        raise ApiError(400, f"invalid HostConfig.Mounts: Target {target!r} must be an absolute path")
    for key in ("BindOptions", "Consistency", "ClusterOptions", "ImageOptions"):
        val = m.get(key)
        if not _zero(val) and not (key == "BindOptions" and set(val or ()) <= {"Propagation"}):
            raise ApiError(400, f"HostConfig.Mounts.{key} is not supported by pydock")
    opts: dict[str, str] = {}
    if kind == "tmpfs":
        t = m.get("TmpfsOptions") or {}
        if t.get("SizeBytes"):
            opts["tmpfs-size"] = str(int(t["SizeBytes"]))
        if t.get("Mode"):
            opts["tmpfs-mode"] = format(int(t["Mode"]), "o")
    elif kind == "volume":
        v = m.get("VolumeOptions") or {}
        if v.get("NoCopy"):
            opts["volume-nocopy"] = "true"
        if not _zero(v.get("Labels")) or not _zero(v.get("DriverConfig")) or not _zero(v.get("Subpath")):
            raise ApiError(400, "HostConfig.Mounts.VolumeOptions: only NoCopy is supported by pydock")
    elif kind != "bind":
        raise ApiError(400, f"invalid HostConfig.Mounts: Type {kind!r} is not supported (bind, volume, tmpfs)")
    return MountSpec(kind, target, str(m.get("Source") or ""), bool(m.get("ReadOnly")), opts)


def spec_from_body(body: Any, name: str) -> ContainerSpec:
    """The request body as a ContainerSpec; ApiError(400) naming the first bad field."""
    from pydock import daemon_config
    from pydock.cli.runflags import depth_fields

    cfg = body_dict(body, "body")
    host = body_dict(cfg.get("HostConfig"), "HostConfig")
    netcfg = body_dict(cfg.get("NetworkingConfig"), "NetworkingConfig")
    config = {k: v for k, v in cfg.items() if k not in ("HostConfig", "NetworkingConfig")}
    _refuse_unsupported("Config", config, _CONFIG_USED, _CONFIG_ZERO_ONLY)
    _refuse_unsupported("HostConfig", host, _HOST_USED, defaults=_HOST_DEFAULTS)
    endpoints = netcfg.get("EndpointsConfig") or {}
    image = config.get("Image")
    if not isinstance(image, str) or not image:
        raise ApiError(400, "Config.Image: no image given")
    mode = host.get("NetworkMode") or "default"
    if endpoints and set(endpoints) != {mode}:
        raise ApiError(400, "NetworkingConfig.EndpointsConfig: only the network of HostConfig.NetworkMode "
                            "is supported by pydock")
    endpoint = body_dict(endpoints.get(mode), "NetworkingConfig.EndpointsConfig")
    for key, value in endpoint.items():
        if key not in ("Aliases", "IPAMConfig", "NetworkID", "EndpointID", "DNSNames") and not _zero(value):
            raise ApiError(400, f"NetworkingConfig.EndpointsConfig.{key} is not supported by pydock")
    ipam = body_dict(endpoint.get("IPAMConfig"), "IPAMConfig")
    publish = []
    bindings = body_dict(host.get("PortBindings"), "HostConfig.PortBindings")
    for cport, binds in bindings.items():
        for bnd in binds or [{}]:
            ip, hp = str((bnd or {}).get("HostIp") or ""), str((bnd or {}).get("HostPort") or "")
            publish.append((f"{ip}:" if ip else "") + (f"{hp}:" if hp or ip else "") + str(cport))
    exposed = config.get("ExposedPorts") or {}
    if not isinstance(exposed, dict):
        raise ApiError(400, "invalid Config.ExposedPorts: expected an object of ports")
    expose = tuple(str(p) for p in exposed if p not in bindings)  # `--expose`: published by -P only
    mounts: list[MountSpec] = []
    for b in _strs(host.get("Binds"), "HostConfig.Binds"):
        m = parse_volume(b)
        # -v (Binds) makes a missing host directory, as dockerd does; --mount (Mounts) does not.
        mounts.append(MountSpec(m.type, m.target, m.source, m.read_only, {"create-source": "1"})
                      if m.type == "bind" else m)
    mounts += [_mount(m) for m in host.get("Mounts") or []]
    vols = config.get("Volumes") or {}
    if not isinstance(vols, dict):
        raise ApiError(400, "invalid Config.Volumes: expected an object of paths")
    taken = {m.target for m in mounts}
    mounts += [MountSpec("volume", p) for p in vols if p not in taken]
    log = body_dict(host.get("LogConfig"), "HostConfig.LogConfig")
    log_driver = str(log.get("Type") or "")
    log_opts = {str(k): str(v) for k, v in (log.get("Config") or {}).items()}
    if not log_driver:  # daemon.json's driver and options, as for `pydock run` without --log-driver
        dcfg = daemon_config.load()
        log_driver, log_opts = dcfg.log_driver, {**dcfg.log_opts, **log_opts}
    rp = body_dict(host.get("RestartPolicy"), "HostConfig.RestartPolicy")
    restart = str(rp.get("Name") or "no")
    if restart == "on-failure" and rp.get("MaximumRetryCount"):
        restart += f":{int(rp['MaximumRetryCount'])}"

    def num(key: str) -> str | None:
        v = host.get(key)
        if v in (None, 0, ""):
            return None
        if key == "CpusetCpus":
            return str(v)
        if not isinstance(v, int | float):
            raise ApiError(400, f"invalid HostConfig.{key}: expected a number")
        return str(v / 1e9) if key == "NanoCpus" else str(int(v))

    ulimits = []
    for u in host.get("Ulimits") or []:
        try:
            ulimits.append(f"{u['Name']}={int(u['Soft'])}:{int(u['Hard'])}")
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, "invalid HostConfig.Ulimits: each needs Name, Soft and Hard") from None
    depth = depth_fields({
        "memory": num("Memory"), "memory_swap": num("MemorySwap"), "memory_reservation": num("MemoryReservation"),
        "cpus": num("NanoCpus"), "cpu_shares": num("CpuShares"), "cpuset_cpus": num("CpusetCpus"),
        "pids_limit": num("PidsLimit"), "blkio_weight": num("BlkioWeight"), "restart": restart,
        "auto_remove": bool(host.get("AutoRemove")), "ulimits": tuple(ulimits),
        "cgroup_parent": host.get("CgroupParent") or None, "tty": bool(config.get("Tty")),
        "interactive": bool(config.get("OpenStdin")), "publish": tuple(publish),
        "publish_all": bool(host.get("PublishAllPorts")), "expose": expose, "add_hosts": tuple(_strs(host.get("ExtraHosts"), "ExtraHosts")),
        "dns": tuple(_strs(host.get("Dns"), "HostConfig.Dns")),
        "network_aliases": tuple(_strs(endpoint.get("Aliases"), "Aliases")),
        "ip": str(ipam.get("IPv4Address") or ""), **_security(host, str(mode))})
    hc = config.get("Healthcheck")
    if hc is not None and not isinstance(hc, dict):
        raise ApiError(400, "invalid Config.Healthcheck: expected an object")
    depth["healthcheck"] = hc or None
    entry = config.get("Entrypoint")
    entrypoint: tuple[str, ...] | None = None
    if entry is not None:
        parts = _strs(entry, "Config.Entrypoint")
        entrypoint = () if parts in ([], [""]) else tuple(parts)
    cmd = _strs(config.get("Cmd"), "Config.Cmd")
    labels = config.get("Labels") or {}
    if not isinstance(labels, dict):
        raise ApiError(400, "invalid Config.Labels: expected an object")
    stop_timeout = config.get("StopTimeout")
    network = ContainerSpec.__dataclass_fields__["network"].default if mode in ("default", "") else mode
    return ContainerSpec(
        image=image, cmd=tuple(cmd) or None, entrypoint=entrypoint, name=name,
        env=tuple(_strs(config.get("Env"), "Config.Env")), workdir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or ""), hostname=str(config.get("Hostname") or ""),
        labels={str(k): str(v) for k, v in labels.items()}, mounts=tuple(mounts), network=str(network),
        log_driver=log_driver, log_opts=log_opts, stop_signal=str(config.get("StopSignal") or "SIGTERM"),
        stop_timeout=10 if stop_timeout is None else int(stop_timeout), auto_remove=bool(host.get("AutoRemove")),
        **depth)
