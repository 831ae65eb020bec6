"""Prometheus rule files: loading and checking them as `promtool check rules` does.

Every mistake is a `ConfigError` naming the file, the line and the reason; expressions are parsed by
the collector's PromQL parser and templates by `templating.parse`, so a file that loads here also
evaluates. Unknown fields are refused, as Prometheus refuses them, with one pydock extension: an
alerting rule may set `log_lines: N` (default 20, 0 for none), how many of the container's last log
lines its notifications carry in the `logs` annotation (docs/logql.md). `promtool check rules`
refuses that key, so a file that uses it is for pydock only; expressions may be LogQL range
aggregations inside PromQL, which promtool refuses too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydock.collector import templating
from pydock.collector.yamlconf import LDict, Where, load_yaml

from pydock.errors import ConfigError, PromQLError

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass(frozen=True)
class RuleSpec:
    expr: str
    alert: str | None = None
    record: str | None = None
    for_: float = 0.0
    keep_firing_for: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    line: int = 0
    log_lines: int | None = None  # pydock's extension; None: the default (collector/logql/alertlogs.py)

    @property
    def name(self) -> str:
        return self.alert or self.record or ""


@dataclass(frozen=True)
class GroupSpec:
    name: str
    file: str
    interval: float
    rules: tuple[RuleSpec, ...]
    limit: int = 0


def _check_expr(w: Where, node: LDict, expr: str) -> None:
    from pydock.collector.promql.parser import parse

    try:
        parse(expr)
    except PromQLError as exc:
        w.fail(node, f"could not parse expression: {exc}", "expr")


def load_rule_file(path: Path, default_interval: float) -> list[GroupSpec]:
    """Parse and check one rule file as `promtool check rules` would; `ConfigError` names file and line."""
    doc = load_yaml(path)
    w = Where(path)
    if doc is None:
        return []
    root = w.mapping(doc, "rule file", {"groups"})
    groups: list[GroupSpec] = []
    names: set[str] = set()
    gl = w.seq(root, "groups", "groups")
    for gi, g in enumerate(gl):
        gn = w.mapping(g, "rule group", {"name", "interval", "limit", "rules", "query_offset"}, gl, gi)
        name = w.string(gn, "name")
        if not name:
            w.fail(gn, "Groupname must not be empty")
        if name in names:
            w.fail(gn, f'groupname: "{name}" is repeated in the same file', "name")
        names.add(name)
        interval = w.duration(gn, "interval", default_interval)
        if interval <= 0:
            w.fail(gn, "interval must be greater than 0", "interval")
        rules = []
        rl = w.seq(gn, "rules", "rules")
        for ri, r in enumerate(rl):
            try:
                rules.append(_rule(w, w.mapping(r, "rule", {"alert", "record", "expr", "for", "keep_firing_for",
                                                            "labels", "annotations", "log_lines"}, rl, ri)))
            except ConfigError as exc:  # say which rule, as promtool does (group, index, name)
                raise ConfigError(f"{exc} ({_which(name, ri, r)})") from None
        groups.append(GroupSpec(name, str(path), interval, tuple(rules), w.integer(gn, "limit", 0)))
    return groups


def _which(group: str, index: int, rule: object) -> str:
    out = f'group "{group}", rule {index + 1}'
    if isinstance(rule, dict):
        for kind in ("alert", "record"):
            if isinstance(rule.get(kind), str):
                return out + f', {kind} "{rule[kind]}"'
    return out


def _rule(w: Where, rn: LDict) -> RuleSpec:
    alert, record = rn.get("alert"), rn.get("record")
    if (alert is None) == (record is None):
        w.fail(rn, "one of 'record' or 'alert' must be set")
    expr = w.string(rn, "expr")
    if not expr:
        w.fail(rn, "field 'expr' must be set in rule")
    _check_expr(w, rn, expr)
    labels = w.labels(rn, "labels")
    annotations = w.labels(rn, "annotations")
    if record is not None:
        if not isinstance(record, str) or not _METRIC_NAME.match(record):
            w.fail(rn, f"invalid recording rule name: {record}", "record")
        for k in ("annotations", "for", "keep_firing_for", "log_lines"):
            if rn.get(k) is not None:
                w.fail(rn, f"invalid field '{k}' in recording rule", k)
        return RuleSpec(expr, record=record, labels=labels, line=rn.line)
    if not isinstance(alert, str) or not alert:
        w.fail(rn, "invalid alert name", "alert")
    for key, mapping in (("labels", labels), ("annotations", annotations)):
        for k, v in mapping.items():
            err = templating.check(v)
            if err:
                w.fail(rn.get(key), f"{key} {k}: {err}", k)
    if "alertname" in labels or "__name__" in labels:
        w.fail(rn, "invalid label name in alerting rule labels", "labels")
    if "logs" in annotations:
        w.fail(rn.get("annotations"), "annotation 'logs' is reserved: pydock fills it with the container's "
                                      "log lines (set log_lines to change how many)", "logs")
    log_lines = w.integer(rn, "log_lines", -1)
    return RuleSpec(expr, alert=alert, for_=w.duration(rn, "for", 0.0),
                    keep_firing_for=w.duration(rn, "keep_firing_for", 0.0), labels=labels,
                    annotations=annotations, line=rn.line, log_lines=None if log_lines < 0 else log_lines)


def load_rule_files(paths: Sequence[Path], default_interval: float) -> list[GroupSpec]:
    groups: list[GroupSpec] = []
    for p in paths:
        groups.extend(load_rule_file(p, default_interval))
    return groups
