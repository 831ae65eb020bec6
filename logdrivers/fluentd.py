"""The fluentd driver: Docker's records over the forward protocol, sent by `fluent-logger`'s sender.

Record (msgpack map of strings): `container_id` (64 hex), `container_name` (with Docker's leading
`/`), `source`, `log`, chosen labels/env, and for parts of long lines `partial_message` (`"true"` on every
part, the last included, as Docker), `partial_id`, `partial_ordinal`, `partial_last`. Tag: `{{.ID}}` by default. Time: integer seconds,
or with `fluentd-sub-second-precision=true` the EventTime extension (type 0: u32 seconds, u32 ns).
One message goes out in Message mode `[tag, time, record, option]`, as Docker sends it; a chunk of
lines read together goes out in Forward mode `[tag, [[time, record], ...], option]` (one write, one
ack), which every forward receiver accepts. `fluentd-request-ack=true` adds `{"chunk": id}` and waits
for `{"ack": id}`.

Delivery: in the default synchronous mode a failed send is retried after `fluentd-retry-wait`,
doubling up to 60 s, at most `fluentd-max-retries` times (then the lines are dropped and counted):
the container waits meanwhile, which is blocking mode's back-pressure. `fluentd-async=true` puts a
buffer of `fluentd-buffer-limit` bytes in front, as the non-blocking mode does, and reconnects every
`fluentd-async-reconnect-interval`. Unlike Docker, the container starts whether or not fluentd is up
(moby#15757), and a stopped container's shim is never stuck on a dead fluentd (close aborts).
"""

from __future__ import annotations

import base64
import errno
import os
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import Any

import msgpack
from fluent.sender import EventTime, FluentSender
from pydock.logdrivers import netio, options, tag
from pydock.logdrivers.base import LogInfo, LogMessage
from pydock.logdrivers.jsonfile import DUMMY_INFO
from pydock.logdrivers.ring import RingDriver

from pydock.errors import LogOptError, UsageError
from pydock.units import duration_seconds

NAME = "fluentd"
OWN_OPTS = frozenset({"fluentd-address", "fluentd-async", "fluentd-async-reconnect-interval",
                      "fluentd-buffer-limit", "fluentd-retry-wait", "fluentd-max-retries",
                      "fluentd-sub-second-precision", "fluentd-request-ack", "fluentd-write-timeout",
                      "fluentd-read-timeout"}) | options.ATTR_OPTS
DEFAULT_PORT = 24224
MAX_RETRY_WAIT = 60.0
DEFAULT_MAX_RETRIES = 2**31 - 1  # Docker's code (math.MaxInt32)
DEFAULT_BUFFER = 1024 * 1024


def parse_address(opts: Mapping[str, str]) -> netio.Address:
    value = opts.get("fluentd-address", "")
    if not value:
        return netio.Address("tcp", host="127.0.0.1", port=DEFAULT_PORT)
    if "://" not in value:
        value = "tcp://" + value
    return netio.parse_address(value, "fluentd-address", ("tcp", "tls", "unix"), DEFAULT_PORT)


def _duration(opts: Mapping[str, str], key: str, default: float, lo: float | None = None,
              hi: float | None = None) -> float:
    if key not in opts:
        return default
    try:
        value = duration_seconds(opts[key], key)
    except UsageError:
        raise LogOptError(f"invalid value {opts[key]!r} for log opt '{key}': expected a duration like 1s or 500ms") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise LogOptError(f"invalid value {opts[key]!r} for log opt '{key}': must be between {lo}s and {hi}s")
    return value


