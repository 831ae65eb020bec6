"""PromQL's parser, written by hand: no maintained Python implementation of PromQL exists.

A precedence-climbing parser that builds the tree of `ast.py` and type-checks it the way
prometheus/promql/parser/parse.go does (same precedence and associativity: `^` binds right,
unary minus binds tighter than `*` but looser than `^`; same checks on `bool`, vector matching,
function argument types). Every error is a `PromQLError` whose message starts `line:column:`.
"""

from __future__ import annotations

import math

from pydock.collector.labelmatch import Matcher
from pydock.collector.promql.ast import (
    COMPARISON,
    MATRIX,
    SCALAR,
    SET_OPS,
    STRING,
    TYPE_NAMES,
    VECTOR,
    AggregateExpr,
    BinaryExpr,
    Call,
    LogRangeExpr,
    MatrixSelector,
    Node,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)
from pydock.collector.promql.lexer import DURATION, EOF, IDENT, LOGQL, NUMBER, OP, Token, error_at, tokenize
from pydock.collector.promql.lexer import STRING as T_STRING

from pydock.errors import PromQLError, UsageError

# Lowest first, as in Prometheus's grammar.
PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3,
              "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6}
AGGREGATORS = {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
               "quantile", "count_values"}
_AGG_PARAM = {"topk": SCALAR, "bottomk": SCALAR, "quantile": SCALAR, "count_values": STRING}
KEYWORDS = {"and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset"} | AGGREGATORS

V, M, S, STR = VECTOR, MATRIX, SCALAR, STRING
# name -> (argument types, variadic, return type). variadic: how many trailing arguments may be left
# out, or -1 when the last one may repeat (as in Prometheus's parser/functions.go).
FUNCTIONS: dict[str, tuple[tuple[str, ...], int, str]] = {
    "abs": ((V,), 0, V), "absent": ((V,), 0, V), "absent_over_time": ((M,), 0, V),
    "ceil": ((V,), 0, V), "changes": ((M,), 0, V), "clamp": ((V, S, S), 0, V),
    "clamp_max": ((V, S), 0, V), "clamp_min": ((V, S), 0, V), "delta": ((M,), 0, V),
    "deriv": ((M,), 0, V), "exp": ((V,), 0, V), "floor": ((V,), 0, V),
    "histogram_quantile": ((S, V), 0, V), "idelta": ((M,), 0, V), "increase": ((M,), 0, V),
    "irate": ((M,), 0, V), "label_replace": ((V, STR, STR, STR, STR), 0, V),
    "label_join": ((V, STR, STR, STR), -1, V), "ln": ((V,), 0, V), "log2": ((V,), 0, V),
    "log10": ((V,), 0, V), "predict_linear": ((M, S), 0, V), "rate": ((M,), 0, V),
    "resets": ((M,), 0, V), "round": ((V, S), 1, V), "scalar": ((V,), 0, S), "sgn": ((V,), 0, V),
    "sort": ((V,), 0, V), "sort_desc": ((V,), 0, V), "sqrt": ((V,), 0, V), "time": ((), 0, S),
    "timestamp": ((V,), 0, V), "vector": ((S,), 0, V),
    "avg_over_time": ((M,), 0, V), "count_over_time": ((M,), 0, V), "last_over_time": ((M,), 0, V),
    "max_over_time": ((M,), 0, V), "min_over_time": ((M,), 0, V), "present_over_time": ((M,), 0, V),
    "quantile_over_time": ((S, M), 0, V), "stddev_over_time": ((M,), 0, V),
    "stdvar_over_time": ((M,), 0, V), "sum_over_time": ((M,), 0, V),
    "minute": ((V,), 1, V), "hour": ((V,), 1, V), "day_of_month": ((V,), 1, V),
    "day_of_week": ((V,), 1, V), "day_of_year": ((V,), 1, V), "days_in_month": ((V,), 1, V),
    "month": ((V,), 1, V), "year": ((V,), 1, V), "holt_winters": ((M, S, S), 0, V), "pi": ((), 0, S),
    "deg": ((V,), 0, V), "rad": ((V,), 0, V),
}
for _trig in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh"):
    FUNCTIONS[_trig] = ((V,), 0, V)


