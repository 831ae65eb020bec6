"""The gelf driver: GELF 1.1 over UDP (chunked, compressed) or TCP (NUL-delimited), as Docker sends it.

Message: `{"version":"1.1","host":H,"short_message":LINE,"timestamp":SECONDS.mmm,"level":6|3,` then
Docker's extra fields in key order (`_command`, `_container_id`, `_container_name`, `_created`,
`_image_id`, `_image_name`, `_tag`, and `_<key>` for chosen labels/env). Empty lines are not sent.

UDP: the payload is compressed (`gelf-compression-type` gzip by default, zlib, or none; level 1 by
default); above 1420 bytes it is cut into chunks of 1408 bytes, each behind the 12-byte header
`0x1e 0x0f | message id (8) | sequence number | sequence count`, at most 128 chunks (a message that
would need more is dropped and counted). TCP: uncompressed JSON and a NUL byte; after a failed send
the driver waits `gelf-tcp-reconnect-delay` seconds and reconnects, at most
`gelf-tcp-max-reconnect` times, then counts the lines as dropped.

Where pydock differs: the host name is resolved again on reconnect and every 30 s for UDP
(moby#17904); the container starts even if the endpoint is down; TCP retries are per chunk of lines,
not per line, so a dead endpoint costs one retry cycle per read instead of one per line.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping

from pydock.logdrivers import jsonlog, netio, options, tag
from pydock.logdrivers.base import LogInfo, LogMessage
from pydock.logdrivers.jsonfile import DUMMY_INFO

from pydock.errors import LogOptError

NAME = "gelf"
OWN_OPTS = frozenset({"gelf-address", "gelf-compression-type", "gelf-compression-level",
                      "gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay"}) | options.ATTR_OPTS
CHUNK_SIZE = 1420  # go-gelf's ChunkSize: whole datagram
CHUNK_DATA = CHUNK_SIZE - 12
MAX_CHUNKS = 128
MAGIC = b"\x1e\x0f"


def parse_address(opts: Mapping[str, str]) -> netio.Address:
    if not opts.get("gelf-address"):
        raise LogOptError("log opt 'gelf-address' is required for the gelf log driver (udp://host:port or tcp://host:port)")
    return netio.parse_address(opts["gelf-address"], "gelf-address", ("udp", "tcp"), None, require_port=True)


def _json_str(text: str) -> bytes:
    return jsonlog.escape(text.encode())


def chunks(payload: bytes, message_id: bytes) -> list[bytes]:
    """The datagrams of one message (one if it fits)."""
    if len(payload) <= CHUNK_SIZE:
        return [payload]
    count = (len(payload) + CHUNK_DATA - 1) // CHUNK_DATA
    if count > MAX_CHUNKS:
        return []
    return [MAGIC + message_id + bytes([i, count]) + payload[i * CHUNK_DATA : (i + 1) * CHUNK_DATA]
            for i in range(count)]


def _seconds(ns: int) -> bytes:
    ms = ns // 1_000_000
    sec, rem = divmod(ms, 1000)
    return b"%d" % sec if rem == 0 else repr(ms / 1000).encode()  # Go: strconv 'f' -1


class GelfDriver:
    name = NAME

    @classmethod
    def validate(cls, opts: Mapping[str, str]) -> None:
        options.check_keys(NAME, opts, OWN_OPTS, 'unknown log opt "{key}" for {driver} log driver')
        addr = parse_address(opts)
        for key in ("gelf-compression-type", "gelf-compression-level"):
            if key in opts and addr.scheme != "udp":
                raise LogOptError(f"log opt '{key}' is only valid with udp:// (GELF over TCP is not compressed)")
        for key in ("gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay"):
            if key in opts and addr.scheme != "tcp":
                raise LogOptError(f"log opt '{key}' is only valid with tcp://")
        if opts.get("gelf-compression-type", "gzip") not in ("gzip", "zlib", "none"):
            raise LogOptError(f"invalid value {opts['gelf-compression-type']!r} for log opt "
                              "'gelf-compression-type': use gzip, zlib or none")
        options.parse_int(opts, "gelf-compression-level", 1, minimum=-1, maximum=9)
        options.parse_int(opts, "gelf-tcp-max-reconnect", 3, minimum=0)
        options.parse_int(opts, "gelf-tcp-reconnect-delay", 1, minimum=0)
        options.extra_attributes(DUMMY_INFO, opts)
        tag.tag(DUMMY_INFO, dict(opts))

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        self.validate(opts)
        self.address = parse_address(opts)
        self.compression = opts.get("gelf-compression-type", "gzip")
        self.level = options.parse_int(opts, "gelf-compression-level", 1, minimum=-1, maximum=9)
        self.max_reconnect = options.parse_int(opts, "gelf-tcp-max-reconnect", 3, minimum=0)
        self.reconnect_delay = float(options.parse_int(opts, "gelf-tcp-reconnect-delay", 1, minimum=0))
        extra: dict[str, str] = {
            "_command": " ".join(info.command), "_container_id": info.container_id,
            "_container_name": info.container_name.lstrip("/"), "_created": jsonlog.format_time(info.created_ns),
            "_image_id": info.image_id, "_image_name": info.image_name, "_tag": tag.tag(info, dict(opts)),
        }
        for k, v in options.extra_attributes(info, opts).items():
            extra[k if k.startswith("_") else "_" + k] = v
        self._extra = b"".join(b',"' + _json_str(k) + b'":"' + _json_str(v) + b'"' for k, v in sorted(extra.items()))
        self._head = b'{"version":"1.1","host":"' + _json_str(netio.host_name(info.hostname)) + b'","short_message":"'
        self.dropped = 0
        self._udp: netio.DatagramSender | None = None
        self._tcp: netio.StreamSender | None = None
        if self.address.scheme == "udp":
            self._udp = netio.DatagramSender(self.address)
        else:
            self._tcp = netio.StreamSender(netio.connector(self.address))

    def _tail(self, source: str, ns: int) -> bytes:
        level = b"3" if source == "stderr" else b"6"
        return b'","timestamp":' + _seconds(ns) + b',"level":' + level + self._extra + b"}"

    def encode(self, source: str, line: bytes, ns: int) -> bytes:
        """The JSON of one message (uncompressed)."""
        return self._head + jsonlog.escape_line(line) + self._tail(source, ns)

    def _compress(self, payload: bytes) -> bytes:
        if self.compression == "none":
            return payload
        # Raw deflate with a window no larger than the message, framed by hand: zlib's set-up cost
        # grows with the window (about 100 us a message for the default 32 KiB against 10 us for
        # 512 bytes, same output for a line). The frames declare the usual window, so the magic
        # bytes receivers look at stay `1f 8b` (gzip) and `78` (zlib), and any inflater reads them.
        bits = max(9, min(15, len(payload).bit_length()))
        c = zlib.compressobj(self.level, zlib.DEFLATED, -bits, 2)
        raw = c.compress(payload) + c.flush()
        if self.compression == "gzip":
            return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + raw
                    + struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF))
        return b"\x78\x01" + raw + struct.pack(">I", zlib.adler32(payload))

    def _send(self, payloads: list[bytes]) -> None:
        if not payloads:
            return
        if self._tcp is not None:
            ok = self._tcp.send(b"\0".join(payloads) + b"\0", attempts=self.max_reconnect, delay=self.reconnect_delay)
            if not ok:
                self.dropped += len(payloads)
            return
        assert self._udp is not None
        for p in payloads:
            parts = chunks(self._compress(p), os.urandom(8))
            if not parts or self._udp.send_many(parts):
                self.dropped += 1  # more than 128 chunks (GELF cannot carry it), or not sent

    def log(self, msg: LogMessage) -> None:
        if msg.line:
            self._send([self.encode(msg.source, msg.line, msg.timestamp_ns)])

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        head, tail = self._head, self._tail(source, timestamp_ns)
        body = jsonlog.escape(data[:-1])
        self._send([head + line + tail for line in body.split(b"\n") if line])

    def close(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
        if self._udp is not None:
            self._udp.close()

