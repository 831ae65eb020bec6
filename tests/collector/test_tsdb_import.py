"""`import_openmetrics`: the OpenMetrics backfill input that promtool takes, into the TSDB."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydock.collector.importer import import_openmetrics, parse_line
from pydock.collector.tsdb import TSDB

from pydock.errors import UsageError

GOOD = '''# HELP http_requests Requests.
# TYPE http_requests counter
http_requests_total{code="200",path="/a b} c"} 1 1700000000
http_requests_total{code="200",path="/a b} c"} 3 1700000015.5 # {trace_id="x y"} 1 1700000015
http_requests_total{code="500",path="q\\"uote\\\\n\\n"} 2 1700000000
# TYPE g gauge
g NaN 1700000000
g +Inf 1700000010
g -1.5e3 1700000020
g{} 7 1700000030
# EOF
ignored_after_eof 1 1
'''


def test_import_reads_labels_escapes_exemplars_and_special_values(tmp_path: Path) -> None:
    f = tmp_path / "in.om"
    f.write_text(GOOD)
    with TSDB(tmp_path / "data") as db:
        assert import_openmetrics(f, db) == 7
        got = {tuple(sorted(lb.items())): pts for lb, pts in db.select([("__name__", "=~", ".+")], 0, 2 * 10**12)}
    assert got[(("__name__", "http_requests_total"), ("code", "200"), ("path", "/a b} c"))] == [
        (1_700_000_000_000, 1.0), (1_700_000_015_500, 3.0)]
    assert got[(("__name__", "http_requests_total"), ("code", "500"), ("path", 'q"uote\\n\n'))] == [
        (1_700_000_000_000, 2.0)]
    g = got[(("__name__", "g"),)]
    assert math.isnan(g[0][1]) and g[1][1] == math.inf and g[2][1] == -1500.0 and g[3] == (1_700_000_030_000, 7.0)


@pytest.mark.parametrize("text,line,fragment", [
    ("x 1\n", 1, "no timestamp"),
    ("# TYPE x gauge\nx 1 1\nx{a=\"b} 1 2\n", 3, "unterminated"),
    ("x{a=b} 1 2\n", 1, "expected"),
    ("x 1 1\nx abc 2\n", 2, "could not convert"),
    ("x{a=\"1\",a=\"2\"} 1 1\n", 1, "duplicate label"),
    ("x 1 NaN\n", 1, "invalid timestamp"),
])
def test_import_refuses_bad_input_naming_the_line_and_writes_nothing(tmp_path: Path, text: str, line: int,
                                                                     fragment: str) -> None:
    f = tmp_path / "bad.om"
    f.write_text(text)
    with TSDB(tmp_path / "data") as db:
        with pytest.raises(UsageError) as exc:
            import_openmetrics(f, db)
        assert f"bad.om:{line}:" in str(exc.value) and fragment in str(exc.value)
        assert db.label_names() == []


def test_parse_line_timestamps_truncate_like_prometheus() -> None:
    # Prometheus's OpenMetrics parser stores int64(ts * 1000).
    assert parse_line("x 1 1700000000.0019")[2] == int(1700000000.0019 * 1000)
    assert parse_line('x{a="b"} 2')[2] is None


def test_import_sorts_each_series_and_many_series_take_the_bulk_path(tmp_path: Path) -> None:
    lines = [f'm{{s="{s}"}} {t} {1_700_000_000 + t * 15}' for s in range(30) for t in range(300)]
    lines.insert(5, 'm{s="0"} 0.5 1699999999')  # an earlier sample later in the file
    f = tmp_path / "big.om"
    f.write_text("\n".join(lines) + "\n# EOF\n")
    with TSDB(tmp_path / "data") as db:
        assert import_openmetrics(f, db) == 30 * 300 + 1
        stats = db.stats()
        assert stats["chunks"] >= 30  # whole chunks went straight to packed storage
        [(_, ts, vs)] = db.select_arrays([("s", "=", "0")], 0, 2 * 10**12)
        assert ts[0] == 1_699_999_999_000 and vs[:2] == [0.5, 0.0] and len(ts) == 301
