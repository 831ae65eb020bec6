"""The log shipper's thread survives an OSError from its checkpoint (disk full), retries with
backoff, and says so on the agent's /metrics (it used to die while the agent kept serving)."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

from pydock.agent import shipper as shipper_mod
from pydock.agent.shipper import Shipper, metrics_text


def test_checkpoint_oserror_is_retried_and_exported(tmp_path: Path, monkeypatch) -> None:
    s = Shipper(tmp_path / "containers", "http://127.0.0.1:9", tmp_path / "agent" / "ck.json", poll_s=0.01)
    calls = {"n": 0}

    def save() -> None:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(s.checkpoint, "save", save)
    monkeypatch.setattr(s, "ship_once", lambda: (s.checkpoint.save(), 0)[1])
    stop = threading.Event()
    t = threading.Thread(target=s.run, args=(stop,), daemon=True)
    t.start()
    time.sleep(0.2)
    assert t.is_alive() and s.checkpoint_errors == 1 and not s.up  # first backoff: 0.25 s
    deadline = time.time() + 5
    while calls["n"] < 4 and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(5)
    assert s.checkpoint_errors == 2 and s.up and calls["n"] >= 3
    text = metrics_text(s)
    assert 'pydock_log_shipper_errors_total{reason="checkpoint"} 2' in text and "pydock_log_shipper_up 1" in text
    s.close()
    assert shipper_mod.metrics_text is metrics_text
