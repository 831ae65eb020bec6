"""Email (Alertmanager's <email_config>, notify/email): one mail per notification through a smarthost.

The mail is Alertmanager's: the configured headers (Subject defaults to `email.default.subject`, To and
From to the addresses), a Date, and a multipart/alternative body with the text part (if `text` is set)
then the HTML part (`email.default.html` unless set), both quoted-printable.

The SMTP session follows Alertmanager's too: implicit TLS when the smarthost's port is 465; otherwise
plain SMTP, upgraded with STARTTLS when `require_tls` (the default), and refused when the server does not
offer it; then AUTH when the server offers it and `auth_username` is set, with the first mechanism the
server lists that the config has a secret for (CRAM-MD5 with `auth_secret`, PLAIN with `auth_password`
and `auth_identity`, LOGIN with `auth_password`).

The standard library's smtplib does all of this (ESMTP, STARTTLS, AUTH) with no extra dependency, so it
is used here. It blocks, but a notification is one short exchange bounded by `timeout`, so each send
runs in a worker thread (asyncio.to_thread) instead of bringing in an asynchronous SMTP client.

Retries: network and TLS errors and SMTP 4xx replies are retried; SMTP 5xx replies (a refused sender or
recipient, failed authentication) fail for good, as 4xx HTTP answers do for webhooks.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, getaddresses

import httpx
from pydock.collector.notify.integration import DELIVERED, Outcome
from pydock.collector.notify.templates import Data, render
from pydock.collector.notifyconf import EmailConfig, TLSConfig
from pydock.collector.templating import TemplateError

log = logging.getLogger(__name__)


class _Failed(Exception):
    def __init__(self, error: str, retry: bool) -> None:
        super().__init__(error)
        self.retry = retry


def message(conf: EmailConfig, d: Data) -> tuple[str, list[str], EmailMessage]:
    """The envelope (sender, recipients) and the mail; raises TemplateError or ValueError for bad input."""
    senders = [addr for _, addr in getaddresses([render(conf.from_, d)]) if addr]
    if len(senders) != 1:
        raise ValueError("must be exactly one from address")
    recipients = [addr for _, addr in getaddresses([render(conf.to, d)]) if addr]
    if not recipients:
        raise ValueError("no to address")
    msg = EmailMessage(policy=SMTP)
    for name, template in conf.headers.items():
        msg[name] = render(template, d)  # the policy refuses CR/LF in a value and encodes non-ASCII text
    msg["Date"] = formatdate(localtime=True)
    text, html = render(conf.text, d), render(conf.html, d)
    if text:
        msg.set_content(text, cte="quoted-printable")
        if html:
            msg.add_alternative(html, subtype="html", cte="quoted-printable")
    elif html:
        msg.set_content(html, subtype="html", cte="quoted-printable")
        msg.make_alternative()
    return senders[0], recipients, msg


def tls_context(tls: TLSConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _plain(conf: EmailConfig, challenge: bytes | None = None) -> str:
    return f"{conf.auth_identity}\0{conf.auth_username}\0{conf.auth_password}"


def _login(smtp: smtplib.SMTP, conf: EmailConfig) -> None:
    """Alertmanager's Email.auth: the first mechanism the server lists that the config can use."""
    mechs = smtp.esmtp_features.get("auth", "").upper().split()
    smtp.user = conf.auth_username
    for mech in mechs:
        if mech == "CRAM-MD5" and conf.auth_secret:
            smtp.password = conf.auth_secret
            smtp.auth("CRAM-MD5", smtp.auth_cram_md5)
            return
        if mech == "PLAIN" and conf.auth_password:
            smtp.auth("PLAIN", functools.partial(_plain, conf))
            return
        if mech == "LOGIN" and conf.auth_password:
            smtp.password = conf.auth_password
            smtp.auth("LOGIN", smtp.auth_login)
            return
    raise _Failed(f"no usable auth mechanism among {' '.join(mechs) or 'none'} (set auth_password or auth_secret)",
                  retry=True)


def deliver(conf: EmailConfig, sender: str, recipients: list[str], msg: EmailMessage) -> None:
    """One SMTP session (blocking); raises _Failed."""
    host, port = conf.smarthost
    ctx = tls_context(conf.tls)
    try:
        smtp: smtplib.SMTP
        if port == 465:
            smtp = smtplib.SMTP_SSL(host, port, local_hostname=conf.hello, timeout=conf.timeout, context=ctx)
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=conf.hello, timeout=conf.timeout)
        with smtp:
            smtp.ehlo()
            if conf.require_tls and port != 465:
                if not smtp.has_extn("starttls"):
                    raise _Failed(f'require_tls: true (default), but "{host}:{port}" does not advertise the '
                                  "STARTTLS extension", retry=True)
                smtp.starttls(context=ctx)
                smtp.ehlo()
            if conf.auth_username and smtp.has_extn("auth"):
                _login(smtp, conf)
            refused = smtp.sendmail(sender, recipients, msg.as_bytes())
            if refused:
                log.warning("mail to %s refused by %s:%d: %s", ", ".join(refused), host, port, refused)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise _Failed(f"all recipients refused: {exc.recipients}", retry=any(c < 500 for c in codes)) from exc
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise _Failed(f"{type(exc).__name__}: {exc.smtp_code} {text}", retry=exc.smtp_code < 500) from exc
    except OSError as exc:  # connection, TLS (certificate), timeouts, a server that hung up
        raise _Failed(f"{type(exc).__name__}: {exc}", retry=True) from exc


@dataclass(frozen=True)
class Email:
    conf: EmailConfig

    async def send(self, client: httpx.AsyncClient, body: str) -> Outcome:
        try:
            sender, recipients, msg = message(self.conf, Data.from_payload(json.loads(body)))
        except (TemplateError, ValueError) as exc:
            return Outcome(f"cannot build the mail: {exc}")
        try:
            await asyncio.to_thread(deliver, self.conf, sender, recipients, msg)
        except _Failed as exc:
            return Outcome(str(exc), retry=exc.retry)
        return DELIVERED
