"""Webhooks (Alertmanager's <webhook_config>) and forwarding to a real Alertmanager: the stored body is
the request body as it is (the version 4 payload, or a batch of postable alerts)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydock.collector.config import HTTPConfig
from pydock.collector.notify.integration import Outcome, post


@dataclass(frozen=True)
class JSONPost:
    url: str
    timeout: float
    http: HTTPConfig

    async def send(self, client: httpx.AsyncClient, body: str) -> Outcome:
        outcome, _ = await post(client, self.url, body.encode(), {"Content-Type": "application/json"},
                                self.timeout, self.http)
        return outcome
