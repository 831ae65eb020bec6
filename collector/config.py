"""collector.yml: Prometheus's config shape where they overlap, Alertmanager's for notifications.

The exact shape (see docs/collector.md for an example)::

    global:        {scrape_interval: 1m, scrape_timeout: 10s, evaluation_interval: 1m, external_labels: {}}
    scrape_configs:
      - job_name, scrape_interval, scrape_timeout, metrics_path (/metrics), scheme (http|https),
        honor_labels (false), honor_timestamps (true), params ({name: [values]}),
        static_configs: [{targets: [host:port], labels: {}}],
        file_sd_configs: [{files: [globs], refresh_interval: 5m}]     # re-read on change
    rule_files: [globs, relative to this file]
    alerting:
      resend_delay: 1m                  # Prometheus's --rules.alert.resend-delay
      retry: {initial: 1s, max: 1m, max_age: 24h}   # persisted notification retries
      receivers:
        - name: ops
          webhook_configs: [{url, send_resolved: true, max_alerts: 0, timeout: 10s,
                             http_config: {bearer_token | basic_auth: {username, password}}}]
          alertmanager_configs: [{url: http://am:9093, timeout: 10s, http_config: {...}}]
          email_configs, slack_configs, discord_configs, ntfy_configs: see collector/notifyconf.py
      route: {receiver, group_by: [..] | ['...'], group_wait: 30s, group_interval: 5m,
              repeat_interval: 4h, matchers: ['a="b"'], match: {}, match_re: {}, continue: false,
              routes: [...]}

Every error is a `ConfigError` that names the file, the line and the reason.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlparse

import yaml
from pydock.collector.matchers import Matcher, parse_matchers
from pydock.collector.notifyconf import (
    INTEGRATION_KEYS,
    DiscordConfig,
    EmailConfig,
    HTTPConfig,
    NtfyConfig,
    SlackConfig,
    parse_http,
    parse_integrations,
)
from pydock.collector.yamlconf import LDict, Where, load_yaml, valid_label_name


@dataclass(frozen=True)
class CollectorSettings:
    """How one collector process runs (flags of `pydock collector`), apart from collector.yml."""

    config_path: Path | None
    data_dir: Path
    listen: str = "127.0.0.1:9339"
    retention_s: float = 15 * 86400.0
    token: str | None = None  # bearer token for log pushes and admin calls (reload, silences)
    external_url: str | None = None  # base of generatorURL and externalURL; default http://<listen>
    token_file: Path | None = None  # the token read from a file instead (api.logs reads it)
    read_auth: str = "none"  # reads (queries, pages): "none", "token" or "basic"
    basic_auth: str = ""  # "user:password" for read_auth "basic"
    # The log store (pydock.collector.logstore.open_store); unset ones fall back to PYDOCK_<NAME>.
    log_store: str = ""  # "sqlite" (default) or "elasticsearch"
    es_url: str = ""
    es_api_key_file: Path | None = None
    log_retention_s: float | None = None  # default: retention_s
    log_max_bytes: int | None = None  # 0 or unset: no size bound
    # PromQL limits, Prometheus's --query.timeout / --query.max-samples / --query.max-concurrency.
    query_timeout_s: float = 120.0
    query_max_samples: int = 50_000_000
    query_max_concurrency: int = 20
    # Web limits (collector/guard.py, collector/server.py), Prometheus's --web.* flags.
    enable_lifecycle: bool = False  # --web.enable-lifecycle: POST /-/reload
    max_connections: int = 512  # --web.max-connections
    read_timeout_s: float = 300.0  # --web.read-timeout
    max_log_pushes: int = 16  # log pushes handled at once; more get 429

    @property
    def base_url(self) -> str:
        return (self.external_url or f"http://{self.listen}").rstrip("/")



@dataclass(frozen=True)
class GlobalConfig:
    scrape_interval: float = 60.0
    scrape_timeout: float = 10.0
    evaluation_interval: float = 60.0
    external_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StaticConfig:
    targets: tuple[str, ...]
    labels: Mapping[str, str]


@dataclass(frozen=True)
class FileSDConfig:
    files: tuple[str, ...]  # globs, made absolute against the config file's directory
    refresh_interval: float = 300.0


@dataclass(frozen=True)
class ScrapeConfig:
    job_name: str
    scrape_interval: float
    scrape_timeout: float
    metrics_path: str = "/metrics"
    scheme: str = "http"
    honor_labels: bool = False
    honor_timestamps: bool = True
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    send_resolved: bool = True
    max_alerts: int = 0
    timeout: float = 10.0
    http: HTTPConfig = field(default_factory=HTTPConfig)

    @property
    def target(self) -> str:
        return self.url


@dataclass(frozen=True)
class AlertmanagerTarget:
    """A real Alertmanager; alerts go to `<url>/api/v2/alerts` as Prometheus sends them."""

    url: str
    timeout: float = 10.0
    http: HTTPConfig = field(default_factory=HTTPConfig)


IntegrationConfig: TypeAlias = WebhookConfig | EmailConfig | SlackConfig | DiscordConfig | NtfyConfig


@dataclass(frozen=True)
class Receiver:
    name: str
    webhooks: tuple[WebhookConfig, ...] = ()
    alertmanagers: tuple[AlertmanagerTarget, ...] = ()
    emails: tuple[EmailConfig, ...] = ()
    slacks: tuple[SlackConfig, ...] = ()
    discords: tuple[DiscordConfig, ...] = ()
    ntfys: tuple[NtfyConfig, ...] = ()

    def integrations(self) -> list[tuple[str, int, IntegrationConfig]]:
        """The notifiers the collector runs itself (all but `alertmanager_configs`), as (kind, index, config)."""
        out: list[tuple[str, int, IntegrationConfig]] = []
        for kind, configs in (("webhook", self.webhooks), ("email", self.emails), ("slack", self.slacks),
                              ("discord", self.discords), ("ntfy", self.ntfys)):
            out.extend((kind, i, c) for i, c in enumerate(configs))
        return out

    def integration(self, kind: str, idx: int) -> IntegrationConfig | None:
        for k, i, conf in self.integrations():
            if (k, i) == (kind, idx):
                return conf
        return None


@dataclass(frozen=True)
class Route:
    """One node of the route tree, with the parent's settings already inherited (as Alertmanager does)."""

    receiver: str
    group_by: tuple[str, ...] | None = ()  # None: `...`, group by all labels
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class RetryConfig:
    initial: float = 1.0
    max: float = 60.0
    max_age: float = 86400.0  # a notification undelivered this long is dropped (and logged)


