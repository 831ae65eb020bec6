"""Connections for the network drivers: addresses, TLS, reconnecting with backoff.

What Docker users run into (anchors A.8 #3) and how this module avoids it:
- A dead endpoint at container start: nothing connects in a constructor, so a container always
  starts; the first send connects.
- A hung or dead endpoint: `StreamSender.send` retries with exponential backoff (blocking mode: the
  container waits, which is back-pressure); `close()` from another thread aborts a send stuck on a
  dead peer (it shuts the socket down), so a shim can always finish.
- A peer that closed the connection: checked before each send (a readable socket that returns EOF
  or RST), so the first message after a server restart is not written into a dead socket and lost.
- Names are resolved again on every reconnect, and for datagrams every 30 seconds (Docker's gelf
  resolves once: moby#17904).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydock.errors import LogOptError

STREAM_SCHEMES = ("tcp", "tcp+tls", "tls", "unix")
DGRAM_SCHEMES = ("udp", "unixgram")


@dataclass(frozen=True)
class Address:
    scheme: str  # tcp, tcp+tls, tls, udp, unix, unixgram
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def stream(self) -> bool:
        return self.scheme in STREAM_SCHEMES

    def __str__(self) -> str:
        return f"{self.scheme}://{self.path}" if self.path else f"{self.scheme}://{self.host}:{self.port}"


def parse_address(value: str, key: str, schemes: tuple[str, ...], default_port: int | None,
                  require_port: bool = False) -> Address:
    """`scheme://host[:port]` or `unix:///path`; names the option in every error."""
    try:
        url = urlsplit(value)
        port = url.port
    except ValueError as exc:
        raise LogOptError(f"invalid value {value!r} for log opt '{key}': {exc}") from None
    scheme = url.scheme.lower()
    if scheme not in schemes:
        raise LogOptError(f"invalid value {value!r} for log opt '{key}': unsupported scheme "
                          f"{url.scheme or '(none)'!r} (use {', '.join(s + '://' for s in schemes)})")
    if scheme in ("unix", "unixgram"):
        path = url.path or url.netloc
        if not path.startswith("/"):
            raise LogOptError(f"invalid value {value!r} for log opt '{key}': a unix socket needs an absolute path")
        return Address(scheme, path=path)
    if not url.hostname:
        raise LogOptError(f"invalid value {value!r} for log opt '{key}': no host")
    if port is None:
        if require_port or default_port is None:
            raise LogOptError(f"invalid value {value!r} for log opt '{key}': a port is required")
        port = default_port
    if url.path not in ("", "/"):
        raise LogOptError(f"invalid value {value!r} for log opt '{key}': unexpected path {url.path!r}")
    return Address(scheme, host=url.hostname, port=port)


def tls_context(ca: str | None, cert: str | None, key: str | None, skip_verify: bool, opt: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if ca:
            ctx.load_verify_locations(cafile=ca)
        else:
            ctx.load_default_certs()
        if cert:
            ctx.load_cert_chain(cert, key or None)
    except (OSError, ssl.SSLError) as exc:
        raise LogOptError(f"invalid TLS files for log opt '{opt}': {exc}") from None
    if skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connector(addr: Address, tls: ssl.SSLContext | None = None,
              timeout: float = 5.0) -> Callable[[], socket.socket]:
    """A function that opens a fresh stream connection to `addr` (resolving the name again)."""

    def connect() -> socket.socket:
        if addr.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: Any = addr.path
        else:
            info = socket.getaddrinfo(addr.host, addr.port, type=socket.SOCK_STREAM)[0]
            sock = socket.socket(info[0], socket.SOCK_STREAM)
            target = info[4]
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        try:
            sock.connect(target)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=addr.host)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)  # sends block (back-pressure); close() unblocks them
        return sock

    return connect


class Backoff:
    def __init__(self, initial: float = 0.1, maximum: float = 10.0, factor: float = 2.0):
        self.initial, self.maximum, self.factor = initial, maximum, factor
        self._next = initial

    def next(self) -> float:
        wait = self._next
        self._next = min(self._next * self.factor, self.maximum)
        return wait

    def reset(self) -> None:
        self._next = self.initial


class StreamSender:
    """One stream connection, reconnected with backoff; `send` delivers whole buffers."""

    def __init__(self, connect: Callable[[], socket.socket], backoff: Backoff | None = None):
        self._connect = connect
        self.backoff = backoff or Backoff()
        self._sock: socket.socket | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self.connects = 0
        self.failures = 0
        self.last_error = ""
        self.on_connect: Callable[[socket.socket], None] | None = None
        self._sending = False

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _peer_gone(self, sock: socket.socket) -> bool:
        """The server closed or reset the connection (readable with EOF, or an error pending)."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:
            return True

    def send(self, data: bytes, attempts: int | None = None, delay: float | None = None) -> bool:
        """Deliver `data`. On failure: reconnect after a wait (`delay`, or the backoff), at most
        `attempts` more times (None: until it works or `close()` is called). False: not delivered."""
        failures = 0
        while not self._closed.is_set():
            try:
                sock = self._sock
                if sock is not None and self._peer_gone(sock):
                    self._drop()
                    sock = None
                if sock is None:
                    sock = self._connect()
                    with self._lock:
                        if self._closed.is_set():
                            sock.close()
                            return False
                        self._sock = sock
                    self.connects += 1
                    if self.on_connect is not None:
                        self.on_connect(sock)
                self._sending = True
                try:
                    sock.sendall(data)
                finally:
                    self._sending = False
                self.backoff.reset()
                return True
            except OSError as exc:
                self.failures += 1
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                self._drop()
                failures += 1
                if attempts is not None and failures > attempts:
                    return False
                self._closed.wait(self.backoff.next() if delay is None else delay)
        return False

    def socket(self) -> socket.socket | None:
        return self._sock

    def _drop(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        """Close; a send blocked in another thread (a dead peer with a full window) is aborted."""
        self._closed.set()
        with self._lock:
            sock = self._sock
        if sock is not None:
            try:
                if self._sending:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked send
                elif isinstance(sock, ssl.SSLSocket):
                    sock.settimeout(1.0)
                    sock.unwrap()  # close_notify, so the server sees a clean end
                else:
                    sock.shutdown(socket.SHUT_WR)
            except (OSError, ValueError):
                pass
        self._drop()


class DatagramSender:
    """UDP or unixgram. UDP names are resolved again every 30 s. A unixgram receiver with a full
    queue blocks the send (back-pressure); one that is gone is retried with backoff like a stream."""

    RESOLVE_EVERY = 30.0

    def __init__(self, addr: Address, backoff: Backoff | None = None):
        self.addr = addr
        self.backoff = backoff or Backoff()
        self._closed = threading.Event()
        self._sock: socket.socket | None = None
        self._target: Any = None
        self._resolved_at = 0.0
        self.failures = 0
        self.last_error = ""

    def _ensure(self) -> socket.socket:
        now = time.monotonic()
        if self.addr.scheme == "unixgram":
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._target = self.addr.path
            return self._sock
        if self._sock is None or now - self._resolved_at > self.RESOLVE_EVERY:
            info = socket.getaddrinfo(self.addr.host, self.addr.port, type=socket.SOCK_DGRAM)[0]
            if self._sock is None or self._sock.family != info[0]:
                if self._sock is not None:
                    self._sock.close()
                self._sock = socket.socket(info[0], socket.SOCK_DGRAM)
            self._target = info[4]
            self._resolved_at = now
        return self._sock

    def send_many(self, datagrams: list[bytes], attempts: int | None = None) -> int:
        """Send each datagram; returns how many could not be sent (UDP: send errors only)."""
        sent = 0
        try:  # the common case in one tight loop; any error goes the careful way below
            sock = self._ensure()
            sendto, target = sock.sendto, self._target
            for d in datagrams:
                sendto(d, target)
                sent += 1
            return 0
        except OSError:
            datagrams = datagrams[sent:]
        lost = 0
        for i, d in enumerate(datagrams):
            if not self._send(d, attempts):
                lost += 1
                if self._closed.is_set():
                    return lost + len(datagrams) - i - 1
        return lost

    def _send(self, data: bytes, attempts: int | None) -> bool:
        failures = 0
        while not self._closed.is_set():
            try:
                self._ensure().sendto(data, self._target)
                self.backoff.reset()
                return True
            except OSError as exc:
                self.failures += 1
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                if exc.errno == errno.EMSGSIZE:
                    return False
                failures += 1
                if self.addr.scheme == "udp" or (attempts is not None and failures > attempts):
                    return False
                self._closed.wait(self.backoff.next())
        return False

    def close(self) -> None:
        self._closed.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def host_name(info_hostname: str) -> str:
    return info_hostname or socket.gethostname()


def pid() -> int:
    return os.getpid()
