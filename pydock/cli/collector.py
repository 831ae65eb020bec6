"""`pydock collector`: run the collector (TSDB, PromQL API, scraping, rules, notifications).

`pydock collector --config collector.yml [--listen 127.0.0.1:9339] [--data DIR] [--retention 15d]
[--token T]` serves until SIGINT/SIGTERM; SIGHUP or `POST /-/reload` re-reads the config.
`pydock collector import FILE [--data DIR]` loads OpenMetrics text with timestamps into the TSDB (the
input `promtool tsdb create-blocks-from openmetrics` takes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from pydock.errors import UsageError
from pydock.settings import Settings


def _default_data() -> Path:
    return Settings.from_env().root / "collector"


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"invalid --listen {listen!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def log_store_settings(log_store: str | None, es_url: str | None, es_api_key_file: Path | None,
                       log_retention: str | None, log_max_size: str | None) -> dict[str, object]:
    """The log store's CollectorSettings fields from the flags; what is not given stays unset, so
    PYDOCK_LOG_STORE, PYDOCK_ES_URL, ... still apply (pydock.collector.logstore.open_store)."""
    from pydock.collector.logstore import LogStoreError, check_es_url
    from pydock.collector.yamlconf import parse_duration
    from pydock.units import human_size

    out: dict[str, object] = {"log_store": log_store or "", "es_url": es_url or "",
                              "es_api_key_file": es_api_key_file}
    if (es_url or es_api_key_file) and log_store == "sqlite":
        raise UsageError("--es-url and --es-api-key-file need --log-store elasticsearch")
    if es_url:
        try:
            check_es_url(es_url)
        except LogStoreError as exc:
            raise UsageError(f"--es-url: {exc}") from None
    if es_api_key_file is not None and not es_api_key_file.is_file():
        raise UsageError(f"--es-api-key-file {str(es_api_key_file)!r}: no such file")
    if log_retention is not None:
        try:
            out["log_retention_s"] = parse_duration(log_retention)
        except ValueError as exc:
            raise UsageError(f"invalid --log-retention: {exc}") from exc
    if log_max_size is not None:
        out["log_max_bytes"] = human_size(log_max_size, "--log-max-size")  # UsageError names the flag
    return out


def query_limit_settings(timeout: str, max_samples: int, max_concurrency: int) -> dict[str, object]:
    """The PromQL limits' CollectorSettings fields from the --query.* flags, each checked."""
    from pydock.collector.yamlconf import parse_duration

    try:
        timeout_s = parse_duration(timeout)
    except ValueError as exc:
        raise UsageError(f"invalid --query.timeout: {exc}") from exc
    if timeout_s <= 0:
        raise UsageError(f"invalid --query.timeout {timeout!r}: must be positive")
    if max_samples <= 0:
        raise UsageError(f"invalid --query.max-samples {max_samples}: must be positive")
    if max_concurrency <= 0:
        raise UsageError(f"invalid --query.max-concurrency {max_concurrency}: must be positive")
    return {"query_timeout_s": timeout_s, "query_max_samples": max_samples,
            "query_max_concurrency": max_concurrency}


def setup_logging(level: str) -> None:
    """The collector's log format; httpx and httpcore log every request's full URL at INFO, and webhook
    and scrape URLs may carry credentials (user:password@, tokens in the path or query), so they
    only log warnings."""
    import logging

    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


@click.group(name="collector", invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="collector.yml (Prometheus's shape; see docs/collector.md)")
@click.option("--listen", default="127.0.0.1:9339", show_default=True, help="HOST:PORT to serve on")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="data directory (default $PYDOCK_ROOT/collector)")
@click.option("--retention", default="15d", show_default=True, help="how long samples are kept")
@click.option("--token", default=None, envvar="PYDOCK_COLLECTOR_TOKEN",
              help="bearer token required for log pushes and admin calls (reload, silences)")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="read the bearer token from this file")
@click.option("--read-auth", type=click.Choice(["none", "token", "basic"]), default="none", show_default=True,
              help="what reads (queries, pages) require")
@click.option("--basic-auth", default="", envvar="PYDOCK_COLLECTOR_BASIC_AUTH",
              help="USER:PASSWORD for --read-auth basic")
@click.option("--external-url", default=None, help="URL the collector is reached at (alert links)")
@click.option("--log-store", type=click.Choice(["sqlite", "elasticsearch"]), default=None,
              help="where logs go (default sqlite, or $PYDOCK_LOG_STORE)")