@dataclass(frozen=True)
class AlertingConfig:
    receivers: Mapping[str, Receiver] = field(default_factory=dict)
    route: Route | None = None
    resend_delay: float = 60.0
    retry: RetryConfig = RetryConfig()


@dataclass(frozen=True)
class CollectorConfig:
    path: Path | None
    global_: GlobalConfig = GlobalConfig()
    scrape_configs: tuple[ScrapeConfig, ...] = ()
    rule_files: tuple[str, ...] = ()  # absolute globs
    alerting: AlertingConfig = AlertingConfig()
    shown: str = field(default="", compare=False, repr=False)  # for /api/v1/status/config, secrets hidden

    def rule_paths(self) -> list[Path]:
        out: list[Path] = []
        for pattern in self.rule_files:
            out.extend(Path(p) for p in sorted(glob.glob(pattern)))
        return out


def load_config(path: Path) -> CollectorConfig:
    """Read and check collector.yml; raises `ConfigError` with `file:line: reason`."""
    path = Path(path)
    doc = load_yaml(path)
    w = Where(path)
    if doc is None:
        return CollectorConfig(path=path)
    root = w.mapping(doc, "config", {"global", "scrape_configs", "rule_files", "alerting"})
    g = _global(w, w.mapping(root.get("global"), "global",
                             {"scrape_interval", "scrape_timeout", "evaluation_interval", "external_labels"},
                             root, "global"))
    jobs: list[ScrapeConfig] = []
    seen: set[str] = set()
    scrape_list = w.seq(root, "scrape_configs", "scrape_configs")
    for i, item in enumerate(scrape_list):
        sc = _scrape(w, path, g, w.mapping(item, "scrape_config", _SCRAPE_KEYS, scrape_list, i))
        if sc.job_name in seen:
            w.fail(item, f'found multiple scrape configs with job name "{sc.job_name}"', "job_name")
        seen.add(sc.job_name)
        jobs.append(sc)
    rule_files: list[str] = []
    rf = w.seq(root, "rule_files", "rule_files")
    for i, pattern in enumerate(rf):
        if not isinstance(pattern, str) or not pattern:
            w.fail(rf, "rule_files entries must be non-empty strings", i)
        full = pattern if Path(pattern).is_absolute() else str(path.parent / pattern)
        try:
            glob.glob(full)
        except ValueError as exc:
            w.fail(rf, f"invalid rule file path {pattern!r}: {exc}", i)
        rule_files.append(full)
    alerting = _alerting(w, w.mapping(root.get("alerting"), "alerting",
                                      {"receivers", "route", "resend_delay", "retry"}, root, "alerting"))
    return CollectorConfig(path=path, global_=g, scrape_configs=tuple(jobs), rule_files=tuple(rule_files),
                           alerting=alerting, shown=yaml.safe_dump(redacted(doc), sort_keys=False))


