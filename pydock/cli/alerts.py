"""`pydock alerts`: list a collector's alerts and manage its silences over its HTTP API.

`pydock alerts ls`, `pydock alerts silence add 'alertname="X"' [--duration 2h] [--comment C]`,
`pydock alerts silence ls`, `pydock alerts silence expire ID`. The collector is `--collector URL`
(default $PYDOCK_COLLECTOR or http://127.0.0.1:9339); `--token` for one that requires it.
"""

from __future__ import annotations

import getpass
import json
import time
from typing import Any

import click

from pydock.errors import NotFoundError, PydockError, UsageError

_COLLECTOR = click.option("--collector", "url", envvar="PYDOCK_COLLECTOR", default="http://127.0.0.1:9339",
                          show_default=True, help="the collector's base URL")
_TOKEN = click.option("--token", envvar="PYDOCK_COLLECTOR_TOKEN", default=None, help="bearer token")


_OPS = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}


def _call(url: str, token: str | None, method: str, path: str, body: Any = None) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.request(method, url.rstrip("/") + path, json=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise PydockError(f"cannot reach the collector at {url}: {exc}") from exc
    if resp.status_code == 404:
        raise NotFoundError(resp.text.strip().strip('"'))
    if resp.status_code >= 400:
        raise UsageError(f"collector answered {resp.status_code}: {resp.text.strip()}")
    return resp.json() if resp.content else None


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        click.echo("   ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


@click.group(name="alerts")
def alerts_group() -> None:
    """List alerts and manage silences on a collector."""


@alerts_group.command(name="ls")
@_COLLECTOR
@_TOKEN
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def ls(url: str, token: str | None, fmt: str) -> None:
    """List pending and firing alerts."""
    data = _call(url, token, "GET", "/api/v1/alerts")["data"]["alerts"]
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    rows = []
    for a in data:
        labels = {k: v for k, v in a["labels"].items() if k != "alertname"}
        rows.append([a["labels"].get("alertname", ""), a["state"], a["activeAt"],
                     ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))])
    _table(rows, ["ALERTNAME", "STATE", "ACTIVE SINCE", "LABELS"])


@alerts_group.group(name="silence")
def silence() -> None:
    """Add, list and expire silences."""


@silence.command(name="add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--duration", default="1h", show_default=True, help="how long the silence lasts")
@click.option("--comment", default="", help="why")
@click.option("--author", default=None, help="who (default: the current user)")
@_COLLECTOR
@_TOKEN
def silence_add(matchers: tuple[str, ...], duration: str, comment: str, author: str | None, url: str,
                token: str | None) -> None:
    """Silence alerts matching MATCHERS (like `alertname="X"` `severity=~"warn|info"`)."""
    from pydock.collector.matchers import parse_matchers
    from pydock.collector.notify.model import go_time
    from pydock.collector.yamlconf import parse_duration

    try:
        parsed = [m for text in matchers for m in parse_matchers(text)]
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    now = time.time()
    body = {"matchers": [{"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                         for m in parsed],
            "startsAt": go_time(now), "endsAt": go_time(now + seconds),
            "createdBy": author or getpass.getuser(), "comment": comment}
    click.echo(_call(url, token, "POST", "/api/v2/silences", body)["silenceID"])


@silence.command(name="ls")
@_COLLECTOR
@_TOKEN
@click.option("--expired", is_flag=True, help="include expired silences")
def silence_ls(url: str, token: str | None, expired: bool) -> None:
    """List silences."""
    rows = []
    for s in _call(url, token, "GET", "/api/v2/silences"):
        if s["status"]["state"] == "expired" and not expired:
            continue
        ms = ",".join(f'{m["name"]}{_OPS[(m["isRegex"], m.get("isEqual", True))]}{json.dumps(m["value"])}'
                      for m in s["matchers"])
        rows.append([s["id"], ms, s["status"]["state"], s["endsAt"], s["createdBy"], s["comment"]])
    _table(rows, ["ID", "MATCHERS", "STATE", "ENDS AT", "CREATED BY", "COMMENT"])


@silence.command(name="expire")
@click.argument("ids", nargs=-1, required=True)
@_COLLECTOR
@_TOKEN
def silence_expire(ids: tuple[str, ...], url: str, token: str | None) -> None:
    """Expire silences by id."""
    for sid in ids:
        _call(url, token, "DELETE", f"/api/v2/silence/{sid}")
        click.echo(sid)
