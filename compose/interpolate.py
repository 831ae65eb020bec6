"""Compose's variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
`${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}` and `$$` for a literal `$`.

As in compose-go's `template` package, defaults may themselves hold variables (`${A:-${B}}`), the
`:` forms treat an empty value as unset, and a `$` followed by anything else is an error naming the
key path, so a typo never becomes a silent empty string. Values only are interpolated, never keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydock.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def substitute(text: str, env: Mapping[str, str], where: str) -> str:
    """`text` with its variables replaced from `env`; `where` names the key for errors."""
    out, _ = _scan(text, 0, env, where, stop="")
    return out


def _scan(text: str, i: int, env: Mapping[str, str], where: str, stop: str) -> tuple[str, int]:
    """Reads from `i` until `stop` (a `}` closing a default) or the end; returns (value, index after)."""
    out: list[str] = []
    depth = 0
    while i < len(text):
        c = text[i]
        if stop and c == "}" and depth == 0:
            return "".join(out), i
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            value, i = _braced(text, i + 2, env, where)
            out.append(value)
        else:
            m = _NAME.match(text, i + 1)
            if not m:
                raise ConfigError(f"{where}: invalid interpolation format in {text!r}: "
                                  "use $$ for a literal $")
            out.append(env.get(m.group(0), ""))
            i = m.end()
    if stop:
        raise ConfigError(f"{where}: invalid interpolation format in {text!r}: missing }}")
    return "".join(out), i


def _braced(text: str, i: int, env: Mapping[str, str], where: str) -> tuple[str, int]:
    m = _NAME.match(text, i)
    if not m:
        raise ConfigError(f"{where}: invalid interpolation format in {text!r}: expected a variable name after ${{")
    name, i = m.group(0), m.end()
    if i < len(text) and text[i] == "}":
        return env.get(name, ""), i + 1
    op = ""
    for cand in (":-", ":?", ":+", "-", "?", "+"):
        if text.startswith(cand, i):
            op = cand
            break
    if not op:
        raise ConfigError(f"{where}: invalid interpolation format in {text!r}")
    arg, end = _scan(text, i + len(op), env, where, stop="}")
    value = env.get(name)
    unset = value is None or (op.startswith(":") and value == "")
    kind = op[-1]
    if kind == "-":
        result = arg if unset else str(value)
    elif kind == "?":
        if unset:
            raise ConfigError(f"{where}: required variable {name} is missing a value: {arg or name}")
        result = str(value)
    else:  # "+": the alternative when set
        result = "" if unset else arg
    return result, end + 1


def interpolate(data: Any, env: Mapping[str, str], path: str = "",
                at: Callable[[str], str] | None = None) -> Any:
    """A copy of `data` (YAML's dicts, lists, scalars) with every string value interpolated.
    `at(path)` gives the `file:line: ` prefix of a key path for error messages."""
    if isinstance(data, dict):
        return {k: interpolate(v, env, f"{path}.{k}" if path else str(k), at) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, f"{path}[{n}]", at) for n, v in enumerate(data)]
    if isinstance(data, str) and "$" in data:
        try:
            return substitute(data, env, path)
        except ConfigError as exc:
            raise ConfigError((at(path) if at else "") + str(exc)) from None
    return data
