"""The HTTP side of the Engine API: a threaded HTTP/1.1 server on a unix socket, the router, and
the three answers a handler gives (a JSON/bytes `Response`, a chunked `Stream`, a `Hijack`).

Why the standard library and not FastAPI + uvicorn (as the collector uses): `docker run -it`,
`docker attach` and `docker exec` hijack the connection (`Upgrade: tcp`, `101 UPGRADED`, then raw
bytes both ways on the same socket). ASGI has no such thing; uvicorn would need a raw-socket side
door. Here a handler simply gets the socket. The runtime's calls also block (wait, log follow,
exec wait), which suits one thread per connection. Idle RSS measured by bench/api.py: about 30 MB
for this server against about 60 MB for a FastAPI + uvicorn app of the same routes' imports.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydock.errors import (
    CommandNotFound,
    CommandNotInvokable,
    ConflictError,
    ImageError,
    NotFoundError,
    PydockError,
    UsageError,
)

API_VERSION = "1.50"  # what docker 28.2 asks for
MIN_API_VERSION = "1.24"
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


class ApiError(Exception):
    """An answer other than success: Docker's `{"message": ...}` with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NotModified(Exception):
    """304 with no body (stop of a stopped container, start of a running one)."""


def status_of(exc: PydockError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, UsageError | ImageError | CommandNotFound | CommandNotInvokable):
        return 400
    return 500


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n")


@dataclass
class Stream:
    """A chunked body: each item written and flushed as it comes (logs -f, events, stats).
    `chunks` is an iterable, or a callable that is given the `write(bytes)` to call."""

    chunks: Iterable[bytes] | Callable[[Callable[[bytes], None]], None]
    content_type: str = "application/json"
    status: int = 200


@dataclass
class Hijack:
    """The connection becomes raw: `run(sock, rfile)` owns it until it returns, then it is closed.
    `rfile` is the request's buffered reader (bytes the client sent after the headers are there)."""

    run: Callable[[socket.socket, Any], None]
    content_type: str = "application/vnd.docker.raw-stream"


