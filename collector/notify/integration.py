"""The contract between the outbox and one kind of notifier (Alertmanager's notify.Notifier).

A notification is persisted as the webhook payload (Alertmanager's version 4 message, which carries
all of the template data); at delivery, the destination's `Integration` turns it into its own request
(an SMTP mail, a Slack or Discord message, an ntfy publish, or the payload as it is for a webhook) and
says how it went: delivered, worth retrying (network errors, 5xx, SMTP 4xx) or failed for good.
The delivery loop (`delivery.Delivery`) does the rest: FIFO per destination, backoff, persistence.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
from pydock.collector.config import HTTPConfig
from pydock.collector.notify.templates import Data
from pydock.collector.templating import TemplateError

USER_AGENT = "pydock-collector/0.1"


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: `error` empty means delivered; otherwise `retry` says whether to try again."""

    error: str = ""
    retry: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


DELIVERED = Outcome()


class Integration(Protocol):
    """One destination of a receiver: `send` delivers one persisted notification (its stored body)."""

    async def send(self, client: httpx.AsyncClient, body: str) -> Outcome: ...


def scrub(text: str, url: str) -> str:
    """`text` without `url` or its parts: a webhook URL's userinfo, path and query may all be secrets
    (Alertmanager treats webhook URLs as secrets), so logs and stored errors name the destination
    (`receiver/kind/index`) instead."""
    try:
        parts = httpx.URL(url)
    except httpx.InvalidURL:
        return text.replace(url, "<secret>")
    for secret in sorted({url, str(parts), parts.userinfo.decode(errors="replace"), parts.path,
                          parts.query.decode(errors="replace"), parts.password or ""}, key=len, reverse=True):
        if len(secret) > 1:
            text = text.replace(secret, "<secret>")
    return text


def auth_headers(http: HTTPConfig) -> dict[str, str]:
    headers = http.headers()
    if http.basic_auth:
        user, password = http.basic_auth
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return headers


async def post(client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str], timeout: float,
               http: HTTPConfig) -> tuple[Outcome, httpx.Response | None]:
    """POST with Alertmanager's notify.Retrier rules: 2xx is success, 5xx and network errors are retried,
    any other status fails for good. Errors never carry the URL."""
    all_headers = {"User-Agent": USER_AGENT, **headers, **auth_headers(http)}
    try:
        resp = await client.post(url, content=content, headers=all_headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Outcome(scrub(f"{type(exc).__name__}: {exc}", url), retry=True), None
    if 200 <= resp.status_code < 300:
        return DELIVERED, resp
    error = scrub(f"unexpected status code {resp.status_code}: {resp.text[:200]}", url)
    return Outcome(error, retry=resp.status_code >= 500), resp


JSON = {"Content-Type": "application/json"}


def json_request(message: object) -> tuple[bytes, dict[str, str]]:
    return json.dumps(message).encode(), JSON


async def post_rendered(client: httpx.AsyncClient, body: str, build: Callable[[Data], tuple[bytes, dict[str, str]]],
                        url: str, timeout: float, http: HTTPConfig) -> tuple[Outcome, httpx.Response | None]:
    """Renders an integration's request from the persisted payload (`body`) with `build` (content and
    headers) and posts it; a template error fails for good without a request, as in Alertmanager."""
    try:
        content, headers = build(Data.from_payload(json.loads(body)))
    except TemplateError as exc:
        return Outcome(f"template: {exc}"), None
    return await post(client, url, content, headers, timeout, http)
