"""`run`/`create` flag values as a `ContainerSpec`, without click.

The click commands (pydock/cli/containers.py, flags declared in runflags.py, securityflags.py and
network.py) and the click-free `run` fast path (fastrun.py) both hand their parsed options, one dict
keyed by click's parameter names, to `build_spec` here, so both build the very same spec and refuse a
bad value with the same error. Nothing here imports click: the fast path exists to skip its ~25 ms
(docs/performance.md, "`run` start-up and the shim").
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pydock.errors import UsageError
from pydock.runtime.spec import ContainerSpec, parse_env_file, parse_mount, parse_volume


def warn(note: str) -> None:
    """A non-fatal note on stderr, as click.echo(err=True) wrote it."""
    print(f"WARNING: {note}", file=sys.stderr, flush=True)


def pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    """KEY=VALUE items (labels, log options) as a dict; an item without a key is refused."""
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[k] = v
    return out


def build_spec(image: str, command: tuple[str, ...], **o: Any) -> ContainerSpec:
    """Docker's run/create flags as a ContainerSpec; raises UsageError naming a bad flag value."""
    o = apply_daemon_defaults(o)  # daemon.json's log-driver and log-opts
    env: list[str] = []
    for path in o["env_file"]:
        try:
            with open(path) as f:
                env += parse_env_file(f.read(), path)
        except OSError as exc:
            raise UsageError(f"open {path}: {exc.strerror}") from exc
    for e in o["env"]:
        if "=" in e:
            env.append(e)
        elif e in os.environ:  # `-e KEY` passes the caller's value, as in Docker
            env.append(f"{e}={os.environ[e]}")
    mounts = [parse_volume(v) for v in o["volumes"]]
    mounts = [type(m)(m.type, m.target, m.source, m.read_only, {"create-source": "1"}) if m.type == "bind" else m
              for m in mounts]
    mounts += [parse_mount(m) for m in o["mounts"]]
    entrypoint = None
    if o["entrypoint"] is not None:
        entrypoint = (o["entrypoint"],) if o["entrypoint"] else ()
    if o["stop_timeout"] < -1:
        raise UsageError(f"invalid --stop-timeout {o['stop_timeout']}: must be -1 (forever) or more")
    return ContainerSpec(
        image=image, cmd=tuple(command) or None, entrypoint=entrypoint, name=o["name"], env=tuple(env),
        workdir=o["workdir"], user=o["user"], hostname=o["hostname"], labels=pairs(o["labels"], "label"),
        mounts=tuple(mounts), network=o["network"], log_driver=o["log_driver"],
        log_opts=pairs(o["log_opts"], "--log-opt"), stop_signal=o["stop_signal"],
        stop_timeout=o["stop_timeout"], auto_remove=o["auto_remove"], **depth_fields(o),
    )


def apply_daemon_defaults(o: dict[str, Any]) -> dict[str, Any]:
    """daemon.json's `log-driver`/`log-opts` for a container that names no driver, as dockerd does
    (its log-opts apply only with its own driver)."""
    from pydock import daemon_config

    if o.get("log_driver"):
        return o
    cfg = daemon_config.load()
    opts = [f"{k}={v}" for k, v in cfg.log_opts.items()] + list(o.get("log_opts") or ())
    return {**o, "log_driver": cfg.log_driver, "log_opts": tuple(opts)}