class Request:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers: Any, rfile: Any,
                 params: dict[str, str], version: tuple[int, int], conn: socket.socket | None = None) -> None:
        self.method, self.path, self.query, self.headers = method, path, query, headers
        self.conn = conn
        self.rfile, self.params, self.version = rfile, params, version
        self._body: bytes | None = None

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def qbool(self, name: str, default: bool = False) -> bool:
        v = self.q(name)
        if v is None:
            return default
        return v.lower() not in ("", "0", "false", "no")

    def qint(self, name: str, default: int | None = None) -> int | None:
        v = self.q(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise ApiError(400, f"invalid value for {name}: {v!r} is not an integer") from None

    def qjson(self, name: str) -> Any:
        v = self.q(name)
        if not v:
            return None
        try:
            return json.loads(v)
        except ValueError:
            raise ApiError(400, f"invalid {name}: not JSON") from None

    def body(self) -> bytes:
        if self._body is None:
            n = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                self._body = b"".join(read_chunked(self.rfile))
            else:
                self._body = self.rfile.read(n) if n else b""
        return self._body

    def json(self, default: Any = None) -> Any:
        raw = self.body()
        if not raw.strip():
            return default
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"malformed JSON body: {exc}") from None

    def chunks(self) -> Iterator[bytes]:
        """The request body as it arrives (images/load, build): chunked or by Content-Length."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield from read_chunked(self.rfile)
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            data = self.rfile.read(min(left, 1 << 20))
            if not data:
                return
            left -= len(data)
            yield data


def read_chunked(rfile: Any) -> Iterator[bytes]:
    while True:
        size_line = rfile.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            rfile.readline()
            return
        data = rfile.read(size)
        rfile.readline()
        yield data


Handler = Callable[[Request], Any]


class Router:
    """`/containers/{id}/json` patterns; `{name:path}` takes slashes (image names)."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        rx = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+?)", pattern)
        rx = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", rx)
        self.routes.append((method, re.compile("^" + rx + "$"), handler))

    def find(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for m, rx, h in self.routes:
            found = rx.match(path)
            if found:
                if m == method or (method == "HEAD" and m == "GET"):
                    return h, found.groupdict()
                allowed = True
        if allowed:
            raise ApiError(405, f"method {method} not allowed for {path}")
        raise ApiError(404, f"page not found: {path}")


def _version_tuple(text: str) -> tuple[int, int]:
    a, _, b = text.partition(".")
    return int(a), int(b)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: UnixHTTPServer

    def address_string(self) -> str:  # a unix socket has no client address
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log is not None:
            self.server.access_log(format % args)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        version = _version_tuple(API_VERSION)
        m = _VERSIONED.match(path)
        try:
            if m:
                version = (int(m.group(1)), int(m.group(2)))
                path = m.group(3)
                if version > _version_tuple(API_VERSION):
                    raise ApiError(400, f"client version {m.group(1)}.{m.group(2)} is too new. "
                                        f"Maximum supported API version is {API_VERSION}")
                if version < _version_tuple(MIN_API_VERSION):
                    raise ApiError(400, f"client version {m.group(1)}.{m.group(2)} is too old. "
                                        f"Minimum supported API version is {MIN_API_VERSION}, please upgrade "
                                        "your client to a newer version")
            handler, params = self.server.router.find(self.command, path.rstrip("/") or "/")
            req = Request(self.command, path, parse_qs(url.query, keep_blank_values=True), self.headers,
                          self.rfile, params, version, self.connection)
            result = handler(req)
            if self.headers.get("Content-Length") and req._body is None and not isinstance(result, Hijack):
                req.body()  # drain what the handler did not read, to keep the connection usable
        except ApiError as exc:
            result = json_response({"message": exc.message}, exc.status)
        except NotModified:
            result = Response(304, b"")
        except PydockError as exc:
            result = json_response({"message": str(exc)}, status_of(exc))
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must answer 500 (as dockerd), its traceback logged
            import traceback

            traceback.print_exc()
            result = json_response({"message": f"internal error: {type(exc).__name__}: {exc}"}, 500)
        if isinstance(result, Hijack):
            self._hijack(result)
        elif isinstance(result, Stream):
            self._stream(result)
        else:
            if not isinstance(result, Response):
                result = json_response(result)
            self._send(result)

    def _common_headers(self) -> None:
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        self.send_header("Server", f"pydock (API {API_VERSION})")

    def _send(self, r: Response) -> None:
        self.send_response(r.status)
        self._common_headers()
        for k, v in r.headers.items():
            self.send_header(k, v)
        if r.status != 304:
            self.send_header("Content-Type", r.content_type)
            self.send_header("Content-Length", str(len(r.body)))
        self.end_headers()
        if self.command != "HEAD" and r.status != 304:
            self.wfile.write(r.body)

    def _stream(self, s: Stream) -> None:
        self.send_response(s.status)
        self._common_headers()
        self.send_header("Content-Type", s.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        def write(chunk: bytes) -> None:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()

        it: Any = None
        try:
            if callable(s.chunks):
                s.chunks(write)
            else:
                it = iter(s.chunks)
                for chunk in it:
                    write(chunk)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except PydockError as exc:
            # Headers are gone: end the stream early (Docker does the same) and say why in the log.
            self.log_message("stream ended: %s", exc)
            self.close_connection = True
        finally:
            close = getattr(it, "close", None) if it is not None else None
            if close is not None:
                close()

    def _hijack(self, h: Hijack) -> None:
        upgrade = self.headers.get("Upgrade", "").lower() == "tcp"
        if upgrade:
            head = (f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {h.content_type}\r\n"
                    "Connection: Upgrade\r\nUpgrade: tcp\r\n")
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {h.content_type}\r\n"
        self.wfile.write((head + f"Api-Version: {API_VERSION}\r\n\r\n").encode())
        self.wfile.flush()
        self.close_connection = True
        try:
            h.run(self.connection, self.rfile)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            # Ends the client's stream now, and wakes a thread still reading its half (stdin): the
            # buffered reader cannot be closed while that read holds its lock.
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _dispatch


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True  # a follow stream left open must not keep the server from exiting
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            return  # the client went away mid-answer: nothing to report
        super().handle_error(request, client_address)

    def __init__(self, path: str, router: Router, access_log: Callable[[str], None] | None = None) -> None:
        self.router = router
        self.access_log = access_log
        super().__init__(path, _Handler)