def parse(expr: str) -> Node:
    """Parse one PromQL expression; raises PromQLError (with `column`) on any syntax or type error."""
    return _Parser(expr).parse()


def is_label_name(s: str) -> bool:
    return bool(s) and (s[0].isascii() and (s[0].isalpha() or s[0] == "_")) and all(
        c.isascii() and (c.isalnum() or c == "_") for c in s)


class _Parser:
    def __init__(self, expr: str) -> None:
        from pydock.collector.logql.embed import find_log_ranges  # LogQL inside PromQL (docs/logql.md)

        self.expr = expr
        self.toks = tokenize(expr, find_log_ranges(expr))  # type: ignore[arg-type]
        self.i = 0

    # --- token helpers -------------------------------------------------------------------------

    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def err(self, tok: Token | int, msg: str) -> PromQLError:
        return error_at(self.expr, tok if isinstance(tok, int) else tok.pos, msg)

    def is_op(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == OP and t.text == text

    def is_word(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == IDENT and t.text.lower() == text

    def expect_op(self, text: str, context: str) -> Token:
        tok = self.next()
        if tok.kind != OP or tok.text != text:
            raise self.err(tok, f"unexpected {self.describe(tok)} in {context}, expected \"{text}\"")
        return tok

    @staticmethod
    def describe(tok: Token) -> str:
        if tok.kind == EOF:
            return "end of input"
        if tok.kind == IDENT and tok.text.lower() in KEYWORDS:
            return tok.text
        if tok.kind == OP:
            return f'"{tok.text}"'
        return f'{tok.kind} "{tok.text}"'

    # --- grammar -------------------------------------------------------------------------------

    def parse(self) -> Node:
        if self.peek().kind == EOF:
            raise self.err(self.peek(), "no expression found in input")
        node = self.expression(0)
        tok = self.peek()
        if tok.kind != EOF:
            raise self.err(tok, f"unexpected {self.describe(tok)}")
        return node

    def binary_op(self) -> str | None:
        tok = self.peek()
        if tok.kind == OP and tok.text in PRECEDENCE:
            return tok.text
        if tok.kind == IDENT and tok.text.lower() in ("and", "or", "unless", "atan2"):
            return tok.text.lower()
        return None

    def expression(self, min_prec: int) -> Node:
        lhs = self.unary()
        while True:
            op = self.binary_op()
            if op is None or PRECEDENCE[op] < min_prec:
                return lhs
            op_tok = self.next()
            return_bool, matching = self.binary_modifiers(op)
            # `^` is right-associative: its right side may hold another `^` of the same level.
            rhs = self.expression(PRECEDENCE[op] if op == "^" else PRECEDENCE[op] + 1)
            lhs = self.check_binary(op_tok, op, lhs, rhs, return_bool, matching)

    def binary_modifiers(self, op: str) -> tuple[bool, VectorMatching | None]:
        return_bool = False
        if self.is_word("bool"):
            tok = self.next()
            if op not in COMPARISON:
                raise self.err(tok, "bool modifier can only be used on comparison operators")
            return_bool = True
        on, card = False, "one-to-one"
        labels: tuple[str, ...] = ()
        include: tuple[str, ...] = ()
        if self.is_word("on") or self.is_word("ignoring"):
            on = self.next().text.lower() == "on"
            labels = self.label_list()
        if self.is_word("group_left") or self.is_word("group_right"):
            tok = self.next()
            card = "many-to-one" if tok.text.lower() == "group_left" else "one-to-many"
            include = self.label_list() if self.is_op("(") else ()
            if op in SET_OPS:
                raise self.err(tok, f'no grouping allowed for "{op}" operation')
            for name in include:
                if on and name in labels:
                    raise self.err(tok, f'label "{name}" must not occur in ON and GROUP clause at once')
        if op in SET_OPS:
            card = "many-to-many"
        matching = VectorMatching(card=card, on=on, labels=labels, include=include)
        return return_bool, matching

    def check_binary(self, tok: Token, op: str, lhs: Node, rhs: Node, return_bool: bool,
                     matching: VectorMatching | None) -> Node:
        for side in (lhs, rhs):
            if side.type not in (SCALAR, VECTOR):
                raise self.err(tok, "binary expression must contain only scalar and instant vector types")
        both_vectors = lhs.type == VECTOR and rhs.type == VECTOR
        explicit = matching is not None and bool(matching.labels)
        if explicit and not both_vectors:
            raise self.err(tok, "vector matching only allowed between instant vectors")
        if op in SET_OPS and not both_vectors:
            raise self.err(tok, f'set operator "{op}" not allowed in binary scalar expression')
        if op in COMPARISON and lhs.type == SCALAR and rhs.type == SCALAR and not return_bool:
            raise self.err(tok, "comparisons between scalars must use BOOL modifier")
        return BinaryExpr(op=op, lhs=lhs, rhs=rhs, matching=matching if both_vectors else None,
                          return_bool=return_bool, pos=tok.pos)

    def unary(self) -> Node:
        if self.is_op("-") or self.is_op("+"):
            tok = self.next()
            # Unary operators bind tighter than `*` but looser than `^` (-2^2 is -4).
            operand = self.expression(PRECEDENCE["^"])
            if operand.type not in (SCALAR, VECTOR):
                raise self.err(tok, "unary expression only allowed on expressions of type scalar or "
                                    "instant vector, got " + TYPE_NAMES[operand.type])
            if isinstance(operand, NumberLiteral):
                return NumberLiteral(-operand.value if tok.text == "-" else operand.value, pos=tok.pos)
            return UnaryExpr(op=tok.text, expr=operand, pos=tok.pos)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.is_op("["):
                node = self.range_or_subquery(node)
            elif self.is_word("offset"):
                node = self.offset(node)
            elif self.is_op("@"):
                node = self.at(node)
            else:
                return node

    def range_or_subquery(self, node: Node) -> Node:
        open_tok = self.next()
        rng = self.duration("range")
        if self.is_op(":"):
            self.next()
            step = self.duration("subquery step") if self.peek().kind == DURATION else 0
            self.expect_op("]", "subquery selector")
            if node.type != VECTOR:
                raise self.err(open_tok, f"subquery is only allowed on instant vector, got "
                                         f"{TYPE_NAMES[node.type]} in \"{self.expr[node.pos:open_tok.pos]}\"")
            return SubqueryExpr(expr=node, range=rng, step=step, pos=node.pos)
        self.expect_op("]", "matrix selector")
        if not isinstance(node, VectorSelector):
            raise self.err(open_tok, "ranges only allowed for vector selectors")
        if node.offset or node.at is not None:
            raise self.err(open_tok, "no offset modifiers allowed before range")
        return MatrixSelector(selector=node, range=rng, pos=node.pos)

    def duration(self, what: str) -> int:
        tok = self.next()
        if tok.kind != DURATION:
            raise self.err(tok, f"unexpected {self.describe(tok)} in {what}, expected duration")
        assert isinstance(tok.value, int)
        if tok.value == 0:
            raise self.err(tok, "duration must be greater than 0")
        return tok.value

    def _target(self, node: Node, tok: Token, what: str) -> Node:
        if isinstance(node, (VectorSelector, SubqueryExpr)):
            return node
        if isinstance(node, MatrixSelector):
            return node.selector
        raise self.err(tok, f"{what} modifier must be preceded by an instant vector selector or range "
                            "vector selector or a subquery")

    def offset(self, node: Node) -> Node:
        tok = self.next()
        sign = 1
        if self.is_op("-") or self.is_op("+"):
            sign = -1 if self.next().text == "-" else 1
        dur = self.duration("offset") * sign
        target = self._target(node, tok, "offset")
        if target.offset:  # type: ignore[attr-defined]
            raise self.err(tok, "offset may not be set multiple times")
        return self._rebuild(node, target, offset=dur)

    def at(self, node: Node) -> Node:
        tok = self.next()
        target = self._target(node, tok, "@")
        if target.at is not None:  # type: ignore[attr-defined]
            raise self.err(tok, "@ <timestamp> may not be set multiple times")
        t = self.next()
        sign = 1.0
        if t.kind == OP and t.text in "+-":
            sign = -1.0 if t.text == "-" else 1.0
            t = self.next()
        at: float | str
        if t.kind == NUMBER:
            assert isinstance(t.value, float)
            at = sign * t.value
            if math.isnan(at) or at in (float("inf"), float("-inf")):
                raise self.err(t, f"timestamp out of bounds for @ modifier: {at}")
        elif t.kind == IDENT and t.text in ("start", "end") and self.is_op("(") and self.is_op(")", 1):
            self.next()
            self.next()
            at = t.text
        else:
            raise self.err(t, f"unexpected {self.describe(t)} in @ modifier, expected timestamp")
        return self._rebuild(node, target, at=at)

    @staticmethod
    def _rebuild(node: Node, target: Node, **change: object) -> Node:
        from dataclasses import replace
        new_target = replace(target, **change)  # type: ignore[type-var]
        if isinstance(node, MatrixSelector):
            return replace(node, selector=new_target)
        return new_target

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == NUMBER:
            self.next()
            assert isinstance(tok.value, float)
            return NumberLiteral(tok.value, pos=tok.pos)
        if tok.kind == T_STRING:
            self.next()
            assert isinstance(tok.value, str)
            return StringLiteral(tok.value, pos=tok.pos)
        if tok.kind == OP and tok.text == "(":
            self.next()
            inner = self.expression(0)
            self.expect_op(")", "parenthesized expression")
            return ParenExpr(inner, pos=tok.pos)
        if tok.kind == OP and tok.text == "{":
            return self.selector(None, tok)
        if tok.kind == LOGQL:
            self.next()
            return LogRangeExpr(tok.value, tok.text, pos=tok.pos)
        if tok.kind == IDENT:
            word = tok.text
            if word.lower() in AGGREGATORS and (self.is_op("(", 1) or self.is_word("by", 1)
                                                or self.is_word("without", 1)):
                return self.aggregation()
            if self.is_op("(", 1):
                return self.call()
            if word.lower() in KEYWORDS:
                raise self.err(tok, f"unexpected {self.describe(tok)}")
            self.next()
            return self.selector(word, tok)
        if tok.kind == DURATION:
            raise self.err(tok, f"unexpected duration \"{tok.text}\"")
        raise self.err(tok, f"unexpected {self.describe(tok)}")

    def selector(self, name: str | None, start: Token) -> Node:
        matchers: list[Matcher] = []
        if name is not None:
            matchers.append(Matcher("__name__", "=", name))
        if self.is_op("{"):
            self.next()
            while not self.is_op("}"):
                ltok = self.next()
                if ltok.kind != IDENT or not is_label_name(ltok.text):
                    raise self.err(ltok, f"unexpected {self.describe(ltok)} in label matching, expected "
                                         "label")
                otok = self.next()
                if otok.kind != OP or otok.text not in ("=", "!=", "=~", "!~"):
                    raise self.err(otok, f"unexpected {self.describe(otok)} in label matching, expected "
                                         "label matching operator")
                vtok = self.next()
                if vtok.kind != T_STRING:
                    raise self.err(vtok, f"unexpected {self.describe(vtok)} in label matching, expected "
                                         "string")
                assert isinstance(vtok.value, str)
                if ltok.text == "__name__" and name is not None:
                    raise self.err(ltok, f"metric name must not be set twice: \"{name}\" or "
                                         f"\"{vtok.value}\"")
                try:
                    matchers.append(Matcher(ltok.text, otok.text, vtok.value))
                except UsageError as exc:
                    raise self.err(vtok, str(exc)) from None
                if self.is_op(","):
                    self.next()
                elif not self.is_op("}"):
                    tok = self.peek()
                    raise self.err(tok, f"unexpected {self.describe(tok)} in label matching, expected "
                                        "\",\" or \"}\"")
            self.next()
        if not any(not m.matches("") for m in matchers):
            raise self.err(start, "vector selector must contain at least one non-empty matcher")
        if name is None:
            names = [m.value for m in matchers if m.name == "__name__" and m.op == "="]
            name = names[0] if names else None
        return VectorSelector(name=name, matchers=tuple(matchers), pos=start.pos)

    def label_list(self) -> tuple[str, ...]:
        self.expect_op("(", "grouping opts")
        out: list[str] = []
        while not self.is_op(")"):
            tok = self.next()
            if tok.kind != IDENT or not is_label_name(tok.text):
                raise self.err(tok, f"unexpected {self.describe(tok)} in grouping opts, expected label")
            out.append(tok.text)
            if self.is_op(","):
                self.next()
            elif not self.is_op(")"):
                t = self.peek()
                raise self.err(t, f"unexpected {self.describe(t)} in grouping opts, expected \",\" or \")\"")
        self.next()
        return tuple(out)

    def aggregation(self) -> Node:
        tok = self.next()
        op = tok.text.lower()
        grouping: tuple[str, ...] = ()
        without = False
        seen_grouping = False
        if self.is_word("by") or self.is_word("without"):
            without = self.next().text.lower() == "without"
            grouping = self.label_list()
            seen_grouping = True
        args = self.call_args(f"aggregation \"{op}\"")
        if not seen_grouping and (self.is_word("by") or self.is_word("without")):
            without = self.next().text.lower() == "without"
            grouping = self.label_list()
        want = 2 if op in _AGG_PARAM else 1
        if len(args) != want:
            raise self.err(tok, f"wrong number of arguments for aggregate expression provided, expected "
                                f"{want}, got {len(args)}")
        param = args[0] if want == 2 else None
        expr = args[-1]
        if param is not None and param.type != _AGG_PARAM[op]:
            raise self.err(param.pos, f"expected type {TYPE_NAMES[_AGG_PARAM[op]]} in aggregation "
                                      f"parameter, got {TYPE_NAMES[param.type]}")
        if expr.type != VECTOR:
            raise self.err(expr.pos, f"expected type instant vector in aggregation expression, got "
                                     f"{TYPE_NAMES[expr.type]}")
        return AggregateExpr(op=op, expr=expr, param=param, grouping=grouping, without=without,
                             pos=tok.pos)

    def call_args(self, context: str) -> list[Node]:
        self.expect_op("(", context)
        args: list[Node] = []
        while not self.is_op(")"):
            args.append(self.expression(0))
            if self.is_op(","):
                self.next()
            elif not self.is_op(")"):
                t = self.peek()
                raise self.err(t, f"unexpected {self.describe(t)} in {context}, expected \",\" or \")\"")
        self.next()
        return args

    def call(self) -> Node:
        tok = self.next()
        name = tok.text
        if name not in FUNCTIONS:
            raise self.err(tok, f"unknown function with name \"{name}\"")
        types, variadic, ret = FUNCTIONS[name]
        args = self.call_args(f"call to function \"{name}\"")
        n = len(args)
        if variadic == 0:
            ok = n == len(types)
        elif variadic > 0:
            ok = len(types) - variadic <= n <= len(types)
        else:
            ok = n >= len(types) - 1
        if not ok:
            raise self.err(tok, f"expected {len(types)} argument(s) in call to \"{name}\", got {n}")
        for k, arg in enumerate(args):
            want = types[min(k, len(types) - 1)]
            if arg.type != want:
                raise self.err(arg.pos, f"expected type {TYPE_NAMES[want]} in call to function \"{name}\", "
                                        f"got {TYPE_NAMES[arg.type]}")
        return Call(func=name, args=tuple(args), return_type=ret, pos=tok.pos)


__all__ = ["AGGREGATORS", "FUNCTIONS", "PromQLError", "is_label_name", "parse"]
