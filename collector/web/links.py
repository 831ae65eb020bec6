"""Links into the pages: the container page at a time window, as alerts' `generatorURL` carries it.

The container page takes `?from=&to=` (RFC 3339 or unix seconds, as the log API's start/end; docs/web.md)
and shows its charts and logs for that window, fixed instead of live. An alert about a container (its
`name` label, else `container`, else `container_id`: the order of collector/logql/alertlogs.py) links
there, at the window from `startsAt - for - lookback` to its resolve time (or the time of the
notification while it fires); the lookback is 5 minutes, or the rule's longest LogQL range when that is
longer. An alert without a container keeps Prometheus's graph link. Either way it is a plain string, so
Alertmanager and its receivers take it as they take Prometheus's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

from pydock.errors import PromQLError

LOOKBACK_S = 300.0


def alert_container(labels: Mapping[str, str]) -> str:
    """The container an alert is about, or "" when it names none."""
    return labels.get("name") or labels.get("container") or labels.get("container_id") or ""


def rfc3339_s(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def container_url(external_url: str, container: str, start: float | None = None, end: float | None = None) -> str:
    """`<external URL>/containers/NAME`, with `from`/`to` (whole seconds in UTC, widened outwards)."""
    url = external_url + "/containers/" + quote(container, safe="")
    args = []
    if start is not None:
        args.append("from=" + rfc3339_s(math.floor(start)))
    if end is not None:
        args.append("to=" + rfc3339_s(math.ceil(end)))
    return url + ("?" + "&".join(args) if args else "")


def graph_url(external_url: str, expr: str) -> str:
    """Prometheus's generatorURL: the expression on the query page's table tab."""
    return external_url + "/graph?g0.expr=" + quote_plus(expr) + "&g0.tab=1"


def lookback_s(expr: str) -> float:
    """How far before an alert became active its window starts: 5 minutes, or the longest LogQL range in
    `expr` when that is longer (the lines that made a log rule fire lie in that range)."""
    from pydock.collector.logql.embed import find_log_ranges

    try:
        ranges = [r.range_ms / 1000 for r in find_log_ranges(expr).values()]
    except PromQLError:
        ranges = []
    return max([LOOKBACK_S, *ranges])


def alert_generator_url(external_url: str, expr: str, for_s: float, labels: Mapping[str, str],
                        starts_at: float, ends_at: float) -> str:
    """The alert's generatorURL: its container's page at the alert's window, else the graph link."""
    container = alert_container(labels)
    if not container:
        return graph_url(external_url, expr)
    return container_url(external_url, container, starts_at - for_s - lookback_s(expr), max(ends_at, starts_at))
