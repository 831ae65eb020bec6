"""Status API of the collector in Prometheus's and Alertmanager's shapes.

Prometheus: `GET /api/v1/targets`, `/api/v1/rules`, `/api/v1/alerts`, `POST|PUT /-/reload`,
`GET /-/ready`, `/-/healthy`, `/api/v1/status/buildinfo|config|runtimeinfo`. Alertmanager v2: `GET|POST /api/v2/silences`,
`GET|DELETE /api/v2/silence/{id}` (also `DELETE /api/v2/silences/{id}`), and `GET /api/v2/alerts`
(the alerts held by the collector's own notifier, with their silenced state).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydock.collector.api.logs import require_read, require_write
from pydock.collector.notify.dispatch import match_routes
from pydock.collector.notify.model import fingerprint_hex, go_time
from pydock.collector.service import Collector

from pydock.errors import ConfigError, NotFoundError, UsageError

router = APIRouter()


def get_collector(request: Request) -> Collector:
    return request.app.state.collector  # type: ignore[no-any-return]


CollectorDep = Annotated[Collector, Depends(get_collector)]


def _ok(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def _error(code: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "errorType": kind, "error": message}, status_code=code)


@router.get("/api/v1/targets", dependencies=[Depends(require_read)])
async def targets(c: CollectorDep, state: str = "any") -> JSONResponse:
    if state not in ("active", "dropped", "any", ""):
        return _error(400, "bad_data", f"invalid state {state!r}: expected active, dropped or any")
    active = sorted((t.to_api() for t in c.scrape.targets()), key=lambda t: (t["scrapePool"], t["scrapeUrl"]))
    data: dict[str, Any] = {}
    if state in ("active", "any", ""):
        data["activeTargets"] = active
    if state in ("dropped", "any", ""):
        data["droppedTargets"] = []  # no relabelling, so nothing is ever dropped
    return _ok(data)


@router.get("/api/v1/rules", dependencies=[Depends(require_read)])
async def rules(c: CollectorDep, type: str = "") -> JSONResponse:
    if type not in ("", "alert", "record"):
        return _error(400, "bad_data", f"invalid rule type {type!r}: expected alert or record")
    groups = []
    for api in c.rules.groups_api():
        if type:
            api["rules"] = [r for r in api["rules"] if r["type"] == ("alerting" if type == "alert" else "recording")]
        groups.append(api)
    return _ok({"groups": groups})


@router.get("/api/v1/alerts", dependencies=[Depends(require_read)])
async def alerts(c: CollectorDep) -> JSONResponse:
    with c.rules.lock:
        alerts = [a.to_api() for r in c.rules.alerting_rules() for a in r.active.values() if a.state != "inactive"]
    return _ok({"alerts": alerts})


@router.api_route("/-/reload", methods=["POST", "PUT"], dependencies=[Depends(require_write)])
async def reload(c: CollectorDep) -> PlainTextResponse:
    try:
        await c.reload()
    except ConfigError as exc:
        return PlainTextResponse(f"failed to reload config: {exc}\n", status_code=500)
    return PlainTextResponse("")


# The Prometheus version whose HTTP API the collector follows; Grafana reads it to pick query features.
API_COMPAT_VERSION = "2.42.0"


@router.get("/api/v1/status/buildinfo", dependencies=[Depends(require_read)])
async def buildinfo() -> JSONResponse:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("pydock")
    except PackageNotFoundError:
        ours = "unknown"
    return _ok({"version": API_COMPAT_VERSION, "revision": f"pydock-{ours}", "branch": "", "buildUser": "",
                "buildDate": "", "goVersion": ""})


@router.get("/api/v1/status/config", dependencies=[Depends(require_read)])
async def status_config(c: CollectorDep) -> JSONResponse:
    return _ok({"yaml": c.config.shown})  # the running config (not the file, which may have changed)


@router.get("/api/v1/status/runtimeinfo", dependencies=[Depends(require_read)])
async def runtimeinfo(c: CollectorDep) -> JSONResponse:
    return _ok({"reloadConfigSuccess": not c.last_reload_error, "lastConfigTime": go_time(c.config_loaded_at),
                "storageRetention": f"{int(c.settings.retention_s // 86400)}d", "corruptionCount": 0,
                "goroutineCount": 0, "GOMAXPROCS": 0, "GOGC": "", "GODEBUG": "", "CWD": "",
                "startTime": go_time(c.started_at)})


@router.get("/-/healthy")
async def healthy() -> PlainTextResponse:
    return PlainTextResponse("pydock collector is Healthy.\n")


@router.get("/-/ready")
async def ready(c: CollectorDep) -> PlainTextResponse:
    if not c.ready:
        return PlainTextResponse("Service Unavailable", status_code=503)
    return PlainTextResponse("pydock collector is Ready.\n")


@router.get("/api/v2/silences", dependencies=[Depends(require_read)])
async def list_silences(c: CollectorDep,
                        filter: Annotated[list[str] | None, Query()] = None) -> JSONResponse:
    now = time.time()
    out = [s.to_api(now) for s in c.notifier.silences.all()]
    if filter:
        from pydock.collector.matchers import parse_matchers

        try:
            wanted = [m for f in filter for m in parse_matchers(f)]
        except ValueError as exc:
            return JSONResponse(str(exc), status_code=400)
        out = [s for s in out if all(any(sm["name"] == m.name and m.matches({m.name: sm["value"]})
                                         for sm in s["matchers"]) for m in wanted)]
    return JSONResponse(out)


@router.post("/api/v2/silences", dependencies=[Depends(require_write)])
async def post_silence(request: Request, c: CollectorDep) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse("request body is not JSON", status_code=400)
    if not isinstance(body, dict):
        return JSONResponse("request body must be a silence object", status_code=400)
    try:
        sid = c.notifier.silences.upsert(body)
    except NotFoundError as exc:
        return JSONResponse(str(exc), status_code=404)
    except UsageError as exc:
        return JSONResponse(str(exc), status_code=400)
    return JSONResponse({"silenceID": sid})


@router.get("/api/v2/silence/{silence_id}", dependencies=[Depends(require_read)])
async def get_silence(silence_id: str, c: CollectorDep) -> JSONResponse:
    try:
        return JSONResponse(c.notifier.silences.get(silence_id).to_api(time.time()))
    except NotFoundError as exc:
        return JSONResponse(str(exc), status_code=404)


@router.delete("/api/v2/silence/{silence_id}", dependencies=[Depends(require_write)])
@router.delete("/api/v2/silences/{silence_id}", dependencies=[Depends(require_write)])
async def delete_silence(silence_id: str, c: CollectorDep) -> JSONResponse:
    try:
        c.notifier.silences.expire(silence_id)
    except NotFoundError as exc:
        return JSONResponse(str(exc), status_code=404)
    except UsageError as exc:
        return JSONResponse(str(exc), status_code=400)
    return JSONResponse(None)


@router.get("/api/v2/alerts", dependencies=[Depends(require_read)])
async def notifier_alerts(c: CollectorDep) -> JSONResponse:
    """Alerts in the notifier's groups, as Alertmanager's gettableAlert (receivers, silencedBy)."""
    now = time.time()
    d = c.notifier.dispatcher
    seen: dict[int, dict[str, Any]] = {}
    if d is not None:
        for a in d.alerts():  # a copy: the groups change in the notifier's flushing thread
            if a.resolved(now):
                continue
            entry = seen.get(a.fingerprint)
            if entry is None:
                silenced = c.notifier.silences.silenced_by(a.labels, now)
                receivers = sorted({r.receiver for r, _ in match_routes(d.route, a.labels)})
                entry = {"labels": dict(a.labels), "annotations": dict(a.annotations),
                         "startsAt": go_time(a.starts_at), "endsAt": go_time(a.ends_at),
                         "updatedAt": go_time(a.updated_at), "generatorURL": a.generator_url,
                         "fingerprint": fingerprint_hex(a.labels),
                         "receivers": [{"name": r} for r in receivers],
                         "status": {"state": "suppressed" if silenced else "active",
                                    "silencedBy": silenced, "inhibitedBy": []}}
                seen[a.fingerprint] = entry
    return JSONResponse(sorted(seen.values(), key=lambda e: e["fingerprint"]))
