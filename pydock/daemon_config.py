"""daemon.json: host-wide defaults in Docker's format (`/etc/pydock/daemon.json` or `PYDOCK_CONFIG`).

Docker's keys that pydock honours:
- `log-driver`, `log-opts`: the logging defaults for containers created without `--log-driver`;
- `default-ulimits`: `{"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}}`, applied to every
  container's process (a `--ulimit` of the same name wins);
- `cgroup-parent`: the cgroup under which containers get theirs (default `pydock`);
- `labels`, `debug`: shown by `pydock info`;
- `bip`, `mtu`, `default-address-pools`, `dns`: the default bridge and user networks (runtime/network/config.py);
- `seccomp-profile`, `no-new-privileges`, `userns-remap` (`"default"`: `--userns auto` by default):
  checked when a container is made (runtime/security/options.py, userns.py).
An unknown key is refused, as dockerd does, naming the key; so is a value of the wrong type. A missing
file means Docker's defaults.
"""

from __future__ import annotations

import json
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydock.errors import ConfigError, PydockError, UsageError
from pydock.settings import Settings

# Docker's ulimit names -> the resource module's constants.
ULIMIT_NAMES: dict[str, int] = {
    "core": resource.RLIMIT_CORE, "cpu": resource.RLIMIT_CPU, "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE, "locks": getattr(resource, "RLIMIT_LOCKS", 10),  # Python lacks it; 10 on Linux
    "memlock": resource.RLIMIT_MEMLOCK,
    "msgqueue": resource.RLIMIT_MSGQUEUE, "nice": resource.RLIMIT_NICE, "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC, "rss": resource.RLIMIT_RSS, "rtprio": resource.RLIMIT_RTPRIO,
    "rttime": resource.RLIMIT_RTTIME, "sigpending": resource.RLIMIT_SIGPENDING, "stack": resource.RLIMIT_STACK,
}
KNOWN_KEYS = ("log-driver", "log-opts", "default-ulimits", "cgroup-parent", "labels", "debug",
              "insecure-registries")  # the last: registries allowed plain HTTP (runtime/images/registry.py)
# Networking keys, checked by runtime/network/config.py (the network room owns their meaning).
NETWORK_KEYS = ("bip", "mtu", "default-address-pools", "dns")
# Security keys, checked when a container is made (runtime/security/options.py).
SECURITY_KEYS = ("seccomp-profile", "no-new-privileges", "userns-remap")


@dataclass(frozen=True)
class Ulimit:
    """One rlimit in Docker's shape; -1 is unlimited (RLIM_INFINITY)."""

    name: str
    soft: int
    hard: int

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "Soft": self.soft, "Hard": self.hard}


def parse_ulimit(text: str) -> Ulimit:
    """`--ulimit nofile=1024:4096` (or `nofile=1024`, soft = hard), as Docker's flag takes it."""
    name, sep, values = text.partition("=")
    if not sep or name not in ULIMIT_NAMES:
        raise UsageError(f"invalid ulimit {text!r}: expected NAME=SOFT[:HARD] with NAME one of "
                         f"{', '.join(sorted(ULIMIT_NAMES))}")
    soft_s, _, hard_s = values.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError as exc:
        raise UsageError(f"invalid ulimit {text!r}: soft and hard must be integers") from exc
    return _check_ulimit(Ulimit(name, soft, hard), UsageError)


def _check_ulimit(u: Ulimit, err: type[Exception]) -> Ulimit:
    if u.soft < -1 or u.hard < -1:
        raise err(f"invalid ulimit {u.name}: values must be -1 (unlimited) or positive")
    if u.hard != -1 and (u.soft == -1 or u.soft > u.hard):
        raise err(f"ulimit {u.name}: soft limit {u.soft} exceeds the hard limit {u.hard}")
    return u


