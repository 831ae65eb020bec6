"""Notification templates: Alertmanager's template data and its default templates (template/default.tmpl).

Every text an integration sends (an email's Subject, a Slack title, a Discord message...) is a template
over Alertmanager's `template.Data`: `.Receiver`, `.Status`, `.Alerts` (with `.Alerts.Firing` and
`.Alerts.Resolved`), `.GroupLabels`, `.CommonLabels`, `.CommonAnnotations`, `.ExternalURL`. The defaults
are Alertmanager's own names (`{{ template "email.default.subject" . }}`, `slack.default.title`,
`discord.default.message`...), reproduced here in Python, output for output where the data allows, and
usable from a user's template as in Alertmanager. The rest of a template is the subset of Go's
text/template that rule annotations use (collector/templating.py: fields, pipes, `if`/`else`, `eq`,
`len`, `toUpper`...); `range`, `with` and `define` are refused at load.

One difference: `__alertmanagerURL` (the "View in Alertmanager" links, Slack's title link) points at
the collector's own alerts page, `<external URL>/alerts?receiver=...`, since the collector has no
`/#/alerts` UI route.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlparse

from pydock.collector.templating import TemplateError, _execute, parse

_CALL = re.compile(r'\{\{(-\s)?\s*template\s+"([^"]*)"\s+\.\s*(\s-)?\}\}')


@dataclass(frozen=True)
class Data:
    """Alertmanager's template.Data, read back from the webhook payload persisted in the outbox."""

    receiver: str
    status: str
    alerts: tuple[Mapping[str, Any], ...]  # the webhook's alerts[] (status, labels, annotations, ...)
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> Data:
        return cls(p["receiver"], p["status"], tuple(p["alerts"]), p["groupLabels"], p["commonLabels"],
                   p["commonAnnotations"], p["externalURL"])

    @property
    def firing(self) -> list[Mapping[str, Any]]:
        return [a for a in self.alerts if a["status"] == "firing"]

    @property
    def resolved(self) -> list[Mapping[str, Any]]:
        return [a for a in self.alerts if a["status"] == "resolved"]


class _Alerts(Mapping[str, Any]):
    """`.Alerts` of the data: `len .Alerts` counts the alerts, `.Alerts.Firing`/`.Alerts.Resolved` filter."""

    def __init__(self, data: Data) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        if key == "Firing":
            return self._data.firing
        if key == "Resolved":
            return self._data.resolved
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("Firing", "Resolved"))

    def __len__(self) -> int:
        return len(self._data.alerts)


def _values(labels: Mapping[str, str]) -> list[str]:
    """`.SortedPairs.Values`: the values in label name order."""
    return [labels[k] for k in sorted(labels)]


def subject(d: Data) -> str:
    """`__subject`: `[FIRING:2] <group label values> (<other common label values>)`."""
    head = f"[{d.status.upper()}" + (f":{len(d.firing)}" if d.status == "firing" else "") + "]"
    out = f"{head} {' '.join(_values(d.group_labels))} "
    if len(d.common_labels) > len(d.group_labels):
        rest = {k: v for k, v in d.common_labels.items() if k not in d.group_labels}
        out += "(" + " ".join(_values(rest)) + ")"
    return out


def alertmanager_url(d: Data) -> str:
    return f"{d.external_url}/alerts?receiver={quote_plus(d.receiver)}"  # see the module's docstring


def text_alert_list(alerts: list[Mapping[str, Any]]) -> str:
    """`__text_alert_list`: each alert's labels, annotations and source, one per line."""
    out = []
    for a in alerts:
        out.append("Labels:\n")
        out.extend(f" - {k} = {a['labels'][k]}\n" for k in sorted(a["labels"]))
        out.append("Annotations:\n")
        out.extend(f" - {k} = {a['annotations'][k]}\n" for k in sorted(a["annotations"]))
        out.append(f"Source: {a['generatorURL']}\n")
    return "".join(out)


