"""One compose service as the runtime's `ContainerSpec`, and its config hash.

The mapping is Docker Compose's `getCreateConfigs`: image, command, entrypoint, environment, user,
working_dir, hostname, labels, volumes, tmpfs, logging, healthcheck, restart, stop signal and grace
period, limits from `deploy.resources` (or the older `mem_limit`, `cpus`, `pids_limit`), ulimits.
The config hash is Compose's `ServiceHash`: the service's resolved config without the keys that
do not change a container (build, pull policy, replicas, depends_on, profiles), so `up` recreates a
container exactly when its hash (or its image) changed.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from pydock.compose.types import Project
from pydock.runtime.spec import ContainerSpec, MountSpec

from pydock.errors import PydockError, UsageError

LABEL = "com.docker.compose"
PROJECT, SERVICE, NUMBER, HASH, ONEOFF = (f"{LABEL}.project", f"{LABEL}.service", f"{LABEL}.container-number",
                                          f"{LABEL}.config-hash", f"{LABEL}.oneoff")
IMAGE, WORKDIR, FILES = f"{LABEL}.image", f"{LABEL}.project.working_dir", f"{LABEL}.project.config_files"
VOLUME, NETWORK, DEPENDS = f"{LABEL}.volume", f"{LABEL}.network", f"{LABEL}.depends_on"


def config_hash(svc: dict[str, Any]) -> str:
    o = {k: v for k, v in svc.items() if k not in ("build", "pull_policy", "scale", "depends_on", "profiles")}
    if "deploy" in o:
        o["deploy"] = {k: v for k, v in o["deploy"].items() if k != "replicas"}
    return hashlib.sha256(json.dumps(o, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def image_ref(project: Project, service: str) -> str:
    """The service's image: its `image`, or `<project>-<service>` for a build-only service (Compose v2's
    name for the image it builds)."""
    return str(project.services[service].get("image") or f"{project.name}-{service}")


def volume_name(project: Project, key: str) -> str:
    """The runtime name of a top-level volume: its `name`, or `<project>_<key>` as Compose names it."""
    cfg = project.volumes.get(key) or {}
    if cfg.get("name"):
        return str(cfg["name"])
    return key if cfg.get("external") else f"{project.name}_{key}"


def network_name(project: Project, key: str) -> str:
    """The runtime name of a project network: its `name`, or `<project>_<key>` (`<project>_default`)."""
    cfg = project.networks.get(key) or {}
    if cfg.get("name"):
        return str(cfg["name"])
    return key if cfg.get("external") else f"{project.name}_{key}"


def service_networks(project: Project, service: str) -> list[tuple[str, tuple[str, ...], str]]:
    """(network name, aliases, fixed IPv4) for each network of `service`, in Compose's order
    (priority, then name); the service name is an alias on each, so others reach it by name."""
    svc = project.services[service]
    nets = svc.get("networks") or {}
    ordered = sorted(nets.items(), key=lambda kv: (-int((kv[1] or {}).get("priority", 0)), kv[0]))
    out = []
    for key, cfg in ordered:
        cfg = cfg or {}
        aliases = tuple(dict.fromkeys([service, *[str(a) for a in cfg.get("aliases") or []]]))
        out.append((network_name(project, key), aliases, str(cfg.get("ipv4_address") or "")))
    return out


def container_name(project: Project, service: str, number: int) -> str:
    svc = project.services.get(service, {})
    return str(svc.get("container_name") or f"{project.name}-{service}-{number}")


def _seconds(text: Any, where: str) -> float:
    from pydock.units import duration_seconds

    return float(text) if isinstance(text, int | float) else duration_seconds(str(text), where)


def healthcheck(svc: dict[str, Any], where: str) -> dict[str, Any] | None:
    hc = svc.get("healthcheck")
    if not hc:
        return None
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    test = hc.get("test")
    if isinstance(test, str):
        out["Test"] = ["CMD-SHELL", test]
    elif isinstance(test, list) and test:
        if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise UsageError(f"{where}.test: must start with CMD, CMD-SHELL or NONE")
        out["Test"] = [str(t) for t in test]
    for key, name in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                      ("start_interval", "StartInterval")):
        if hc.get(key) is not None:
            out[name] = int(_seconds(hc[key], f"{where}.{key}") * 1e9)
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out or None


def _mounts(project: Project, svc: dict[str, Any]) -> list[MountSpec]:
    out = []
    for v in svc.get("volumes") or []:
        ro = bool(v.get("read_only"))
        if v["type"] == "volume":
            src = volume_name(project, v["source"]) if v.get("source") else ""
            opts = {"volume-nocopy": "true"} if (v.get("volume") or {}).get("nocopy") else {}
            out.append(MountSpec("volume", v["target"], src, ro, opts))
        elif v["type"] == "bind":
            out.append(MountSpec("bind", v["target"], v["source"], ro))
        else:
            tmpfs = v.get("tmpfs") or {}
            opts = {k: str(tmpfs[s]) for s, k in (("size", "tmpfs-size"), ("mode", "tmpfs-mode")) if s in tmpfs}
            if "tmpfs-mode" in opts and isinstance(tmpfs.get("mode"), int):
                opts["tmpfs-mode"] = oct(tmpfs["mode"])[2:]
            out.append(MountSpec("tmpfs", v["target"], "", False, opts))
    tmp = svc.get("tmpfs") or []
    for t in [tmp] if isinstance(tmp, str) else tmp:
        target, _, _opts = str(t).partition(":")
        out.append(MountSpec("tmpfs", target))
    return out


def _host_config(svc: dict[str, Any], where: str) -> dict[str, Any]:
    from pydock.runtime import cgroups
    from pydock.runtime.restart import RestartPolicy

    from pydock import daemon_config

    res = (svc.get("deploy") or {}).get("resources") or {}
    lim, rsv = res.get("limits") or {}, res.get("reservations") or {}
    try:
        limits = cgroups.limits_from_flags(
            memory=_str(lim.get("memory", svc.get("mem_limit"))),
            memory_swap=_str(svc.get("memswap_limit")),
            memory_reservation=_str(rsv.get("memory", svc.get("mem_reservation"))),
            cpus=_str(lim.get("cpus", svc.get("cpus"))), cpu_shares=svc.get("cpu_shares"),
            cpuset_cpus=_str(svc.get("cpuset")), pids_limit=lim.get("pids", svc.get("pids_limit")))
        cgroups.validate(limits)
        if cgroups.swap_limit_supported(cgroups.detect_layout()):
            limits = cgroups.with_docker_defaults(limits)
        policy = RestartPolicy.parse(str(svc.get("restart") or "no"))
        daemon = daemon_config.load()
        own = []
        for name, v in (svc.get("ulimits") or {}).items():
            soft, hard = (v.get("soft"), v.get("hard")) if isinstance(v, dict) else (v, v)
            own.append(daemon_config.parse_ulimit(f"{name}={soft}:{hard}"))
        security = _security(svc, daemon)
    except PydockError as exc:
        raise UsageError(f"{where}: {exc}") from None
    parent = str(svc.get("cgroup_parent") or daemon.cgroup_parent).strip("/")
    return {**limits.to_host_config(), "RestartPolicy": policy.to_json(), **security,
            "Ulimits": [u.to_json() for u in daemon.ulimits_for(own)], "CgroupParent": parent}


def _security(svc: dict[str, Any], daemon: Any) -> dict[str, Any]:
    """The security room's HostConfig keys (`runtime.security.options.host_config`, as `pydock run`)."""
    from pydock.runtime.security import options

    devices = []
    for d in svc.get("devices") or []:
        if isinstance(d, dict):  # the long syntax: {source, target, permissions}
            d = ":".join(str(x) for x in (d.get("source"), d.get("target") or d.get("source"),
                                          d.get("permissions") or "rwm"))
        devices.append(str(d))
    sysctls = svc.get("sysctls") or {}
    return options.host_config(
        cap_add=svc.get("cap_add") or (), cap_drop=svc.get("cap_drop") or (),
        privileged=bool(svc.get("privileged")), security_opt=svc.get("security_opt") or (),
        read_only=bool(svc.get("read_only")), shm_size=_str(svc.get("shm_size")),
        sysctl={str(k): str(v) for k, v in sysctls.items()}, init=bool(svc.get("init")),
        group_add=[str(g) for g in svc.get("group_add") or ()], device=devices,
        device_cgroup_rule=svc.get("device_cgroup_rules") or (),
        network=str(svc.get("network_mode") or "bridge"), daemon=getattr(daemon, "security", {}))


