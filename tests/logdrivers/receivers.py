"""Receivers written from the specs, for the gelf, fluentd and journald tests.

- GELF (https://go2docs.graylog.org/current/getting_in_log_data/gelf.html): UDP datagrams are a
  whole payload or chunks `0x1e 0x0f | id(8) | seq | count | data`, reassembled by id in sequence
  order (at most 128); a payload is gzip (1f 8b), zlib (78 ..) or plain JSON. TCP: JSON frames
  ended by a NUL byte.
- Fluentd forward protocol v1: msgpack arrays, Message mode `[tag, time, record(, option)]`,
  Forward mode `[tag, [[time, record]...](, option)]`, PackedForward `[tag, bin, option]`; time is
  an integer or EventTime (ext type 0: u32 seconds, u32 nanoseconds); `option.chunk` asks for
  `{"ack": chunk}`.
- Journal native protocol (systemd, "Native Journal Protocol"): fields `KEY=value\\n`, or `KEY\\n`,
  a little-endian u64 length, the value and `\\n`; a datagram with no payload and one descriptor
  (SCM_RIGHTS) carries the entry in that (sealed memfd) file.
"""

from __future__ import annotations

import array
import gzip
import json
import os
import socket
import struct
import threading
import time
import zlib
from typing import Any

import msgpack


def gelf_payload(data: bytes) -> dict[str, Any]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif data[:1] == b"\x78":
        data = zlib.decompress(data)
    return json.loads(data)  # type: ignore[no-any-return]


class GelfUDP:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.messages: list[dict[str, Any]] = []
        self.raw: list[bytes] = []  # whole payloads, before decompression
        self.datagram_sizes: list[int] = []
        self._parts: dict[bytes, dict[int, bytes]] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                d = self.sock.recv(65535)
            except TimeoutError:
                continue
            self.datagram_sizes.append(len(d))
            if d[:2] == b"\x1e\x0f":
                mid, seq, count = d[2:10], d[10], d[11]
                assert count <= 128 and seq < count
                parts = self._parts.setdefault(mid, {})
                parts[seq] = d[12:]
                if len(parts) == count:
                    whole = b"".join(parts[i] for i in range(count))
                    del self._parts[mid]
                    self.raw.append(whole)
                    self.messages.append(gelf_payload(whole))
            else:
                self.raw.append(d)
                self.messages.append(gelf_payload(d))

    def wait(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.sock.close()


class StreamServer:
    """A TCP server on a fixed loopback port; `handle(conn)` runs per connection. Can be stopped
    and started again on the same port (an endpoint going away and coming back)."""

    def __init__(self, port: int = 0, slow: float = 0.0) -> None:
        self.port = port
        self.slow = slow  # seconds to wait before reading each connection
        self.connections = 0
        self._srv: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    def start(self) -> StreamServer:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(16)
        srv.settimeout(0.1)
        self.port = srv.getsockname()[1]
        self._srv = srv
        self._stop.clear()
        t = threading.Thread(target=self._accept, args=(srv,), daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self, srv: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        if self.slow:
            self._stop.wait(self.slow)
        conn.settimeout(0.1)
        try:
            self.handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def recv_loop(self, conn: socket.socket):  # type: ignore[no-untyped-def]
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            yield data

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        self._threads = []
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass
        self._conns = []
        if self._srv is not None:
            self._srv.close()
            self._srv = None


class GelfTCP(StreamServer):
    def __init__(self, port: int = 0, slow: float = 0.0) -> None:
        super().__init__(port, slow)
        self.messages: list[dict[str, Any]] = []

    def handle(self, conn: socket.socket) -> None:
        buf = b""
        for data in self.recv_loop(conn):
            buf += data
            *frames, buf = buf.split(b"\0")
            self.messages.extend(json.loads(f) for f in frames)

    def wait(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages


def _ext(code: int, data: bytes) -> Any:
    if code == 0:  # EventTime
        return ("EventTime",) + struct.unpack(">II", data)
    return msgpack.ExtType(code, data)


class Fluentd(StreamServer):
    """Forward protocol receiver: `events` is a list of (mode, tag, time, record)."""

    def __init__(self, port: int = 0, slow: float = 0.0, ack: bool = True) -> None:
        super().__init__(port, slow)
        self.events: list[tuple[str, str, Any, dict[str, Any]]] = []
        self.options: list[dict[str, Any]] = []
        self.ack = ack

    def handle(self, conn: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext, unicode_errors="surrogateescape")
        for data in self.recv_loop(conn):
            unpacker.feed(data)
            for obj in unpacker:
                assert isinstance(obj, list) and len(obj) in (2, 3, 4), obj
                tag, second = obj[0], obj[1]
                option = obj[3] if len(obj) == 4 else (obj[2] if len(obj) == 3 and isinstance(second, (list, bytes)) else {})
                if isinstance(second, list):
                    for t, rec in second:
                        self.events.append(("forward", tag, t, rec))
                elif isinstance(second, bytes):
                    packed = msgpack.Unpacker(raw=False, ext_hook=_ext)
                    packed.feed(second)
                    for t, rec in packed:
                        self.events.append(("packed", tag, t, rec))
                else:
                    self.events.append(("message", tag, second, obj[2]))
                self.options.append(option or {})
                if option and option.get("chunk") and self.ack:
                    conn.sendall(msgpack.packb({"ack": option["chunk"]}))

    def wait(self, n: int, timeout: float = 10.0) -> list[tuple[str, str, Any, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.events


def parse_journal_entry(data: bytes) -> dict[str, bytes]:
    fields: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        eq = data.find(b"=", pos, nl)
        if eq >= 0:
            fields[data[pos:eq].decode()] = data[eq + 1 : nl]
            pos = nl + 1
        else:
            key = data[pos:nl].decode()
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 9
            fields[key] = data[start : start + size]
            assert data[start + size : start + size + 1] == b"\n"
            pos = start + size + 1
    return fields


class JournalSocket:
    """A datagram socket that decodes native-protocol entries, also those passed as a memfd."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.settimeout(5)
        self.via_fd = 0

    def entry(self) -> dict[str, bytes]:
        fds = array.array("i")
        data, anc, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_LEN(fds.itemsize))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if fds:
            assert data == b""
            fd = fds[0]
            try:
                size = os.fstat(fd).st_size
                data = os.pread(fd, size, 0)
            finally:
                os.close(fd)
            self.via_fd += 1
        return parse_journal_entry(data)

    def close(self) -> None:
        self.sock.close()
