"""Option checking shared by every driver: known keys, booleans, sizes, attributes and the tag.

Each driver validates its own keys (Docker's `ValidateLogOpt`); this module holds the pieces they
share so every driver names a bad key or value the same way. The options every driver accepts
(`mode`, `max-buffer-size`, the dual-logging `cache-*` keys) are checked by the registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pydock.logdrivers.base import LogInfo

from pydock.errors import LogOptError, UsageError
from pydock.units import human_size, ram_bytes

# Docker's builtInLogOpts plus the dual-logging keys that daemon.json defaults merge into every
# container whatever its driver.
BUILTIN_OPTS = frozenset({"mode", "max-buffer-size"})
ATTR_OPTS = frozenset({"labels", "labels-regex", "env", "env-regex", "tag"})
# Docker's cache takes every option of the local driver with this prefix (cache/validate.go).
CACHE_OPTS = frozenset({"cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"}
                       | {"cache-" + k for k in ATTR_OPTS})

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def check_keys(driver: str, opts: Mapping[str, str], allowed: Iterable[str],
               message: str = "unknown log opt '{key}' for {driver} log driver") -> None:
    """Refuse any key the driver does not know, with Docker's wording (most drivers share it;
    local.go and gelf.go word it their own way, which the caller passes as `message`)."""
    known = set(allowed) | BUILTIN_OPTS | CACHE_OPTS
    for key in opts:
        if key not in known:
            raise LogOptError(message.format(key=key, driver=driver))


def parse_bool(opts: Mapping[str, str], key: str, default: bool) -> bool:
    """Go's strconv.ParseBool, which Docker uses for every boolean option."""
    if key not in opts:
        return default
    value = opts[key]
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise LogOptError(f"invalid value {value!r} for log opt '{key}': expected true or false")


def parse_int(opts: Mapping[str, str], key: str, default: int, minimum: int | None = None,
              maximum: int | None = None) -> int:
    if key not in opts:
        return default
    value = opts[key]
    try:
        n = int(value, 10)
    except ValueError:
        raise LogOptError(f"invalid value {value!r} for log opt '{key}': expected an integer") from None
    if minimum is not None and n < minimum:
        raise LogOptError(f"invalid value {value!r} for log opt '{key}': must be at least {minimum}")
    if maximum is not None and n > maximum:
        raise LogOptError(f"invalid value {value!r} for log opt '{key}': must be at most {maximum}")
    return n


def parse_size(opts: Mapping[str, str], key: str, default: int, binary: bool = False) -> int:
    """`binary` picks go-units' RAMInBytes (1m = 1 MiB) over FromHumanSize (1m = 10^6)."""
    if key not in opts:
        return default
    try:
        n = (ram_bytes if binary else human_size)(opts[key], key)
    except UsageError:
        raise LogOptError(f"invalid value {opts[key]!r} for log opt '{key}': expected a size like 10m") from None
    if n <= 0:
        raise LogOptError(f"invalid value {opts[key]!r} for log opt '{key}': must be greater than 0")
    return n


def parse_regex(opts: Mapping[str, str], key: str) -> re.Pattern[str] | None:
    if not opts.get(key):
        return None
    try:
        return re.compile(opts[key])
    except re.error as exc:
        raise LogOptError(f"invalid value {opts[key]!r} for log opt '{key}': {exc}") from None


def _chosen(values: Mapping[str, str], names: str | None, pattern: re.Pattern[str] | None) -> dict[str, str]:
    """The keys of `values` named in the comma list `names`, then those `pattern` matches."""
    out = {key: values[key] for key in (names or "").split(",") if key in values}
    if pattern is not None:
        out.update((key, value) for key, value in values.items() if pattern.search(key))
    return out


def extra_attributes(info: LogInfo, opts: Mapping[str, str]) -> dict[str, str]:
    """Docker's `Info.ExtraAttributes`: chosen labels, then env (env wins on a clash)."""
    env = dict(item.split("=", 1) for item in info.env if "=" in item)
    return {**_chosen(info.labels, opts.get("labels"), parse_regex(opts, "labels-regex")),
            **_chosen(env, opts.get("env"), parse_regex(opts, "env-regex"))}
