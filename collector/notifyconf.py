"""The notification integrations of a receiver in collector.yml: Alertmanager's <email_config>,
<slack_config> and <discord_config>, and pydock's own <ntfy_config>; the shared <http_config>.

Split from `config` (which imports this module and re-exports its types) to keep each module small.
Every text field is a notification template (Alertmanager's `{{ template "slack.default.title" . }}` and
the like; see `notify.templates`), parsed at load so a bad one is refused with its file and line.
Errors name the receiver and the integration: `file:line: receiver "ops": email_configs[0]: reason`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

from pydock.collector.yamlconf import LDict, Where

from pydock.errors import ConfigError


@dataclass(frozen=True)
class HTTPConfig:
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}


@dataclass(frozen=True)
class TLSConfig:
    ca_file: str = ""  # PEM bundle to trust instead of the system's
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class EmailConfig:
    """Alertmanager's <email_config>; `headers` holds Subject, To and From too (canonical names)."""

    to: str
    from_: str
    smarthost: tuple[str, int]
    headers: Mapping[str, str]
    send_resolved: bool = False
    hello: str = "localhost"
    auth_username: str = ""
    auth_password: str = ""
    auth_secret: str = ""
    auth_identity: str = ""
    require_tls: bool = True
    tls: TLSConfig = TLSConfig()
    html: str = '{{ template "email.default.html" . }}'
    text: str = ""
    timeout: float = 30.0

    @property
    def target(self) -> str:
        return f"smtp://{self.smarthost[0]}:{self.smarthost[1]}"


@dataclass(frozen=True)
class SlackConfig:
    """Alertmanager's <slack_config> (no fields/actions); every text is a notification template."""

    api_url: str
    send_resolved: bool = False
    channel: str = ""
    username: str = '{{ template "slack.default.username" . }}'
    color: str = '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}'
    title: str = '{{ template "slack.default.title" . }}'
    title_link: str = '{{ template "slack.default.titlelink" . }}'
    pretext: str = '{{ template "slack.default.pretext" . }}'
    text: str = '{{ template "slack.default.text" . }}'
    fallback: str = '{{ template "slack.default.fallback" . }}'
    footer: str = '{{ template "slack.default.footer" . }}'
    icon_emoji: str = '{{ template "slack.default.iconemoji" . }}'
    icon_url: str = '{{ template "slack.default.iconurl" . }}'
    link_names: bool = False
    mrkdwn_in: tuple[str, ...] = ("fallback", "pretext", "text")
    timeout: float = 10.0
    http: HTTPConfig = HTTPConfig()

    @property
    def target(self) -> str:
        return self.api_url


@dataclass(frozen=True)
class DiscordConfig:
    """Alertmanager's <discord_config>."""

    webhook_url: str
    send_resolved: bool = True
    title: str = '{{ template "discord.default.title" . }}'
    message: str = '{{ template "discord.default.message" . }}'
    content: str = '{{ template "discord.default.content" . }}'
    username: str = ""
    avatar_url: str = ""
    timeout: float = 10.0
    http: HTTPConfig = HTTPConfig()

    @property
    def target(self) -> str:
        return self.webhook_url


@dataclass(frozen=True)
class NtfyConfig:
    """pydock's own <ntfy_config> (Alertmanager has none): ntfy's publish API, POST <server>/<topic>."""

    url: str
    send_resolved: bool = True
    title: str = '{{ template "ntfy.default.title" . }}'
    message: str = '{{ template "ntfy.default.message" . }}'
    priority: str = '{{ if eq .Status "firing" }}high{{ else }}default{{ end }}'
    tags: tuple[str, ...] = ('{{ if eq .Status "firing" }}rotating_light{{ else }}white_check_mark{{ end }}',)
    token: str = ""  # an ntfy access token, sent as `Authorization: Bearer`
    timeout: float = 10.0
    http: HTTPConfig = HTTPConfig()

    @property
    def target(self) -> str:
        return self.url


