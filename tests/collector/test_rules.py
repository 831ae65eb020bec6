"""Rule files, templates, and Prometheus's alert lifecycle evaluated on the real TSDB and engine."""

from __future__ import annotations

import asyncio
import math
import subprocess
import threading
from pathlib import Path

import pytest
from pydock.collector.notify.model import Alert
from pydock.collector.promql import Engine
from pydock.collector.rulefiles import load_rule_file
from pydock.collector.rules import RuleManager, go_e_format
from pydock.collector.templating import expand, go_float
from pydock.collector.tsdb import STALE_NAN, TSDB, is_stale_nan

from pydock.errors import ConfigError, PromQLError

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0

RULES = """\
groups:
  - name: g
    interval: 10s
    rules:
      - alert: High
        expr: load > 5
        for: 20s
        labels: {severity: page, where: "{{ $labels.host }}"}
        annotations: {summary: "{{ $labels.host }} load {{ $value }} ({{ humanize $value }})"}
      - alert: Sticky
        expr: load > 8
        keep_firing_for: 30s
      - record: host:load:double
        expr: load * 2
        labels: {kind: recorded}
"""


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "r.yml").write_text(RULES)
    tsdb = TSDB(tmp_path / "tsdb.sqlite")
    written: list[tuple[dict[str, str], int, float]] = []
    sent: list[Alert] = []

    def append(samples: list[tuple[dict[str, str], int, float]]) -> None:
        written.extend(samples)
        tsdb.append(samples)

    mgr = RuleManager(Engine(tsdb), append, sent.extend)
    mgr.apply(load_rule_file(tmp_path / "r.yml", 60), {"site": "lab"}, "http://c:9339", resend_delay=60)
    yield tsdb, mgr, written, sent
    tsdb.close()


def put(tsdb: TSDB, t: float, **hosts: float) -> None:
    tsdb.append([({"__name__": "load", "host": h}, int(t * 1000), v) for h, v in hosts.items()])


def evaluate(mgr: RuleManager, t: float, only: str | None = "High") -> list[Alert]:
    samples, alerts = mgr.evaluate_group(mgr.groups[0], t)
    mgr.append(samples)
    mgr.send(alerts)
    return [a for a in alerts if only is None or a.labels["alertname"] == only]


def test_pending_firing_resolved_and_resend(world) -> None:  # type: ignore[no-untyped-def]
    tsdb, mgr, written, _ = world
    high = mgr.groups[0].rules[0]
    put(tsdb, T0, a=7, b=1)
    assert evaluate(mgr, T0) == []  # pending alerts are never sent
    [alert] = high.active.values()
    assert alert.state == "pending" and alert.active_at == T0
    assert alert.labels == {"alertname": "High", "host": "a", "severity": "page", "where": "a"}
    assert alert.annotations == {"summary": "a load 7 (7)"}
    alerts_series = [s for s in written if s[0]["__name__"] == "ALERTS"]
    assert alerts_series == [({"__name__": "ALERTS", "alertname": "High", "host": "a", "severity": "page",
                               "where": "a", "alertstate": "pending"}, int(T0 * 1000), 1.0)]
    for_state = [s for s in written if s[0]["__name__"] == "ALERTS_FOR_STATE"]
    assert for_state[0][2] == T0
    put(tsdb, T0 + 10, a=7.5)
    evaluate(mgr, T0 + 10)
    assert alert.state == "pending"  # 10s < for: 20s
    put(tsdb, T0 + 20, a=1234.5)
    [fired] = evaluate(mgr, T0 + 20)
    assert alert.state == "firing" and alert.fired_at == T0 + 20
    assert fired.starts_at == T0 + 20 and fired.ends_at == T0 + 20 + 4 * 60  # 4 x max(resend 1m, 10s)
    assert fired.labels["site"] == "lab"  # external labels go on sent alerts
    assert fired.annotations == {"summary": "a load 1234.5 (1.234k)"}
    assert fired.generator_url == "http://c:9339/graph?g0.expr=load+%3E+5&g0.tab=1"
    # the pending series went stale when the firing one appeared
    stale = [s for s in written if s[0].get("alertstate") == "pending" and is_stale_nan(s[2])]
    assert stale and stale[0][1] == int((T0 + 20) * 1000)
    put(tsdb, T0 + 30, a=8)
    assert evaluate(mgr, T0 + 30) == []  # resend delay: 1m
    put(tsdb, T0 + 90, a=8)
    assert [a.labels["alertname"] for a in evaluate(mgr, T0 + 90)] == ["High"]  # re-sent after > 1m
    # condition gone: resolved at once, endsAt = ResolvedAt
    put(tsdb, T0 + 100, a=1)
    [res] = evaluate(mgr, T0 + 100)
    assert res.ends_at == T0 + 100 and alert.state == "inactive" and alert.resolved_at == T0 + 100
    assert mgr.active_alerts() == []
    # kept 15 minutes and re-sent every resend delay, then dropped
    put(tsdb, T0 + 170, a=1)
    assert [a.ends_at for a in evaluate(mgr, T0 + 170)] == [T0 + 100]
    put(tsdb, T0 + 100 + 15 * 60 + 10, a=1)
    evaluate(mgr, T0 + 100 + 15 * 60 + 10)
    assert high.active == {}


