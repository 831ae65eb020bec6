"""Dual logging: a local-format copy of the output of drivers that cannot be read back.

For syslog, journald, gelf and fluentd the registry adds this cache, so `pydock logs` works for
every driver but `none`. Options as Docker's: `cache-disabled` (false), `cache-max-size` (20m),
`cache-max-file` (5), `cache-compress` (true). File: `<container dir>/local-logs/container-cached.log`.

Where pydock differs from Docker, on purpose: the cache is written first and synchronously (a
local append), so a remote endpoint that refuses a line does not keep it out of `pydock logs`, and
the cache never drops lines of its own (Docker puts it behind a ring that may drop).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydock.logdrivers import options, tag
from pydock.logdrivers.base import LogInfo
from pydock.logdrivers.local import DIR, LocalWriter, rotation_opts
from pydock.logdrivers.localfmt import LocalCodec
from pydock.logdrivers.logfile import FileSetReader
from pydock.logdrivers.rotate import RecordFileDriver

FILE = "container-cached.log"


def cache_path(record_dir: Path) -> Path:
    return Path(record_dir) / DIR / FILE


class CacheDriver(RecordFileDriver):
    name = "cache"

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        # Docker gives the cache only the `cache-` keys (`cache-labels`, `cache-tag` ...); without
        # any, pydock keeps the driver's own attributes, so `pydock logs --details` shows them.
        own = {k[len("cache-"):]: v for k, v in opts.items() if k.startswith("cache-") and k[len("cache-"):] in options.ATTR_OPTS}
        attr_opts = own or dict(opts)
        self._writer = LocalWriter(cache_path(Path(info.log_dir)), tag.file_attributes(info, attr_opts),
                                   *rotation_opts(opts, "cache-"))

    @classmethod
    def open_reader(cls, record_dir: Path, opts: Mapping[str, str]) -> FileSetReader:
        return FileSetReader(cache_path(Path(record_dir)), LocalCodec())
