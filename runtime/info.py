"""`docker info`'s facts about this host and pydock (counts, drivers, cgroup layout), in Docker's JSON
names: one function for `pydock info` and the Engine API's `GET /info`."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from pydock.errors import PydockError
from pydock.settings import Settings


def _counts(root: Path) -> dict[str, int]:
    from pydock.runtime.store import ContainerStore

    out = {"Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0, "ContainersStopped": 0}
    for rec in ContainerStore(root).list():
        out["Containers"] += 1
        status = rec.status
        if status == "paused":
            out["ContainersPaused"] += 1
        elif status in ("running", "restarting"):
            out["ContainersRunning"] += 1
        else:
            out["ContainersStopped"] += 1
    return out


def _images(root: Path) -> int:
    try:
        from pydock.runtime.images import ImageStore
    except ImportError:
        return 0
    return len(ImageStore(root / "images").list())


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def collect_info(settings: Settings) -> dict[str, Any]:
    """`docker info`'s fields that pydock has, in Docker's JSON names."""
    from importlib.metadata import version

    from pydock.runtime import cgroups

    from pydock import daemon_config

    cfg = daemon_config.load(settings.config_file)
    try:
        lay = cgroups.detect_layout()
        cgroup_version = "2" if lay.kind == "v2" else "1"
        layout_text = lay.describe()
        layout_kind = lay.kind
    except PydockError as exc:
        cgroup_version, layout_text, layout_kind = "", f"unavailable: {exc}", "none"
    info: dict[str, Any] = _counts(settings.root)
    info.update({
        "Images": _images(settings.root),
        "ServerVersion": version("pydock"),
        "Driver": "overlay",
        "LoggingDriver": cfg.log_driver,
        "LogOpts": cfg.log_opts,
        "DefaultUlimits": {k: u.to_json() for k, u in cfg.default_ulimits.items()},
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "CgroupLayout": layout_kind,
        "CgroupDetail": layout_text,
        "CgroupParent": cfg.cgroup_parent,
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 0,
        "MemTotal": _mem_total(),
        "Name": platform.node(),
        "Labels": list(cfg.labels),
        "Debug": cfg.debug,
        "SecurityOptions": _security_options(cfg),  # security room: runtime/security/options.py
        "DockerRootDir": str(settings.root),
        "RuntimeDir": str(settings.run),
        "ConfigFile": str(settings.config_file),
        "ConfigFileLoaded": cfg.source is not None and settings.config_file.exists(),
    })
    return info


def _security_options(cfg: Any) -> list[str]:
    from pydock.runtime.security.options import security_options

    return security_options(cfg.security)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()
