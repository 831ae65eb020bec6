"""PromQL's lexer: turns an expression into tokens carrying their offset, for errors with a column.

Follows prometheus/promql/parser/lex.go: numbers (decimal, hex, exponent, Inf/NaN in any case),
durations (`1h30m`, units ms s m h d w y), the three string quotes with Go's escapes, identifiers
with colons for recording-rule names, and `#` comments.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydock.errors import PromQLError

NUMBER, DURATION, STRING, IDENT, OP, EOF = "number", "duration", "string", "identifier", "op", "EOF"
LOGQL = "logql"  # one token for a whole LogQL range aggregation (collector/logql/embed.py)

_OPS = ("==", "!=", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">", "=",
        ",", "(", ")", "{", "}", "[", "]", ":", "@")
_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
          "y": 31_536_000_000}
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int  # 0-based offset into the expression
    value: object = None  # float for numbers, int ms for durations, str for strings


def error_at(expr: str, pos: int, msg: str) -> PromQLError:
    """A parse error formatted as Prometheus does: `line:column: parse error: msg` (both 1-based)."""
    line = expr.count("\n", 0, pos) + 1
    col = pos - (expr.rfind("\n", 0, pos) + 1) + 1
    return PromQLError(f"{line}:{col}: parse error: {msg}", column=col)


def parse_duration(text: str) -> int | None:
    """`1h30m` -> milliseconds; None when `text` is not a duration. Units must shrink left to right."""
    i, total, last_unit = 0, 0, None
    if not text:
        return None
    while i < len(text):
        j = i
        while j < len(text) and text[j].isdigit():
            j += 1
        if j == i:
            return None
        unit = text[j : j + 2] if text[j : j + 2] == "ms" else text[j : j + 1]
        if unit not in _UNITS:
            return None
        rank = ["y", "w", "d", "h", "m", "s", "ms"].index(unit)
        if last_unit is not None and rank <= last_unit:
            return None
        last_unit = rank
        total += int(text[i:j]) * _UNITS[unit]
        i = j + len(unit)
    return total


def _is_ident_start(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c in "_:")


def _is_ident_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "_:")


def tokenize(expr: str, embedded: dict[int, object] | None = None) -> list[Token]:
    """`embedded`: LogQL range aggregations by start offset, each read as one LOGQL token whose value
    is the parsed node (its `.end` says where the token ends)."""
    toks: list[Token] = []
    i, n = 0, len(expr)
    in_brackets = False  # inside [...] a colon separates range and step instead of starting a name
    while i < n:
        if embedded and i in embedded:
            node = embedded[i]
            end = node.end  # type: ignore[attr-defined]
            toks.append(Token(LOGQL, expr[i:end], i, node))
            i = end
            continue
        c = expr[i]
        if c == "[":
            in_brackets = True
        elif c == "]":
            in_brackets = False
        if in_brackets and c == ":":
            toks.append(Token(OP, ":", i))
            i += 1
            continue
        if c in " \t\r\n":
            i += 1
            continue
        if c == "#":
            while i < n and expr[i] != "\n":
                i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            toks.append(_number(expr, i))
            i = toks[-1].pos + len(toks[-1].text)
            continue
        if c in "\"'`":
            tok = _string(expr, i)
            toks.append(tok)
            i += len(tok.text)
            continue
        if _is_ident_start(c):
            j = i + 1
            while j < n and _is_ident_char(expr[j]):
                j += 1
            word = expr[i:j]
            if word.lower() in ("inf", "nan"):
                toks.append(Token(NUMBER, word, i, float(word.lower())))
            else:
                toks.append(Token(IDENT, word, i))
            i = j
            continue
        for op in _OPS:
            if expr.startswith(op, i):
                toks.append(Token(OP, op, i))
                i += len(op)
                break
        else:
            raise error_at(expr, i, f"unexpected character: {c!r}")
    toks.append(Token(EOF, "", n))
    return toks


def _number(expr: str, i: int) -> Token:
    n = len(expr)
    j = i
    if expr.startswith(("0x", "0X"), i):
        j = i + 2
        while j < n and expr[j] in "0123456789abcdefABCDEF":
            j += 1
        return Token(NUMBER, expr[i:j], i, float(int(expr[i:j], 16)))
    # A duration is digits and units only, e.g. 5m or 1h30m.
    k = j
    while k < n and (expr[k].isalnum()):
        k += 1
    word = expr[i:k]
    dur = parse_duration(word)
    if dur is not None:
        return Token(DURATION, word, i, dur)
    while j < n and expr[j].isdigit():
        j += 1
    if j < n and expr[j] == ".":
        j += 1
        while j < n and expr[j].isdigit():
            j += 1
    if j < n and expr[j] in "eE":
        k = j + 1
        if k < n and expr[k] in "+-":
            k += 1
        if k < n and expr[k].isdigit():
            while k < n and expr[k].isdigit():
                k += 1
            j = k
    if j < n and (_is_ident_char(expr[j]) or expr[j] == "."):
        raise error_at(expr, i, f"bad number or duration syntax: {expr[i:j + 1]!r}")
    text = expr[i:j]
    # Prometheus tries strconv.ParseInt(text, 0, 64) first: a leading 0 means octal (017 is 15).
    if len(text) > 1 and text[0] == "0" and text.isdigit() and all(c in "01234567" for c in text):
        return Token(NUMBER, text, i, float(int(text, 8)))
    return Token(NUMBER, text, i, float(text))


def _string(expr: str, i: int) -> Token:
    quote = expr[i]
    j = i + 1
    out: list[str] = []
    n = len(expr)
    while True:
        if j >= n:
            raise error_at(expr, i, "unterminated quoted string")
        c = expr[j]
        if c == quote:
            j += 1
            break
        if quote != "`" and c == "\n":
            raise error_at(expr, i, "unterminated quoted string")
        if c == "\\" and quote != "`":
            j += 1
            if j >= n:
                raise error_at(expr, i, "unterminated quoted string")
            e = expr[j]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                j += 1
            elif e == quote:
                out.append(e)
                j += 1
            elif e in "xuU01234567":
                width = {"x": 2, "u": 4, "U": 8}.get(e, 3)
                digits = expr[j + 1 : j + 1 + width] if e in "xuU" else expr[j : j + 3]
                base = 8 if e not in "xuU" else 16
                try:
                    code = int(digits, base)
                    if len(digits) != width:
                        raise ValueError
                except ValueError:
                    raise error_at(expr, j - 1, "invalid escape sequence in string") from None
                # \x and octal escapes are bytes in Go; for the ASCII range they are the same text.
                out.append(chr(code))
                j += (1 + width) if e in "xuU" else 3
            else:
                raise error_at(expr, j - 1, f"unknown escape sequence {e!r}")
            continue
        out.append(c)
        j += 1
    return Token(STRING, expr[i:j], i, "".join(out))
