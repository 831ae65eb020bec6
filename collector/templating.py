"""Prometheus's alert templates (`{{ $labels.instance }}`, `{{ $value | humanize }}`), expanded by hand.

Prometheus uses Go's text/template. jinja2's sandbox was the other choice, but its syntax differs where
rule files live: `$`-variables, functions applied by juxtaposition (`humanize $value`) and Go's pipes
would need rewriting first, and a rewrite that mostly works is worse than a small interpreter that
says what it does not support. So this module implements the subset that alert rules use: variables
(`$labels`, `$value`, `$externalLabels`, `$externalURL` and the `.Labels`-style fields), field access,
string and number literals, pipelines, parentheses, `{{-`/`-}}` trimming, `if`/`else if`/`else`/
`end`, and the functions `humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage`,
`humanizeTimestamp`, `printf`, `toUpper`, `toLower`, `title`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`,
`and`, `or`, `not`, `len`. `range`, `with`, `define` and `query` are refused when the rule file is
loaded; a failure while expanding yields Prometheus's `<error expanding template: ...>` text.
Missing labels print as the empty string (Prometheus sets `missingkey=zero`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    return f"{v:.4g}"


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

def _truth(v: Any) -> bool:
    """Go template truthiness: false, 0, nil, and empty strings and maps are false."""
    return bool(v) if v is not None else False


def _cmp(op: str) -> Callable[[Any, Any], bool]:
    def f(a: Any, b: Any) -> bool:
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            x, y = float(a), float(b)
        elif type(a) is type(b):
            x, y = a, b
        else:
            raise TemplateError(f"incompatible types for comparison: {type(a).__name__} and {type(b).__name__}")
        return {"eq": x == y, "ne": x != y, "lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y}[op]
    return f


def _and(*args: Any) -> Any:
    for a in args:
        if not _truth(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if _truth(a):
            return a
    return args[-1]


FUNCS.update({op: _cmp(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")})
FUNCS.update({"and": _and, "or": _or, "not": lambda a: not _truth(a), "len": lambda a: len(a)})

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'\s*(?:(\|)|("(?:[^"\\]|\\.)*")|(`[^`]*`)|([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)'
                    r"|(\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*|\.)"
                    r"|([A-Za-z_][A-Za-z0-9_]*)|(\(|\)))")
_UNSUPPORTED = {"range", "with", "define", "template", "block", "break", "continue"}

Token = tuple[str, Any]  # kind: lit, var, field, fn, sub (a parenthesised pipeline)
Pipeline = list[list[Token]]  # commands separated by |


@dataclass
class _If:
    cond: Pipeline
    then: list[Any]
    other: list[Any] = field(default_factory=list)


def _tokens(text: str, pos: int = 0, depth: int = 0) -> tuple[Pipeline, int]:
    commands: Pipeline = [[]]
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise TemplateError(f"unexpected {text[pos:]!r} in command")
        pos = m.end()
        pipe, dq, bq, num, var, fld, ident, paren = m.groups()
        cmd = commands[-1]
        if pipe:
            commands.append([])
        elif dq is not None:
            cmd.append(("lit", bytes(dq[1:-1], "utf-8").decode("unicode_escape")))
        elif bq is not None:
            cmd.append(("lit", bq[1:-1]))
        elif num is not None:
            cmd.append(("lit", float(num) if any(c in num for c in ".eE") else int(num)))
        elif var is not None:
            name, *path = var.split(".")
            if name not in ("$", "$labels", "$value", "$externalLabels", "$externalURL"):
                raise TemplateError(f'undefined variable "{name}"')
            cmd.append(("var", (name, path)))
        elif fld is not None:
            cmd.append(("field", [] if fld == "." else fld[1:].split(".")))
        elif paren == "(":
            sub, pos = _tokens(text, pos, depth + 1)
            cmd.append(("sub", sub))
        elif paren == ")":
            if depth == 0:
                raise TemplateError("unexpected right paren")
            return commands, pos
        elif ident in ("true", "false"):
            cmd.append(("lit", ident == "true"))
        elif ident in ("nil",):
            cmd.append(("lit", None))
        else:
            if ident not in FUNCS:
                raise TemplateError(f'function "{ident}" not defined')
            cmd.append(("fn", ident))
    if depth:
        raise TemplateError("unclosed left paren")
    if any(not c for c in commands):
        raise TemplateError("missing command in pipeline")
    return commands, pos


def parse(template: str) -> list[Any]:
    """Parse into text chunks, pipelines and if/else blocks; raises TemplateError as Go's parser would."""
    items: list[tuple[str, Any]] = []
    pos = 0
    for m in _ACTION.finditer(template):
        chunk = template[pos:m.start()]
        items.append(("text", chunk.rstrip() if m.group(1) else chunk))
        items.append(("action", m.group(2).strip()))
        pos = m.end()
        if m.group(3):
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip())
    tail = template[pos:]
    if "{{" in tail:
        raise TemplateError("unclosed action")
    items.append(("text", tail))
    nodes, _, end = _block(items, 0)
    if end is not None:
        raise TemplateError(f"unexpected {{{{{end}}}}}")
    return nodes


