"""Log API of the collector: the agent's push endpoint, search, and live tail as server-sent events.

`POST /api/v1/logs/push` takes gzip NDJSON (internals §4) and answers 2xx only after the store's
commit is durable: that answer is the agent's acknowledgement, after which it moves its checkpoint.
`GET /api/v1/logs/query` and `GET /api/v1/logs/tail` share the filters of `LogQuery`. A `query` that
starts with `{` is a LogQL log query (`{name="web"} |= "timeout" | json | level="error"`): the
selector and pipeline of collector/logql pick the lines, the other filters narrow them further, and
the answer has today's shape (newest first, the same cursors), each line with its LogQL labels.
Access (`access_guard`): push needs the token whenever one is configured, and a token is required when
the collector listens beyond loopback; reads can be put behind the token or basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import json
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from pydock.errors import PromQLError, UsageError
from pydock.units import rfc3339_nano, timestamp_ns

from ..logql import pipeline as logql_pipeline
from ..logql.ast import STORE_LABELS, LogSelector
from ..logql.evaluator import LogQLEvaluator, stream_labels
from ..logql.parser import parse as logql_parse
from ..logstore import BadQueryError, LogQuery, LogRecord, LogStore

router = APIRouter()

MAX_BODY = 64 << 20  # decompressed bytes in one push; the agent sends far smaller batches
TAIL_POLL_S = 0.25
# The container's output, and its lifecycle events that the agent ships as entries (agent/events.py).
STREAMS = ("stdout", "stderr", "event")
_FIELDS = ("host", "container_id", "container_name", "stream", "time_ns", "line", "file_id", "offset")


@dataclass(frozen=True)
class Access:
    """Who may do what. `token`: bearer token for push/admin (and reads when `read_auth == "token"`);
    `read_auth`: "none", "token" or "basic"; `basic_users`: user -> password for basic auth."""

    token: str = ""
    read_auth: str = "none"
    basic_users: tuple[tuple[str, str], ...] = ()


def access_from_settings(settings: Any) -> Access:
    """Reads `token`, `token_file`, `read_auth`, `basic_auth` ("user:password") from the collector's
    settings when present; an absent attribute means the default."""
    token = getattr(settings, "token", "") or ""
    token_file = getattr(settings, "token_file", None)
    if not token and token_file:
        with open(token_file, encoding="utf-8") as f:
            token = f.read().strip()
    basic = getattr(settings, "basic_auth", "") or ""
    users: tuple[tuple[str, str], ...] = ()
    if basic:
        user, _, pw = str(basic).partition(":")
        users = ((user, pw),)
    return Access(token=token, read_auth=getattr(settings, "read_auth", "none") or "none", basic_users=users)


def _access(request: Request) -> Access:
    acc = getattr(request.app.state, "access", None)
    if acc is None:
        acc = access_from_settings(getattr(request.app.state, "settings", None))
        request.app.state.access = acc
    return acc


def _bearer_ok(request: Request, token: str) -> bool:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _basic_ok(request: Request, users: tuple[tuple[str, str], ...]) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, pw = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    # Compare bytes: compare_digest refuses non-ASCII str, which would turn a bad login into a 500.
    return any(hmac.compare_digest(user.encode(), u.encode()) and hmac.compare_digest(pw.encode(), p.encode())
               for u, p in users)


def require_write(request: Request) -> None:
    """Push and admin routes: the bearer token whenever one is configured."""
    acc = _access(request)
    if acc.token and not _bearer_ok(request, acc.token):
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})


def require_read(request: Request) -> None:
    """Read routes (queries, tail, pages): open, or behind the token or basic auth."""
    acc = _access(request)
    if acc.read_auth == "token" and acc.token and not _bearer_ok(request, acc.token):
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    if acc.read_auth == "basic" and not (
        _basic_ok(request, acc.basic_users) or (acc.token and _bearer_ok(request, acc.token))
    ):
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": 'Basic realm="pydock"'})


def get_logstore(request: Request) -> LogStore:
    return request.app.state.logstore  # type: ignore[no-any-return]


def parse_push(body: bytes, encoding: str = "") -> list[LogRecord]:
    """Decode one push body (gzip NDJSON; plain NDJSON is accepted too) into records, validating each."""
    if encoding.lower() == "gzip" or body[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = d.decompress(body, MAX_BODY + 1)
        except zlib.error as e:
            raise UsageError(f"body is not valid gzip: {e}") from e
        if len(raw) > MAX_BODY or d.unconsumed_tail:
            raise UsageError(f"body over {MAX_BODY} bytes once decompressed")
        if not d.eof:
            raise UsageError("body is not valid gzip: truncated stream")
    else:
        raw = body
    out: list[LogRecord] = []
    for n, text in enumerate(raw.split(b"\n"), 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise UsageError(f"line {n}: not JSON: {e}") from e
        if not isinstance(obj, dict):
            raise UsageError(f"line {n}: expected a JSON object")
        missing = [k for k in _FIELDS if k not in obj]
        if missing:
            raise UsageError(f"line {n}: missing {', '.join(missing)}")
        try:
            rec = LogRecord(
                host=str(obj["host"]),
                container_id=str(obj["container_id"]),
                container_name=str(obj["container_name"]),
                stream=str(obj["stream"]),
                time_ns=int(obj["time_ns"]),
                line=str(obj["line"]),
                file_id=str(obj["file_id"]),
                offset=int(obj["offset"]),
            )
        except (TypeError, ValueError) as e:
            raise UsageError(f"line {n}: time_ns and offset must be integers") from e
        if not rec.container_id:
            raise UsageError(f"line {n}: container_id is empty")
        out.append(rec)
    return out


def time_ns(value: str | None, what: str) -> int:
    """Unix seconds, RFC 3339 (nanoseconds kept exactly) or a duration ago; 0 when absent."""
    if not value:
        return 0
    try:
        return timestamp_ns(value, what)
    except UsageError as e:
        raise HTTPException(400, str(e)) from e


def build_query(
    query: str = "",
    container: str = "",
    host: str = "",
    stream: str = "",
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    cursor: str = "",
    level: str = "",
) -> LogQuery:
    if stream and stream not in STREAMS:
        raise HTTPException(400, f"stream must be stdout, stderr or event, not {stream!r}")
    return LogQuery(
        level=level.strip(),
        text=query.strip(),
        container=container.strip(),
        host=host.strip(),
        stream=stream,
        start_ns=time_ns(start, "start"),
        end_ns=time_ns(end, "end"),
        limit=limit,
        cursor=cursor,
    )


StoreDep = Annotated[LogStore, Depends(get_logstore)]
QueryDep = Annotated[LogQuery, Depends(build_query)]


def record_json(r: LogRecord, labels: dict[str, str] | None = None) -> dict[str, Any]:
    d = r.to_json()
    d["time"] = rfc3339_nano(r.time_ns)
    if labels is not None:
        d["labels"] = labels
    return d


def is_logql(text: str) -> bool:
    return text.lstrip().startswith("{")


def parse_log_query(text: str) -> LogSelector:
    """The LogQL log query of a search box; a metric query or bad syntax is a BadQueryError."""
    try:
        node = logql_parse(text)
    except PromQLError as e:
        raise BadQueryError(f"bad LogQL query: {e}") from e
    if not isinstance(node, LogSelector):
        raise BadQueryError("a LogQL metric query returns numbers, not lines: ask /api/v1/query for it")
    return node


def _form_keeps(q: LogQuery, r: LogRecord) -> bool:
    """The form's filters beside a LogQL selector (the store query is the selector's)."""
    return ((not q.container or r.container_name == q.container or r.container_id.startswith(q.container))
            and (not q.host or r.host == q.host) and (not q.stream or r.stream == q.stream))


def logql_page(request: Request, store: LogStore, q: LogQuery) -> dict[str, Any]:
    sel = parse_log_query(q.text)
    engine = getattr(request.app.state, "engine", None)
    ev = engine.logql() if engine is not None and hasattr(engine, "logql") else LogQLEvaluator(store)
    # The form's level filter goes to the store with the selector's own filters.
    ev.store = _LevelStore(store, q.level) if q.level else store
    limit = max(1, min(q.limit, 5000))
    out: list[dict[str, Any]] = []
    cursor = q.cursor
    try:
        # The form's container/host/stream filters are checked per line: read on until the page is full.
        while True:
            rows, cursor = ev.lines_page(sel, q.start_ns, q.end_ns, limit - len(out), cursor)
            for labels, r in rows:
                if _form_keeps(q, r):
                    out.append(record_json(r, dict(labels)))
            if len(out) >= limit or not cursor:
                break
    except PromQLError as e:
        raise BadQueryError(str(e)) from e
    return {"lines": out, "next_cursor": cursor}


class _LevelStore:
    """A store whose queries carry the form's level filter."""

    def __init__(self, store: LogStore, level: str) -> None:
        self.store, self.level = store, level

    def query(self, q: LogQuery) -> Any:
        return self.store.query(dataclasses.replace(q, level=self.level))


