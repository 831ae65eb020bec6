"""Guards in front of the collector's routes (a pure ASGI middleware, so reads pay almost nothing).

- Writes (any method but GET/HEAD/OPTIONS) from another origin are refused: a page on any site can
  make a browser POST to loopback, and with no token (the loopback default) nothing else stops it.
  `Origin` must name this host (or be absent: curl, the agent), `Sec-Fetch-Site` must not be cross-site.
- JSON endpoints take only `application/json`, log pushes NDJSON/JSON/octet-stream (or no type): a
  browser sends text/plain or a form without a CORS preflight, these types force one.
- `/-/reload` and `/-/quit` answer only with `--web.enable-lifecycle`, as in Prometheus.
- Query endpoints read at most 10 MB of form body (Go's ParseForm limit; Prometheus answers 400).
- Log pushes run at most `max_log_pushes` at once; more get 429 (the shipper retries with backoff).
- A request body that stalls longer than `read_timeout_s` ends the request (`--web.read-timeout`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_FORM = 10 * 1024 * 1024
JSON_ONLY = ("/api/v2/silences", "/api/v2/alerts")
PUSH = "/api/v1/logs/push"
PUSH_TYPES = ("application/x-ndjson", "application/json", "application/octet-stream", "application/jsonl")
FORM_PATHS = ("/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels")
LIFECYCLE = ("/-/reload", "/-/quit")
_READS = ("GET", "HEAD", "OPTIONS")


class Guard:
    def __init__(self, app: ASGIApp, enable_lifecycle: bool = False, max_log_pushes: int = 16,
                 read_timeout_s: float = 300.0) -> None:
        self.app = app
        self.enable_lifecycle = enable_lifecycle
        self.pushes = asyncio.Semaphore(max_log_pushes)
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        if path in LIFECYCLE and not self.enable_lifecycle:
            await _text(send, 403, "Lifecycle API is not enabled.")
            return
        if method in _READS:
            await self.app(scope, self._timed(receive), send)
            return
        refusal = _cross_origin(headers)
        if refusal:
            await _json(send, 403, refusal)
            return
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if method in ("POST", "PUT") and path.startswith(JSON_ONLY) and ctype != "application/json":
            await _json(send, 415, f"{path} takes Content-Type application/json, not {ctype or 'none'}")
            return
        if path == PUSH:
            # No type at all is allowed (curl --data-binary, older shippers): a browser adds an Origin
            # to any cross-origin POST, refused above; the simple types it sends unasked are not.
            if ctype and ctype not in PUSH_TYPES:
                await _json(send, 415, f"log pushes take Content-Type application/x-ndjson, not {ctype or 'none'}")
                return
            if self.pushes.locked():
                await _json(send, 429, "too many concurrent log pushes; retry later")
                return
            async with self.pushes:
                await self.app(scope, self._timed(receive), send)
            return
        if path in FORM_PATHS:
            body = await self._bounded_body(receive, headers)
            if body is None:
                await _json(send, 400, "http: POST too large", kind="bad_data")
                return
            await self.app(scope, _replay(body), send)
            return
        await self.app(scope, self._timed(receive), send)

    def _timed(self, receive: Receive) -> Receive:
        """`receive` with a time limit on each part of the request body; once the body is in, the
        wait for a disconnect (a live tail's) is the client's business and has no limit."""
        done = False

        async def timed() -> Message:
            nonlocal done
            if done:
                return await receive()
            try:
                msg = await asyncio.wait_for(receive(), self.read_timeout_s)
            except TimeoutError:
                return {"type": "http.disconnect"}
            done = msg["type"] != "http.request" or not msg.get("more_body", False)
            return msg
        return timed

    async def _bounded_body(self, receive: Receive, headers: dict[str, str]) -> bytes | None:
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_FORM:
            return None
        chunks, size, more = [], 0, True
        timed = self._timed(receive)
        while more:
            msg = await timed()
            if msg["type"] == "http.disconnect":
                break
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM:
                return None
            chunks.append(chunk)
            more = msg.get("more_body", False)
        return b"".join(chunks)


def _cross_origin(headers: dict[str, str]) -> str:
    if headers.get("sec-fetch-site", "") in ("cross-site", "same-site"):
        return "cross-origin write refused (Sec-Fetch-Site: " + headers["sec-fetch-site"] + ")"
    origin = headers.get("origin")
    if origin is None:
        return ""
    host = headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        return f"cross-origin write refused (Origin {origin} is not {host})"
    return ""


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # as a real connection: nothing more until it closes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def _json(send: Send, status: int, message: str, kind: str = "") -> None:
    body = {"status": "error", "error": message}
    if kind:
        body["errorType"] = kind
    await _respond(send, status, json.dumps(body).encode(), b"application/json")


async def _text(send: Send, status: int, message: str) -> None:
    await _respond(send, status, message.encode(), b"text/plain; charset=utf-8")


async def _respond(send: Send, status: int, body: bytes, ctype: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
