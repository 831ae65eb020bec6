"""Health checks with Docker's rules (moby's daemon/health.go), run by the shim through exec.

Every `Interval` the check runs in the container (as `pydock exec` would), killed after `Timeout`.
Exit 0 is a success: status `healthy`, failing streak 0. Anything else is a failure: it adds to the
failing streak, except while the container is still `starting` within its `StartPeriod`, and the
status turns `unhealthy` once the streak reaches `Retries`. The last five results (start, end, exit
code, the last 4 KiB of output) are kept in state.json's `Health`, shown by inspect and ps; every
change of status is a `health_status: <status>` event.

Config.Healthcheck has Docker's shape: `{"Test": ["CMD-SHELL", "..."] | ["CMD", ...] | ["NONE"],
"Interval": ns, "Timeout": ns, "StartPeriod": ns, "Retries": n}`; 0 means Docker's default.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydock.errors import PydockError, UsageError
from pydock.units import duration_seconds, utc_iso

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
MIN_DURATION = 0.001  # Docker's container.MinimumDuration (1 ms)
NS = 1_000_000_000


def healthcheck_from_flags(cmd: str | None = None, interval: str | None = None, timeout: str | None = None,
                           retries: int | None = None, start_period: str | None = None,
                           no_healthcheck: bool = False, image_healthcheck: dict[str, Any] | None = None
                           ) -> dict[str, Any] | None:
    """Docker's `--health-*` flags over the image's HEALTHCHECK, as Config.Healthcheck (or None)."""
    if no_healthcheck:
        if cmd or interval or timeout or retries or start_period:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    hc: dict[str, Any] = dict(image_healthcheck or {})
    if cmd:
        hc["Test"] = ["CMD-SHELL", cmd]
    for key, text, flag in (("Interval", interval, "--health-interval"), ("Timeout", timeout, "--health-timeout"),
                            ("StartPeriod", start_period, "--health-start-period")):
        if text is None:
            continue
        seconds = duration_seconds(text, flag)
        if seconds < 0:
            raise UsageError(f"{flag} cannot be negative")
        if key != "StartPeriod" and 0 < seconds < MIN_DURATION:
            raise UsageError(f"{flag} cannot be less than 1ms")
        hc[key] = int(seconds * NS)
    if retries is not None:
        if retries < 0:
            raise UsageError("--health-retries cannot be negative")
        hc["Retries"] = retries
    if not hc.get("Test"):
        if hc:
            raise UsageError("--health-* options need a check: give --health-cmd (or an image HEALTHCHECK)")
        return None
    return hc


@dataclass(frozen=True)
class HealthConfig:
    argv: tuple[str, ...]
    interval: float
    timeout: float
    retries: int
    start_period: float

    @classmethod
    def from_config(cls, hc: dict[str, Any] | None) -> HealthConfig | None:
        """None when there is no check (absent, empty, or NONE)."""
        if not hc:
            return None
        test = list(hc.get("Test") or [])
        if not test or test[0] == "NONE":
            return None
        if test[0] == "CMD-SHELL":
            argv: tuple[str, ...] = ("/bin/sh", "-c", " ".join(test[1:]))
        elif test[0] == "CMD":
            argv = tuple(test[1:])
        else:  # Docker accepts a bare command list as CMD
            argv = tuple(test)
        if not argv:
            return None
        return cls(argv=argv,
                   interval=(hc.get("Interval") or 0) / NS or DEFAULT_INTERVAL,
                   timeout=(hc.get("Timeout") or 0) / NS or DEFAULT_TIMEOUT,
                   retries=int(hc.get("Retries") or 0) or DEFAULT_RETRIES,
                   start_period=(hc.get("StartPeriod") or 0) / NS)


@dataclass(frozen=True)
class ProbeResult:
    start: str
    end: str
    exit_code: int
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"Start": self.start, "End": self.end, "ExitCode": self.exit_code, "Output": self.output}


def probe(record: Any, cfg: HealthConfig) -> ProbeResult:
    """Run the check once in the container; a check over its timeout is killed and fails with -1."""
    from pydock.runtime import exec as rexec

    start = utc_iso()
    r, w = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        proc = rexec.start(record, rexec.spec_for(record, cfg.argv), devnull, w, w)
    except PydockError as exc:
        os.close(r)
        return ProbeResult(start, utc_iso(), -1, str(exc))
    finally:
        os.close(w)
        os.close(devnull)
    out = bytearray()
    deadline = time.monotonic() + cfg.timeout
    code: int | None = None
    reading = True
    try:
        while code is None:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill(signal.SIGTERM)  # the helper passes it on to the check
                time.sleep(0.2)
                proc.kill(signal.SIGKILL)
                try:
                    proc.wait()
                except PydockError:
                    pass
                return ProbeResult(start, utc_iso(), -1, f"Health check exceeded timeout ({cfg.timeout:g}s)")
            if reading:
                ready, _, _ = select.select([r], [], [], min(left, 0.05))
                if ready:
                    chunk = os.read(r, 65536)
                    out += chunk
                    del out[:-MAX_OUTPUT]
                    reading = bool(chunk)
            else:
                time.sleep(min(left, 0.02))
            code = proc.poll()
        while reading and (chunk := os.read(r, 65536)):
            out += chunk
            del out[:-MAX_OUTPUT]
    except PydockError as exc:
        return ProbeResult(start, utc_iso(), -1, str(exc))
    finally:
        os.close(r)
    return ProbeResult(start, utc_iso(), code, out.decode(errors="replace"))


class HealthState:
    """The status machine: `starting`, then `healthy` or `unhealthy`; pure, so tests drive it directly."""

    def __init__(self, cfg: HealthConfig, started_at: float) -> None:
        self.cfg = cfg
        self.started_at = started_at
        self.status = "starting"
        self.failing_streak = 0
        self.log: list[dict[str, Any]] = []

    def record(self, result: ProbeResult, at: float) -> bool:
        """Take one result; True when the status changed."""
        old = self.status
        if result.exit_code == 0:
            self.failing_streak = 0
            self.status = "healthy"
        else:
            in_start_period = self.status == "starting" and at - self.started_at < self.cfg.start_period
            if not in_start_period:
                self.failing_streak += 1
                if self.failing_streak >= self.cfg.retries:
                    self.status = "unhealthy"
        self.log = (self.log + [result.to_json()])[-MAX_LOG_ENTRIES:]
        return self.status != old

    def to_json(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak, "Log": list(self.log)}


class HealthMonitor:
    """The shim's thread that runs the checks of one run of the container."""

    def __init__(self, container_dir: Path, cfg: HealthConfig, load: Callable[[], Any],
                 save: Callable[[dict[str, Any]], None], event: Callable[[str], None]) -> None:
        self.dir = container_dir
        self.cfg = cfg
        self.load = load    # () -> the container's current record (pid, cgroup paths)
        self.save = save    # (Health dict) -> None: writes state.json
        self.event = event  # ("health_status: healthy") -> None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="health", daemon=True)
        self.state = HealthState(cfg, time.monotonic())

    def start(self) -> None:
        self.save(self.state.to_json())
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout=self.cfg.timeout + 2)

    def _run(self) -> None:
        while not self.stop_event.wait(self.cfg.interval):
            try:
                record = self.load()
            except PydockError:
                return
            if not record.running or record.status == "paused":
                continue  # Docker skips checks while paused
            result = probe(record, self.cfg)
            if self.stop_event.is_set():
                return  # the container exited during the check: its result means nothing
            changed = self.state.record(result, time.monotonic())
            self.save(self.state.to_json())
            if changed:
                self.event(f"health_status: {self.state.status}")
