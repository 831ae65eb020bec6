"""The `local` driver: pydock's compact binary format (`localfmt`), rotated and compressed.

`<container dir>/local-logs/container.log`, rotated to `container.log.1.gz` ... with Docker's local
defaults: `max-size` 20 MiB (a value given is decimal, as Docker's local driver parses it:
`10m` = 10,000,000 bytes), `max-file` 5,
`compress` true: about 100 MB a container. `tag`, `labels`, `env` (and their regex forms) are kept
with each record, as Docker's local driver does since 2026.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydock.logdrivers import options, tag
from pydock.logdrivers.base import LogInfo
from pydock.logdrivers.jsonfile import DUMMY_INFO
from pydock.logdrivers.localfmt import Encoder, LocalCodec, cut_records
from pydock.logdrivers.logfile import FileSetReader
from pydock.logdrivers.rotate import RecordFileDriver, RecordWriter, RotatingFile

from pydock.errors import LogOptError

NAME = "local"
DIR = "local-logs"
FILE = "container.log"
DEFAULT_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_FILE = 5
OWN_OPTS = frozenset({"max-size", "max-file", "compress"}) | options.ATTR_OPTS


def log_path(record_dir: Path) -> Path:
    return Path(record_dir) / DIR / FILE


class LocalWriter(RecordWriter):
    """A rotated local-format file: the `local` driver's and the dual-logging cache's writer."""

    def __init__(self, path: Path, attrs: Mapping[str, str], max_size: int, max_file: int, compress: bool):
        path.parent.mkdir(mode=0o750, exist_ok=True)
        self.path = path
        super().__init__(Encoder(attrs), RotatingFile(path, cut_records, max_size, max_file, compress))


def rotation_opts(opts: Mapping[str, str], prefix: str = "") -> tuple[int, int, bool]:
    """(max-size, max-file, compress) with the local driver's defaults; `prefix` is "cache-" for the
    dual-logging cache's keys."""
    # local.go: the default is 20 MiB, a value given is units.FromHumanSize's (decimal: 10m = 10^7)
    max_size = options.parse_size(opts, prefix + "max-size", DEFAULT_MAX_SIZE)
    max_file = options.parse_int(opts, prefix + "max-file", DEFAULT_MAX_FILE, minimum=1)
    key = prefix + "compress"
    compress = options.parse_bool(opts, key, True)
    if compress and max_file < 2:
        if key in opts:
            raise LogOptError(f"{key} cannot be true when {prefix}max-file is less than 2")
        compress = False  # the default gives way to an explicit max-file=1
    return max_size, max_file, compress


class LocalDriver(RecordFileDriver):
    name = NAME

    @classmethod
    def validate(cls, opts: Mapping[str, str]) -> None:
        options.check_keys(NAME, opts, OWN_OPTS, "unknown log opt '{key}' for log driver {driver}")
        rotation_opts(opts)
        options.extra_attributes(DUMMY_INFO, opts)
        tag.tag(DUMMY_INFO, dict(opts), default="")

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        self.validate(opts)
        self.attrs = attrs = tag.file_attributes(info, opts)
        self._writer = LocalWriter(log_path(Path(info.log_dir)), attrs, *rotation_opts(opts))

    @classmethod
    def open_reader(cls, record_dir: Path, opts: Mapping[str, str]) -> FileSetReader:
        return FileSetReader(log_path(Path(record_dir)), LocalCodec())
