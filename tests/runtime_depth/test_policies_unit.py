"""The pure rules: restart decisions and delays (moby's restartmanager), the health status machine
(moby's health.go), flag parsing, and the detach-key scanner."""

from __future__ import annotations

import pytest
from pydock.runtime.health import HealthConfig, HealthState, ProbeResult, healthcheck_from_flags
from pydock.runtime.restart import RestartManager, RestartPolicy
from pydock.runtime.tty import DetachScanner

from pydock.errors import UsageError


def test_restart_policy_parsing() -> None:
    assert RestartPolicy.parse("no") == RestartPolicy("no", 0)
    assert RestartPolicy.parse("on-failure") == RestartPolicy("on-failure", 0)
    assert RestartPolicy.parse("on-failure:5").to_json() == {"Name": "on-failure", "MaximumRetryCount": 5}
    assert RestartPolicy.parse("unless-stopped").restarts_at_boot
    for bad, reason in [("always:2", "cannot be used with restart policy 'always'"),
                        ("on-failure:x", "non-negative integer"), ("sometimes", "invalid restart policy")]:
        with pytest.raises(UsageError, match=reason):
            RestartPolicy.parse(bad)


def test_delay_doubles_from_100ms_caps_at_a_minute_and_resets_after_10s() -> None:
    rm = RestartManager(RestartPolicy("always"))
    delays = [rm.should_restart(1, False, ran_for=0.5)[1] for _ in range(12)]
    assert delays[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert max(delays) == 60.0 and delays[-1] == 60.0
    assert rm.should_restart(1, False, ran_for=10.0) == (True, 0.1)  # ran 10 s: back to 100 ms
    assert rm.restart_count == 13


def test_on_failure_counts_and_stops_at_its_maximum() -> None:
    rm = RestartManager(RestartPolicy("on-failure", 2))
    assert rm.should_restart(0, False, 1)[0] is False  # success: no restart
    assert rm.should_restart(3, False, 1)[0] is True
    assert rm.should_restart(3, False, 1)[0] is True
    assert rm.should_restart(3, False, 1)[0] is False
    assert rm.restart_count == 2


def test_manual_stop_and_no_policy_never_restart() -> None:
    for name in ("always", "unless-stopped", "on-failure"):
        assert RestartManager(RestartPolicy(name)).should_restart(1, True, 1) == (False, 0.0)
    assert RestartManager(RestartPolicy("no")).should_restart(1, False, 1) == (False, 0.0)


def _result(code: int) -> ProbeResult:
    return ProbeResult("s", "e", code, "out")


def test_health_status_machine() -> None:
    cfg = HealthConfig(argv=("true",), interval=1, timeout=1, retries=3, start_period=10)
    h = HealthState(cfg, started_at=0.0)
    # Failures inside the start period do not count while still starting.
    assert h.record(_result(1), at=5.0) is False and h.failing_streak == 0 and h.status == "starting"
    assert h.record(_result(0), at=6.0) is True and h.status == "healthy"
    assert h.record(_result(1), at=7.0) is False and h.failing_streak == 1  # healthy: counts now
    h.record(_result(1), at=8.0)
    assert h.status == "healthy" and h.failing_streak == 2
    assert h.record(_result(1), at=9.0) is True and h.status == "unhealthy"
    assert h.record(_result(0), at=10.0) is True and h.failing_streak == 0
    for t in range(10):
        h.record(_result(0), at=11.0 + t)
    assert len(h.to_json()["Log"]) == 5  # the last five results


def test_health_flags() -> None:
    hc = healthcheck_from_flags(cmd="curl -f localhost", interval="5s", timeout="2s", retries=4, start_period="1m")
    assert hc == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5_000_000_000,
                  "Timeout": 2_000_000_000, "StartPeriod": 60_000_000_000, "Retries": 4}
    cfg = HealthConfig.from_config(hc)
    assert cfg is not None and cfg.argv == ("/bin/sh", "-c", "curl -f localhost") and cfg.retries == 4
    defaults = HealthConfig.from_config({"Test": ["CMD", "true"]})
    assert defaults is not None and (defaults.interval, defaults.timeout, defaults.retries) == (30.0, 30.0, 3)
    assert healthcheck_from_flags(no_healthcheck=True) == {"Test": ["NONE"]}
    assert HealthConfig.from_config({"Test": ["NONE"]}) is None
    assert healthcheck_from_flags() is None
    with pytest.raises(UsageError, match="cannot be less than 1ms"):
        healthcheck_from_flags(cmd="true", interval="1us")
    with pytest.raises(UsageError, match="need a check"):
        healthcheck_from_flags(interval="5s")


def test_detach_keys_found_across_reads() -> None:
    s = DetachScanner()
    assert s.feed(b"ls\r") == (b"ls\r", False)
    assert s.feed(b"ab\x10") == (b"ab", False)  # ctrl-p held back: it may start the sequence
    assert s.feed(b"\x11rest") == (b"", True)
    s2 = DetachScanner()
    assert s2.feed(b"\x10x") == (b"\x10x", False)  # ctrl-p then something else: both pass on
