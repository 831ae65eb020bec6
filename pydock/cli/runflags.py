"""The runtime-depth flags of `pydock run` and `pydock create`: limits, restart policy, health checks,
terminal. containers.py adds `DEPTH_OPTIONS` to its options; their values become ContainerSpec fields
in `depth_fields` (runspec.py, click-free, so the `run` fast path shares it; re-exported here for the
API server).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from pydock.cli.runspec import apply_daemon_defaults, depth_fields

__all__ = ["DEPTH_OPTIONS", "apply_daemon_defaults", "depth_fields", "run_tty"]

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
from pydock.cli.network import NETWORK_OPTIONS  # network room: -p, -P, --ip, ...

DEPTH_OPTIONS += NETWORK_OPTIONS
from pydock.cli.securityflags import SECURITY_OPTIONS  # security room

DEPTH_OPTIONS += SECURITY_OPTIONS


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
