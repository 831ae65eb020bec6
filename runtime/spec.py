"""What a user asks for when making a container: `ContainerSpec`, built by `pydock run/create`.

The CLI parses Docker's flags into this one frozen value and hands it to `lifecycle.create`; tests and
other callers build it directly. Fields that later issues add (limits, restart policy, health
checks, a tty) go here too, with defaults, so nothing else changes shape. `host_config` carries
HostConfig keys (Docker's names, e.g. `Memory`, `NanoCpus`, `RestartPolicy`) merged into
config.json as given.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydock.errors import UsageError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's, when the image has none
_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(frozen=True)
class MountSpec:
    """One mount: `bind` (source is a host path), `volume` (source is a volume name, "" for an
    anonymous one) or `tmpfs` (no source)."""

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    options: Mapping[str, str] = field(default_factory=dict)  # tmpfs-size, tmpfs-mode


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    cmd: tuple[str, ...] | None = None  # None: the image's Cmd
    entrypoint: tuple[str, ...] | None = None  # None: the image's; () resets it (--entrypoint "")
    name: str = ""
    env: tuple[str, ...] = ()  # "K=V"
    workdir: str = ""
    user: str = ""
    hostname: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[MountSpec, ...] = ()
    network: str = ""  # '' = the default: the bridge when ports are published (-p/-P), else none (docs/network.md)
    log_driver: str = "json-file"
    log_opts: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = "SIGTERM"
    stop_timeout: int = 10
    auto_remove: bool = False
    tty: bool = False
    open_stdin: bool = False
    host_config: Mapping[str, Any] = field(default_factory=dict)
    healthcheck: Mapping[str, Any] | None = None
    # Networking (runtime/network/): -p values as typed, -P, --network-alias, --ip, --add-host, --dns.
    publish: tuple[str, ...] = ()
    publish_all: bool = False
    expose: tuple[str, ...] = ()  # --expose: ports in Config.ExposedPorts (published only by -P)
    network_aliases: tuple[str, ...] = ()
    ip: str = ""
    add_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise UsageError(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def parse_signal(text: str) -> signal.Signals:
    """`SIGTERM`, `TERM` or `15`, as Docker's --stop-signal and kill -s take them."""
    t = text.strip().upper()
    try:
        if t.isdigit():
            return signal.Signals(int(t))
        return signal.Signals[t if t.startswith("SIG") else "SIG" + t]
    except (KeyError, ValueError):
        raise UsageError(f"invalid signal: {text}") from None


def _check_target(target: str, flag: str) -> str:
    if not target.startswith("/"):
        raise UsageError(f"invalid {flag}: mount path {target!r} must be absolute")
    if target == "/":
        raise UsageError(f"invalid {flag}: cannot mount over the container's root /")
    return target


def parse_volume(text: str) -> MountSpec:
    """`-v SRC:DST[:ro|rw]` (SRC an absolute host path for a bind, else a volume name) or `-v DST`."""
    parts = text.split(":")
    if len(parts) == 1:
        return MountSpec("volume", _check_target(parts[0], f"volume spec {text!r}"))
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise UsageError(f"invalid volume specification: {text!r}")
    mode = parts[2] if len(parts) == 3 else "rw"
    opts = set(mode.split(","))
    if not opts <= {"ro", "rw", "z", "Z", "nocopy"} or {"ro", "rw"} <= opts:
        raise UsageError(f"invalid mode {mode!r} in volume specification {text!r}")
    src, dst = parts[0], _check_target(parts[1], f"volume spec {text!r}")
    if src.startswith("/"):
        return MountSpec("bind", dst, src, "ro" in opts)
    if src.startswith("."):
        raise UsageError(f"invalid volume specification {text!r}: a bind mount source must be an absolute path")
    return MountSpec("volume", dst, src, "ro" in opts, {"volume-nocopy": "true"} if "nocopy" in opts else {})


def parse_mount(text: str) -> MountSpec:
    """`--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=..]`."""
    kv: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq:
            if key in ("readonly", "ro"):
                kv["readonly"] = "true"
                continue
            raise UsageError(f"invalid field {item!r} in --mount {text!r}: must be a key=value pair")
        kv[key] = value
    kind = kv.pop("type", "volume")
    src = kv.pop("source", kv.pop("src", ""))
    dst = kv.pop("target", kv.pop("destination", kv.pop("dst", "")))
    ro = kv.pop("readonly", kv.pop("ro", "false")).lower() in ("1", "true")
    if not dst:
        raise UsageError(f"invalid --mount {text!r}: target is required")
    _check_target(dst, f"--mount {text!r}")
    options = {k: kv.pop(k) for k in list(kv) if k in ("tmpfs-size", "tmpfs-mode")}
    kv.pop("bind-propagation", None)
    if kv.pop("volume-nocopy", "false").lower() in ("1", "true"):
        options["volume-nocopy"] = "true"
    if kv:
        raise UsageError(f"unexpected key {next(iter(kv))!r} in --mount {text!r}")
    if kind == "bind":
        if not src.startswith("/"):
            raise UsageError(f"invalid --mount {text!r}: a bind source must be an absolute path")
    elif kind == "tmpfs":
        if src:
            raise UsageError(f"invalid --mount {text!r}: a tmpfs mount takes no source")
    elif kind != "volume":
        raise UsageError(f"invalid --mount {text!r}: type must be bind, volume or tmpfs")
    return MountSpec(kind, dst, src, ro, options)


def parse_env_file(text: str, source: str) -> list[str]:
    """Docker's --env-file: KEY=VALUE lines; `#` comments; a bare KEY takes the caller's value."""
    import os

    out = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        key, eq, value = s.partition("=")
        if not key or " " in key:
            raise UsageError(f"{source}:{n}: invalid environment variable {key!r}")
        if eq:
            out.append(f"{key}={value}")
        elif key in os.environ:
            out.append(f"{key}={os.environ[key]}")
    return out
