"""`pydock rules check`: LogQL rules accepted, the bad rule named with its file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOOD = """\
groups:
  - name: logs
    rules:
      - alert: Panic
        expr: count_over_time({name="web"} |= "panic" [5m]) > 0 and on(name) container_memory_working_set_bytes > 1e9
        log_lines: 10
        annotations: {summary: "{{ $labels.name }} panicked"}
      - record: name:errors:rate1m
        expr: sum by (name) (rate({image="x"} |= "error" | json | status >= 500 [1m]))
      - alert: PlainPromQL
        expr: up == 0
"""
BAD = """\
groups:
  - name: logs
    rules:
      - alert: Fine
        expr: count_over_time(up[5m]) > 1
      - alert: BrokenLogRule
        expr: count_over_time({name="web"} |= panic [5m]) > 0
"""


def pydock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pydock", *args], check=False, capture_output=True, text=True,
                          timeout=60)


def test_rules_check_accepts_logql_and_names_the_bad_rule(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "bad.yml").write_text(BAD)
    ok = pydock("rules", "check", str(tmp_path / "good.yml"))
    assert ok.returncode == 0, ok.stderr
    assert "SUCCESS: 3 rules found" in ok.stdout
    bad = pydock("rules", "check", str(tmp_path / "good.yml"), str(tmp_path / "bad.yml"))
    assert bad.returncode == 1
    assert f"{tmp_path / 'bad.yml'}:7: could not parse expression: 1:33: parse error: unexpected identifier " \
           '"panic" in line filter, expected string (group "logs", rule 2, alert "BrokenLogRule")' in bad.stderr
    assert "1 of 2 rule files have errors" in bad.stderr


def test_log_lines_is_for_alerting_rules_only(tmp_path: Path) -> None:
    p = tmp_path / "r.yml"
    p.write_text("groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n    log_lines: 3\n")
    out = pydock("rules", "check", str(p))
    assert out.returncode == 1 and "invalid field 'log_lines' in recording rule" in out.stderr
    p.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    log_lines: -1\n")
    assert "log_lines must be a non-negative integer" in pydock("rules", "check", str(p)).stderr
    p.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations: {logs: x}\n")
    assert "annotation 'logs' is reserved" in pydock("rules", "check", str(p)).stderr
    assert "no such file" in pydock("rules", "check", str(tmp_path / "nope.yml")).stderr
