"""Checks a compose file against the Compose Specification, and refuses what pydock cannot do yet.

The reference is `compose-spec` from PyPI (bindings of the Rust `compose_spec` crate): a maintained
parser of the whole specification that names the key path of a bad value and checks what the JSON
schema alone cannot (units of sizes, durations, IP and port syntax). Vendoring the specification's
JSON schema instead would mean copying another repository's file into this one and checking less.
Each file is checked after interpolation (as compose-go validates), by its key path; the path is
mapped back to the file's own line by the loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from pydock.errors import ConfigError

# The crate refuses `on-failure:N`, which the specification allows (and Docker runs): it is checked
# here instead, and handed to the crate as `on-failure`.
_RESTART = re.compile(r"no|always|unless-stopped|on-failure(:[0-9]+)?")
_PATH = re.compile(r"^((?:[A-Za-z0-9_.\-]|\[\d+\])+): ")

# Fields that need a capability another part of pydock is still building: refused by name, never
# silently ignored. The values say what they wait for; up.py clears an entry once it is wired.
NEEDS: dict[str, str] = {}
# The build keys `pydock build` honours; the rest (ssh, secrets, cache_from, platforms, ...) are refused.
BUILD_KEYS = ("context", "dockerfile", "args", "target", "labels", "no_cache")
# Fields pydock does not run at all; refused with "unsupported".
UNSUPPORTED = ("secrets", "configs", "ipc", "pid", "userns_mode", "gpus", "runtime", "platform", "develop",
               "extends", "volumes_from", "isolation", "models", "links",
               "external_links", "mac_address", "dns_search", "dns_opt")
TOP_UNSUPPORTED = ("secrets", "configs", "include", "models")


def check_spec(doc: dict[str, Any], where: Callable[[str], str]) -> None:
    """Raises ConfigError `file:line: key.path: reason` if the reference parser refuses `doc`."""
    from compose_spec import PyCompose

    data = _for_reference(doc, where)
    try:
        PyCompose.from_yaml(yaml.safe_dump(data, sort_keys=False))
    except ValueError as exc:
        text = re.sub(r" at line \d+ column \d+$", "", str(exc))
        m = _PATH.match(text)
        path = m.group(1) if m else ""
        unknown = re.search(r"extension key `([^`]+)` does not start with", text)
        if unknown:  # the crate's words for a key the specification does not have
            path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
            text = f"{path}: additional property {unknown.group(1)!r} is not allowed"
        raise ConfigError(f"{where(path)}{text}" if path else f"{where('')}{text}") from None


def _for_reference(doc: dict[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
    services = doc.get("services")
    if not isinstance(services, dict):
        return doc
    fixed = {}
    for name, svc in services.items():
        if isinstance(svc, dict) and isinstance(svc.get("restart"), str):
            if not _RESTART.fullmatch(svc["restart"]):
                raise ConfigError(f"{where(f'services.{name}.restart')}services.{name}.restart: "
                                  f"invalid restart policy {svc['restart']!r}: expected no, always, "
                                  "unless-stopped or on-failure[:max-retries]")
            svc = {**svc, "restart": svc["restart"].split(":")[0]}
        fixed[name] = svc
    return {**doc, "services": fixed}


def check_supported(model: dict[str, Any], where: Callable[[str], str], needs: dict[str, str]) -> None:
    """Refuses the fields pydock cannot honour yet, by key path: `unsupported: services.web.ports
    (needs published ports ...)`."""
    for key in TOP_UNSUPPORTED:
        if model.get(key):
            raise ConfigError(f"{where(key)}unsupported: {key}")
    for name, svc in (model.get("services") or {}).items():
        for key in UNSUPPORTED:
            if key in svc:
                raise ConfigError(f"{where(f'services.{name}.{key}')}unsupported: services.{name}.{key}")
        for key, what in needs.items():
            if svc.get(key):
                raise ConfigError(f"{where(f'services.{name}.{key}')}unsupported: services.{name}.{key} "
                                  f"(needs {what})")
        build = svc.get("build")
        for key in (build or {}) if isinstance(build, dict) else ():
            if key not in BUILD_KEYS:
                raise ConfigError(f"{where(f'services.{name}.build.{key}')}unsupported: services.{name}.build.{key} "
                                  f"(pydock build takes {', '.join(BUILD_KEYS)})")
        mode = svc.get("network_mode")
        if mode not in (None, "none", "host", "bridge"):
            raise ConfigError(f"{where(f'services.{name}.network_mode')}unsupported: "
                              f"services.{name}.network_mode {mode!r} (none, host and bridge work)")
        if mode is not None and svc.get("networks"):
            raise ConfigError(f"{where(f'services.{name}.networks')}services.{name}: network_mode and "
                              "networks cannot be combined")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if isinstance(cond, dict) and cond.get("restart"):
                raise ConfigError(f"{where(f'services.{name}.depends_on.{dep}.restart')}unsupported: "
                                  f"services.{name}.depends_on.{dep}.restart")
    for key, net in (model.get("networks") or {}).items():
        driver = (net or {}).get("driver") or "bridge"
        if driver != "bridge" and not (net or {}).get("external"):
            raise ConfigError(f"{where(f'networks.{key}.driver')}unsupported: networks.{key}.driver {driver!r} "
                              "(pydock has the bridge driver)")
