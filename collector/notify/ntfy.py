"""ntfy (pydock's own <ntfy_config>; Alertmanager has no ntfy receiver): ntfy's HTTP publish API,
`POST <server>/<topic>` with the message as the body and the rest in headers (Title, Priority, Tags),
an access token as `Authorization: Bearer`."""

from __future__ import annotations

from dataclasses import dataclass
from email.header import Header

import httpx
from pydock.collector.config import NtfyConfig
from pydock.collector.notify.integration import Outcome, post_rendered
from pydock.collector.notify.templates import Data, render
from pydock.collector.templating import TemplateError

PRIORITIES = {"1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent"}


def header_value(text: str) -> str:
    """One line; RFC 2047 encoded when not ASCII (ntfy decodes `=?UTF-8?B?...?=` headers)."""
    line = " ".join(text.split())
    return line if line.isascii() else Header(line, "utf-8").encode()


def request(conf: NtfyConfig, d: Data) -> tuple[bytes, dict[str, str]]:
    priority = render(conf.priority, d).strip().lower()
    if priority not in PRIORITIES:
        raise TemplateError(f"priority {priority!r} is not one of 1-5, min, low, default, high, max, urgent")
    headers = {"Content-Type": "text/plain; charset=utf-8", "Title": header_value(render(conf.title, d)),
               "Priority": priority}
    tags = [t for t in (header_value(render(t, d)).replace(",", " ") for t in conf.tags) if t]
    if tags:
        headers["Tags"] = ",".join(tags)
    if conf.token:
        headers["Authorization"] = f"Bearer {conf.token}"
    return render(conf.message, d).encode(), headers


@dataclass(frozen=True)
class Ntfy:
    conf: NtfyConfig

    async def send(self, client: httpx.AsyncClient, body: str) -> Outcome:
        outcome, _ = await post_rendered(client, body, lambda d: request(self.conf, d), self.conf.url,
                                         self.conf.timeout, self.conf.http)
        return outcome