def parse_http(w: Where, node: LDict) -> HTTPConfig:
    hc = w.mapping(node.get("http_config"), "http_config", {"bearer_token", "basic_auth"}, node, "http_config")
    token = w.string(hc, "bearer_token") or None
    basic = None
    if hc.get("basic_auth") is not None:
        ba = w.mapping(hc["basic_auth"], "basic_auth", {"username", "password"}, hc, "basic_auth")
        basic = (w.string(ba, "username", required=True), w.string(ba, "password"))
    if token and basic:
        w.fail(hc, "at most one of basic_auth and bearer_token must be configured")
    return HTTPConfig(token, basic)


INTEGRATION_KEYS = ("email_configs", "slack_configs", "discord_configs", "ntfy_configs")
_EMAIL_KEYS = {"send_resolved", "to", "from", "smarthost", "hello", "auth_username", "auth_password", "auth_secret",
               "auth_identity", "require_tls", "tls_config", "headers", "html", "text", "timeout"}
_SLACK_TEXTS = ("channel", "username", "color", "title", "title_link", "pretext", "text", "fallback", "footer",
                "icon_emoji", "icon_url")
_NTFY_PRIORITIES = {"1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent"}


class _Sub(Where):
    """Errors inside one integration of a receiver: `file:line: receiver "ops": email_configs[0]: reason`."""

    def __init__(self, w: Where, prefix: str) -> None:
        super().__init__(w.path)
        self.prefix = prefix

    def fail(self, node: Any, reason: str, key: Any = None) -> NoReturn:
        raise ConfigError(f"{self.path}:{self.line(node, key)}: {self.prefix}: {reason}")


def _template(w: Where, parent: Any, key: Any, default: str = "") -> str:
    """One notification template (a mapping's key or a list's index), parsed now so that a bad one is
    refused at load rather than at the first alert."""
    from pydock.collector.notify.templates import check  # notify imports this module: import when used

    value = parent.get(key) if isinstance(parent, dict) else parent[key]
    if value is None:
        return default
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        w.fail(parent, f"{key} must be a string", key)
    error = check(str(value))
    if error:
        w.fail(parent, f"{key}: {error}", key)
    return str(value)


def _texts(w: Where, node: LDict, keys: Iterable[str], defaults: Any) -> dict[str, str]:
    return {key: _template(w, node, key, getattr(defaults, key)) for key in keys}


def _tls(w: Where, node: LDict) -> TLSConfig:
    tc = w.mapping(node.get("tls_config"), "tls_config", {"ca_file", "insecure_skip_verify"},
                   node, "tls_config")
    ca = w.string(tc, "ca_file")
    if ca and not Path(ca).is_file():
        w.fail(tc, f"ca_file {ca!r} does not exist", "ca_file")
    return TLSConfig(ca, w.boolean(tc, "insecure_skip_verify", False))


def _secret_url(w: Where, node: LDict, key: str) -> str:
    if node.get(key) is None:
        w.fail(node, f"{key} is required")
    url = w.string(node, key)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        w.fail(node, f"unsupported {key}: expected http:// or https:// with a host", key)  # the URL is a secret
    return url


def _email(w: Where, node: LDict) -> EmailConfig:
    for key in ("to", "from", "smarthost"):
        if not node.get(key):
            w.fail(node, {"to": "missing to address", "from": "missing from address (pydock has no global smtp_from)",
                          "smarthost": "missing smarthost (host:port)"}[key])
    smarthost = w.string(node, "smarthost")
    host, sep, port = smarthost.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        w.fail(node, f"invalid smarthost {smarthost!r}: expected host:port", "smarthost")
    headers: dict[str, str] = {}
    raw = w.mapping(node.get("headers"), "headers", set(node.get("headers") or {}), node, "headers")
    for name in raw:
        canonical = "-".join(p.capitalize() for p in str(name).split("-"))  # Go's CanonicalMIMEHeaderKey
        if canonical in headers:
            w.fail(raw, f'duplicate header "{canonical}" in email config', name)
        headers[canonical] = _template(w, raw, name)
    to, from_ = _template(w, node, "to"), _template(w, node, "from")
    headers.setdefault("Subject", '{{ template "email.default.subject" . }}')
    headers.setdefault("To", to)
    headers.setdefault("From", from_)
    texts = _texts(w, node, ("html", "text"), EmailConfig("", "", ("", 0), {}))
    return EmailConfig(to, from_, (host.strip("[]"), int(port)), headers,
                       w.boolean(node, "send_resolved", False), w.string(node, "hello", "localhost"),
                       w.string(node, "auth_username"), w.string(node, "auth_password"), w.string(node, "auth_secret"),
                       w.string(node, "auth_identity"), w.boolean(node, "require_tls", True), _tls(w, node),
                       texts["html"], texts["text"], w.duration(node, "timeout", 30.0))


