"""The journald driver: the journal's native protocol on its datagram socket, with Docker's fields.

Each entry is a datagram of fields (systemd's "native protocol"): `KEY=value\\n` when the value has
no newline, else `KEY\\n` + the value's length as a little-endian u64 + the value + `\\n`. An entry
too big for one datagram (EMSGSIZE, around 200 KB here) is written to a sealed memfd whose
descriptor is passed with SCM_RIGHTS and an empty datagram, as sd_journal_send does.

Fields: MESSAGE, PRIORITY (6 stdout, 3 stderr), CONTAINER_ID (12), CONTAINER_ID_FULL,
CONTAINER_NAME, CONTAINER_TAG and SYSLOG_IDENTIFIER (the tag, `{{.ID}}` by default), IMAGE_NAME,
SYSLOG_TIMESTAMP (the copier's time, RFC 3339 with nanoseconds), CONTAINER_LOG_EPOCH (random per
driver), CONTAINER_LOG_ORDINAL (from 1), the CONTAINER_PARTIAL_* fields for parts of long lines
(CONTAINER_PARTIAL_MESSAGE=true on all but the last), and chosen labels/env as fields with
Docker's key sanitising (upper case, `[A-Z0-9_]`, no leading `_`).

`journald-socket` (pydock's own option) names another socket, for a journal namespace or a test's
private journald; the default is /run/systemd/journal/socket.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import re
import secrets
import socket
import struct
import threading
from collections.abc import Mapping

from pydock.logdrivers import jsonlog, netio, options, tag
from pydock.logdrivers.base import LogInfo, LogMessage
from pydock.logdrivers.jsonfile import DUMMY_INFO

from pydock.errors import LogOptError

NAME = "journald"
SOCKET = "/run/systemd/journal/socket"
OWN_OPTS = frozenset({"journald-socket"}) | options.ATTR_OPTS
_SEALS = getattr(fcntl, "F_SEAL_SHRINK", 2) | getattr(fcntl, "F_SEAL_GROW", 4) | \
    getattr(fcntl, "F_SEAL_WRITE", 8) | getattr(fcntl, "F_SEAL_SEAL", 1)
_F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Set per message, so an attribute of the same name never replaces them (Docker sets the last
# three in the map after the attributes; MESSAGE and PRIORITY it would send twice).
_PER_MESSAGE = frozenset({"MESSAGE", "PRIORITY", "SYSLOG_TIMESTAMP", "CONTAINER_LOG_EPOCH", "CONTAINER_LOG_ORDINAL",
                          "CONTAINER_PARTIAL_ID", "CONTAINER_PARTIAL_ORDINAL", "CONTAINER_PARTIAL_LAST",
                          "CONTAINER_PARTIAL_MESSAGE"})


def sanitize_key(key: str) -> str:
    """Docker's sanitizeKeyMod: a-z upper-cased (ASCII only: `ß` does not become `SS`), any other
    character than A-Z 0-9 becomes `_`, no leading `_`."""
    return re.sub(r"[^A-Z0-9_]", "_", key.translate(_ASCII_UPPER)).lstrip("_")


def field(key: str, value: bytes) -> bytes:
    if b"\n" in value:
        return key.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return key.encode() + b"=" + value + b"\n"


class JournaldDriver:
    name = NAME

    @classmethod
    def validate(cls, opts: Mapping[str, str]) -> None:
        options.check_keys(NAME, opts, OWN_OPTS)
        path = opts.get("journald-socket", "")
        if path and not path.startswith("/"):
            raise LogOptError(f"invalid value {path!r} for log opt 'journald-socket': an absolute path is required")
        options.extra_attributes(DUMMY_INFO, opts)
        tag.tag(DUMMY_INFO, dict(opts))

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        self.validate(opts)
        self.path = opts.get("journald-socket") or SOCKET
        if not os.path.exists(self.path):
            raise LogOptError(f"journald is not enabled on this host: no journal socket at {self.path}")
        name_tag = tag.tag(info, dict(opts))
        fixed = {"CONTAINER_ID": info.container_id[:12], "CONTAINER_ID_FULL": info.container_id,
                 "CONTAINER_NAME": info.container_name.lstrip("/"), "CONTAINER_TAG": name_tag,
                 "IMAGE_NAME": info.image_name, "SYSLOG_IDENTIFIER": name_tag}
        for k, v in options.extra_attributes(info, opts).items():  # one map, as Docker's `vars`
            key = sanitize_key(k)
            if key and key not in _PER_MESSAGE:
                fixed[key] = v
        fixed["CONTAINER_LOG_EPOCH"] = secrets.token_hex(16)
        self._fixed = b"".join(field(k, v.encode()) for k, v in fixed.items())
        self._ordinal = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._closed = threading.Event()
        self._backoff = netio.Backoff()
        self.dropped = 0
        self.last_error = ""

    def entry(self, msg: LogMessage) -> bytes:
        self._ordinal += 1
        parts = [field("MESSAGE", msg.line), b"PRIORITY=3\n" if msg.source == "stderr" else b"PRIORITY=6\n",
                 self._fixed, field("SYSLOG_TIMESTAMP", jsonlog.format_time(msg.timestamp_ns).encode()),
                 b"CONTAINER_LOG_ORDINAL=%d\n" % self._ordinal]
        p = msg.partial
        if p is not None:
            parts.append(field("CONTAINER_PARTIAL_ID", p.id.encode()))
            parts.append(b"CONTAINER_PARTIAL_ORDINAL=%d\n" % p.ordinal)
            parts.append(b"CONTAINER_PARTIAL_LAST=" + (b"true\n" if p.last else b"false\n"))
            if not p.last:
                parts.append(b"CONTAINER_PARTIAL_MESSAGE=true\n")
        return b"".join(parts)

    def _send_memfd(self, data: bytes) -> None:
        fd = os.memfd_create("pydock-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            fcntl.fcntl(fd, _F_ADD_SEALS, _SEALS)
            self._sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))], 0, self.path)
        finally:
            os.close(fd)

    def _send(self, data: bytes) -> None:
        while not self._closed.is_set():
            try:
                try:
                    self._sock.sendto(data, self.path)
                except OSError as exc:
                    if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS) or len(data) < 4096:
                        raise
                    self._send_memfd(data)
                self._backoff.reset()
                return
            except OSError as exc:  # journald restarting: wait for it (blocking mode back-pressure)
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                self._closed.wait(self._backoff.next())
        self.dropped += 1

    def log(self, msg: LogMessage) -> None:
        self._send(self.entry(msg))

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        middle = ((b"PRIORITY=3\n" if source == "stderr" else b"PRIORITY=6\n") + self._fixed
                  + field("SYSLOG_TIMESTAMP", jsonlog.format_time(timestamp_ns).encode()) + b"CONTAINER_LOG_ORDINAL=")
        for line in data[:-1].split(b"\n"):
            self._ordinal += 1
            self._send(b"MESSAGE=" + line + b"\n" + middle + b"%d\n" % self._ordinal)

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
