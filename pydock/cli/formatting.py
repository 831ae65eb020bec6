"""Output helpers shared by the container, image and volume commands: Docker's human durations and
sizes, and the small subset of Go templates that `--format` takes (`{{.Field}}`, `{{.A.B}}`,
`{{json .X}}`, a leading `table`)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydock.errors import UsageError

_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def human_duration(seconds: float) -> str:
    """go-units HumanDuration, as `docker ps` prints ages."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def ago(ts: float) -> str:
    return human_duration(time.time() - ts) + " ago"


def human_size(n: float) -> str:
    """go-units HumanSize (decimal, 4 significant digits), as `docker images` prints sizes."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}"


def _go_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<no value>"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{_go_value(x)}" for k, x in sorted(v.items())) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(_go_value(x) for x in v) + "]"
    return str(v)


def _lookup(obj: Any, path: str, template: str) -> Any:
    if path == ".":
        return obj
    cur = obj
    for part in path.lstrip(".").split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            raise UsageError(f"template: {template!r}: can't evaluate field {part}")
    return cur


def render(template: str, obj: Any) -> str:
    """Renders one object through a Go-template subset."""
    text = template.replace("\\t", "\t").replace("\\n", "\n")

    def action(m: re.Match[str]) -> str:
        expr = m.group(1)
        words = expr.split()
        if len(words) == 2 and words[0] == "json":
            return json.dumps(_lookup(obj, words[1], template), separators=(",", ":"))
        if len(words) == 3 and words[0] in ("index", ".Label") :
            return _go_value(_lookup(obj, words[1], template).get(words[2].strip('"'), ""))
        if len(words) == 2 and words[0] in ("upper", "lower"):
            v = _go_value(_lookup(obj, words[1], template))
            return v.upper() if words[0] == "upper" else v.lower()
        if len(words) == 1 and words[0].startswith("."):
            return _go_value(_lookup(obj, words[0], template))
        raise UsageError(f"template: {template!r}: unsupported action {{{{{expr}}}}}")

    return _ACTION.sub(action, text)


def print_rows(fmt: str | None, rows: Sequence[Mapping[str, Any]], default_columns: Sequence[tuple[str, str]],
               echo: Callable[[str], None], quiet_key: str | None = None, quiet: bool = False) -> None:
    """Docker's listing output: a table, `--format json` (one object a line), `--format 'table ...'`
    (with headers) or any other template (one line per row, no header)."""
    if quiet and quiet_key:
        for r in rows:
            echo(str(r[quiet_key]))
        return
    if fmt == "json":
        for r in rows:
            echo(json.dumps(r, separators=(",", ":")))
        return
    if fmt and not fmt.startswith("table"):
        for r in rows:
            echo(render(fmt, r))
        return
    if fmt:  # "table {{.ID}}\t{{.Names}}": headers are the field names in capitals, as Docker prints
        tmpl = fmt[len("table"):].strip()
        fields = re.findall(r"\{\{\s*\.(\w+)\s*\}\}", tmpl)
        header_of = {f: h for h, f in default_columns}
        columns = [(header_of.get(f, f.upper()), f) for f in fields]
    else:
        columns = list(default_columns)
    table = [[h for h, _ in columns]] + [[_go_value(r.get(f, "")) for _, f in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        echo("   ".join(c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row)).rstrip())