def test_pending_alert_that_vanishes_is_never_sent(world) -> None:  # type: ignore[no-untyped-def]
    tsdb, mgr, _, sent = world
    put(tsdb, T0, a=6)
    evaluate(mgr, T0)
    put(tsdb, T0 + 10, a=1)
    evaluate(mgr, T0 + 10)
    assert mgr.groups[0].rules[0].active == {} and sent == []


def test_keep_firing_for(world) -> None:  # type: ignore[no-untyped-def]
    tsdb, mgr, _, _ = world
    sticky = mgr.groups[0].rules[1]
    put(tsdb, T0, a=9)
    evaluate(mgr, T0)
    [a] = sticky.active.values()
    assert a.state == "firing"  # for: 0 fires on the first evaluation
    for dt in (10, 20, 30):
        put(tsdb, T0 + dt, a=1)
        evaluate(mgr, T0 + dt)
        assert a.state == "firing" and a.keep_firing_since == T0 + 10
    put(tsdb, T0 + 40, a=1)
    evaluate(mgr, T0 + 40)  # 30s since the condition last held
    assert a.state == "inactive" and a.resolved_at == T0 + 40


def test_recording_rule_and_api_shapes(world) -> None:  # type: ignore[no-untyped-def]
    tsdb, mgr, written, _ = world
    put(tsdb, T0, a=9, b=2)
    evaluate(mgr, T0)
    rec = sorted((s for s in written if s[0]["__name__"] == "host:load:double"), key=lambda s: s[0]["host"])
    assert [(s[0], s[2]) for s in rec] == [
        ({"__name__": "host:load:double", "host": "a", "kind": "recorded"}, 18.0),
        ({"__name__": "host:load:double", "host": "b", "kind": "recorded"}, 4.0)]
    put(tsdb, T0 + 10, a=9, b=STALE_NAN)
    evaluate(mgr, T0 + 10)  # b went stale: so does the series recorded from it
    assert any(s[0].get("host") == "b" and s[0]["__name__"] == "host:load:double" and is_stale_nan(s[2])
               for s in written)
    api = mgr.groups[0].to_api()
    assert api["name"] == "g" and api["interval"] == 10 and api["limit"] == 0
    high, sticky, record = api["rules"]
    assert high["type"] == "alerting" and high["state"] == "pending" and high["duration"] == 20
    assert high["health"] == "ok" and high["query"] == "load > 5"
    assert high["alerts"][0]["value"] == "9e+00" and high["alerts"][0]["state"] == "pending"
    assert sticky["state"] == "firing" and sticky["keepFiringFor"] == 30
    assert record == {"name": "host:load:double", "query": "load * 2", "labels": {"kind": "recorded"},
                      "health": "ok", "evaluationTime": record["evaluationTime"],
                      "lastEvaluation": record["lastEvaluation"], "type": "recording"}
    # stored ALERTS series are queryable like any other
    vec = mgr.engine.instant('ALERTS{alertstate="firing"}', T0 + 10)
    assert [dict(s.metric)["alertname"] for s in vec.samples] == ["Sticky"]


