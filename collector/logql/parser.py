"""LogQL's parser, by hand after Loki's logql/syntax grammar (the subset docs/logql.md lists).

Tokens are read lazily from an offset so the same parser serves a whole LogQL query (`parse`) and a
range aggregation embedded in a PromQL expression (`parse_range_at`), which stops at its closing
parenthesis and leaves the rest to PromQL. Errors are PromQLErrors formatted `line:column: parse
error: ...` with the column in the whole text, as the PromQL parser reports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydock.collector.labelmatch import Matcher, compile_go_regex
from pydock.collector.logql.ast import (
    RANGE_FUNCS,
    VECTOR_AGGS,
    Expr,
    LabelBinary,
    LabelCompare,
    LabelExpr,
    LabelFilterStage,
    LineFilter,
    LogSelector,
    MetricExpr,
    ParserStage,
    RangeAggregation,
    Stage,
    VectorAggregation,
)
from pydock.collector.promql.lexer import _string, error_at, parse_duration

from pydock.errors import PromQLError, UsageError

IDENT, STRING, NUMBER, DURATION, OP, EOF = "identifier", "string", "number", "duration", "op", "EOF"
_OPS = ("|=", "|~", "!=", "!~", "=~", "==", ">=", "<=", "|", "=", ">", "<", "{", "}", "(", ")", "[", "]", ",")
_PARSERS = ("json", "logfmt")
_UNSUPPORTED = ("regexp", "pattern", "unpack", "line_format", "label_format", "unwrap", "drop", "keep",
                "decolorize", "distinct")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int
    value: object = None


class _Lexer:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos
        self._buf: list[Token] = []

    def _read(self) -> Token:
        s, i, n = self.text, self.pos, len(self.text)
        while i < n and s[i] in " \t\r\n":
            i += 1
        if i >= n:
            self.pos = i
            return Token(EOF, "", i)
        c = s[i]
        if c in "\"'`":
            tok = _string(s, i)
            self.pos = i + len(tok.text)
            return Token(STRING, tok.text, i, tok.value)
        if c.isascii() and (c.isalpha() or c == "_"):
            j = i + 1
            while j < n and s[j].isascii() and (s[j].isalnum() or s[j] == "_"):
                j += 1
            self.pos = j
            return Token(IDENT, s[i:j], i)
        if c.isdigit() or (c in "-." and i + 1 < n and s[i + 1].isdigit()):
            j = i + 1
            while j < n and (s[j].isalnum() or s[j] == "."):
                j += 1
            word = s[i:j]
            self.pos = j
            dur = parse_duration(word)
            if dur is not None:
                return Token(DURATION, word, i, dur)
            try:
                return Token(NUMBER, word, i, float(word))
            except ValueError:
                raise error_at(s, i, f"bad number or duration syntax: {word!r}") from None
        for op in _OPS:
            if s.startswith(op, i):
                self.pos = i + len(op)
                return Token(OP, op, i)
        raise error_at(s, i, f"unexpected character: {c!r}")

    def peek(self, k: int = 0) -> Token:
        while len(self._buf) <= k:
            self._buf.append(self._read())
        return self._buf[k]

    def next(self) -> Token:
        tok = self.peek()
        self._buf.pop(0)
        return tok


def _describe(tok: Token) -> str:
    if tok.kind == EOF:
        return "end of input"
    if tok.kind == OP:
        return f'"{tok.text}"'
    return f'{tok.kind} "{tok.text}"'


class _Parser:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.lex = _Lexer(text, pos)

    def err(self, tok: Token | int, msg: str) -> PromQLError:
        return error_at(self.text, tok if isinstance(tok, int) else tok.pos, msg)

    def is_op(self, text: str, k: int = 0) -> bool:
        t = self.lex.peek(k)
        return t.kind == OP and t.text == text

    def expect(self, text: str, context: str) -> Token:
        tok = self.lex.next()
        if tok.kind != OP or tok.text != text:
            raise self.err(tok, f"unexpected {_describe(tok)} in {context}, expected \"{text}\"")
        return tok

    # --- queries -------------------------------------------------------------------------------

    def query(self) -> Expr:
        tok = self.lex.peek()
        if tok.kind == EOF:
            raise self.err(tok, "no expression found in input")
        node: Expr = self.selector() if self.is_op("{") else self.metric()
        end = self.lex.peek()
        if end.kind != EOF:
            raise self.err(end, f"unexpected {_describe(end)}")
        return node

    def metric(self) -> MetricExpr:
        tok = self.lex.peek()
        if tok.kind == IDENT and tok.text in VECTOR_AGGS:
            return self.vector_agg()
        if tok.kind == IDENT and tok.text in RANGE_FUNCS:
            return self.range_agg()
        if self.is_op("("):
            self.lex.next()
            inner = self.metric()
            self.expect(")", "parenthesized expression")
            return inner
        raise self.err(tok, f"unexpected {_describe(tok)}, expected a range aggregation "
                            f"({', '.join(RANGE_FUNCS)}) or a vector aggregation ({', '.join(VECTOR_AGGS)})")

    def grouping(self) -> tuple[bool, tuple[str, ...]]:
        without = self.lex.next().text == "without"
        self.expect("(", "grouping")
        labels: list[str] = []
        while not self.is_op(")"):
            t = self.lex.next()
            if t.kind != IDENT:
                raise self.err(t, f"unexpected {_describe(t)} in grouping, expected label")
            labels.append(t.text)
            if self.is_op(","):
                self.lex.next()
            elif not self.is_op(")"):
                raise self.err(self.lex.peek(), f"unexpected {_describe(self.lex.peek())} in grouping, "
                                                "expected \",\" or \")\"")
        self.lex.next()
        return without, tuple(labels)

    def vector_agg(self) -> VectorAggregation:
        tok = self.lex.next()
        without, seen = False, False
        labels: tuple[str, ...] = ()
        if self.lex.peek().kind == IDENT and self.lex.peek().text in ("by", "without"):
            without, labels = self.grouping()
            seen = True
        self.expect("(", f"aggregation \"{tok.text}\"")
        inner = self.metric()
        self.expect(")", f"aggregation \"{tok.text}\"")
        if not seen and self.lex.peek().kind == IDENT and self.lex.peek().text in ("by", "without"):
            without, labels = self.grouping()
        return VectorAggregation(tok.text, inner, labels, without, tok.pos)

    def range_agg(self) -> RangeAggregation:
        tok = self.lex.next()
        self.expect("(", f"call to function \"{tok.text}\"")
        if not self.is_op("{"):
            t = self.lex.peek()
            raise self.err(t, f"unexpected {_describe(t)} in call to function \"{tok.text}\", expected a log "
                              "selector {...}")
        start = self.lex.peek()
        matchers = self.matchers()
        rng = 0
        if self.is_op("["):
            rng = self.range()
        stages = self.pipeline()
        if self.is_op("["):
            if rng:
                raise self.err(self.lex.peek(), "range may not be given twice")
            rng = self.range()
        if not rng:
            t = self.lex.peek()
            raise self.err(t, f"unexpected {_describe(t)} in call to function \"{tok.text}\", expected a range "
                              "like [5m]")
        close = self.expect(")", f"call to function \"{tok.text}\"")
        sel = LogSelector(matchers, stages, start.pos)
        return RangeAggregation(tok.text, sel, rng, tok.pos, close.pos + 1)

    def range(self) -> int:
        self.lex.next()
        t = self.lex.next()
        if t.kind != DURATION:
            raise self.err(t, f"unexpected {_describe(t)} in range, expected duration")
        assert isinstance(t.value, int)
        if t.value <= 0:
            raise self.err(t, "duration must be greater than 0")
        self.expect("]", "range")
        return t.value

    # --- log selectors -------------------------------------------------------------------------

    def selector(self) -> LogSelector:
        start = self.lex.peek()
        matchers = self.matchers()
        return LogSelector(matchers, self.pipeline(), start.pos)

    def matchers(self) -> tuple[Matcher, ...]:
        start = self.expect("{", "log selector")
        out: list[Matcher] = []
        while not self.is_op("}"):
            lt = self.lex.next()
            if lt.kind != IDENT:
                raise self.err(lt, f"unexpected {_describe(lt)} in label matching, expected label")
            ot = self.lex.next()
            if ot.kind != OP or ot.text not in ("=", "!=", "=~", "!~"):
                raise self.err(ot, f"unexpected {_describe(ot)} in label matching, expected label matching "
                                   "operator")
            vt = self.lex.next()
            if vt.kind != STRING:
                raise self.err(vt, f"unexpected {_describe(vt)} in label matching, expected string")
            try:
                out.append(Matcher(lt.text, ot.text, str(vt.value)))
            except UsageError as exc:
                raise self.err(vt, str(exc)) from None
            if self.is_op(","):
                self.lex.next()
            elif not self.is_op("}"):
                t = self.lex.peek()
                raise self.err(t, f"unexpected {_describe(t)} in label matching, expected \",\" or \"}}\"")
        self.lex.next()
        if not any(not m.matches("") for m in out):
            raise self.err(start, "log selector must contain at least one matcher that does not match the "
                                  "empty string")
        return tuple(out)

    def pipeline(self) -> tuple[Stage, ...]:
        stages: list[Stage] = []
        while True:
            t = self.lex.peek()
            if t.kind == OP and t.text in ("|=", "!=", "|~", "!~"):
                self.lex.next()
                v = self.lex.next()
                if v.kind != STRING:
                    raise self.err(v, f"unexpected {_describe(v)} in line filter, expected string")
                pattern = None
                if t.text in ("|~", "!~"):
                    try:
                        pattern = compile_go_regex(str(v.value))
                    except re.error as exc:
                        raise self.err(v, f"invalid regular expression {v.value!r}: {exc}") from None
                stages.append(LineFilter(t.text, str(v.value), pattern, t.pos))
            elif t.kind == OP and t.text == "|":
                self.lex.next()
                w = self.lex.peek()
                if w.kind == IDENT and w.text in _PARSERS and not self._is_label_filter_next():
                    self.lex.next()
                    stages.append(ParserStage(w.text, w.pos))
                elif w.kind == IDENT and w.text in _UNSUPPORTED and not self._is_label_filter_next():
                    raise self.err(w, f"pipeline stage \"{w.text}\" is not supported (supported: json, logfmt, "
                                      "label filters, line filters)")
                elif w.kind == IDENT or self.is_op("("):
                    stages.append(LabelFilterStage(self.label_or(), w.pos))
                else:
                    raise self.err(w, f"unexpected {_describe(w)} after \"|\", expected a parser (json, "
                                      "logfmt) or a label filter")
            else:
                return tuple(stages)

    def _is_label_filter_next(self) -> bool:
        t = self.lex.peek(1)
        return t.kind == OP and t.text in ("=", "!=", "=~", "!~", "==", ">", ">=", "<", "<=")

    def label_or(self) -> LabelExpr:
        left = self.label_and()
        while self.lex.peek().kind == IDENT and self.lex.peek().text == "or":
            self.lex.next()
            left = LabelBinary("or", left, self.label_and())
        return left

    def label_and(self) -> LabelExpr:
        left = self.label_primary()
        while (self.lex.peek().kind == IDENT and self.lex.peek().text == "and") or self.is_op(","):
            self.lex.next()
            left = LabelBinary("and", left, self.label_primary())
        return left

    def label_primary(self) -> LabelExpr:
        if self.is_op("("):
            self.lex.next()
            inner = self.label_or()
            self.expect(")", "label filter")
            return inner
        nt = self.lex.next()
        if nt.kind != IDENT:
            raise self.err(nt, f"unexpected {_describe(nt)} in label filter, expected label")
        ot = self.lex.next()
        ops = ("=", "!=", "=~", "!~", "==", ">", ">=", "<", "<=")
        if ot.kind != OP or ot.text not in ops:
            raise self.err(ot, f"unexpected {_describe(ot)} in label filter, expected one of {' '.join(ops)}")
        vt = self.lex.next()
        if vt.kind == STRING:
            if ot.text not in ("=", "!=", "=~", "!~"):
                raise self.err(ot, f"operator \"{ot.text}\" needs a number, got a string")
            try:
                m = Matcher(nt.text, ot.text, str(vt.value))
            except UsageError as exc:
                raise self.err(vt, str(exc)) from None
            return LabelCompare(nt.text, ot.text, str(vt.value), None, m, nt.pos)
        if vt.kind in (NUMBER, DURATION):
            if ot.text in ("=~", "!~"):
                raise self.err(ot, f"operator \"{ot.text}\" needs a string")
            num = float(vt.value) / 1000 if vt.kind == DURATION else float(vt.value)  # type: ignore[arg-type]
            op = "==" if ot.text == "=" else ot.text
            return LabelCompare(nt.text, op, vt.text, num, None, nt.pos)
        raise self.err(vt, f"unexpected {_describe(vt)} in label filter, expected string or number")


def parse(text: str) -> Expr:
    """A whole LogQL query: a log selector with its pipeline, or a metric query."""
    return _Parser(text).query()


def parse_range_at(text: str, pos: int) -> RangeAggregation:
    """The range aggregation that starts at `pos` (its function name) inside a larger expression;
    `.end` is the offset just past its closing parenthesis."""
    return _Parser(text, pos).range_agg()


__all__ = ["parse", "parse_range_at"]