def depth_fields(o: dict[str, Any]) -> dict[str, Any]:
    """ContainerSpec fields from the depth flags: `host_config` (limits, RestartPolicy), `healthcheck`,
    `tty`, `open_stdin`. Values are validated here, so a bad flag is refused before anything is made."""
    from pydock.runtime import cgroups
    from pydock.runtime.health import healthcheck_from_flags
    from pydock.runtime.restart import RestartPolicy

    limits = cgroups.limits_from_flags(
        memory=o.get("memory"), memory_swap=o.get("memory_swap"), memory_reservation=o.get("memory_reservation"),
        cpus=o.get("cpus"), cpu_shares=o.get("cpu_shares"), cpuset_cpus=o.get("cpuset_cpus"),
        pids_limit=o.get("pids_limit"), blkio_weight=o.get("blkio_weight"))
    cgroups.validate(limits)
    limits, notes = cgroups.discard_unsupported(limits, cgroups.detect_layout())
    for note in notes:
        warn(note)
    if cgroups.swap_limit_supported(cgroups.detect_layout()):
        limits = cgroups.with_docker_defaults(limits)  # dockerd: -m alone allows as much swap as memory
    policy = RestartPolicy.parse(o.get("restart") or "no")
    if policy.name != "no" and o.get("auto_remove"):
        raise UsageError("Conflicting options: --restart and --rm")
    from pydock import daemon_config

    # daemon.json's default-ulimits under the container's own --ulimit, fixed at create (Docker's Ulimits).
    daemon = daemon_config.load()
    ulimits = daemon.ulimits_for([daemon_config.parse_ulimit(u) for u in o.get("ulimits") or ()])
    parent = (o.get("cgroup_parent") or daemon.cgroup_parent).strip("/")
    if not parent or ".." in parent.split("/"):
        raise UsageError(f"invalid --cgroup-parent {o.get('cgroup_parent')!r}: must be a cgroup path without '..'")
    from pydock.runtime.ulimits import effective

    for u in ulimits:
        note = effective(u)[1]
        if note:
            warn(note)
    host_config = {**limits.to_host_config(), "RestartPolicy": policy.to_json(),
                   "Ulimits": [u.to_json() for u in ulimits], "CgroupParent": parent,
                   **security_host_config(o)}  # security room: caps, seccomp, devices, --read-only, ...
    healthcheck = healthcheck_from_flags(
        cmd=o.get("health_cmd"), interval=o.get("health_interval"), timeout=o.get("health_timeout"),
        retries=o.get("health_retries"), start_period=o.get("health_start_period"),
        no_healthcheck=bool(o.get("no_healthcheck")))
    return {"host_config": host_config, "healthcheck": healthcheck, "tty": bool(o.get("tty")),
            "open_stdin": bool(o.get("interactive")), **network_fields(o)}


def security_host_config(o: dict[str, Any]) -> dict[str, Any]:
    """HostConfig keys from the security flags (securityflags.py), daemon.json's security keys as
    defaults; bad values refused here. The API server and compose call the same `options.host_config`."""
    from pydock import daemon_config
    from pydock.runtime.security import capabilities, options

    daemon = getattr(daemon_config.load(), "security", {})
    cap_add, cap_drop = o.get("cap_add") or (), o.get("cap_drop") or ()
    if not o.get("caps_as_sent"):  # the CLI's flags; the Engine API keeps what its client sent
        cap_add, cap_drop = capabilities.client_form(cap_add, cap_drop)
    return options.host_config(
        cap_add=cap_add, cap_drop=cap_drop, privileged=bool(o.get("privileged")),
        security_opt=o.get("security_opt") or (), read_only=bool(o.get("read_only")), tmpfs=o.get("tmpfs") or (),
        shm_size=o.get("shm_size"), sysctl=o.get("sysctl") or (), init=bool(o.get("init")),
        group_add=o.get("group_add") or (), device=o.get("device") or (),
        device_cgroup_rule=o.get("device_cgroup_rule") or (), network=str(o.get("network") or "none"),
        cgroupns=o.get("cgroupns") or "", userns=o.get("userns") or "", daemon=daemon)


def network_fields(o: dict[str, Any]) -> dict[str, Any]:
    """ContainerSpec fields from the network flags of pydock/cli/network.py (checked by the runtime at
    create)."""
    return {"publish": tuple(o.get("publish") or ()), "publish_all": bool(o.get("publish_all")),
            "expose": tuple(o.get("expose") or ()),
            "network_aliases": tuple(o.get("network_aliases") or ()), "ip": o.get("ip") or "",
            "add_hosts": tuple(o.get("add_hosts") or ()), "dns": tuple(o.get("dns") or ())}
