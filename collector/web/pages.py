"""The collector's HTML pages: server-rendered shells that fetch their data from the JSON APIs.

Templates come from `pydock.dashboards` (templates/ and static/); jinja2 autoescapes everything, and
the page scripts write data with `textContent` only, so a log line or a label holding markup stays
text. Data comes from the collector's own APIs in the browser: PromQL on cAdvisor's metric names
(/api/v1/query, /api/v1/query_range), /api/v1/alerts, /api/v1/rules, /api/v1/targets, silences, and
the log API. No build step, no CDN: the charts are SVG drawn by dashboards/static/charts.js.
"""

from __future__ import annotations

import mimetypes
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import jinja2
import pydock.dashboards
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from pydock.errors import UsageError
from pydock.units import timestamp

from ..api.logs import require_read

DASHBOARDS = Path(pydock.dashboards.__file__).resolve().parent
STATIC = DASHBOARDS / "static"
# autoescape=True for every template, whatever its extension.
templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(DASHBOARDS / "templates")), autoescape=True)
)

router = APIRouter(dependencies=[Depends(require_read)])

NAV = [
    ("overview", "/", "Overview"),
    ("logs", "/logs", "Logs"),
    ("alerts", "/alerts", "Alerts"),
    ("targets", "/targets", "Targets"),
    ("rules", "/rules", "Rules"),
    ("query", "/query", "Query"),
]


# The script of each page, beside the shared pydock.js (dashboards/static/).
SCRIPTS = {"overview": "overview.js", "container": "container.js", "logs": "logs.js", "alerts": "alerts.js",
           "targets": "status.js", "rules": "status.js", "query": "status.js"}


# The pages load only their own scripts and styles and talk only to this collector: no inline script,
# no inline style attribute (scripts set styles through CSSOM, which CSP allows), no framing. Should
# some text ever slip past the escaping, the browser still refuses to run what it injects.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _render(request: Request, template: str, page: str, title: str, **ctx: object) -> HTMLResponse:
    resp = templates.TemplateResponse(
        request, template, {"page": page, "title": title, "nav": NAV, "script": SCRIPTS[page], **ctx}
    )
    resp.headers.update(SECURITY_HEADERS)
    return resp


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    return _render(request, "overview.html", "overview", "Overview")


def time_window(start: str | None, end: str | None, now: float | None = None) -> tuple[float, float]:
    """The container page's `from`/`to` as unix seconds: each RFC 3339 or unix seconds (a duration like
    `1h` means that long ago); `to` defaults to now, `from` to an hour before `to`. UsageError names
    the bad value."""
    now = time.time() if now is None else now
    t1 = timestamp(end, "to", now) if end else now
    t0 = timestamp(start, "from", now) if start else t1 - 3600
    if t0 >= t1:
        raise UsageError(f"from ({start}) must be before to ({end or 'now'})")
    return t0, t1


@router.get("/containers/{name}", response_class=HTMLResponse)
def container(request: Request, name: str, start: Annotated[str | None, Query(alias="from")] = None,
              end: Annotated[str | None, Query(alias="to")] = None) -> HTMLResponse:
    # With a window (an alert's generatorURL links here so) the charts and logs show it, fixed; a bad
    # window is said on the page, which then shows the live view.
    window, window_error = None, ""
    if start or end:
        try:
            window = time_window(start, end)
        except UsageError as e:
            window_error = str(e)
    return _render(request, "container.html", "container", f"Container {name}", container=name,
                   window=window, window_error=window_error, live_url="/containers/" + quote(name, safe=""))


@router.get("/logs", response_class=HTMLResponse)
def logs(request: Request) -> HTMLResponse:
    return _render(request, "logs.html", "logs", "Logs")


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request) -> HTMLResponse:
    return _render(request, "alerts.html", "alerts", "Alerts")


@router.get("/targets", response_class=HTMLResponse)
def targets(request: Request) -> HTMLResponse:
    return _render(request, "targets.html", "targets", "Targets")


@router.get("/rules", response_class=HTMLResponse)
def rules(request: Request) -> HTMLResponse:
    return _render(request, "rules.html", "rules", "Rules")


@router.get("/query", response_class=HTMLResponse)
def query(request: Request) -> HTMLResponse:
    return _render(request, "query.html", "query", "Query")


@router.get("/graph", include_in_schema=False)
def graph() -> RedirectResponse:
    return RedirectResponse("/query")


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    # Flat directory, names checked: nothing outside dashboards/static can be named.
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        raise HTTPException(404, "not found")
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=ctype, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
