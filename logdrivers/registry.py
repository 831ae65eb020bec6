"""Finding drivers by name, checking their options, and building the stack the shim logs into.

Drivers are found through the entry point group `pydock.logdrivers`; pydock's own are listed there
in pyproject.toml like anyone else's, and nothing registers itself at import. `Registry` is an
explicit object (tests build their own with extra classes); the module-level functions use one
made on first use.

The stack `create_driver` returns, outermost first: `StatsDriver` (counts, logstats.json, and the
redaction of `redact`/`redact-regex`, before anything below sees a line) → the dual-logging cache
for drivers that cannot be read back → `RingDriver` when `mode=non-blocking` → the driver.
The redaction keys are pydock's own and accepted with every driver: checked here, and stripped
from the options any driver (or the cache) is given.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydock.logdrivers import options, redact
from pydock.logdrivers.base import LogDriver, LogInfo, LogReader
from pydock.logdrivers.ring import RingDriver, ring_options
from pydock.logdrivers.stats import StatsDriver

from pydock.errors import LogOptError, UsageError

GROUP = "pydock.logdrivers"
MODES = ("", "blocking", "non-blocking")
# pydock's own drivers, as pyproject.toml lists them in the entry point group (a test keeps the two
# equal). Looking these up directly spares `pydock logs` the scan of every installed distribution
# that importlib.metadata makes (about 80 ms); other names go through the entry points.
BUILTIN = {
    "json-file": "pydock.logdrivers.jsonfile:JSONFileDriver",
    "local": "pydock.logdrivers.local:LocalDriver",
    "syslog": "pydock.logdrivers.syslog:SyslogDriver",
    "journald": "pydock.logdrivers.journald:JournaldDriver",
    "gelf": "pydock.logdrivers.gelf:GelfDriver",
    "fluentd": "pydock.logdrivers.fluentd:FluentdDriver",
    "none": "pydock.logdrivers.none:NoneDriver",
}


class ReadNotSupported(UsageError):
    """`pydock logs` on a driver that keeps nothing to read (none, or the cache disabled)."""


class Registry:
    def __init__(self, group: str = GROUP, extra: Mapping[str, type] | None = None):
        self.group = group
        self._extra = dict(extra or {})
        self._loaded: dict[str, type] = {}

    def names(self) -> list[str]:
        from importlib.metadata import entry_points

        return sorted({ep.name for ep in entry_points(group=self.group)} | set(BUILTIN) | set(self._extra))

    def driver_class(self, name: str) -> type:
        if name in self._extra:
            return self._extra[name]
        if name in self._loaded:
            return self._loaded[name]
        cls: type
        if name in BUILTIN and self.group == GROUP:
            module, _, attr = BUILTIN[name].partition(":")
            cls = getattr(importlib.import_module(module), attr)
        else:
            from importlib.metadata import entry_points

            found = list(entry_points(group=self.group, name=name))
            if not found:
                raise LogOptError(f"logger: no log driver named '{name}' is registered "
                                  f"(known: {', '.join(self.names())})")
            cls = found[0].load()
        self._loaded[name] = cls
        return cls

    def readable(self, name: str) -> bool:
        return hasattr(self.driver_class(name), "open_reader")

    def validate(self, name: str, opts: Mapping[str, str]) -> None:
        """Everything that can be checked before a container exists; raises LogOptError."""
        cls = self.driver_class(name)
        redact.parse(opts)  # pydock's own keys, for every driver (`none` too: a bad regex is refused)
        opts = redact.strip(opts)  # a driver never sees them, so none names them as unknown
        if name == "none":
            return  # Docker accepts any option with `none`
        validate_common(opts)
        check = getattr(cls, "validate", None)
        if check is not None:
            check(opts)

    def create_driver(self, name: str, info: LogInfo, opts: Mapping[str, str]) -> LogDriver:
        self.validate(name, opts)
        redactor = redact.parse(opts)
        opts = redact.strip(opts)
        cls = self.driver_class(name)
        driver: Any = cls(info, dict(opts))
        size = ring_options(opts) if name != "none" else None
        if size is not None:
            driver = RingDriver(driver, size)
        cache = None
        if name != "none" and not self.readable(name) and cache_enabled(opts):
            from pydock.logdrivers.cache import CacheDriver

            cache = CacheDriver(info, opts)
        return StatsDriver(driver, name, info.log_dir or None, cache, redactor=redactor)

    def open_reader(self, record_dir: Path, log_type: str, opts: Mapping[str, str]) -> LogReader:
        cls = self.driver_class(log_type)
        opts = redact.strip(opts)
        opener = getattr(cls, "open_reader", None)
        if opener is not None:
            reader: LogReader = opener(Path(record_dir), opts)
            return reader
        if log_type == "none" or not cache_enabled(opts):
            raise ReadNotSupported(f'configured logging driver "{log_type}" does not support reading')
        from pydock.logdrivers.cache import CacheDriver

        return CacheDriver.open_reader(Path(record_dir), opts)


def validate_common(opts: Mapping[str, str]) -> None:
    """Docker's `ValidateLogOpts`: `mode`, `max-buffer-size` and the `cache-*` keys."""
    mode = opts.get("mode", "")
    if mode not in MODES:
        raise LogOptError(f"logger: logger option 'mode' can only be one of \"blocking\" or \"non-blocking\", got {mode!r}")
    if "max-buffer-size" in opts:
        if mode != "non-blocking":
            raise LogOptError("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        options.parse_size(opts, "max-buffer-size", 1, binary=True)
    options.parse_bool(opts, "cache-disabled", False)
    options.parse_size(opts, "cache-max-size", 1)  # the local driver's max-size: decimal
    options.parse_regex(opts, "cache-labels-regex")
    options.parse_regex(opts, "cache-env-regex")
    if opts.get("cache-tag"):
        from pydock.logdrivers import tag
        from pydock.logdrivers.jsonfile import DUMMY_INFO

        try:
            tag.render(opts["cache-tag"], DUMMY_INFO)
        except LogOptError as exc:
            raise LogOptError(str(exc).replace("log opt 'tag'", "log opt 'cache-tag'")) from None
    max_file = options.parse_int(opts, "cache-max-file", 5, minimum=1)
    if options.parse_bool(opts, "cache-compress", True) and max_file < 2 and "cache-compress" in opts:
        raise LogOptError("cache-compress cannot be true when cache-max-file is less than 2")


def cache_enabled(opts: Mapping[str, str]) -> bool:
    return not options.parse_bool(opts, "cache-disabled", False)


_default: Registry | None = None


def default_registry() -> Registry:
    global _default
    if _default is None:
        _default = Registry()
    return _default


def create_driver(name: str, info: LogInfo, opts: Mapping[str, str]) -> LogDriver:
    """The driver stack for one container; raises LogOptError naming a bad key or value."""
    return default_registry().create_driver(name, info, opts)


def validate(name: str, opts: Mapping[str, str]) -> None:
    default_registry().validate(name, opts)


def open_reader(record_dir: Path, log_type: str, opts: Mapping[str, str]) -> LogReader:
    return default_registry().open_reader(record_dir, log_type, opts)