@click.option("--es-url", default=None, help="Elasticsearch 8.x URL for --log-store elasticsearch")
@click.option("--es-api-key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="file holding the Elasticsearch API key")
@click.option("--log-retention", default=None, help="how long log lines are kept (default: --retention)")
@click.option("--log-max-size", default=None, help="bound on the log store's size, e.g. 20g (default: none)")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--query.timeout", "query_timeout", default="2m", show_default=True,
              help="maximum time a query may take before it is aborted")
@click.option("--query.max-samples", "query_max_samples", default=50_000_000, show_default=True, type=int,
              help="maximum samples one query may hold in memory (subquery steps count)")
@click.option("--query.max-concurrency", "query_max_concurrency", default=20, show_default=True, type=int,
              help="maximum queries evaluated at once; the others wait in a queue")
@click.option("--web.enable-lifecycle", "web_enable_lifecycle", is_flag=True,
              help="enable POST /-/reload (off by default, as in Prometheus)")
@click.option("--web.max-connections", "web_max_connections", default=512, show_default=True, type=int,
              help="maximum simultaneous connections")
@click.option("--web.read-timeout", "web_read_timeout", default="5m", show_default=True,
              help="maximum wait for a request body before the request is ended")
@click.pass_context
def collector(ctx: click.Context, config_path: Path | None, listen: str, data_dir: Path | None, retention: str,
              token: str | None, token_file: Path | None, read_auth: str, basic_auth: str,
              external_url: str | None, log_level: str, log_store: str | None, es_url: str | None,
              es_api_key_file: Path | None, log_retention: str | None, log_max_size: str | None,
              query_timeout: str, query_max_samples: int, query_max_concurrency: int, **web: Any) -> None:
    """Run the collector (TSDB, PromQL API, scraping, alert rules, notifications)."""
    ctx.ensure_object(dict)
    ctx.obj["data_dir"] = data_dir
    if ctx.invoked_subcommand is not None:
        return
    from pydock.collector.app import create_app
    from pydock.collector.config import CollectorSettings
    from pydock.collector.yamlconf import parse_duration

    try:
        retention_s = parse_duration(retention)
    except ValueError as exc:
        raise UsageError(f"invalid --retention: {exc}") from exc
    host, port = _split_listen(listen)
    limits = query_limit_settings(query_timeout, query_max_samples, query_max_concurrency)
    if not (token or token_file) and not _loopback(host):
        raise UsageError(f"--listen {listen} reaches beyond loopback: set --token or --token-file so that "
                         "log pushes and admin calls are authenticated")
    if read_auth == "basic" and ":" not in basic_auth:
        raise UsageError("--read-auth basic needs --basic-auth USER:PASSWORD")
    setup_logging(log_level)
    settings = CollectorSettings(config_path=config_path, data_dir=data_dir or _default_data(), listen=listen,
                                 retention_s=retention_s, token=token, external_url=external_url,
                                 token_file=token_file, read_auth=read_auth, basic_auth=basic_auth,
                                 **log_store_settings(log_store, es_url, es_api_key_file, log_retention,
                                                      log_max_size), **limits, **_web_settings(web))
    app = create_app(settings)  # a bad config stops here with file:line: reason
    from pydock.collector.server import serve

    serve(app, host, port, log_level)


def _web_settings(web: dict[str, Any]) -> dict[str, Any]:
    """The --web.* flags as CollectorSettings fields (security review: issue 15)."""
    from pydock.collector.yamlconf import parse_duration

    if web["web_max_connections"] < 1:
        raise UsageError("--web.max-connections must be at least 1")
    try:
        read_timeout = parse_duration(web["web_read_timeout"])
    except ValueError as exc:
        raise UsageError(f"invalid --web.read-timeout: {exc}") from exc
    return {"enable_lifecycle": bool(web["web_enable_lifecycle"]), "max_connections": web["web_max_connections"],
            "read_timeout_s": read_timeout}


@collector.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="data directory (default: the collector's --data, else $PYDOCK_ROOT/collector)")
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, data_dir: Path | None) -> None:
    """Load OpenMetrics text with timestamps into the collector's TSDB."""
    from pydock.collector.importer import import_openmetrics
    from pydock.collector.tsdb import TSDB

    target = data_dir or ctx.obj.get("data_dir") or _default_data()
    os.makedirs(target, exist_ok=True)
    with TSDB(Path(target) / "tsdb.sqlite") as tsdb:
        n = import_openmetrics(file, tsdb)
    click.echo(f"imported {n} samples into {target}")
