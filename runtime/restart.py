"""Restart policies with Docker's rules (moby's restartmanager), and `pydock system boot`.

- `no` never restarts; `always` restarts whatever the exit code; `unless-stopped` likewise, and after a
  reboot only if nobody stopped it; `on-failure[:N]` restarts on a non-zero exit, at most N times.
- The delay before a restart starts at 100 ms and doubles each time, up to a minute; a container that
  ran for 10 s or more has its delay reset to 100 ms first.
- `pydock stop` and `pydock kill` mark the container stopped by hand (`ManuallyStopped` in state.json):
  the shim then lets it stay down, whatever the policy, until the next `pydock start`.
- `RestartCount` (state.json, inspect) counts the restarts since the last explicit start.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydock.errors import UsageError

DEFAULT_DELAY = 0.1
MAX_DELAY = 60.0
BACKOFF = 2
RESET_AFTER = 10.0
POLICIES = ("no", "always", "unless-stopped", "on-failure")


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """`--restart no|always|unless-stopped|on-failure[:N]`, refused with Docker's reasons."""
        m = re.fullmatch(r"([a-z-]*)(?::(.*))?", text.strip())
        name = m.group(1) if m else text
        count = m.group(2) if m else None
        if name == "":
            name = "no"
        if name not in POLICIES:
            raise UsageError(f"invalid restart policy {text!r}: expected no, always, unless-stopped or "
                             "on-failure[:max-retries]")
        if count is not None:
            if name != "on-failure":
                raise UsageError(f"invalid restart policy {text!r}: maximum retry count cannot be used "
                                 f"with restart policy '{name}'")
            if not count.isdigit():
                raise UsageError(f"invalid restart policy {text!r}: maximum retry count must be a "
                                 "non-negative integer")
            return cls(name, int(count))
        return cls(name, 0)

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}

    @classmethod
    def from_host_config(cls, host_config: dict[str, Any]) -> RestartPolicy:
        rp = host_config.get("RestartPolicy") or {}
        return cls(str(rp.get("Name") or "no"), int(rp.get("MaximumRetryCount") or 0))

    @property
    def restarts_at_boot(self) -> bool:
        return self.name in ("always", "unless-stopped")


class RestartManager:
    """moby's restartmanager.ShouldRestart: the decision and the delay, one exit at a time."""

    def __init__(self, policy: RestartPolicy, restart_count: int = 0) -> None:
        self.policy = policy
        self.restart_count = restart_count
        self.delay = 0.0

    def should_restart(self, exit_code: int, manually_stopped: bool, ran_for: float) -> tuple[bool, float]:
        """Whether to restart, and after how many seconds. Counts the restart when it says yes."""
        if self.policy.name == "no" or manually_stopped:
            return False, 0.0
        if ran_for >= RESET_AFTER:
            self.delay = 0.0
        if self.delay == 0.0:
            self.delay = DEFAULT_DELAY
        elif self.delay < MAX_DELAY:
            self.delay *= BACKOFF
        self.delay = min(self.delay, MAX_DELAY)
        if self.policy.name in ("always", "unless-stopped"):
            restart = True
        else:  # on-failure
            limit = self.policy.maximum_retry_count
            restart = exit_code != 0 and (limit == 0 or self.restart_count < limit)
        if restart:
            self.restart_count += 1
        return restart, self.delay if restart else 0.0


def wait_or_cancel(delay: float, cancelled: Callable[[], bool], poll: float = 0.02) -> bool:
    """Sleep `delay` seconds; False as soon as `cancelled()` says the restart is off (a stop came)."""
    end = time.monotonic() + delay
    while True:
        if cancelled():
            return False
        left = end - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(poll, left))


def boot(root: Path, start: Callable[[str], Any]) -> list[tuple[str, str]]:
    """`pydock system boot`: start every container whose policy brings it back after a reboot.

    `always` comes back even if it was stopped by hand (as Docker's daemon restart does);
    `unless-stopped` only if it was not. Returns (id, outcome) for each container considered.
    """
    from pydock.runtime.store import ContainerStore

    from pydock.errors import PydockError

    results = []
    for rec in sorted(ContainerStore(root).list(), key=lambda r: r.created):
        policy = RestartPolicy.from_host_config(rec.config.get("HostConfig", {}))
        if not policy.restarts_at_boot or rec.running:
            continue
        if policy.name == "unless-stopped" and rec.state.get("ManuallyStopped"):
            results.append((rec.id, "skipped: stopped by hand"))
            continue
        try:
            start(rec.id)
            results.append((rec.id, "started"))
        except PydockError as exc:
            results.append((rec.id, f"failed: {exc}"))
    return results
