"""Discord (Alertmanager's <discord_config>): one webhook message per notification, an embed whose
title, description and colour tell the group's state (notify/discord)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydock.collector.config import DiscordConfig
from pydock.collector.notify.integration import Outcome, json_request, post_rendered
from pydock.collector.notify.templates import Data, render, truncate

# Discord's limits (embed title, embed description, message content), in characters.
MAX_TITLE, MAX_DESCRIPTION, MAX_CONTENT = 256, 4096, 2000
COLOR_FIRING, COLOR_RESOLVED = 0x992D22, 0x2ECC71


def payload(conf: DiscordConfig, d: Data) -> dict[str, Any]:
    embed = {"title": truncate(render(conf.title, d), MAX_TITLE),
             "description": truncate(render(conf.message, d), MAX_DESCRIPTION),
             "color": COLOR_FIRING if d.status == "firing" else COLOR_RESOLVED}
    msg: dict[str, Any] = {"content": truncate(render(conf.content, d), MAX_CONTENT), "embeds": [embed]}
    if conf.username:
        msg["username"] = conf.username
    if conf.avatar_url:
        msg["avatar_url"] = conf.avatar_url
    return msg


@dataclass(frozen=True)
class Discord:
    conf: DiscordConfig

    async def send(self, client: httpx.AsyncClient, body: str) -> Outcome:
        outcome, _ = await post_rendered(client, body, lambda d: json_request(payload(self.conf, d)),
                                         self.conf.webhook_url, self.conf.timeout, self.conf.http)
        return outcome