def test_duplicate_labelsets_make_the_rule_fail(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text("groups:\n- name: g\n  rules:\n  - alert: Dup\n    expr: '{__name__=~\"load|load2\"}'\n")
    tsdb = TSDB(tmp_path / "t.sqlite")
    try:
        put(tsdb, T0, a=1)
        tsdb.append([({"__name__": "load2", "host": "a"}, int(T0 * 1000), 1.0)])  # same labels without the name
        mgr = RuleManager(Engine(tsdb), tsdb.append, lambda alerts: None)
        mgr.apply(load_rule_file(tmp_path / "r.yml", 60), {}, "", 60)
        mgr.evaluate_group(mgr.groups[0], T0)
        rule = mgr.groups[0].rules[0]
        assert rule.health == "err" and "same labelset" in rule.last_error
    finally:
        tsdb.close()


@pytest.mark.parametrize("text, line, reason", [
    ("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n", 5, "could not parse expression"),
    ("groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: up\n", 4, "invalid recording rule name"),
    ("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n", 4, "repeated in the same file"),
    ("groups:\n- name: g\n  rules:\n  - alert: A\n    record: b\n    expr: up\n", 4, "one of 'record' or 'alert'"),
    ("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 minutes\n", 6, "not a valid duration"),
    ("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      s: '{{ nope $value }}'\n",
     7, 'function "nope" not defined'),
    ("groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 1m\n", 6, "invalid field 'for'"),
    ("groups:\n- name: g\n  rulez: []\n", 3, "field rulez not found"),
])
def test_rule_file_errors_name_file_and_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    p = tmp_path / "bad.yml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_rule_file(p, 60)
    assert str(err.value).startswith(f"{p}:{line}: ") and reason in str(err.value), str(err.value)


def test_templates_match_prometheus_functions() -> None:
    def x(t: str, v: float = 0.0) -> str:
        return expand(t, {"instance": "h:1"}, v, {"site": "lab"}, "http://c", "T")

    assert x("{{ $labels.instance }} {{ $labels.none }}|{{ $externalLabels.site }} {{ $externalURL }}") == \
        "h:1 |lab http://c"
    assert x("{{ $value }}", 0.5) == "0.5" and x("{{ .Value }}", 1e21) == "1e+21" and x("{{$value}}", 100) == "100"
    assert x("{{ humanize $value }}", 1234567) == "1.235M" and x("{{ humanize 0.00123 }}") == "1.23m"
    assert x("{{ $value | humanize1024 }}", 1048576) == "1Mi"
    assert x("{{ humanizePercentage $value }}", 0.1234) == "12.34%"
    assert x("{{ humanizeDuration 3725 }}") == "1h 2m 5s" and x("{{ humanizeDuration 0.25 }}") == "250ms"
    assert x("{{ humanizeDuration 90061 }}") == "1d 1h 1m 1s" and x("{{ humanizeDuration 4.5 }}") == "4.5s"
    assert x('{{ printf "%.1f%%" $value }}', 12.34) == "12.3%"
    assert x("a {{- $labels.instance -}} b") == "ah:1b"
    assert x("{{ range }}").startswith("<error expanding template: ")
    branches = "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}"
    assert [x(branches, v) for v in (90, 60, 10)] == ["high", "mid", "low"]
    assert x('{{ if and (eq $labels.instance "h:1") (not (lt $value 2.0)) }}yes{{ end }}', 3) == "yes"
    assert x("{{ if gt $value 1.0 }}unterminated").startswith("<error expanding template: ")
    assert go_float(math.nan) == "NaN" and go_float(-math.inf) == "-Inf" and go_float(1e-5) == "1e-05"
    assert go_e_format(1.0) == "1e+00" and go_e_format(1234.5) == "1.2345e+03"


def test_default_rules_pass_promtool_and_our_checks() -> None:
    path = REPO / "dashboards" / "prometheus" / "rules.yml"
    proc = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 7 rules found" in proc.stdout
    names = {r.name for g in load_rule_file(path, 60) for r in g.rules}
    assert names == {"ContainerDown", "ContainerRestarting", "ContainerOOMKilled", "ContainerMemoryNearLimit",
                     "ContainerCPUThrottled", "ContainerLogsDropped", "TargetDown"}


def test_reload_keeps_alert_state_and_ends_series_of_dropped_rules(  # type: ignore[no-untyped-def]
        world, tmp_path: Path) -> None:
    tsdb, mgr, written, _ = world
    put(tsdb, T0, a=9)
    evaluate(mgr, T0, only=None)
    before = dict(mgr.groups[0].rules[0].active)
    # the recording rule goes away, the alerting rules stay as they were
    (tmp_path / "r.yml").write_text(RULES.split("      - record:")[0])
    mgr.apply(load_rule_file(tmp_path / "r.yml", 60), {"site": "lab"}, "http://c:9339", resend_delay=60)
    assert mgr.groups[0].rules[0].active == before and len(mgr.groups[0].rules) == 2
    written.clear()

    async def start_stop() -> None:
        await mgr.start()
        await mgr.stop()

    asyncio.run(start_stop())
    assert [(s[0]["__name__"], is_stale_nan(s[2])) for s in written[:1]] == [("host:load:double", True)]


@pytest.mark.parametrize("pending_before, expect", [
    # 60 s pending of for: 15m before the restart, down for 70 s: ActiveAt shifts by the downtime
    (60, lambda ts, active, down: active + (ts - down)),
    # 400 s pending: less than the 10m grace period is left, so it gets the grace period
    (400, lambda ts, active, down: ts + 600 - 900),
])
def test_for_state_is_restored_after_a_restart(  # type: ignore[no-untyped-def]
        tmp_path: Path, pending_before: float, expect) -> None:
    (tmp_path / "r.yml").write_text("groups:\n- name: g\n  interval: 10s\n  rules:\n"
                                    "  - {alert: Slow, expr: load > 5, for: 15m}\n")
    tsdb = TSDB(tmp_path / "t.sqlite")
    try:
        specs = load_rule_file(tmp_path / "r.yml", 60)
        first = RuleManager(Engine(tsdb), tsdb.append, lambda alerts: None)
        first.apply(specs, {}, "", 60, restore=True)
        for dt in (0, pending_before):  # the first run had restored state: it writes ALERTS_FOR_STATE
            first.groups[0].rules[0].restored = True
            put(tsdb, T0 + dt, a=9)
            samples, _ = first.evaluate_group(first.groups[0], T0 + dt)
            tsdb.append(samples)
        down = T0 + pending_before
        # restart 70 s later: a new manager, whose for: 15m rule waits to be restored
        second = RuleManager(Engine(tsdb), tsdb.append, lambda alerts: None)
        second.apply(specs, {}, "", 60, restore=True)
        rule = second.groups[0].rules[0]
        assert not rule.restored
        ts = down + 70
        put(tsdb, ts, a=9)
        samples, _ = second.evaluate_group(second.groups[0], ts)
        assert samples == []  # nothing written before the restore
        assert [a.active_at for a in rule.active.values()] == [ts]
        second.restore_for_state(second.groups[0], ts)
        assert rule.restored
        assert [a.active_at for a in rule.active.values()] == [expect(ts, T0, down)]
    finally:
        tsdb.close()


def test_failed_evaluation_neither_ends_series_nor_sends(world) -> None:  # type: ignore[no-untyped-def]
    # Prometheus's Group.Eval returns on a rule's error before sendAlerts and before marking the
    # series of the previous evaluation stale: a query that fails once is no gap in ALERTS.
    tsdb, mgr, written, sent = world
    put(tsdb, T0, a=9)
    evaluate(mgr, T0, only=None)
    assert [a.labels["alertname"] for a in sent] == ["Sticky"]
    real = mgr.engine

    class Failing:
        storage = real.storage

        def instant(self, expr: str, t: float) -> None:
            raise PromQLError("query timed out", kind="execution")

    mgr.engine = Failing()
    written.clear()
    put(tsdb, T0 + 70, a=9)
    evaluate(mgr, T0 + 70, only=None)  # past the resend delay: a good evaluation would re-send Sticky
    assert [r.health for r in mgr.groups[0].rules] == ["err", "err", "err"]
    assert not any(is_stale_nan(v) for _, _, v in written)
    assert len(sent) == 1
    mgr.engine = real
    evaluate(mgr, T0 + 80, only=None)
    assert [a.labels["alertname"] for a in sent] == ["Sticky", "High", "Sticky"]  # High's for: 20s is over
    # only High's pending series ends (it fires now); Sticky's and the recorded series go on
    assert [lbs for lbs, _, v in written if is_stale_nan(v)] == [
        {"__name__": "ALERTS", "alertname": "High", "alertstate": "pending", "host": "a", "severity": "page",
         "where": "a"}]


def test_api_reads_do_not_wait_for_rule_queries(world) -> None:  # type: ignore[no-untyped-def]
    # The API reads alert state under the manager's lock from async handlers, i.e. on the event
    # loop: if evaluations held that lock while their queries run, every slow query would stall
    # the whole server. Only the state update may hold it.
    tsdb, mgr, _, _ = world
    entered, release = threading.Event(), threading.Event()
    real = mgr.engine

    class Slow:
        storage = real.storage

        def instant(self, expr: str, t: float) -> object:
            entered.set()
            release.wait(10)
            return real.instant(expr, t)

    mgr.engine = Slow()
    put(tsdb, T0, a=9)
    worker = threading.Thread(target=mgr.evaluate_group, args=(mgr.groups[0], T0))
    worker.start()
    try:
        assert entered.wait(5)
        got: list[object] = []
        reader = threading.Thread(target=lambda: got.append((mgr.active_alerts(), mgr.groups_api())))
        reader.start()
        reader.join(5)
        assert got, "reading the alerts waited for a running query"
    finally:
        release.set()
        worker.join()
    assert [a.labels["alertname"] for a in mgr.active_alerts()] == ["High", "Sticky"]
