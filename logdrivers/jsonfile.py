"""The json-file driver: Docker's default, its record format and file names kept exactly.

`<container dir>/<id>-json.log`, rotated to `<id>-json.log.1` ... `.<max-file - 1>` (gzipped when
`compress=true`) by `rotate.RotatingFile`; records encoded by `jsonlog`; read back through
`logfile.FileSetReader` with the codec below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pydock.logdrivers import jsonlog, newlines, options, tag
from pydock.logdrivers.base import LogInfo, LogMessage, PartialMeta
from pydock.logdrivers.logfile import FileSetReader
from pydock.logdrivers.rotate import RecordFileDriver, RecordWriter, RotatingFile

from pydock.errors import LogOptError

NAME = "json-file"
OWN_OPTS = frozenset({"max-size", "max-file", "compress"}) | options.ATTR_OPTS

DUMMY_INFO = LogInfo(container_id="0" * 64, container_name="name", image_name="image",
                     image_id="sha256:" + "0" * 64, command=["cmd"], created_ns=0, labels={}, env=[],
                     log_dir="", hostname="host")


def log_path(record_dir: Path, container_id: str | None = None) -> Path:
    cid = container_id or Path(record_dir).name
    return Path(record_dir) / f"{cid}-json.log"


def cut_lines(data: bytes, need: int) -> int:
    """End of the first newline-terminated record that reaches `need` bytes."""
    i = data.find(b"\n", max(need - 1, 0))
    return i + 1 if i >= 0 else len(data)


class JSONCodec:
    name = NAME

    def split(self, buf: bytes) -> tuple[list[bytes], int]:
        idx = buf.rfind(b"\n")
        if idx < 0:
            return [], 0
        return [r for r in buf[:idx].split(b"\n") if r], idx + 1

    def decoder(self) -> Callable[[bytes], LogMessage]:
        """Decodes records and numbers the parts of long lines (the file keeps no part metadata:
        consecutive records of a stream whose `log` lacks the newline are parts of one line)."""
        open_parts: dict[str, tuple[str, int]] = {}

        def decode(rec: bytes) -> LogMessage:
            msg = jsonlog.decode(rec)
            state = open_parts.get(msg.source)
            if msg.partial is not None:
                if not state:
                    import hashlib  # readers only: keeps OpenSSL out of the shim

                    state = (hashlib.sha256(rec).hexdigest(), 0)
                pid, ordinal = state
                open_parts[msg.source] = (pid, ordinal + 1)
                return LogMessage(msg.line, msg.source, msg.timestamp_ns, PartialMeta(pid, ordinal + 1, False), msg.attrs)
            if state:
                del open_parts[msg.source]
                return LogMessage(msg.line, msg.source, msg.timestamp_ns, PartialMeta(state[0], state[1] + 1, True), msg.attrs)
            return msg

        return decode

    def tail_start(self, read_at: Callable[[int, int], bytes], end: int, n: int) -> tuple[int, int]:
        return newlines.tail_start(read_at, end, n)

    def sync(self, read_at: Callable[[int, int], bytes], offset: int, end: int) -> int:
        """The first record start at or after `offset` (records end in a newline)."""
        if offset <= 0:
            return 0
        pos = offset - 1
        while pos < end:
            block = read_at(pos, min(4096, end - pos))
            i = block.find(b"\n")
            if i >= 0:
                return pos + i + 1
            pos += len(block)
        return end

    def complete_end(self, read_at: Callable[[int, int], bytes], size: int) -> int:
        return newlines.complete_end(read_at, size)


class JSONFileDriver(RecordFileDriver):
    name = NAME

    @classmethod
    def validate(cls, opts: Mapping[str, str]) -> None:
        options.check_keys(NAME, opts, OWN_OPTS)
        max_size = options.parse_size(opts, "max-size", -1)
        max_file = options.parse_int(opts, "max-file", 1, minimum=1)
        compress = options.parse_bool(opts, "compress", False)
        if compress and (max_file < 2 or max_size <= 0):
            raise LogOptError("compress cannot be true when max-file is less than 2 or max-size is not set")
        options.extra_attributes(DUMMY_INFO, opts)
        tag.tag(DUMMY_INFO, dict(opts), default="")

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        self.validate(opts)
        self.info = info
        self.attrs = attrs = tag.file_attributes(info, opts)  # json-file has no default tag
        self.path = log_path(Path(info.log_dir), info.container_id)
        max_size = options.parse_size(opts, "max-size", -1)
        max_file = options.parse_int(opts, "max-file", 1, minimum=1) if max_size > 0 else 1
        self._writer = RecordWriter(jsonlog.ChunkEncoder(attrs), RotatingFile(
            self.path, cut_lines, max_size, max_file, options.parse_bool(opts, "compress", False)))

    @property
    def rotations(self) -> int:
        return self._writer.rotations

    @classmethod
    def open_reader(cls, record_dir: Path, opts: Mapping[str, str]) -> FileSetReader:
        return FileSetReader(log_path(Path(record_dir)), JSONCodec())