def _network_fields(project: Project, service: str) -> dict[str, Any]:
    """The ContainerSpec's network fields: the first network at create (the others are joined by
    `up` through the network API's `connect`), published ports, extra hosts, DNS servers."""
    svc = project.services[service]
    out: dict[str, Any] = {"publish": tuple(str(p) for p in svc.get("ports") or ()),
                           "expose": tuple(str(p) for p in svc.get("expose") or ()),
                           "add_hosts": tuple(f"{h}:{ip}" for h, ip in (svc.get("extra_hosts") or {}).items()),
                           "dns": tuple([svc["dns"]] if isinstance(svc.get("dns"), str) else svc.get("dns") or ())}
    if svc.get("network_mode"):
        return {**out, "network": str(svc["network_mode"])}
    nets = service_networks(project, service)
    name, aliases, ip = nets[0]
    return {**out, "network": name, "network_aliases": aliases, "ip": ip}


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def container_spec(project: Project, service: str, number: int, image_id: str,
                   oneoff: bool = False, name: str = "", command: list[str] | None = None) -> ContainerSpec:
    """The ContainerSpec of replica `number` of `service` (or of a one-off `run` container)."""
    from pydock import daemon_config

    svc = project.services[service]
    where = f"services.{service}"
    labels = {**(svc.get("labels") or {}), PROJECT: project.name, SERVICE: service, NUMBER: str(number),
              HASH: config_hash(svc), ONEOFF: "True" if oneoff else "False", IMAGE: image_id,
              WORKDIR: str(project.working_dir), FILES: ",".join(project.config_files),
              DEPENDS: ",".join(f"{d}:{c['condition']}:{str(c['required']).lower()}"
                                for d, c in (svc.get("depends_on") or {}).items())}
    logging = svc.get("logging") or {}
    if logging.get("driver"):
        log_driver, log_opts = logging["driver"], dict(logging.get("options") or {})
    else:  # daemon.json's defaults, its options only with its own driver (as dockerd)
        daemon = daemon_config.load()
        log_driver, log_opts = daemon.log_driver, {**daemon.log_opts, **(logging.get("options") or {})}
    grace = svc.get("stop_grace_period")
    entrypoint = svc.get("entrypoint")
    return ContainerSpec(
        image=image_ref(project, service), cmd=tuple(command) if command else (tuple(svc["command"]) if svc.get("command") else None),
        entrypoint=tuple(entrypoint) if entrypoint is not None else None,
        name=name or container_name(project, service, number),
        env=tuple(f"{k}={v}" for k, v in (svc.get("environment") or {}).items()),
        workdir=str(svc.get("working_dir") or ""), user=str(svc.get("user") or ""),
        hostname=str(svc.get("hostname") or ""), labels=labels, mounts=tuple(_mounts(project, svc)),
        log_driver=log_driver, **_network_fields(project, service),
        log_opts={k: str(v) for k, v in log_opts.items()}, stop_signal=str(svc.get("stop_signal") or "SIGTERM"),
        stop_timeout=math.ceil(_seconds(grace, f"{where}.stop_grace_period")) if grace is not None else 10,
        tty=bool(svc.get("tty")), open_stdin=bool(svc.get("stdin_open")),
        host_config=_host_config(svc, where), healthcheck=healthcheck(svc, f"{where}.healthcheck"))