SECRET = "<secret>"


_SECRET_KEYS = {"password", "bearer_token", "auth_password", "auth_secret", "token"}
# Slack and Discord webhook URLs are credentials (Alertmanager's SecretURL); so is an ntfy topic.
_SECRET_URL_KEYS = {"api_url", "webhook_url"}


def redacted(node: Any, key: str = "", in_webhook: bool = False) -> Any:
    """The config as plain data with its secrets replaced, as Prometheus prints `<secret>`: passwords,
    bearer tokens, webhook URLs (whole: their path or query is often the credential, so Alertmanager
    treats them as secret URLs) and the password of any other URL."""
    if isinstance(node, Mapping):
        return {str(k): redacted(v, str(k), in_webhook or key in ("webhook_configs", "ntfy_configs"))
                for k, v in node.items()}
    if isinstance(node, list):
        return [redacted(v, key, in_webhook) for v in node]
    if (key in _SECRET_KEYS or key in _SECRET_URL_KEYS) and node:
        return SECRET
    if key == "url" and isinstance(node, str):
        if in_webhook:
            return SECRET
        parsed = urlparse(node)
        if parsed.password:
            host = parsed.netloc.rpartition("@")[2]
            return parsed._replace(netloc=f"{parsed.username}:{SECRET}@{host}").geturl()
    return node


def _global(w: Where, node: LDict) -> GlobalConfig:
    interval = w.duration(node, "scrape_interval", 60.0)
    timeout = w.duration(node, "scrape_timeout", min(10.0, interval))
    if interval <= 0:
        w.fail(node, "scrape_interval must be greater than 0", "scrape_interval")
    if timeout > interval:
        w.fail(node, "global scrape timeout greater than scrape interval", "scrape_timeout")
    evaluation = w.duration(node, "evaluation_interval", 60.0)
    if evaluation <= 0:
        w.fail(node, "evaluation_interval must be greater than 0", "evaluation_interval")
    return GlobalConfig(interval, timeout, evaluation, w.labels(node, "external_labels"))


_SCRAPE_KEYS = {"job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "honor_labels",
                "honor_timestamps", "params", "static_configs", "file_sd_configs"}


