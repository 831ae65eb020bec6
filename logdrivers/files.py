"""Reading log files by offset, for the agent's log shipper (docs/internals.md §6).

`iter_file_records(path, offset)` yields the records of one json-file or local-format file, plain
or gzip (both told apart by content), from a byte offset of the (decompressed) content, each with
the offset just past it; a record still being written at the end is not returned, so the shipper
can checkpoint the offset and come back. `log_files(record_dir, log_type)` lists a container's
files oldest first: the rotated ones, then the active one.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from pydock.logdrivers import cache, jsonfile, local
from pydock.logdrivers.base import LogMessage
from pydock.logdrivers.localfmt import VERSION, LocalCodec
from pydock.logdrivers.logfile import Codec, list_files

READ = 4 << 20


def active_path(record_dir: Path, log_type: str) -> Path:
    """The active file a driver writes: json-file and local their own, other drivers the cache."""
    if log_type == "json-file":
        return jsonfile.log_path(Path(record_dir))
    if log_type == "local":
        return local.log_path(Path(record_dir))
    return cache.cache_path(Path(record_dir))


def log_files(record_dir: Path, log_type: str) -> list[Path]:
    return list_files(active_path(record_dir, log_type))


def _codec_for(first: bytes) -> Codec | None:
    if not first:
        return None
    if first[:1] == b"{":
        return jsonfile.JSONCodec()
    if len(first) >= 5 and first[4] & 0xF0 == VERSION:
        return LocalCodec()
    raise ValueError("neither a json-file nor a local-format log")


def iter_file_records(path: Path, offset: int = 0) -> Iterator[tuple[LogMessage, int]]:
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        if gz:
            try:
                content = gzip.decompress(f.read())
            except (OSError, EOFError, zlib.error):
                return  # still being written (compression runs to a temp name, so: corrupt)
            yield from _records(lambda o, n: content[o : o + n], offset)
        else:
            fd = f.fileno()
            yield from _records(lambda o, n: os.pread(fd, n, o), offset)


def _records(read_at, offset: int) -> Iterator[tuple[LogMessage, int]]:  # type: ignore[no-untyped-def]
    codec = _codec_for(read_at(0, 5))
    if codec is None:
        return
    decode = codec.decoder()
    pos = offset
    while True:
        data = read_at(pos, READ)
        if not data:
            return
        recs, used = codec.split(data)
        if not recs:
            if len(data) >= READ:  # one record larger than a read: take more at once
                data = read_at(pos, len(data) * 4)
                recs, used = codec.split(data)
            if not recs:
                return
        if isinstance(codec, jsonfile.JSONCodec):
            # offsets per record: json records end in a newline each
            start = pos
            for rec in recs:
                start = data.index(b"\n", start - pos) + 1 + pos
                yield decode(rec), start
        else:
            start = pos
            for rec in recs:
                start += len(rec) + 8
                yield decode(rec), start
        pos += used
