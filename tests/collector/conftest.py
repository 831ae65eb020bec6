"""Fixtures for the collector's tests: a webhook receiver (more helpers in collector_helpers.py).

Every server here is started by the fixture and stopped by it, failure or not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from collector_helpers import WebhookReceiver


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    try:
        yield r
    finally:
        r.stop()
