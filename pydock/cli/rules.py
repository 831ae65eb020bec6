"""`pydock rules check FILE...`: validate Prometheus rule files the way the collector loads them.

Like `promtool check rules`, plus what pydock adds: LogQL range aggregations inside expressions
(`count_over_time({name="web"} |= "panic" [5m]) > 0`) and the `log_lines` key of alerting rules.
Each error names the file, the line and the rule; the exit status is 1 when any file is bad.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pydock.errors import ConfigError


@click.group(name="rules")
def rules_group() -> None:
    """Check alerting and recording rule files (PromQL and LogQL)."""


@rules_group.command(name="check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Check rule files; prints SUCCESS or the error of each."""
    from pydock.collector.rulefiles import load_rule_file

    bad = 0
    for path in files:
        click.echo(f"Checking {path}")
        try:
            if not path.is_file():
                raise ConfigError(f"{path}: no such file")
            groups = load_rule_file(path, 60.0)
        except ConfigError as exc:
            bad += 1
            click.echo(f"  FAILED: {exc}", err=True)
            continue
        n = sum(len(g.rules) for g in groups)
        click.echo(f"  SUCCESS: {n} rules found")
    if bad:
        click.echo(f"pydock: {bad} of {len(files)} rule files have errors", err=True)
        sys.exit(1)  # promtool's status for bad rule files (click's Exit would be returned, not raised)
