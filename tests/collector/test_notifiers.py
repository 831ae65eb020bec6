"""Native notifiers: email through a real SMTP server (aiosmtpd: STARTTLS with a certificate made here,
AUTH), Slack, Discord and ntfy to local HTTP receivers; their payloads, send_resolved, retries and
config errors. Each goes through the same grouping, outbox and delivery as webhooks."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from collector_helpers import free_port
from pydock.collector.config import AlertingConfig, load_config
from pydock.collector.notify import Notifier
from pydock.collector.notify.model import Alert
from pydock.collector.notify.templates import Data, render, subject

from pydock.errors import ConfigError

T0 = float(int(time.time())) - 1000  # in the past: delivery compares due times with the real clock
SUBJECT = "[FIRING:1] ContainerDown (web warning)"


def alerting(tmp_path: Path, receiver: str) -> AlertingConfig:
    p = tmp_path / "collector.yml"
    p.write_text(f"""alerting:
  retry: {{initial: 1s, max: 1s}}
  receivers:
    - name: team
{receiver}
  route: {{receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 10s}}
""")
    return load_config(p).alerting


def down(t: float = T0, ends: float | None = None) -> Alert:
    return Alert({"alertname": "ContainerDown", "name": "web", "severity": "warning"},
                 {"summary": "Container web is down <now>"}, t, ends if ends is not None else t + 240,
                 "http://c:9339/graph?g0.expr=up", t)


async def _deliver(n: Notifier, until: float) -> None:
    async with httpx.AsyncClient() as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + until
        while loop.time() < deadline and any(i.state == "pending" and i.attempts == 0 for i in n.store.pending()):
            await n.delivery.run_once(client)
            await asyncio.sleep(0.05)


def notify(n: Notifier, alerts: list[Alert], now: float, until: float = 10.0) -> None:
    """Route, group and flush `alerts` at `now`, then make one delivery attempt of what was queued."""
    n.send(alerts, now=now)
    n.tick(now)
    asyncio.run(_deliver(n, until))


# --- SMTP -------------------------------------------------------------------------------------------

class Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[Envelope, Session, EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        self.mails.append((envelope, session, msg))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def _auth(server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[trustme.CA, Path]]:
    authority = trustme.CA()
    pem = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    yield authority, pem


def smtp_server(ca: trustme.CA | None, **kwargs: Any) -> tuple[Controller, Mailbox]:
    box = Mailbox()
    tls = None
    if ca is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
    ctl = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=tls, **kwargs)
    ctl.start()
    return ctl, box


def test_email_starttls_auth_and_alertmanagers_mail(tmp_path: Path, ca: tuple[trustme.CA, Path]) -> None:
    ctl, box = smtp_server(ca[0], require_starttls=True, authenticator=_auth, auth_required=True)
    try:
        cfg = alerting(tmp_path, f"""      email_configs:
        - to: 'ops@example.com, Dev <dev@example.com>'
          from: 'pydock <alerts@example.com>'
          smarthost: 127.0.0.1:{ctl.port}
          hello: collector.example.com
          auth_username: alerts
          auth_password: s3cret
          tls_config: {{ca_file: '{ca[1]}'}}
          headers: {{x-team: '{{{{ .CommonLabels.name }}}}'}}
          text: 'down: {{{{ .CommonAnnotations.summary }}}}'""")
        n = Notifier(tmp_path / "n.db", cfg, "http://c:9339")
        notify(n, [down()], T0)
        assert n.store.pending() == [] and len(box.mails) == 1
        envelope, session, msg = box.mails[0]
        assert envelope.mail_from == "alerts@example.com"
        assert envelope.rcpt_tos == ["ops@example.com", "dev@example.com"]
        assert session.authenticated and session.host_name == "collector.example.com"
        assert msg["Subject"] == SUBJECT
        assert msg["From"] == "pydock <alerts@example.com>" and msg["To"] == "ops@example.com, Dev <dev@example.com>"
        assert msg["X-Team"] == "web" and msg["Date"]
        assert msg.get_content_type() == "multipart/alternative"
        text, html = (part for part in msg.iter_parts())
        assert text.get_content_type() == "text/plain" and text["Content-Transfer-Encoding"] == "quoted-printable"
        assert text.get_content().strip() == "down: Container web is down <now>"
        body = html.get_content()
        assert html.get_content_type() == "text/html"
        assert "1 alert for alertname=ContainerDown" in body and "[1] Firing" in body
        assert "name = web<br />" in body and "Container web is down &lt;now&gt;" in body  # escaped
        assert 'href="http://c:9339/graph?g0.expr=up"' in body and f"<title>{SUBJECT}</title>" in body
        # email's send_resolved defaults to false (as in Alertmanager): the resolved group sends nothing
        notify(n, [down(ends=T0 + 5)], T0 + 20)
        assert len(box.mails) == 1 and n.store.pending() == []
        n.close()
    finally:
        ctl.stop()


def test_email_tls_and_auth_failures(tmp_path: Path, ca: tuple[trustme.CA, Path]) -> None:
    plain, plain_box = smtp_server(None, auth_require_tls=False)
    tls, tls_box = smtp_server(ca[0], authenticator=_auth, auth_required=True)
    try:
        cfg = alerting(tmp_path, f"""      email_configs:
        - {{to: a@example.com, from: b@example.com, smarthost: '127.0.0.1:{plain.port}'}}
        - {{to: a@example.com, from: b@example.com, smarthost: '127.0.0.1:{plain.port}', require_tls: false,
            send_resolved: true}}
        - {{to: a@example.com, from: b@example.com, smarthost: '127.0.0.1:{tls.port}'}}
        - {{to: a@example.com, from: b@example.com, smarthost: '127.0.0.1:{tls.port}', auth_username: alerts,
            auth_password: wrong, tls_config: {{ca_file: '{ca[1]}'}}}}""")
        n = Notifier(tmp_path / "n.db", cfg, "http://c")
        notify(n, [down()], T0)
        left = {i.dest: i for i in n.store.pending()}
        # 0: STARTTLS required (the default) but not offered: retried, as Alertmanager does
        assert left["team/email/0"].state == "pending" and "does not advertise the STARTTLS" in \
            left["team/email/0"].last_error
        # 1: require_tls: false sends in the clear
        assert "team/email/1" not in left and len(plain_box.mails) == 1
        # 2: a certificate the collector does not trust: retried (the operator may fix the server)
        assert left["team/email/2"].state == "pending" and "CERTIFICATE_VERIFY_FAILED" in \
            left["team/email/2"].last_error
        # 3: wrong password, an SMTP 5xx: failed for good
        assert left["team/email/3"].state == "failed" and "535" in left["team/email/3"].last_error
        assert tls_box.mails == []
        # send_resolved: true on config 1: the resolved mail follows
        notify(n, [down(ends=T0 + 5)], T0 + 20, until=2)
        assert [m["Subject"] for _, _, m in plain_box.mails] == [SUBJECT, "[RESOLVED] ContainerDown (web warning)"]
        n.close()
    finally:
        plain.stop()
        tls.stop()


# --- HTTP integrations --------------------------------------------------------------------------------

class Recorder:
    """Records raw POSTs (path, headers, body); answers `status` with `answer`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[dict[str, Any]] = []
        self.status, self.answer = 200, b"ok"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": data})
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(owner.answer)))
                self.end_headers()
                self.wfile.write(owner.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def json(self, i: int) -> Any:
        return json.loads(self.requests[i]["body"])


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_slack_payload_is_alertmanagers(tmp_path: Path, recorder: Recorder) -> None:
    cfg = alerting(tmp_path, f"""      slack_configs:
        - api_url: '{recorder.url("/services/T0/B0/xyz")}'
          channel: '#alerts'
        - api_url: '{recorder.url("/custom")}'
          send_resolved: true
          title: '{{{{ .CommonLabels.name }}}} is {{{{ .Status | toUpper }}}}'
          text: '{{{{ template "__subject" . }}}} for {{{{ len .Alerts.Firing }}}} alert(s)'
          color: '#ff0000'""")
    n = Notifier(tmp_path / "n.db", cfg, "http://c:9339")
    notify(n, [down()], T0)
    assert n.store.pending() == []
    by_path = {r["path"]: json.loads(r["body"]) for r in recorder.requests}
    default = by_path["/services/T0/B0/xyz"]
    link = "http://c:9339/alerts?receiver=team"
    assert default == {"channel": "#alerts", "username": "Alertmanager", "attachments": [{
        "title": SUBJECT, "title_link": link, "text": "", "fallback": f"{SUBJECT} | {link}", "callback_id": "",
        "footer": "", "color": "danger", "mrkdwn_in": ["fallback", "pretext", "text"]}]}
    custom = by_path["/custom"]["attachments"][0]
    assert custom["title"] == "web is FIRING" and custom["text"] == f"{SUBJECT} for 1 alert(s)"
    assert custom["color"] == "#ff0000"
    # Slack's send_resolved defaults to false: only the second config hears of the resolution
    recorder.requests.clear()
    notify(n, [down(ends=T0 + 5)], T0 + 20)
    assert [r["path"] for r in recorder.requests] == ["/custom"]
    assert recorder.json(0)["attachments"][0]["title"] == "web is RESOLVED"
    # Slack answers errors with 200 and a text other than "ok": failed for good, not retried
    recorder.answer = b"invalid_payload"
    notify(n, [down(t=T0 + 100)], T0 + 100)
    assert {i.state for i in n.store.pending()} == {"failed"}
    assert "invalid_payload" in n.store.pending()[0].last_error
    n.close()


def test_discord_payload(tmp_path: Path, recorder: Recorder) -> None:
    cfg = alerting(tmp_path, f"""      discord_configs:
        - webhook_url: '{recorder.url("/api/webhooks/1/tok")}'""")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    notify(n, [down()], T0)
    msg = recorder.json(0)
    assert set(msg) == {"content", "embeds"} and msg["content"] == ""
    [embed] = msg["embeds"]
    assert set(embed) == {"title", "description", "color"}
    assert embed["title"] == SUBJECT and embed["color"] == 0x992D22
    assert embed["description"] == (
        "\n\nAlerts Firing:\nLabels:\n - alertname = ContainerDown\n - name = web\n - severity = warning\n"
        "Annotations:\n - summary = Container web is down <now>\nSource: http://c:9339/graph?g0.expr=up\n\n\n\n")
    assert recorder.requests[0]["headers"]["Content-Type"] == "application/json"
    notify(n, [down(ends=T0 + 5)], T0 + 20)  # discord's send_resolved defaults to true
    resolved = recorder.json(1)["embeds"][0]
    assert resolved["color"] == 0x2ECC71 and resolved["title"].startswith("[RESOLVED] ContainerDown")
    assert "Alerts Resolved:" in resolved["description"] and "Alerts Firing:" not in resolved["description"]
    n.close()


def test_ntfy_publish_and_retry(tmp_path: Path, recorder: Recorder) -> None:
    cfg = alerting(tmp_path, f"""      ntfy_configs:
        - url: '{recorder.url("/pydock-alerts")}'
          token: tk_secret
          tags: [warning, 'name-{{{{ .CommonLabels.name }}}}']""")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    recorder.status = 503
    notify(n, [down()], T0, until=1)
    [item] = n.store.pending()
    assert item.state == "pending" and item.attempts == 1 and "503" in item.last_error
    assert "pydock-alerts" not in item.last_error  # the topic is a secret
    recorder.status = 200
    asyncio.run(_deliver_all(n))
    assert n.store.pending() == []
    req = recorder.requests[-1]
    assert req["path"] == "/pydock-alerts"
    h = req["headers"]
    assert h["Title"] == SUBJECT.strip() and h["Priority"] == "high" and h["Tags"] == "warning,name-web"
    assert h["Authorization"] == "Bearer tk_secret"
    body = req["body"].decode()
    assert body.startswith("Container web is down <now>\n\nAlerts Firing:\nLabels:\n - alertname = ContainerDown")
    notify(n, [down(ends=T0 + 5)], T0 + 20)
    assert recorder.requests[-1]["headers"]["Priority"] == "default"
    n.close()


async def _deliver_all(n: Notifier, until: float = 5.0) -> None:
    async with httpx.AsyncClient() as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + until
        while loop.time() < deadline and n.store.pending():
            await n.delivery.run_once(client)
            await asyncio.sleep(0.1)


def test_subject_and_template_data() -> None:
    payload = {"receiver": "ops", "status": "firing", "groupLabels": {"alertname": "X", "job": "j"},
               "commonLabels": {"alertname": "X", "job": "j"}, "commonAnnotations": {}, "externalURL": "http://c",
               "alerts": [{"status": "firing"}, {"status": "resolved"}]}
    d = Data.from_payload(payload)
    # Alertmanager's __subject keeps the space before its (absent) parenthesis
    assert subject(d) == "[FIRING:1] X j "
    assert render('{{ if gt (len .Alerts.Resolved) 0 }}some resolved{{ end }} of {{ .Alerts | len }}', d) == \
        "some resolved of 2"
    assert render('{{- template "__alertmanagerURL" . -}}', d) == "http://c/alerts?receiver=ops"


@pytest.mark.parametrize("receiver, line, reason", [
    ("      email_configs:\n        - {from: a@b, smarthost: 'h:25'}\n", 5,
     'receiver "team": email_configs[0]: missing to address'),
    ("      email_configs:\n        - to: a@b\n          from: c@d\n          smarthost: mail.example.com\n", 7,
     'receiver "team": email_configs[0]: invalid smarthost \'mail.example.com\': expected host:port'),
    ("      email_configs:\n        - {to: a@b, from: c@d, smarthost: 'h:25', html: '{{ template \"nope\" . }}'}\n",
     5, 'email_configs[0]: html: template: no such template "nope"'),
    ("      email_configs:\n        - {to: a@b, from: c@d, smarthost: 'h:25', tls_config: {ca_file: /no/ca.pem}}\n",
     5, "ca_file '/no/ca.pem' does not exist"),
    ("      slack_configs:\n        - {channel: '#x'}\n", 5, 'receiver "team": slack_configs[0]: api_url is required'),
    ("      slack_configs:\n        - {api_url: 'http://h/x', fields: []}\n", 5, "field fields not found"),
    ("      discord_configs:\n        - {webhook_url: 'ftp://h/x'}\n", 5, "unsupported webhook_url"),
    ("      ntfy_configs:\n        - {url: 'https://ntfy.sh', priority: 9}\n", 5, "url must name the topic"),
    ("      ntfy_configs:\n        - {url: 'https://ntfy.sh/t', priority: 9}\n", 5, "invalid priority '9'"),
    ("      ntfy_configs:\n        - {url: 'https://ntfy.sh/t', title: '{{ range .Alerts }}x{{ end }}'}\n", 5,
     "range actions are not supported"),
])
def test_config_errors_name_the_receiver(tmp_path: Path, receiver: str, line: int, reason: str) -> None:
    p = tmp_path / "collector.yml"
    p.write_text("alerting:\n  receivers:\n    - name: team\n" + receiver + "  route: {receiver: team}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(err.value).startswith(f"{p}:{line}: "), str(err.value)
    assert reason in str(err.value), str(err.value)


def test_secrets_are_hidden_in_the_shown_config(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, """alerting:
  receivers:
    - name: team
      email_configs: [{to: a@b, from: c@d, smarthost: 'h:25', auth_username: u, auth_password: pw}]
      slack_configs: [{api_url: 'https://hooks.slack.com/services/T/B/secret'}]
      discord_configs: [{webhook_url: 'https://discord.com/api/webhooks/1/secret'}]
      ntfy_configs: [{url: 'https://ntfy.sh/secret-topic', token: tk_secret}]
  route: {receiver: team}
"""))
    shown = cfg.shown.replace("<secret>", "")
    assert "secret" not in shown and "pw" not in shown
    assert cfg.shown.count("<secret>") == 5
    team = cfg.alerting.receivers["team"]
    assert [k for k, _, _ in team.integrations()] == ["email", "slack", "discord", "ntfy"]
    assert team.emails[0].require_tls and not team.emails[0].send_resolved
    assert team.emails[0].headers["Subject"] == '{{ template "email.default.subject" . }}'


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "collector.yml"
    p.write_text(text)
    return p