def _firing_resolved(d: Data) -> str:
    """The body of `discord.default.message` (and telegram's, pushover's): firing, then resolved alerts."""
    firing = f"\nAlerts Firing:\n{text_alert_list(d.firing)}\n" if d.firing else ""
    resolved = f"\nAlerts Resolved:\n{text_alert_list(d.resolved)}\n" if d.resolved else ""
    return f"\n{firing}\n{resolved}\n"


def _safe_url(url: str) -> str:
    """html/template's URL filter: a scheme other than http(s)/mailto becomes `#ZgotmplZ`."""
    scheme = urlparse(url).scheme.lower()
    return html.escape(url if scheme in ("", "http", "https", "mailto") else "#ZgotmplZ")


_FONT = "font-family: 'Helvetica Neue', Helvetica, Arial, sans-serif; box-sizing: border-box; font-size: 14px;"


def _html_alert(a: Mapping[str, Any]) -> str:
    rows = "".join(f"{html.escape(k)} = {html.escape(a['labels'][k])}<br />" for k in sorted(a["labels"]))
    if a["annotations"]:
        rows += "<strong>Annotations</strong><br />"
        rows += "".join(f"{html.escape(k)} = {html.escape(a['annotations'][k])}<br />"
                        for k in sorted(a["annotations"]))
    return (f'<tr><td style="{_FONT} vertical-align: top; padding: 0 0 20px;" valign="top">'
            f"<strong>Labels</strong><br />{rows}"
            f'<a href="{_safe_url(a["generatorURL"])}" style="color: #348eda; text-decoration: underline;">'
            "Source</a><br /></td></tr>\n")


def email_html(d: Data) -> str:
    """`email.default.html`: Alertmanager's mail (after Mailgun's transactional template), with its
    sections and texts, fewer inline styles. Every value is HTML-escaped, as html/template does."""
    n = len(d.alerts)
    groups = " ".join(f"{html.escape(k)}={html.escape(d.group_labels[k])}" for k in sorted(d.group_labels))
    cell = f'style="{_FONT} vertical-align: top; padding: 0 0 20px;" valign="top"'
    parts = [
        ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
         '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'),
        f'<html xmlns="http://www.w3.org/1999/xhtml" style="{_FONT} margin: 0;">\n<head>\n',
        '<meta name="viewport" content="width=device-width" />\n',
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />\n',
        f"<title>{html.escape(subject(d))}</title>\n</head>\n",
        (f'<body style="{_FONT} line-height: 1.6em; background-color: #f6f6f6; margin: 0; padding: 0;" '
         'bgcolor="#f6f6f6">\n'),
        ('<table style="width: 100%; background-color: #f6f6f6;" bgcolor="#f6f6f6"><tr><td></td>'
         '<td width="600" style="display: block; max-width: 600px; margin: 0 auto;">\n'
         '<div style="max-width: 600px; margin: 0 auto;">\n'),
        ('<table width="100%" cellpadding="0" cellspacing="0" style="border-radius: 3px; background-color: #fff; '
         'border: 1px solid #e9e9e9;" bgcolor="#fff">\n'),
        (f'<tr><td style="{_FONT} font-size: 16px; color: #fff; font-weight: 500; text-align: center; '
         'border-radius: 3px 3px 0 0; background-color: #E6522C; padding: 20px;" align="center" '
         f'bgcolor="#E6522C" valign="top">{n} alert{"s" if n > 1 else ""} for {groups}</td></tr>\n'),
        '<tr><td style="padding: 10px;" valign="top"><table width="100%" cellpadding="0" cellspacing="0">\n',
        (f'<tr><td {cell}><a href="{_safe_url(alertmanager_url(d))}" style="color: #FFF; text-decoration: none; '
         "font-weight: bold; display: inline-block; border-radius: 5px; background-color: #348eda; "
         'border: solid #348eda; border-width: 10px 20px;">View in Alertmanager</a></td></tr>\n'),
    ]
    if d.firing:
        parts.append(f"<tr><td {cell}><strong>[{len(d.firing)}] Firing</strong></td></tr>\n")
        parts.extend(_html_alert(a) for a in d.firing)
    if d.resolved:
        if d.firing:
            parts.append(f"<tr><td {cell}><br /><hr /><br /></td></tr>\n")
        parts.append(f"<tr><td {cell}><strong>[{len(d.resolved)}] Resolved</strong></td></tr>\n")
        parts.extend(_html_alert(a) for a in d.resolved)
    parts.append('</table></td></tr></table>\n<div style="width: 100%; clear: both; color: #999; padding: 20px;">'
                 '<table width="100%"><tr><td style="font-size: 12px; text-align: center; color: #999;" '
                 f'align="center"><a href="{_safe_url(d.external_url)}" style="color: #999;">Sent by Alertmanager'
                 "</a></td></tr></table></div></div>\n</td><td></td></tr></table>\n</body>\n</html>\n")
    return "".join(parts)