class ForwardSender(FluentSender):  # type: ignore[misc]
    """fluent-logger's sender, taught TLS and acknowledgements, sending pre-packed bytes."""

    def __init__(self, addr: netio.Address, tls: ssl.SSLContext | None, write_timeout: float | None,
                 ack_timeout: float | None):
        host = f"unix://{addr.path}" if addr.scheme == "unix" else addr.host
        super().__init__("", host=host, port=addr.port, bufmax=2**62, timeout=write_timeout)
        self.addr = addr
        self.tls = tls
        self.ack_timeout = ack_timeout
        self.expect_ack: str | None = None
        self.socket: Any

    def _reconnect(self) -> None:
        if self.socket:
            return
        super()._reconnect()
        if self.tls is not None:
            self.socket = self.tls.wrap_socket(self.socket, server_hostname=self.addr.host)

    def _check_recv_side(self) -> None:
        # The base reads (and throws away) whatever the server sent, which would eat an ack: peek.
        if isinstance(self.socket, ssl.SSLSocket):
            return
        try:
            self.socket.settimeout(0.0)
            try:
                if self.socket.recv(1, socket.MSG_PEEK) == b"":
                    raise OSError(errno.EPIPE, "Broken pipe")
            except BlockingIOError:
                return
        finally:
            self.socket.settimeout(self.timeout)

    def _send_data(self, bytes_: bytes) -> None:
        super()._send_data(bytes_)
        if self.expect_ack is not None:
            self.socket.settimeout(self.ack_timeout)
            unpacker = msgpack.Unpacker(raw=False)
            while True:
                data = self.socket.recv(4096)
                if not data:
                    raise OSError(errno.EPIPE, "connection closed before the ack")
                unpacker.feed(data)
                for obj in unpacker:
                    if isinstance(obj, dict) and obj.get("ack") == self.expect_ack:
                        self.socket.settimeout(self.timeout)
                        return

    def deliver(self, data: bytes, chunk: str | None) -> bool:
        """One try: True when written (and acknowledged, with `chunk`)."""
        with self.lock:
            if self._closed:
                return False
            self.pendings = None  # retries are ours; never resend an old buffer with a new one
            self.expect_ack = chunk
            ok: bool = self._send_internal(data)
            self.pendings = None
            return ok

    def abort(self) -> None:
        """From another thread: wake a send blocked on a dead server."""
        sock = self.socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _SyncFluentd:
    """The synchronous core: packs, sends, retries."""

    name = NAME

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        addr = parse_address(opts)
        tls = netio.tls_context(None, None, None, False, "fluentd-address") if addr.scheme == "tls" else None
        write_timeout = _duration(opts, "fluentd-write-timeout", 0.0) or None
        self.ack = options.parse_bool(opts, "fluentd-request-ack", False)
        ack_timeout = _duration(opts, "fluentd-read-timeout", 0.0) or 30.0
        self.sender = ForwardSender(addr, tls, write_timeout, ack_timeout)
        self.tag = tag.tag(info, dict(opts))
        self.subsecond = options.parse_bool(opts, "fluentd-sub-second-precision", False)
        self.retry_wait = _duration(opts, "fluentd-retry-wait", 1.0)
        self.max_retries = options.parse_int(opts, "fluentd-max-retries", DEFAULT_MAX_RETRIES, minimum=0)
        self.async_interval = _duration(opts, "fluentd-async-reconnect-interval", 0.0, 0.1, 10.0)
        self.base: dict[str, str] = {"container_id": info.container_id, "container_name": "/" + info.container_name.lstrip("/")}
        self.attrs = options.extra_attributes(info, opts)
        self._packer = msgpack.Packer(unicode_errors="surrogateescape")
        self._closed = threading.Event()
        self.dropped = 0
        self.sent = 0
        self.last_error = ""

    def _time(self, ns: int) -> Any:
        return EventTime.from_unix_nano(ns) if self.subsecond else ns // 1_000_000_000

    def _record(self, source: str, line: bytes) -> dict[str, str]:
        rec = dict(self.base)
        rec["source"] = source
        rec["log"] = line.decode("utf-8", "surrogateescape")
        rec.update(self.attrs)
        return rec

    def _option(self) -> tuple[dict[str, Any], str | None]:
        if not self.ack:
            return {}, None
        chunk = base64.b64encode(os.urandom(16)).decode()
        return {"chunk": chunk}, chunk

    def _deliver(self, data: bytes, chunk: str | None, lines: int) -> None:
        wait = self.retry_wait
        for attempt in range(self.max_retries + 1):
            if self._closed.is_set():
                break
            if self.sender.deliver(data, chunk):
                self.sent += lines
                return
            self.last_error = str(self.sender.last_error)
            if attempt == self.max_retries:
                break
            self._closed.wait(self.async_interval or wait)
            wait = min(wait * 2, MAX_RETRY_WAIT)
        self.dropped += lines

    def log(self, msg: LogMessage) -> None:
        rec = self._record(msg.source, msg.line)
        if msg.partial is not None:
            p = msg.partial  # Docker marks every part partial_message="true", the last one too
            rec.update(partial_message="true", partial_id=p.id, partial_ordinal=str(p.ordinal),
                       partial_last=str(p.last).lower())
        option, chunk = self._option()
        self._deliver(self._packer.pack([self.tag, self._time(msg.timestamp_ns), rec, option]), chunk, 1)

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        t = self._time(timestamp_ns)
        entries = [[t, self._record(source, line)] for line in data[:-1].split(b"\n")]
        option, chunk = self._option()
        option = dict(option, size=len(entries)) if chunk else option
        self._deliver(self._packer.pack([self.tag, entries, option]), chunk, len(entries))

    def close(self) -> None:
        self._closed.set()
        self.sender.abort()
        self.sender.close()


class FluentdDriver:
    name = NAME

    @classmethod
    def validate(cls, opts: Mapping[str, str]) -> None:
        if "fluentd-async-connect" in opts:
            raise LogOptError("log opt 'fluentd-async-connect' was removed (Docker 28): use fluentd-async")
        options.check_keys(NAME, opts, OWN_OPTS)
        parse_address(opts)
        for key in ("fluentd-async", "fluentd-sub-second-precision", "fluentd-request-ack"):
            options.parse_bool(opts, key, False)
        options.parse_size(opts, "fluentd-buffer-limit", DEFAULT_BUFFER, binary=True)
        options.parse_int(opts, "fluentd-max-retries", DEFAULT_MAX_RETRIES, minimum=0)
        _duration(opts, "fluentd-retry-wait", 1.0)
        _duration(opts, "fluentd-async-reconnect-interval", 0.0, 0.1, 10.0)
        _duration(opts, "fluentd-write-timeout", 0.0)
        _duration(opts, "fluentd-read-timeout", 0.0)
        options.extra_attributes(DUMMY_INFO, opts)
        tag.tag(DUMMY_INFO, dict(opts))

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        self.validate(opts)
        self.core = _SyncFluentd(info, opts)
        self._out: Any = self.core
        if options.parse_bool(opts, "fluentd-async", False):
            self._out = RingDriver(self.core, options.parse_size(opts, "fluentd-buffer-limit", DEFAULT_BUFFER, binary=True))

    @property
    def dropped(self) -> int:
        return int(self._out.dropped)

    def log(self, msg: LogMessage) -> None:
        self._out.log(msg)

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        self._out.log_chunk(source, data, timestamp_ns)

    def close(self) -> None:
        self._out.close()
