"""The runtime-depth flags of `pydock run` and `pydock create`: limits, restart policy, health checks,
terminal; and daemon.json's logging defaults. containers.py adds `DEPTH_OPTIONS` to its options and
passes `depth_fields(o)` to its `ContainerSpec`, so these flags live here, beside their parsers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from pydock.errors import UsageError

DEPTH_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("-m", "--memory", default=None, help="Memory limit (e.g. 512m, 1g)"),
    click.option("--memory-swap", default=None, help="Swap limit equal to memory plus swap: -1 for unlimited swap"),
    click.option("--memory-reservation", default=None, help="Memory soft limit"),
    click.option("--cpus", default=None, help="Number of CPUs (e.g. 0.5)"),
    click.option("-c", "--cpu-shares", default=None, help="CPU shares (relative weight)"),
    click.option("--cpuset-cpus", default=None, help="CPUs in which to allow execution (0-3, 0,1)"),
    click.option("--pids-limit", default=None, help="Tune container pids limit (set -1 for unlimited)"),
    click.option("--blkio-weight", default=None, help="Block IO (relative weight), between 10 and 1000"),
    click.option("--restart", "restart", default="no",
                 help="Restart policy: no, on-failure[:max-retries], always, unless-stopped"),
    click.option("--health-cmd", default=None, help="Command to run to check health"),
    click.option("--health-interval", default=None, help="Time between running the check (ms|s|m|h)"),
    click.option("--health-timeout", default=None, help="Maximum time to allow one check to run (ms|s|m|h)"),
    click.option("--health-retries", type=int, default=None, help="Consecutive failures needed to report unhealthy"),
    click.option("--health-start-period", default=None,
                 help="Start period for the container to initialize before failures count (ms|s|m|h)"),
    click.option("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK"),
    click.option("--cgroup-parent", default=None, help="Parent cgroup for the container (daemon.json's by default)"),
    click.option("--ulimit", "ulimits", multiple=True, help="Ulimit options (NAME=SOFT[:HARD], e.g. nofile=1024:2048)"),
    click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY"),
    click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached"),
]
from pydock.cli.network import NETWORK_OPTIONS, network_fields  # network room: -p, -P, --ip, ...

DEPTH_OPTIONS += NETWORK_OPTIONS
from pydock.cli.securityflags import SECURITY_OPTIONS, security_host_config  # security room

DEPTH_OPTIONS += SECURITY_OPTIONS


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
        click.echo(f"WARNING: {note}", err=True)
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
            click.echo(f"WARNING: {note}", err=True)
    host_config = {**limits.to_host_config(), "RestartPolicy": policy.to_json(),
                   "Ulimits": [u.to_json() for u in ulimits], "CgroupParent": parent,
                   **security_host_config(o)}  # security room: caps, seccomp, devices, --read-only, ...
    healthcheck = healthcheck_from_flags(
        cmd=o.get("health_cmd"), interval=o.get("health_interval"), timeout=o.get("health_timeout"),
        retries=o.get("health_retries"), start_period=o.get("health_start_period"),
        no_healthcheck=bool(o.get("no_healthcheck")))
    return {"host_config": host_config, "healthcheck": healthcheck, "tty": bool(o.get("tty")),
            "open_stdin": bool(o.get("interactive")), **network_fields(o)}


def run_tty(rt: Any, cid: str, interactive: bool) -> int:
    """`run -it` in the foreground: start, attach to the container's terminal (seeing what it printed
    before we connected), relay until it exits or ctrl-p ctrl-q detaches; the container's exit code."""
    from pydock.cli.exec import attach_terminal, wait_exit_code
    from pydock.runtime import tty as rtty

    started = rt.start(cid)
    started.close()
    sock = rtty.connect(rt.settings.run / "containers" / cid)
    stdin = sys.stdin.fileno() if interactive else None
    outcome = attach_terminal(sock, stdin, rtty.DETACH_KEYS, replay=True)
    if outcome == "detached":
        click.echo(f"\r\nread escape sequence (container {cid[:12]} still runs)", err=True)
        return 0
    return wait_exit_code(rt.settings, cid)
