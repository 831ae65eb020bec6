"""Prometheus's query HTTP API: query, query_range, series, labels, label values.

Same paths, parameters (GET query string or POST form), JSON and error shapes as Prometheus 2.42,
so Grafana's Prometheus data source and other clients work unchanged. The engine and TSDB come from
`request.app.state.engine` / `.tsdb` (internals §7). Evaluation runs in a worker thread so a slow
query does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydock.collector.api.logs import require_read
from pydock.collector.labelmatch import Matcher
from pydock.collector.promql import Engine, PromQLError, seconds_to_ms, step_to_ms
from pydock.collector.promql.ast import VectorSelector
from pydock.collector.promql.lexer import parse_duration
from pydock.collector.promql.parser import is_label_name, parse
from pydock.collector.promql.values import Vector

from pydock.errors import PydockError

router = APIRouter(dependencies=[Depends(require_read)])
log = logging.getLogger(__name__)

MIN_TIME = -(2**62)
MAX_TIME = 2**62


class _BadData(Exception):
    pass


def _ok(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def _ok_text(data: str) -> Response:
    """`_ok` for a result already in JSON text (Matrix.json_text: a range query's points)."""
    return Response('{"status":"success","data":' + data + "}", media_type="application/json")


def _error(kind: str, message: str) -> JSONResponse:
    code = {"bad_data": 400, "execution": 422, "internal": 500, "timeout": 503, "canceled": 503}.get(kind, 400)
    return JSONResponse({"status": "error", "errorType": kind, "error": message}, status_code=code)


async def _params(request: Request) -> list[tuple[str, str]]:
    """Query-string and form parameters together, as Go's Request.ParseForm merges them."""
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            body = (await request.body()).decode("utf-8", "replace")
            items = parse_qsl(body, keep_blank_values=True) + items
    return items


def _get(params: list[tuple[str, str]], name: str) -> str | None:
    for k, v in params:
        if k == name:
            return v
    return None


def parse_time(text: str, name: str) -> float:
    """Unix seconds (float) or RFC 3339, as Prometheus's parseTime accepts them."""
    try:
        t = float(text)
        if math.isfinite(t):
            return t
    except ValueError:
        pass
    try:
        d = dt.datetime.fromisoformat(text)  # 3.11 reads a trailing Z as UTC
        if d.tzinfo is not None:
            return d.timestamp()
    except ValueError:
        pass
    raise _BadData(f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp')


def parse_step(text: str) -> float:
    try:
        d = float(text)
        if math.isfinite(d):
            return d
    except ValueError:
        pass
    ms = parse_duration(text)
    if ms is not None:
        return ms / 1000
    raise _BadData(f'invalid parameter "step": cannot parse "{text}" to a valid duration')


def _time_ms(params: list[tuple[str, str]], name: str, default: int) -> int:
    text = _get(params, name)
    if text is None or text == "":
        return default
    return seconds_to_ms(parse_time(text, name))


def _selectors(params: list[tuple[str, str]]) -> list[tuple[Matcher, ...]]:
    out = []
    for k, v in params:
        if k != "match[]":
            continue
        try:
            node = parse(v)
        except PromQLError as exc:
            raise _BadData(str(exc)) from None
        if not isinstance(node, VectorSelector):
            raise _BadData(f"1:1: parse error: unexpected {type(node).__name__} in series selector, expected "
                           "a vector selector")
        out.append(node.matchers)
    return out


async def _run(fn: Any, *args: Any) -> Response:
    try:
        return await asyncio.to_thread(fn, *args)
    except _BadData as exc:
        return _error("bad_data", str(exc))
    except PromQLError as exc:
        return _error(exc.kind, str(exc))
    except PydockError as exc:
        return _error("execution", str(exc))
    except Exception as exc:  # reported to the client, as Prometheus recovers from panics
        log.exception("query failed")
        return _error("execution", f"unexpected error: {exc}")


def _query(engine: Engine, params: list[tuple[str, str]]) -> Response:
    expr = _get(params, "query")
    if not expr:
        raise _BadData('invalid parameter "query": unknown position: parse error: no expression found in input')
    tt = _get(params, "time")
    t = parse_time(tt, "time") if tt else time.time()
    try:
        node = parse(expr)
    except PromQLError as exc:
        raise _BadData(f'invalid parameter "query": {exc}') from None
    result = engine.instant(node, t)
    return _ok_text(result.json_text()) if isinstance(result, Vector) else _ok(result.to_json())


def _query_range(engine: Engine, params: list[tuple[str, str]]) -> Response:
    start_s, end_s, step_s = (_get(params, k) for k in ("start", "end", "step"))
    if not start_s:
        raise _BadData('invalid parameter "start": cannot parse "" to a valid timestamp')
    start = parse_time(start_s, "start")
    if not end_s:
        raise _BadData('invalid parameter "end": cannot parse "" to a valid timestamp')
    end = parse_time(end_s, "end")
    if end < start:
        raise _BadData('invalid parameter "end": end timestamp must not be before start time')
    if not step_s:
        raise _BadData('invalid parameter "step": cannot parse "" to a valid duration')
    step = parse_step(step_s)
    if step_to_ms(step) <= 0:
        raise _BadData('invalid parameter "step": zero or negative query resolution step widths are not '
                       "accepted. Try a positive integer")
    if (end - start) / step > 11000:
        raise _BadData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
                       "query resolution (?step=XX)")
    expr = _get(params, "query") or ""
    try:
        node = parse(expr)
    except PromQLError as exc:
        raise _BadData(f'invalid parameter "query": {exc}') from None
    return _ok_text(engine.range(node, start, end, step).json_text())


@router.api_route("/api/v1/query", methods=["GET", "POST"])
async def query(request: Request) -> JSONResponse:
    params = await _params(request)
    return await _run(_query, request.app.state.engine, params)


@router.api_route("/api/v1/query_range", methods=["GET", "POST"])
async def query_range(request: Request) -> JSONResponse:
    params = await _params(request)
    return await _run(_query_range, request.app.state.engine, params)


def _series(tsdb: Any, params: list[tuple[str, str]]) -> JSONResponse:
    sels = _selectors(params)
    if not sels:
        raise _BadData("no match[] parameter provided")
    start = _time_ms(params, "start", MIN_TIME)
    end = _time_ms(params, "end", MAX_TIME)
    seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for ms in sels:
        for labels in tsdb.series(ms, start, end):
            seen.setdefault(tuple(sorted(labels.items())), labels)
    return _ok([seen[k] for k in sorted(seen)])


def _labels(tsdb: Any, params: list[tuple[str, str]], name: str | None) -> JSONResponse:
    sels = _selectors(params)
    start = _time_ms(params, "start", MIN_TIME)
    end = _time_ms(params, "end", MAX_TIME)
    bounded = (start, end) != (MIN_TIME, MAX_TIME)
    out: set[str] = set()
    for ms in sels or [()]:
        if name is None:
            out.update(tsdb.label_names(ms, start, end) if bounded or ms else tsdb.label_names())
        else:
            out.update(tsdb.label_values(name, ms, start, end) if bounded or ms else tsdb.label_values(name))
    return _ok(sorted(out))


@router.api_route("/api/v1/series", methods=["GET", "POST"])
async def series(request: Request) -> JSONResponse:
    params = await _params(request)
    return await _run(_series, request.app.state.tsdb, params)


@router.api_route("/api/v1/labels", methods=["GET", "POST"])
async def label_names(request: Request) -> JSONResponse:
    params = await _params(request)
    return await _run(_labels, request.app.state.tsdb, params, None)


@router.get("/api/v1/label/{name}/values")
async def label_values(name: str, request: Request) -> JSONResponse:
    if not is_label_name(name):
        return _error("bad_data", f'invalid label name: "{name}"')
    params = await _params(request)
    return await _run(_labels, request.app.state.tsdb, params, name)