def _scrape(w: Where, path: Path, g: GlobalConfig, node: LDict) -> ScrapeConfig:
    job = w.string(node, "job_name", required=True)
    if not job:
        w.fail(node, "job_name is empty", "job_name")
    interval = w.duration(node, "scrape_interval", g.scrape_interval)
    if interval <= 0:
        w.fail(node, "scrape_interval must be greater than 0", "scrape_interval")
    timeout = w.duration(node, "scrape_timeout", min(g.scrape_timeout, interval))
    if timeout > interval:
        w.fail(node, f'scrape timeout greater than scrape interval for scrape config with job name "{job}"',
               "scrape_timeout")
    metrics_path = w.string(node, "metrics_path", "/metrics")
    if not metrics_path.startswith("/"):
        w.fail(node, "metrics_path must start with /", "metrics_path")
    scheme = w.string(node, "scheme", "http")
    if scheme not in ("http", "https"):
        w.fail(node, f"unknown scheme {scheme!r}: expected http or https", "scheme")
    params: dict[str, tuple[str, ...]] = {}
    raw_params = w.mapping(node.get("params"), "params", set(node.get("params") or {}), node, "params")
    for k, v in raw_params.items():
        if not isinstance(v, list) or not all(isinstance(x, (str, int, float)) for x in v):
            w.fail(raw_params, f"params.{k} must be a list of strings", k)
        params[str(k)] = tuple(str(x) for x in v)
    statics: list[StaticConfig] = []
    sl = w.seq(node, "static_configs", "static_configs")
    for i, item in enumerate(sl):
        sc = w.mapping(item, "static_config", {"targets", "labels"}, sl, i)
        targets = w.seq(sc, "targets", "targets")
        for j, t in enumerate(targets):
            if not isinstance(t, str) or not _valid_address(t):
                w.fail(targets, f"invalid target address {t!r}: expected host:port", j)
        statics.append(StaticConfig(tuple(targets), w.labels(sc, "labels")))
    files_sd: list[FileSDConfig] = []
    fl = w.seq(node, "file_sd_configs", "file_sd_configs")
    for i, item in enumerate(fl):
        fc = w.mapping(item, "file_sd_config", {"files", "refresh_interval"}, fl, i)
        files = w.seq(fc, "files", "files")
        if not files:
            w.fail(fc, "file_sd_config needs at least one file in files")
        globs = []
        for j, f in enumerate(files):
            if not isinstance(f, str) or not (f.endswith((".json", ".yml", ".yaml"))):
                w.fail(files, f"path {f!r} is not valid for file discovery: must end in .json, .yml or .yaml", j)
            globs.append(f if Path(f).is_absolute() else str(path.parent / f))
        files_sd.append(FileSDConfig(tuple(globs), w.duration(fc, "refresh_interval", 300.0)))
    return ScrapeConfig(job, interval, timeout, metrics_path, scheme, w.boolean(node, "honor_labels", False),
                        w.boolean(node, "honor_timestamps", True), params, tuple(statics), tuple(files_sd))


def _valid_address(target: str) -> bool:
    if not target or "/" in target or " " in target:
        return False
    parsed = urlparse(f"//{target}")
    try:
        return parsed.hostname is not None and (parsed.port is None or 0 < parsed.port < 65536)
    except ValueError:
        return False


def _url(w: Where, node: LDict) -> str:
    url = w.string(node, "url", required=True)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        w.fail(node, f"unsupported url {url!r}: expected http:// or https:// with a host", "url")
    return url


def _alerting(w: Where, node: LDict) -> AlertingConfig:
    receivers: dict[str, Receiver] = {}
    rl = w.seq(node, "receivers", "receivers")
    for i, item in enumerate(rl):
        rn = w.mapping(item, "receiver", {"name", "webhook_configs", "alertmanager_configs", *INTEGRATION_KEYS},
                       rl, i)
        name = w.string(rn, "name", required=True)
        if name in receivers:
            w.fail(rn, f'notification config name "{name}" is not unique', "name")
        hooks = []
        hl = w.seq(rn, "webhook_configs", "webhook_configs")
        for j, h in enumerate(hl):
            hn = w.mapping(h, "webhook_config", {"url", "send_resolved", "max_alerts", "timeout", "http_config"},
                           hl, j)
            hooks.append(WebhookConfig(_url(w, hn), w.boolean(hn, "send_resolved", True),
                                       w.integer(hn, "max_alerts", 0), w.duration(hn, "timeout", 10.0),
                                       parse_http(w, hn)))
        ams = []
        al = w.seq(rn, "alertmanager_configs", "alertmanager_configs")
        for j, a in enumerate(al):
            an = w.mapping(a, "alertmanager_config", {"url", "timeout", "http_config"}, al, j)
            ams.append(AlertmanagerTarget(_url(w, an), w.duration(an, "timeout", 10.0), parse_http(w, an)))
        receivers[name] = Receiver(name, tuple(hooks), tuple(ams), *parse_integrations(w, rn, name))
    route = None
    if node.get("route") is not None:
        rn = w.mapping(node["route"], "route", _ROUTE_KEYS, node, "route")
        if rn.get("receiver") is None:
            w.fail(rn, "root route must specify a default receiver")
        for k in ("matchers", "match", "match_re"):
            if rn.get(k):
                w.fail(rn, "root route must not have any matchers", k)
        route = _route(w, rn, None, receivers)
    elif receivers:
        w.fail(node, "alerting has receivers but no route", "receivers")
    rt = w.mapping(node.get("retry"), "retry", {"initial", "max", "max_age"}, node, "retry")
    retry = RetryConfig(w.duration(rt, "initial", 1.0), w.duration(rt, "max", 60.0), w.duration(rt, "max_age", 86400.0))
    if retry.initial <= 0 or retry.max < retry.initial:
        w.fail(rt, "retry needs 0 < initial <= max")
    resend = w.duration(node, "resend_delay", 60.0)
    if resend <= 0:
        w.fail(node, "resend_delay must be greater than 0", "resend_delay")
    return AlertingConfig(receivers, route, resend, retry)