def _block(items: list[tuple[str, Any]], i: int) -> tuple[list[Any], int, str | None]:
    """Nodes up to an `else`/`end` (returned as the third element), or to the end."""
    nodes: list[Any] = []
    while i < len(items):
        kind, body = items[i]
        i += 1
        if kind == "text":
            if body:
                nodes.append(body)
            continue
        word = body.split(None, 1)[0] if body else ""
        if word in _UNSUPPORTED:
            raise TemplateError(f"{word} actions are not supported by pydock's templates")
        if word in ("end", "else"):
            return nodes, i, body
        if word == "if":
            i, node = _if(items, i, body[2:])
            nodes.append(node)
            continue
        if body.startswith("/*"):
            continue  # a comment
        nodes.append(_tokens(body)[0])
    return nodes, i, None


def _if(items: list[tuple[str, Any]], i: int, cond_text: str) -> tuple[int, _If]:
    node = _If(_tokens(cond_text)[0], [])
    node.then, i, end = _block(items, i)
    if end is None:
        raise TemplateError("unexpected EOF: if without end")
    if end.startswith("else"):
        rest = end[4:].strip()
        if rest.startswith("if "):
            i, nested = _if(items, i, rest[3:])
            node.other = [nested]
            return i, node
        node.other, i, end = _block(items, i)
        if end != "end":
            raise TemplateError("expected end after else")
    return i, node


def _lookup(value: Any, path: list[str]) -> Any:
    for name in path:
        if isinstance(value, Mapping):
            value = value.get(name, "")  # missingkey=zero: absent label -> ""
        else:
            raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
    return value


def _run(pipeline: Pipeline, variables: Mapping[str, Any], dot: Mapping[str, Any]) -> Any:
    result: Any = None
    for i, cmd in enumerate(pipeline):
        values = []
        for kind, payload in cmd[1:] if cmd[0][0] == "fn" else cmd:
            if kind == "lit":
                values.append(payload)
            elif kind == "var":
                values.append(_lookup(variables[payload[0]], payload[1]))
            elif kind == "field":
                values.append(_lookup(dot, payload))
            elif kind == "sub":
                values.append(_run(payload, variables, dot))
            else:
                raise TemplateError(f"function {payload} used as an argument; wrap it in parentheses")
        if i > 0:
            values.append(result)
        if cmd[0][0] == "fn":
            result = FUNCS[cmd[0][1]](*values)
        elif len(values) != 1:
            raise TemplateError("can't give argument to non-function")
        else:
            result = values[0]
    return result


def _render_value(v: Any) -> str:
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<no value>"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{v[k]}" for k in sorted(v)) + "]"
    return str(v)


def _execute(nodes: list[Any], variables: Mapping[str, Any], dot: Mapping[str, Any], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _If):
            branch = node.then if _truth(_run(node.cond, variables, dot)) else node.other
            _execute(branch, variables, dot, out)
        else:
            out.append(_render_value(_run(node, variables, dot)))


def expand(template: str, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str],
           external_url: str, name: str = "") -> str:
    """Expand one label or annotation template; errors give Prometheus's `<error expanding template: ...>`."""
    dot = {"Labels": labels, "Value": value, "ExternalLabels": external_labels, "ExternalURL": external_url}
    variables = {"$labels": labels, "$value": value, "$externalLabels": external_labels,
                 "$externalURL": external_url, "$": dot}
    out: list[str] = []
    try:
        _execute(parse(template), variables, dot, out)
    except (TemplateError, TypeError, ValueError) as exc:
        return f"<error expanding template: template: __alert_{name}:1: {exc}>"
    return "".join(out)


def check(template: str) -> str | None:
    """Parse a template as `promtool check rules` does (without running it); returns the error, or None."""
    try:
        parse(template)
    except TemplateError as exc:
        return f"template: __alert_check:1: {exc}"
    return None