def ntfy_message(d: Data) -> str:
    """pydock's `ntfy.default.message`: pushover's default (common annotations, then the alert lists),
    without its blank lines, since ntfy shows the text as it is."""
    text = " ".join(_values(d.common_annotations)) + "\n" + _firing_resolved(d)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _fallback(d: Data) -> str:
    return f"{subject(d)} | {alertmanager_url(d)}"


DEFAULTS: dict[str, Callable[[Data], str]] = {
    "__alertmanager": lambda d: "Alertmanager",
    "__alertmanagerURL": alertmanager_url,
    "__subject": subject,
    "__description": lambda d: "",
    "email.default.subject": subject,
    "email.default.html": email_html,
    "slack.default.title": subject,
    "slack.default.username": lambda d: "Alertmanager",
    "slack.default.fallback": _fallback,
    "slack.default.callbackid": lambda d: "",
    "slack.default.pretext": lambda d: "",
    "slack.default.titlelink": alertmanager_url,
    "slack.default.iconemoji": lambda d: "",
    "slack.default.iconurl": lambda d: "",
    "slack.default.text": lambda d: "",
    "slack.default.footer": lambda d: "",
    "discord.default.content": lambda d: "",
    "discord.default.title": subject,
    "discord.default.message": _firing_resolved,
    "ntfy.default.title": subject,
    "ntfy.default.message": ntfy_message,
}


def _prepare(template: str) -> tuple[str, list[str]]:
    """The template with each `{{ template "name" . }}` turned into a field of the data (`.__t0`...),
    and the names in order. An unknown name raises, as Go's `no such template`."""
    names: list[str] = []

    def repl(m: re.Match[str]) -> str:
        if m.group(2) not in DEFAULTS:
            raise TemplateError(f'no such template "{m.group(2)}"')
        names.append(m.group(2))
        return "{{" + (m.group(1) or "") + f".__t{len(names) - 1}" + (m.group(3) or "") + "}}"

    return _CALL.sub(repl, template), names


def check(template: str) -> str | None:
    """Parse a notification template without running it; returns the error, or None."""
    try:
        parse(_prepare(template)[0])
    except TemplateError as exc:
        return f"template: {exc}"
    return None


def render(template: str, data: Data) -> str:
    """Expand a notification template; raises TemplateError (the notification then fails for good,
    as in Alertmanager, where a template error is not retried)."""
    if not template:
        return ""
    text, names = _prepare(template)
    dot: dict[str, Any] = {"Receiver": data.receiver, "Status": data.status, "Alerts": _Alerts(data),
                           "GroupLabels": data.group_labels, "CommonLabels": data.common_labels,
                           "CommonAnnotations": data.common_annotations, "ExternalURL": data.external_url}
    for i, name in enumerate(names):
        dot[f"__t{i}"] = DEFAULTS[name](data)
    variables = {"$": dot, "$labels": data.common_labels, "$value": "", "$externalLabels": {},
                 "$externalURL": data.external_url}
    out: list[str] = []
    try:
        _execute(parse(text), variables, dot, out)
    except (TypeError, ValueError, KeyError) as exc:
        raise TemplateError(str(exc)) from exc
    return "".join(out)


def truncate(text: str, limit: int) -> str:
    """notify.TruncateInRunes: at most `limit` characters, the last one `…` when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"
