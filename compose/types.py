"""The resolved project: what compose-go's `types.Project` holds, as plain mappings.

Services keep the Compose Specification's own keys (so `pydock compose config` prints a valid file),
normalised: environment and labels as maps (env files and bare keys resolved), volumes in the long
syntax with bind sources made absolute, depends_on in the long form, replicas filled in. A service
whose profiles are not active is kept apart (`inactive`), as Compose does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydock.errors import ConfigError

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


@dataclass(frozen=True)
class Project:
    name: str
    working_dir: Path
    config_files: list[str]
    services: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    inactive: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_model(self) -> dict[str, Any]:
        """The resolved file, as `pydock compose config` prints it."""
        out: dict[str, Any] = {"name": self.name, "services": self.services}
        if self.networks:
            out["networks"] = self.networks
        if self.volumes:
            out["volumes"] = self.volumes
        return out

    def enabling(self, names: list[str]) -> Project:
        """The project with services outside the active profiles enabled where `names` targets them
        (and what they depend on), as Compose does for `up SERVICE` and `run SERVICE`."""
        services, inactive = dict(self.services), dict(self.inactive)
        todo = [n for n in names if n in inactive]
        while todo:
            n = todo.pop()
            if n in inactive:
                services[n] = inactive.pop(n)
                todo += [d for d in services[n].get("depends_on") or {} if d in inactive]
        if len(services) == len(self.services):
            return self
        import dataclasses

        return dataclasses.replace(self, services=services, inactive=inactive)

    def order(self, names: list[str] | None = None) -> list[str]:
        """Services in dependency order (dependencies first), `names` and what they depend on."""
        want = list(self.services) if not names else names
        seen: dict[str, bool] = {}
        out: list[str] = []

        def visit(n: str, chain: list[str]) -> None:
            if seen.get(n):
                return
            if n in chain:
                raise ConfigError(f"dependency cycle detected: {' -> '.join([*chain, n])}")
            if n not in self.services:
                raise ConfigError(f"no such service: {n}")
            for dep, cond in self.services[n].get("depends_on", {}).items():
                if dep in self.services or cond.get("required", True):
                    visit(dep, [*chain, n])
            seen[n] = True
            out.append(n)

        for n in want:
            visit(n, [])
        return out


def _volume_long(v: Any, working_dir: Path, where: str) -> dict[str, Any]:
    if isinstance(v, dict):
        out = dict(v)
    else:
        parts = str(v).split(":")
        if len(parts) == 1:
            out = {"type": "volume", "target": parts[0]}
        else:
            src, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else ""
            kind = "bind" if src.startswith(("/", ".", "~")) else "volume"
            out = {"type": kind, "source": src, "target": target}
            if "ro" in mode.split(","):
                out["read_only"] = True
    if out.get("type") == "bind":
        src = str(out.get("source", ""))
        if src.startswith("~"):
            src = str(Path(src).expanduser())
        out["source"] = str((working_dir / src).resolve()) if not src.startswith("/") else src
    if out.get("type") not in ("bind", "volume", "tmpfs"):
        raise ConfigError(f"{where}unsupported: volume type {out.get('type')!r} (bind, volume and tmpfs work)")
    return out


def normalize_service(name: str, svc: dict[str, Any], working_dir: Path, env: Mapping[str, str],
                      at: Callable[[str], str]) -> dict[str, Any]:
    from pydock.compose.loader import parse_dotenv

    key = f"services.{name}"
    out = dict(svc)
    if not out.get("image") and not out.get("build"):
        raise ConfigError(f"{at(key)}{key}: service has neither an image nor a build context specified")
    environment: dict[str, str] = {}
    for i, f in enumerate(out.pop("env_file", None) or []):
        path, required = (str(f.get("path", "")), f.get("required", True)) if isinstance(f, dict) else (str(f), True)
        p = Path(path) if Path(path).is_absolute() else working_dir / path
        if not p.is_file():
            if required:
                raise ConfigError(f"{at(f'{key}.env_file[{i}]')}{key}.env_file[{i}]: env file {p} not found")
            continue
        environment.update(parse_dotenv(p.read_text(), str(p), env))
    for k, v in (out.get("environment") or {}).items():
        if v is None:
            if k in env:
                environment[k] = env[k]
        else:
            environment[k] = _scalar(v)
    if environment or "environment" in out:
        out["environment"] = environment
    if "labels" in out:
        out["labels"] = {k: _scalar(v) if v is not None else "" for k, v in out["labels"].items()}
    if "volumes" in out:
        out["volumes"] = [_volume_long(v, working_dir, at(f"{key}.volumes[{i}]"))
                          for i, v in enumerate(out["volumes"])]
    deps = {}
    for dep, cond in (out.get("depends_on") or {}).items():
        cond = {"condition": "service_started", "required": True, **(cond or {})}
        if cond["condition"] not in CONDITIONS:
            raise ConfigError(f"{at(f'{key}.depends_on.{dep}')}{key}.depends_on.{dep}.condition: "
                              f"must be one of {', '.join(CONDITIONS)}")
        deps[dep] = cond
    if "depends_on" in out:
        out["depends_on"] = deps
    if out.get("network_mode") is None:
        nets = out.get("networks") or {"default": None}
        out["networks"] = {n: None for n in nets} if isinstance(nets, list) else dict(nets)
    if "ports" in out:
        out["ports"] = [_port_text(p, at(f"{key}.ports[{i}]")) for i, p in enumerate(out["ports"])]
    replicas = (out.get("deploy") or {}).get("replicas", out.get("scale", 1))
    out.pop("scale", None)
    if replicas is not None and int(replicas) != 1:
        out.setdefault("deploy", {})["replicas"] = int(replicas)
    if out.get("container_name") and int(replicas or 1) > 1:
        raise ConfigError(f"{at(f'{key}.container_name')}{key}: container_name cannot be used with "
                          "more than one replica")
    if isinstance(out.get("command"), str) or isinstance(out.get("entrypoint"), str):
        import shlex

        for k in ("command", "entrypoint"):
            if isinstance(out.get(k), str):
                out[k] = shlex.split(out[k])
    for k in ("command", "entrypoint"):
        if isinstance(out.get(k), list):  # YAML reads `[sleep, 5]` and `[true]` as int and bool items
            out[k] = [_scalar_text(v, f"{key}.{k}", at) for v in out[k]]
    return out


def _scalar_text(v: Any, where: str, at: Callable[[str], str]) -> str:
    """A list item of command/entrypoint as the string the file meant (`true`, not Python's `True`)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (str, int, float)):
        return str(v)
    raise ConfigError(f"{at(where)}{where}: items must be strings, not {type(v).__name__}")


def _port_text(p: Any, where: str) -> str:
    """A port in `-p` syntax (`[IP:][HOST:]CONTAINER[/PROTO]`), from the short or the long form."""
    if not isinstance(p, dict):
        return str(p)
    if p.get("mode", "host") != "host" and p.get("mode") != "ingress":
        raise ConfigError(f"{where}unsupported: port mode {p.get('mode')!r}")
    text = str(p["target"])
    if p.get("published") not in (None, ""):
        text = f"{p['published']}:{text}"
        if p.get("host_ip"):
            text = f"{p['host_ip']}:{text}"
    return f"{text}/{p['protocol']}" if p.get("protocol") else text


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def normalize_project(model: dict[str, Any], name: str, working_dir: Path, files: list[str],
                      env: Mapping[str, str], profiles: list[str], at: Callable[[str], str]) -> Project:
    services, inactive = {}, {}
    for sname, svc in (model.get("services") or {}).items():
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", sname):
            raise ConfigError(f"{at(f'services.{sname}')}services.{sname}: invalid service name")
        norm = normalize_service(sname, svc or {}, working_dir, env, at)
        svc_profiles = norm.get("profiles") or []
        if svc_profiles and not (set(svc_profiles) & set(profiles)) and "*" not in profiles:
            inactive[sname] = norm
        else:
            services[sname] = norm
    for sname, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep not in services and dep not in inactive and cond.get("required", True):
                raise ConfigError(f"{at(f'services.{sname}.depends_on')}services.{sname}.depends_on: "
                                  f"service {dep!r} is not defined")
            if dep in inactive and cond.get("required", True):
                raise ConfigError(f"{at(f'services.{sname}.depends_on')}services.{sname}.depends_on: "
                                  f"service {dep!r} is not enabled by the active profiles")
        for i, v in enumerate(svc.get("volumes") or []):
            src = v.get("source")
            if v["type"] == "volume" and src and src not in (model.get("volumes") or {}):
                raise ConfigError(f"{at(f'services.{sname}.volumes[{i}]')}services.{sname}.volumes[{i}]: "
                                  f"service uses undefined volume {src!r}")
    volumes = {k: dict(v or {}) for k, v in (model.get("volumes") or {}).items()}
    networks = {k: dict(v or {}) for k, v in (model.get("networks") or {}).items()}
    for sname, svc in services.items():
        for net in svc.get("networks") or {}:
            if net == "default":
                networks.setdefault("default", {})  # Compose's implicit `<project>_default`
            elif net not in networks:
                raise ConfigError(f"{at(f'services.{sname}.networks')}services.{sname}.networks: "
                                  f"service refers to undefined network {net!r}")
    project = Project(name, working_dir, files, services, volumes, networks, dict(env), inactive)
    project.order()  # refuses cycles now, before anything is made
    return project
