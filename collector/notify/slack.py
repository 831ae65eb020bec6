"""Slack (Alertmanager's <slack_config>): one message per notification, through an incoming webhook or
chat.postMessage, in Alertmanager's shape (notify/slack: one attachment, its texts from templates)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydock.collector.config import SlackConfig
from pydock.collector.notify.integration import Outcome, json_request, post_rendered
from pydock.collector.notify.templates import Data, render, truncate

MAX_TITLE = 1024  # Slack's limit for an attachment title, as Alertmanager truncates it


def payload(conf: SlackConfig, d: Data) -> dict[str, Any]:
    """The request body; keys and their omission when empty follow Alertmanager's request/attachment."""
    att: dict[str, Any] = {}
    for key, value in (("title", truncate(render(conf.title, d), MAX_TITLE)),
                       ("title_link", render(conf.title_link, d)), ("pretext", render(conf.pretext, d))):
        if value:
            att[key] = value
    att.update(text=render(conf.text, d), fallback=render(conf.fallback, d), callback_id="",
               footer=render(conf.footer, d))
    color = render(conf.color, d)
    if color:
        att["color"] = color
    att["mrkdwn_in"] = list(conf.mrkdwn_in)
    req: dict[str, Any] = {}
    for key, value in (("channel", render(conf.channel, d)), ("username", render(conf.username, d)),
                       ("icon_emoji", render(conf.icon_emoji, d)), ("icon_url", render(conf.icon_url, d))):
        if value:
            req[key] = value
    if conf.link_names:
        req["link_names"] = True
    req["attachments"] = [att]
    return req


@dataclass(frozen=True)
class Slack:
    conf: SlackConfig

    async def send(self, client: httpx.AsyncClient, body: str) -> Outcome:
        outcome, resp = await post_rendered(client, body, lambda d: json_request(payload(self.conf, d)),
                                            self.conf.api_url, self.conf.timeout, self.conf.http)
        if not outcome.ok or resp is None:
            return outcome
        # Slack answers errors with 200 too: an incoming webhook says "ok" as plain text, the Web API
        # says {"ok": true}; anything else failed, and is not retried (Alertmanager's checkResponseError).
        if resp.headers.get("content-type", "").startswith("application/json"):
            try:
                answer = resp.json()
            except ValueError:
                return Outcome(f"could not read Slack's answer: {resp.text[:200]!r}", retry=True)
            if not isinstance(answer, dict) or not answer.get("ok"):
                error = answer.get("error") if isinstance(answer, dict) else answer
                return Outcome(f"error response from Slack: {error}")
        elif resp.text != "ok":
            return Outcome(f"received an error response from Slack: {resp.text[:200]}")
        return outcome