def _slack(w: Where, node: LDict) -> SlackConfig:
    default = SlackConfig("")
    texts = _texts(w, node, _SLACK_TEXTS, default)
    mrkdwn = tuple(str(x) for x in w.seq(node, "mrkdwn_in", "mrkdwn_in")) or default.mrkdwn_in
    return SlackConfig(_secret_url(w, node, "api_url"), w.boolean(node, "send_resolved", False), **texts,
                       link_names=w.boolean(node, "link_names", False), mrkdwn_in=mrkdwn,
                       timeout=w.duration(node, "timeout", 10.0), http=parse_http(w, node))


def _discord(w: Where, node: LDict) -> DiscordConfig:
    texts = _texts(w, node, ("title", "message", "content"), DiscordConfig(""))
    return DiscordConfig(_secret_url(w, node, "webhook_url"), w.boolean(node, "send_resolved", True), **texts,
                         username=w.string(node, "username"), avatar_url=w.string(node, "avatar_url"),
                         timeout=w.duration(node, "timeout", 10.0), http=parse_http(w, node))


def _ntfy(w: Where, node: LDict) -> NtfyConfig:
    url = _secret_url(w, node, "url")
    if urlparse(url).path.strip("/") == "":
        w.fail(node, "url must name the topic: <server>/<topic>", "url")
    texts = _texts(w, node, ("title", "message", "priority"), NtfyConfig(""))
    if "{{" not in texts["priority"] and texts["priority"].lower() not in _NTFY_PRIORITIES:
        w.fail(node, f"invalid priority {texts['priority']!r}: expected 1-5 or min, low, default, high, max, urgent",
               "priority")
    tl = w.seq(node, "tags", "tags")
    tags = NtfyConfig("").tags
    if node.get("tags") is not None:
        tags = tuple(_template(w, tl, j) for j in range(len(tl)))
    token = w.string(node, "token")
    http = parse_http(w, node)
    if token and (http.bearer_token or http.basic_auth):
        w.fail(node, "at most one of token and http_config must set credentials", "token")
    return NtfyConfig(url, w.boolean(node, "send_resolved", True), **texts, tags=tags, token=token,
                      timeout=w.duration(node, "timeout", 10.0), http=http)


def parse_integrations(w: Where, rn: LDict, name: str) -> tuple[tuple[Any, ...], ...]:
    """email_configs, slack_configs, discord_configs and ntfy_configs of one receiver."""
    out = []
    for key, parse, allowed in (
            ("email_configs", _email, _EMAIL_KEYS),
            ("slack_configs", _slack, {"send_resolved", "api_url", "link_names", "mrkdwn_in", "timeout",
                                       "http_config", *_SLACK_TEXTS}),
            ("discord_configs", _discord, {"send_resolved", "webhook_url", "title", "message", "content",
                                           "username", "avatar_url", "timeout", "http_config"}),
            ("ntfy_configs", _ntfy, {"send_resolved", "url", "title", "message", "priority", "tags", "token",
                                     "timeout", "http_config"})):
        items = w.seq(rn, key, key)
        configs = []
        for j, item in enumerate(items):
            sub = _Sub(w, f'receiver "{name}": {key}[{j}]')
            configs.append(parse(sub, sub.mapping(item, key[:-1], allowed, items, j)))  # type: ignore[operator]
        out.append(tuple(configs))
    return tuple(out)