@dataclass(frozen=True)
class DaemonConfig:
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    default_ulimits: dict[str, Ulimit] = field(default_factory=dict)
    cgroup_parent: str = "pydock"
    labels: tuple[str, ...] = ()
    debug: bool = False
    source: Path | None = None
    network: dict[str, Any] = field(default_factory=dict)  # NETWORK_KEYS as given
    security: dict[str, Any] = field(default_factory=dict)  # SECURITY_KEYS as given

    def ulimits_for(self, explicit: list[Ulimit]) -> list[Ulimit]:
        """The daemon's default ulimits overridden by a container's own `--ulimit`s of the same name."""
        merged = dict(self.default_ulimits)
        merged.update({u.name: u for u in explicit})
        return [merged[k] for k in sorted(merged)]


def load(path: Path | None = None) -> DaemonConfig:
    """Read and check daemon.json (`PYDOCK_CONFIG` or /etc/pydock/daemon.json by default)."""
    p = Path(path) if path is not None else Settings.from_env().config_file
    try:
        text = p.read_text()
    except FileNotFoundError:
        return DaemonConfig()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from exc
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the top level must be a JSON object")
    unknown = sorted(set(raw) - set(KNOWN_KEYS) - set(NETWORK_KEYS) - set(SECURITY_KEYS))
    if unknown:
        raise ConfigError(f"{p}: the following directives don't match any configuration option: {', '.join(unknown)}")
    return _build(p, raw)


def _build(p: Path, raw: dict[str, Any]) -> DaemonConfig:
    def want(key: str, typ: type | tuple[type, ...], what: str) -> Any:
        value = raw[key]
        if not isinstance(value, typ):
            raise ConfigError(f"{p}: {key!r} must be {what}, not {json.dumps(value)}")
        return value

    kwargs: dict[str, Any] = {"source": p, "network": {k: raw[k] for k in NETWORK_KEYS if k in raw}}
    kwargs["security"] = {k: raw[k] for k in SECURITY_KEYS if k in raw}
    if "log-driver" in raw:
        kwargs["log_driver"] = want("log-driver", str, "a string")
    if "log-opts" in raw:
        opts = want("log-opts", dict, "an object of strings")
        for k, v in opts.items():
            if not isinstance(v, str):
                raise ConfigError(f"{p}: log-opts {k!r} must be a string (as in Docker), not {json.dumps(v)}")
        kwargs["log_opts"] = dict(opts)
    if "default-ulimits" in raw:
        ulimits: dict[str, Ulimit] = {}
        for name, spec in want("default-ulimits", dict, "an object").items():
            if name not in ULIMIT_NAMES or not isinstance(spec, dict):
                raise ConfigError(f"{p}: default-ulimits: unknown ulimit {name!r}")
            try:
                u = Ulimit(str(spec.get("Name", name)), int(spec["Soft"]), int(spec["Hard"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{p}: default-ulimits.{name} needs integer Soft and Hard") from exc
            ulimits[name] = _check_ulimit(u, ConfigError)
        kwargs["default_ulimits"] = ulimits
    if "cgroup-parent" in raw:
        parent = want("cgroup-parent", str, "a string").strip("/")
        if not parent or ".." in parent.split("/"):
            raise ConfigError(f"{p}: cgroup-parent {raw['cgroup-parent']!r} is not a usable cgroup path")
        kwargs["cgroup_parent"] = parent
    if "labels" in raw:
        labels = want("labels", list, "a list of strings")
        kwargs["labels"] = tuple(str(x) for x in labels)
    if "debug" in raw:
        kwargs["debug"] = want("debug", bool, "true or false")
    if "insecure-registries" in raw:
        regs = want("insecure-registries", list, "a list of strings")
        if not all(isinstance(r, str) and r for r in regs):
            raise ConfigError(f"{p}: insecure-registries must be a list of HOST[:PORT] or CIDR strings")
    cfg = DaemonConfig(**kwargs)
    _validate_log_config(p, cfg)
    return cfg


def _validate_log_config(p: Path, cfg: DaemonConfig) -> None:
    """Check the default driver and its options with the drivers' own validation, where it exists."""
    try:
        from pydock.logdrivers import registry
    except ImportError:
        return  # the registry is not part of this build: create() validates when it runs
    try:
        registry.validate(cfg.log_driver, cfg.log_opts)
    except PydockError as exc:
        raise ConfigError(f"{p}: {exc}") from exc
