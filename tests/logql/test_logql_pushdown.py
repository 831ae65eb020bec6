"""The LogQL pushdown (substring filters through FTS5 + instr(), counting in SQL) against the pure
Python path, on a corpus made to trip it: ANSI escapes that swallow tokens, non-ASCII letters and
diacritics, case, NUL, needles inside longer words, punctuation, empty lines, JSON."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from logql_helpers import T0, rec
from pydock.collector.logql import LogQLEvaluator, parse
from pydock.collector.logql.evaluator import stream_labels
from pydock.collector.logstore import LogPage, LogQuery
from pydock.collector.logstore.sqlite import SQLiteLogStore, fts_phrase

PIECES = ["panic", "Panic", "PANIC", "panicked", "xpanic", "connection refused", "connection  refused",
          "conn-refused", "timeout", "time out", "\x1b[31mpanic\x1b[0m", "\x1b[ foo bar", "\x1b]0;title foo\x07",
          "foo", "foobar", "café", "cafe", "CAFÉ", "straße", "İstanbul", "a\x00b panic", "", " ", "::",
          '{"level":"error","msg":"db timeout"}', "error=1", "GET /api/v1/x?y=1", "ümlaut foo", "foo_bar",
          "naïve foo-bar baz", "x.y.z", "42", "4 2"]
NEEDLES = ["panic", "Panic", "anic", "panic ", " panic", "connection refused", "n refused", "refused",
           " foo ", " foo", "foo ", "[ foo", " bar", "foo bar", "café", " cafe", "e ", "straße", "ß",
           "\x1b", "0m", ":", "", " ", "\x00b ", "level\":\"error", "/api/v1/", "_bar", "-bar ", "foo-bar",
           ".y.", " 42", "4 2", "İ", "x"]


class PurePython:
    """The store as the evaluator saw it before the pushdown: no counting, no substring filters."""

    def __init__(self, store: SQLiteLogStore) -> None:
        self.store = store

    def query(self, q: LogQuery) -> LogPage:
        return self.store.query(dataclasses.replace(q, contains=(), excludes=()))


@pytest.fixture
def corpus(store: SQLiteLogStore) -> SQLiteLogStore:
    rnd = random.Random(5)
    recs = []
    for i in range(3000):
        line = " ".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 4)))
        recs.append(rec(rnd.choice(["web", "db", "api"]), T0 + rnd.uniform(0, 600), line,
                        stream=rnd.choice(["stdout", "stderr"])))
    store.append(recs)
    return store


def test_fts_phrase_whole_tokens_only() -> None:
    assert fts_phrase("panic") == ""  # may be part of `xpanic`
    assert fts_phrase(" panic ") == '"panic"'
    assert fts_phrase("n refused by peer") == '"refused by"'
    assert fts_phrase("x café foo bar") == '"foo"'  # non-ASCII never goes to FTS5
    assert fts_phrase(" a é b c ") == '"b c"'  # not consecutive tokens across é
    assert fts_phrase(":") == ""


def test_store_substring_filters_are_exact(corpus: SQLiteLogStore) -> None:
    every = [r.line for r in corpus.query(LogQuery(limit=5000)).records]
    for needle in NEEDLES:
        got = [r.line for r in corpus.query(LogQuery(limit=5000, contains=(needle,))).records]
        assert got == [x for x in every if needle in x], repr(needle)
        got = [r.line for r in corpus.query(LogQuery(limit=5000, excludes=(needle,))).records]
        assert got == [x for x in every if needle not in x], repr(needle)


def values(out: dict[int, Any]) -> dict[int, dict[Any, float]]:
    return {t: {k: round(v, 9) for k, v in vec} for t, vec in out.items()}


QUERIES = [f'{f}({{{sel}}} {pipe} [{rng}])'
           for f in ("count_over_time", "bytes_over_time", "rate")
           for sel in ('name=~".+"', 'name="web"', 'name!="db", stream="stderr"')
           for pipe, rng in ((f'|= "{n}"', "2m") for n in ("panic", " foo ", "connection refused", "ß", " 42"))]
QUERIES += ['count_over_time({name=~".+"} |= " foo" != "bar" [90s])', 'count_over_time({host="h1"} != "" [5m])',
            'sum by (name) (count_over_time({host="h1"} |= "panic" != "Panic" [3m]))',
            'count_over_time({name="api"} |= "foo" | json [5m])', 'count_over_time({name="api"} |~ "f.o" [5m])']


@pytest.mark.parametrize("q", QUERIES)
def test_counts_identical_to_pure_python(corpus: SQLiteLogStore, q: str) -> None:
    node = parse(q)
    start, end = (T0 + 60) * 1000, (T0 + 660) * 1000
    for step in (45_000, 60_000, 7_000):
        fast = LogQLEvaluator(corpus).range(node, start, end, step)  # type: ignore[arg-type]
        slow = LogQLEvaluator(PurePython(corpus)).range(node, start, end, step)  # type: ignore[arg-type]
        assert values(fast) == values(slow), (q, step)
    fast1 = LogQLEvaluator(corpus).instant(node, end)  # type: ignore[arg-type]
    assert sorted(fast1) == sorted(LogQLEvaluator(PurePython(corpus)).instant(node, end))  # type: ignore[arg-type]


def test_engine_range_queries_count_in_sql_exactly(corpus: SQLiteLogStore) -> None:
    """The PromQL engine prepares a window without its step: the store then counts per line time."""
    node = parse('count_over_time({name=~".+"} |= " foo " [2m])')
    fast = LogQLEvaluator(corpus).prepare(node, (T0 + 60) * 1000, (T0 + 600) * 1000)  # type: ignore[arg-type]
    slow = LogQLEvaluator(PurePython(corpus)).prepare(node, (T0 + 60) * 1000, (T0 + 600) * 1000)  # type: ignore[arg-type]
    for t in range((T0 + 60) * 1000, (T0 + 600) * 1000, 13_337):
        assert sorted(fast.at(t)) == sorted(slow.at(t))


def test_log_query_pages_identical(corpus: SQLiteLogStore) -> None:
    for q in ('{name=~".+"} |= " foo "', '{name="web"} |= "panic" != "PANIC"', '{stream="stdout"} |= "ß"'):
        sel = parse(q)
        for ev in (LogQLEvaluator(corpus), LogQLEvaluator(PurePython(corpus))):
            seen, cursor = [], ""
            while True:
                rows, cursor = ev.lines_page(sel, T0 * 10**9, (T0 + 700) * 10**9, 37, cursor)  # type: ignore[arg-type]
                seen += [(r.time_ns, r.line) for _, r in rows]
                if not cursor:
                    break
            want = [(r.time_ns, r.line) for r in corpus.query(LogQuery(limit=5000)).records
                    if all(m.matches(stream_labels(r)[m.name]) for m in sel.matchers)  # type: ignore[union-attr]
                    and all(f.keep(r.line) for f in sel.stages)]  # type: ignore[union-attr]
            assert seen == want, q
