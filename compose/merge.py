"""How several compose files (`-f a.yml -f b.yml`, or compose.yaml + compose.override.yaml) merge,
with compose-go's rules (its `override` package):

- mappings merge key by key, the later file winning for scalars;
- `environment`, `labels`, `annotations`, `extra_hosts`, `build.args`, `depends_on` are first made
  mappings (list syntax `A=1` / `[svc]`), then merged;
- `command`, `entrypoint`, `healthcheck.test` and `profiles` are replaced, not appended;
- `volumes` merge by container target, `ports` and other lists append without duplicates;
- `logging` with another driver replaces the options too.
"""

from __future__ import annotations

import copy
from typing import Any

_REPLACED = {"command", "entrypoint", "profiles", "dns", "dns_search"}
_AS_MAP = ("environment", "labels", "annotations", "extra_hosts", "sysctls")


def list_to_map(value: Any, sep: str = "=") -> Any:
    """`["A=1", "B"]` as `{"A": "1", "B": None}` (a bare key takes its value from elsewhere)."""
    if not isinstance(value, list):
        return value
    out: dict[str, Any] = {}
    for item in value:
        k, eq, v = str(item).partition(sep)
        out[k] = v if eq else None
    return out


def normalize_service(svc: dict[str, Any]) -> dict[str, Any]:
    """The forms that merge and hashing compare: maps for the list-or-map fields, `build` as a map."""
    svc = dict(svc)
    for key in _AS_MAP:
        if key in svc:
            svc[key] = list_to_map(svc[key], ":" if key == "extra_hosts" else "=")
    if isinstance(svc.get("build"), str):
        svc["build"] = {"context": svc["build"]}
    if isinstance(svc.get("build"), dict) and "args" in svc["build"]:
        svc["build"] = {**svc["build"], "args": list_to_map(svc["build"]["args"])}
    if isinstance(svc.get("depends_on"), list):
        svc["depends_on"] = {d: {"condition": "service_started", "required": True} for d in svc["depends_on"]}
    if isinstance(svc.get("env_file"), str):
        svc["env_file"] = [svc["env_file"]]
    return svc


def _volume_target(v: Any) -> str:
    if isinstance(v, dict):
        return str(v.get("target", ""))
    parts = str(v).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _append_unique(base: list[Any], over: list[Any]) -> list[Any]:
    out = list(base)
    for item in over:
        if item not in out:
            out.append(item)
    return out


def merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    base, over = normalize_service(base), normalize_service(over)
    out = copy.deepcopy(base)
    for key, value in over.items():
        old = out.get(key)
        if key in _REPLACED or old is None:
            out[key] = copy.deepcopy(value)
        elif key == "volumes" and isinstance(old, list) and isinstance(value, list):
            by_target = {_volume_target(v): v for v in old}
            for v in value:
                by_target[_volume_target(v)] = v
            out[key] = list(by_target.values())
        elif key == "logging" and isinstance(old, dict) and isinstance(value, dict):
            if value.get("driver") not in (None, old.get("driver")):
                out[key] = copy.deepcopy(value)
            else:
                out[key] = merge_maps(old, value)
        elif key == "healthcheck" and isinstance(old, dict) and isinstance(value, dict):
            out[key] = {**old, **copy.deepcopy(value)}  # `test` is replaced whole, as any scalar
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge_maps(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = _append_unique(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_maps(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(out.get(k), dict) and isinstance(v, dict):
            out[k] = merge_maps(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def merge_files(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The model of several files, the later ones overriding the earlier ones."""
    out: dict[str, Any] = {}
    for doc in docs:
        for key, value in doc.items():
            if key == "services" and isinstance(value, dict):
                services = out.setdefault("services", {})
                for name, svc in value.items():
                    svc = svc or {}
                    services[name] = merge_service(services[name], svc) if name in services \
                        else normalize_service(svc)
            elif isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge_maps(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out