_ROUTE_KEYS = {"receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "matchers", "match",
               "match_re", "continue", "routes"}


def _route(w: Where, node: LDict, parent: Route | None, receivers: Mapping[str, Receiver]) -> Route:
    receiver = w.string(node, "receiver", parent.receiver if parent else "")
    if receiver not in receivers:
        w.fail(node, f'undefined receiver "{receiver}" used in route', "receiver" if "receiver" in node else None)
    group_by: tuple[str, ...] | None = parent.group_by if parent else ()
    if node.get("group_by") is not None:
        gb = w.seq(node, "group_by", "group_by")
        names = [str(x) for x in gb]
        if "..." in names:
            if len(names) > 1:
                w.fail(node, "cannot have wildcard group_by (`...`) and other labels at the same time", "group_by")
            group_by = None
        else:
            for j, n in enumerate(names):
                if not valid_label_name(n):
                    w.fail(gb, f'"{n}" is not a valid label name', j)
            if len(set(names)) != len(names):
                w.fail(node, "duplicated label in group_by", "group_by")
            group_by = tuple(names)
    matchers: list[Matcher] = []
    ml = w.seq(node, "matchers", "matchers")
    for j, text in enumerate(ml):
        try:
            matchers.extend(parse_matchers(str(text)))
        except ValueError as exc:
            w.fail(ml, str(exc), j)
    for key, op in (("match", "="), ("match_re", "=~")):
        mm = w.mapping(node.get(key), key, set(node.get(key) or {}), node, key)
        for name, value in mm.items():
            if not valid_label_name(str(name)):
                w.fail(mm, f'"{name}" is not a valid label name', name)
            try:
                matchers.append(Matcher.make(str(name), op, str(value)))
            except ValueError as exc:
                w.fail(mm, str(exc), name)
    matchers.sort(key=lambda m: (m.name, m.value, m.op))
    group_wait = w.duration(node, "group_wait", parent.group_wait if parent else 30.0)
    group_interval = w.duration(node, "group_interval", parent.group_interval if parent else 300.0)
    repeat = w.duration(node, "repeat_interval", parent.repeat_interval if parent else 4 * 3600.0)
    if group_interval <= 0:
        w.fail(node, "group_interval cannot be zero", "group_interval")
    if repeat <= 0:
        w.fail(node, "repeat_interval cannot be zero", "repeat_interval")
    this = Route(receiver, group_by, group_wait, group_interval, repeat, tuple(matchers),
                 w.boolean(node, "continue", False))
    children = []
    cl = w.seq(node, "routes", "routes")
    for j, child in enumerate(cl):
        children.append(_route(w, w.mapping(child, "route", _ROUTE_KEYS, cl, j), this, receivers))
    return Route(this.receiver, this.group_by, this.group_wait, this.group_interval, this.repeat_interval,
                 this.matchers, this.continue_, tuple(children))


def config_from_file(path: Path | None) -> CollectorConfig:
    """The config of a collector started with `--config PATH`, or an empty one without."""
    return load_config(path) if path is not None else CollectorConfig(path=None)

