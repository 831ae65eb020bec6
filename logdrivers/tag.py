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
from collections.abc import Callable, Mapping
from typing import Any

from pydock.logdrivers import options
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


def _pad(source: str, prefix: int, suffix: int) -> str:
    """Docker's padWithSpace: spaces before and after, and nothing for an empty string."""
    return source if not source else " " * prefix + source + " " * suffix


def _truncate(source: str, length: int) -> str:
    if length < 0:
        raise ValueError(f"slice bounds out of range [:{length}]")  # Go panics: the template fails
    return source[:length]


def _is_separator(ch: str) -> bool:
    """Go's strings.Title word boundary: ASCII letters, digits and `_` join words; beyond ASCII,
    letters and digits join and only spaces separate."""
    if ch <= "\x7f":
        return not (ch.isascii() and (ch.isalnum() or ch == "_"))
    if ch.isalpha() or ch.isdecimal():
        return False
    return ch.isspace()


def _title(source: str) -> str:
    """Go's strings.Title: the first letter of each word upper-cased, the rest left as they are
    (Python's str.title() also lower-cases them, and treats digits as word breaks)."""
    out, prev = [], " "
    for ch in source:
        if _is_separator(prev):
            t = ch.title()
            out.append(t if len(t) == 1 else ch)
        else:
            out.append(ch)
        prev = ch
    return "".join(out)


def _json(value: Any) -> str:
    """Go's json.Encoder with SetEscapeHTML(false): UTF-8 kept, but U+2028/9 still escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _split(source: str, sep: str) -> list[str]:
    return list(source) if sep == "" else source.split(sep)  # Go: "" splits into characters


def _join(items: list[str], sep: str) -> str:
    return sep.join(items)


# Each function with the types of its parameters (Go's text/template checks them when calling).
_FUNCS: dict[str, tuple[Callable[..., Any], tuple[type, ...] | None]] = {
    "json": (_json, None),
    "split": (_split, (str, str)),
    "join": (_join, (list, str)),
    "title": (_title, (str,)),
    "lower": (str.lower, (str,)),
    "upper": (str.upper, (str,)),
    "pad": (_pad, (str, int, int)),
    "truncate": (_truncate, (str, int)),
}
_GO_TYPES = {str: "string", int: "int", list: "[]string"}

_ACTION = re.compile(r"{{(-\s)?\s*(.*?)\s*(\s-)?}}", re.DOTALL)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|[()|]|[^\s()|]+')


class _Bad(Exception):
    pass


def _go_print(value: Any) -> str:
    """fmt.Sprint of a template result: strings as they are, a []string as `[a b]`."""
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)


class _Eval:
    """Evaluates one action's pipeline: `cmd | cmd ...`, where a command is a function and its
    arguments, a field (`.Name`), a literal, or a parenthesised pipeline, as Go's text/template."""

    def __init__(self, tokens: list[str], values: dict[str, str]):
        self.tokens = tokens
        self.pos = 0
        self.values = values

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pipeline(self) -> Any:
        result = self._command(None)
        while self._peek() == "|":
            self.pos += 1
            result = self._command(result)
        return result

    def _command(self, piped: Any) -> Any:
        words: list[str] = []
        args: list[Any] = []
        while (tok := self._peek()) not in (None, "|", ")"):
            self.pos += 1
            words.append(tok)
            # A function named as an argument is called without arguments, as in Go.
            args.append(self._call(tok, []) if words[1:] and tok in _FUNCS else self._operand(tok))
        if not words:
            raise _Bad("missing value for command")
        head = words[0]
        if head in _FUNCS:
            argv = args[1:] + ([] if piped is None else [piped])
            return self._call(head, argv)
        if len(args) > 1 or piped is not None:
            raise _Bad(f"can't give argument to non-function {head}")
        return args[0]

    def _operand(self, tok: str) -> Any:
        if tok == "(":
            value = self.pipeline()
            if self._peek() != ")":
                raise _Bad("unclosed left paren")
            self.pos += 1
            return value
        if tok in _FUNCS:
            return tok  # a function name; called by _command when it heads the command
        if tok.startswith("."):
            if tok[1:] not in self.values:
                raise _Bad(f"can't evaluate field {tok[1:]}")
            return self.values[tok[1:]]
        if tok.startswith('"'):
            return json.loads(tok)
        if tok.startswith("`"):
            return tok[1:-1]
        if re.fullmatch(r"[+-]?\d+", tok):
            return int(tok)
        raise _Bad(f'function "{tok}" not defined' if tok[0].isalpha() else f"unexpected {tok!r}")

    def _call(self, name: str, argv: list[Any]) -> Any:
        func, types = _FUNCS[name]
        if types is not None:
            if len(argv) != len(types):
                raise _Bad(f"wrong number of args for {name}: want {len(types)} got {len(argv)}")
            for i, (arg, want) in enumerate(zip(argv, types, strict=True)):
                ok = isinstance(arg, want) and not isinstance(arg, bool)
                if not ok or (isinstance(arg, list) and not all(isinstance(a, str) for a in arg)):
                    raise _Bad(f"wrong type for value in {name} argument {i + 1}; expected {_GO_TYPES[want]}")
        elif len(argv) != 1:
            raise _Bad(f"wrong number of args for {name}: want 1 got {len(argv)}")
        try:
            return func(*argv)
        except ValueError as exc:
            raise _Bad(f"error calling {name}: {exc}") from None


def render(template: str, info: LogInfo) -> str:
    """Render `template` for `info`; a template that cannot be evaluated raises LogOptError."""
    values = fields(info)
    out: list[str] = []
    pos = 0
    trim_next = False
    try:
        for m in _ACTION.finditer(template):
            text = template[pos : m.start()]
            if trim_next:
                text = text.lstrip(" \t\r\n")
            if m.group(1):  # `{{- `: trims the white space before the action
                text = text.rstrip(" \t\r\n")
            out.append(text)
            trim_next = bool(m.group(3))
            pos = m.end()
            ev = _Eval(_TOKEN.findall(m.group(2)), values)
            result = ev.pipeline()
            if ev.pos != len(ev.tokens):
                raise _Bad(f"unexpected {ev.tokens[ev.pos]!r} in command")
            out.append(_go_print(result))
    except _Bad as exc:
        raise LogOptError(f"invalid value {template!r} for log opt 'tag': {exc}") from None
    rest = template[pos:]
    if "{{" in rest or "}}" in rest:
        raise LogOptError(f"invalid value {template!r} for log opt 'tag': unbalanced braces")
    out.append(rest.lstrip(" \t\r\n") if trim_next else rest)
    return "".join(out)


def tag(info: LogInfo, opts: dict[str, str], default: str = DEFAULT_TEMPLATE) -> str:
    """Docker's `ParseLogTag`: the `tag` option (or `default`) rendered for this container."""
    template = opts.get("tag") or default
    return render(template, info) if template else ""


def file_attributes(info: LogInfo, opts: Mapping[str, str]) -> dict[str, str]:
    """What the file drivers (json-file, local, the cache) keep with each record: the chosen labels
    and env, and `tag` when one is set (they have no default tag)."""
    attrs = options.extra_attributes(info, opts)
    name_tag = tag(info, dict(opts), default="")
    if name_tag:
        attrs["tag"] = name_tag
    return attrs
