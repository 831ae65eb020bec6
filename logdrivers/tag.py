"""Docker's log tag templates: a small subset of Go's text/template, enough for `tag`.

Fields are those of Docker's `logger.Info` (`{{.ID}}`, `{{.FullID}}`, `{{.Name}}`, `{{.ImageID}}`,
`{{.ImageFullID}}`, `{{.ImageName}}`, `{{.DaemonName}}`, `{{.Command}}`, `{{.Hostname}}`); functions
are Docker's (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`, `truncate`), called either
as `{{upper .Name}}` or through a pipeline `{{.Name | upper}}`. The tag is rendered once, when the
driver is made, as Docker does (a rename is not reflected).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from pydock.logdrivers.base import LogInfo

from pydock.errors import LogOptError

DEFAULT_TEMPLATE = "{{.ID}}"


def _short(image_or_id: str) -> str:
    return image_or_id.split(":", 1)[-1][:12]


def fields(info: LogInfo) -> dict[str, str]:
    return {
        "ID": info.container_id[:12],
        "FullID": info.container_id,
        "Name": info.container_name.lstrip("/"),
        "ImageID": _short(info.image_id),
        "ImageFullID": info.image_id,
        "ImageName": info.image_name,
        "DaemonName": info.daemon_name,
        "Command": " ".join(info.command),
        "Hostname": info.hostname or os.uname().nodename,  # gethostname(), without socket.py
    }


def _pad(s: Any, n: Any) -> str:
    return str(s).ljust(int(n))


def _truncate(s: Any, n: Any) -> str:
    return str(s)[: int(n)]


_FUNCS: dict[str, Callable[..., Any]] = {
    "json": lambda v: json.dumps(v, separators=(",", ":")),
    "split": lambda s, sep: str(s).split(sep),
    "join": lambda items, sep: sep.join(items),
    "title": lambda s: str(s).title(),
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "pad": _pad,
    "truncate": _truncate,
}

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.DOTALL)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|[^\s|]+')


def _value(token: str, values: dict[str, str], template: str) -> Any:
    if token.startswith("."):
        name = token[1:]
        if name not in values:
            raise LogOptError(f"invalid value {template!r} for log opt 'tag': unknown field .{name}")
        return values[name]
    if token.startswith('"'):
        return json.loads(token)
    if token.startswith("`"):
        return token[1:-1]
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    raise LogOptError(f"invalid value {template!r} for log opt 'tag': cannot evaluate {token!r}")


def _command(words: list[str], piped: list[Any], values: dict[str, str], template: str) -> Any:
    head, args = words[0], words[1:]
    if head in _FUNCS:
        argv = [_value(a, values, template) for a in args] + piped
        try:
            return _FUNCS[head](*argv)
        except (TypeError, ValueError, AttributeError) as exc:
            raise LogOptError(f"invalid value {template!r} for log opt 'tag': {head}: {exc}") from None
    if args or piped:
        raise LogOptError(f"invalid value {template!r} for log opt 'tag': {head} is not a function")
    return _value(head, values, template)


def _split_pipeline(action: str) -> list[str]:
    """Split on `|` outside quoted strings."""
    parts, cur, quote = [], [], ""
    for ch in action:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"`":
            quote = ch
            cur.append(ch)
        elif ch == "|":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def render(template: str, info: LogInfo) -> str:
    """Render `template` for `info`; a template that cannot be evaluated raises LogOptError."""
    values = fields(info)
    out: list[str] = []
    pos = 0
    for m in _ACTION.finditer(template):
        out.append(template[pos : m.start()])
        pos = m.end()
        piped: list[Any] = []
        result: Any = ""
        for part in _split_pipeline(m.group(1)):
            words = _TOKEN.findall(part)
            if not words:
                raise LogOptError(f"invalid value {template!r} for log opt 'tag': empty command")
            result = _command(words, piped, values, template)
            piped = [result]
        out.append(result if isinstance(result, str) else json.dumps(result))
    rest = template[pos:]
    if "{{" in rest or "}}" in rest:
        raise LogOptError(f"invalid value {template!r} for log opt 'tag': unbalanced braces")
    out.append(rest)
    return "".join(out)


def tag(info: LogInfo, opts: dict[str, str], default: str = DEFAULT_TEMPLATE) -> str:
    """Docker's `ParseLogTag`: the `tag` option (or `default`) rendered for this container."""
    template = opts.get("tag") or default
    return render(template, info) if template else ""