def logql_tail_filter(q: LogQuery) -> tuple[LogQuery, Any]:
    """For a live tail of a LogQL query: the store query (the selector's equality matchers) and a
    function that gives a record's labels or None when the selector or pipeline drops it."""
    sel = parse_log_query(q.text)
    names = sorted({m.name for m in sel.matchers if m.name not in STORE_LABELS})
    if names:
        raise BadQueryError(f"the live tail of a LogQL query takes the labels {', '.join(STORE_LABELS)}; "
                            f"not {', '.join(names)}")
    eq = {m.name: m.value for m in sel.matchers if m.op == "="}
    sq = LogQuery(container=eq.get("name", q.container), host=eq.get("host", q.host),
                  stream=eq.get("stream", q.stream), level=q.level, limit=q.limit)

    def keep(r: LogRecord) -> dict[str, str] | None:
        labels = stream_labels(r)
        if not _form_keeps(q, r) or not all(m.matches(labels.get(m.name, "")) for m in sel.matchers):
            return None
        return logql_pipeline.run(sel.stages, r.line, labels)

    return sq, keep


@router.post("/api/v1/logs/push", dependencies=[Depends(require_write)])
async def push(request: Request, store: StoreDep) -> JSONResponse:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return JSONResponse({"status": "error", "error": f"body over {MAX_BODY} bytes"}, status_code=413)
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        records = await run_in_threadpool(parse_push, body, request.headers.get("content-encoding", ""))
    except UsageError as e:
        return JSONResponse({"status": "error", "error": str(e)}, status_code=400)
    new = await run_in_threadpool(store.append, records)
    return JSONResponse({"status": "success", "accepted": len(records), "stored": new})


