"""The security flags of `pydock run`/`create` (runflags.py adds them to DEPTH_OPTIONS): their values map
onto `runtime.security.options.host_config` in `runspec.security_host_config` (click-free, shared with
the `run` fast path), which the API server and compose reach too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

SECURITY_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--cap-add", "cap_add", multiple=True, help="Add Linux capabilities (NET_ADMIN, CAP_SYS_TIME, ALL)"),
    click.option("--cap-drop", "cap_drop", multiple=True, help="Drop Linux capabilities (ALL for every one)"),
    click.option("--privileged", is_flag=True, help="Give extended privileges: all capabilities and devices, no seccomp"),
    click.option("--security-opt", "security_opt", multiple=True,
                 help="Security options: seccomp=PROFILE.json|unconfined, no-new-privileges[=true|false]"),
    click.option("--read-only", "read_only", is_flag=True, help="Mount the container's root filesystem as read only"),
    click.option("--tmpfs", "tmpfs", multiple=True, help="Mount a tmpfs directory (PATH[:size=64m,mode=1777])"),
    click.option("--shm-size", "shm_size", default=None, help="Size of /dev/shm (e.g. 128m)"),
    click.option("--sysctl", "sysctl", multiple=True, help="Namespaced kernel parameters (net.*, kernel.shm*, ...)"),
    click.option("--init", "init", is_flag=True, help="Run an init inside the container that forwards signals and reaps processes"),
    click.option("--group-add", "group_add", multiple=True, help="Add additional groups to join"),
    click.option("--device", "device", multiple=True, help="Add a host device to the container (HOST[:CONTAINER[:rwm]])"),
    click.option("--device-cgroup-rule", "device_cgroup_rule", multiple=True,
                 help="Add a rule to the cgroup allowed devices list ('c 1:3 rwm')"),
    click.option("--userns", "userns", default="",
                 help="User namespace: auto (a range of /etc/subuid ids of user pydock) or host"),
    click.option("--cgroupns", "cgroupns", default="", help="Cgroup namespace: host or private (default: private on cgroup v2)"),
]

