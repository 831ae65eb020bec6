"""Prometheus's alert templates (`{{ $labels.instance }}`, `{{ $value | humanize }}`), expanded by hand.

Prometheus uses Go's text/template. jinja2's sandbox was the other choice, but its syntax differs where
rule files live: `$`-variables, functions applied by juxtaposition (`humanize $value`) and Go's pipes
would need rewriting first, and a rewrite that mostly works is worse than a small interpreter that
says what it does not support. So this module implements the subset that alert rules use: variables
(`$labels`, `$value`, `$externalLabels`, `$externalURL` and the `.Labels`-style fields), field access,
string and number literals, pipelines, `{{-`/`-}}` trimming and the functions `humanize`,
`humanize1024`, `humanizeDuration`, `humanizePercentage`, `humanizeTimestamp`, `printf`, `toUpper`,
`toLower`, `title`. Anything else yields Prometheus's `<error expanding template: ...>` text.
Missing labels print as the empty string (Prometheus sets `missingkey=zero`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any


class TemplateError(Exception):
    """A template that does not parse or cannot be expanded."""


def go_float(v: float) -> str:
    """Go's `%v` for a float64: shortest digits, exponent form below 1e-4 or from 1e21."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    sign, digits, exp = Decimal(repr(v)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    e = len(ds) + int(exp) - 1  # decimal exponent of the first digit
    s = "-" if sign else ""
    if -4 <= e < 21:
        if e >= len(ds) - 1:
            return s + ds + "0" * (e - len(ds) + 1)
        if e >= 0:
            return s + ds[:e + 1] + "." + ds[e + 1:]
        return s + "0." + "0" * (-e - 1) + ds
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return f"{s}{mant}e{'+' if e >= 0 else '-'}{abs(e):02d}"


def _g4(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return "%.4g" % v


def _to_float(v: Any) -> float:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError as exc:
            raise TemplateError(f"strconv.ParseFloat: parsing {v!r}: invalid syntax") from exc
    if isinstance(v, (int, float)):
        return float(v)
    raise TemplateError(f"can't convert {type(v).__name__} to float")


def humanize(x: Any) -> str:
    v = _to_float(x)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _g4(v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _g4(v) + prefix


def humanize1024(x: Any) -> str:
    v = _to_float(x)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return _g4(v) + prefix


def humanize_duration(x: Any) -> str:
    v = _to_float(x)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        d = int(v)
        seconds, minutes, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(x: Any) -> str:
    return _g4(_to_float(x) * 100) + "%"


def humanize_timestamp(x: Any) -> str:
    v = _to_float(x)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    frac = f"{v - math.floor(v):.9f}"[1:].rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(math.floor(v))) + frac + " +0000 UTC"


_GO_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([vdsfgeqxXt%])")


def printf(fmt: Any, *args: Any) -> str:
    """Go's Sprintf for the verbs templates use (%s %v %d %f %g %e %q %x %t)."""
    it = iter(args)

    def repl(m: re.Match[str]) -> str:
        flags, width, prec, verb = m.groups()
        if verb == "%":
            return "%"
        try:
            a = next(it)
        except StopIteration:
            return f"%!{verb}(MISSING)"
        spec = f"%{flags}{width or ''}{'.' + prec if prec is not None else ''}"
        if verb in "sv":
            text = go_float(a) if isinstance(a, float) and verb == "v" and prec is None else str(a)
            return (spec + "s") % text
        if verb == "q":
            return '"' + str(a).replace("\\", "\\\\").replace('"', '\\"') + '"'
        if verb == "t":
            return "true" if a else "false"
        if verb in "dxX":
            return (spec + verb) % int(_to_float(a))
        return (spec + verb) % _to_float(a)

    return _GO_VERB.sub(repl, str(fmt))


FUNCS: dict[str, Callable[..., Any]] = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "humanizeTimestamp": humanize_timestamp,
    "printf": printf,
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
}

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(?:(\|)|("(?:[^"\\]|\\.)*")|(`[^`]*`)|([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)'
                    r"|(\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*|\.)"
                    r"|([A-Za-z_][A-Za-z0-9_]*))")


def _lookup(value: Any, path: list[str]) -> Any:
    for name in path:
        if isinstance(value, Mapping):
            value = value.get(name, "")  # missingkey=zero: absent label -> ""
        else:
            raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
    return value


def _eval_action(action: str, variables: Mapping[str, Any], dot: Mapping[str, Any]) -> Any:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = action.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"unexpected {text[pos:]!r} in command")
        pos = m.end()
        pipe, dq, bq, num, var, field, ident = m.groups()
        if pipe:
            tokens.append(("|", None))
        elif dq is not None:
            tokens.append(("lit", bytes(dq[1:-1], "utf-8").decode("unicode_escape")))
        elif bq is not None:
            tokens.append(("lit", bq[1:-1]))
        elif num is not None:
            tokens.append(("lit", float(num) if any(c in num for c in ".eE") else int(num)))
        elif var is not None:
            name, *path = var.split(".")
            if name not in variables:
                raise TemplateError(f'undefined variable "{name}"')
            tokens.append(("val", _lookup(variables[name], path)))
        elif field is not None:
            tokens.append(("val", dot if field == "." else _lookup(dot, field[1:].split("."))))
        elif ident in ("if", "else", "end", "range", "with", "define", "template", "block"):
            raise TemplateError(f"{ident} actions are not supported by pydock's templates")
        else:
            if ident not in FUNCS:
                raise TemplateError(f'function "{ident}" not defined')
            tokens.append(("fn", FUNCS[ident]))
    commands: list[list[tuple[str, Any]]] = [[]]
    for t in tokens:
        if t[0] == "|":
            commands.append([])
        else:
            commands[-1].append(t)
    result: Any = None
    for i, cmd in enumerate(commands):
        if not cmd:
            raise TemplateError("missing command in pipeline")
        args = [v for _, v in cmd[1:]]
        if i > 0:
            args.append(result)
        kind, head = cmd[0]
        if kind == "fn":
            result = head(*args)
        elif args:
            raise TemplateError("can't give argument to non-function")
        else:
            result = head
    return result


def _render_value(v: Any) -> str:
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{v[k]}" for k in sorted(v)) + "]"
    return str(v)


def expand(template: str, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str],
           external_url: str, name: str = "") -> str:
    """Expand one label or annotation template; errors give Prometheus's `<error expanding template: ...>`."""
    variables = {"$labels": labels, "$value": value, "$externalLabels": external_labels,
                 "$externalURL": external_url, "$": None}
    dot = {"Labels": labels, "Value": value, "ExternalLabels": external_labels, "ExternalURL": external_url}
    variables["$"] = dot
    out: list[str] = []
    pos = 0
    try:
        for m in _ACTION.finditer(template):
            chunk = template[pos:m.start()]
            out.append(chunk.rstrip() if m.group(1) else chunk)
            out.append(_render_value(_eval_action(m.group(2), variables, dot)))
            pos = m.end()
            if m.group(3):
                rest = template[pos:]
                pos += len(rest) - len(rest.lstrip())
        tail = template[pos:]
        if "{{" in tail:
            raise TemplateError("unclosed action")
        out.append(tail)
    except (TemplateError, TypeError, ValueError) as exc:
        return f"<error expanding template: template: __alert_{name}:1: {exc}>"
    return "".join(out)


def check(template: str) -> str | None:
    """Parse-check a template as `promtool check rules` does; returns the error, or None."""
    result = expand(template, {}, 0.0, {}, "", "check")
    return result if result.startswith("<error expanding template") else None