@router.get("/api/v1/logs/query", dependencies=[Depends(require_read)])
async def query(request: Request, q: QueryDep, store: StoreDep) -> JSONResponse:
    try:
        # Taken before the query: a live tail started from here misses nothing stored meanwhile
        # (it may repeat a few lines of the page; the pages drop those by their key).
        _, tail_after = await run_in_threadpool(store.tail, LogQuery(), "")
        if is_logql(q.text):
            data = await run_in_threadpool(logql_page, request, store, q)
        else:
            page = await run_in_threadpool(store.query, q)
            data = {"lines": [record_json(r) for r in page.records], "next_cursor": page.next_cursor}
    except BadQueryError as e:
        return JSONResponse({"status": "error", "errorType": "bad_data", "error": str(e)}, status_code=400)
    data["tail_after"] = tail_after
    return JSONResponse({"status": "success", "data": data})


def sse_event(data: str, event_id: str = "", event: str = "") -> bytes:
    out = ""
    if event:
        out += f"event: {event}\n"
    if event_id:
        out += f"id: {event_id}\n"
    return (out + f"data: {data}\n\n").encode()


async def tail_events(
    store: LogStore, q: LogQuery, after: str, is_disconnected: Callable[[], Any], poll_s: float = TAIL_POLL_S
) -> AsyncIterator[bytes]:
    """Server-sent events: one `log` event per line, its id the store position (so a browser that
    reconnects with Last-Event-ID resumes where it was), and a comment every 15 s to keep proxies open."""
    keep = None
    if is_logql(q.text):
        q, keep = logql_tail_filter(q)
    records, pos = await run_in_threadpool(store.tail, q, after)
    yield b"retry: 1000\n\n"
    idle = 0.0
    while True:
        for rpos, r in records:
            if keep is None:
                yield sse_event(json.dumps(record_json(r)), rpos, "log")
            else:
                labels = keep(r)
                if labels is not None:
                    yield sse_event(json.dumps(record_json(r, labels)), rpos, "log")
        if await is_disconnected():
            return
        if not records:
            await asyncio.sleep(poll_s)
            idle += poll_s
            if idle >= 15:
                idle = 0.0
                yield b": keep-alive\n\n"
        records, pos = await run_in_threadpool(store.tail, q, pos)


@router.get("/api/v1/logs/tail", dependencies=[Depends(require_read)])
async def tail(request: Request, q: QueryDep, store: StoreDep) -> StreamingResponse:
    after = request.headers.get("last-event-id", "") or request.query_params.get("after", "")
    try:
        await run_in_threadpool(store.tail, logql_tail_filter(q)[0] if is_logql(q.text) else q, after)
    except BadQueryError as e:
        raise HTTPException(400, str(e)) from e
    return StreamingResponse(
        tail_events(store, q, after, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
