"""Docker's units: sizes in both of Docker's bases, durations, and --since/--until times."""

from __future__ import annotations

import pytest

from pydock import units
from pydock.errors import UsageError


@pytest.mark.parametrize(("text", "binary", "decimal"), [
    ("32m", 32 * 1024 * 1024, 32_000_000),
    ("10m", 10 * 1024 * 1024, 10_000_000),
    ("1g", 1024 ** 3, 1_000_000_000),
    ("512", 512, 512),
    ("1.5k", 1536, 1500),
    ("2MiB", 2 * 1024 * 1024, 2 * 1024 * 1024),
    ("100kb", 102400, 100_000),
])
def test_sizes_in_both_bases(text: str, binary: int, decimal: int) -> None:
    assert units.ram_bytes(text) == binary
    assert units.human_size(text) == decimal


@pytest.mark.parametrize("bad", ["", "ten", "10x", "-1m", "1.2.3"])
def test_bad_size_names_the_value(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid size"):
        units.ram_bytes(bad, "--memory")


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("15d", 15 * 86400), ("2w", 1209600),
])
def test_durations(text: str, seconds: float) -> None:
    assert units.duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "10", "m", "1h x", "5mm"])
def test_bad_duration(bad: str) -> None:
    with pytest.raises(UsageError):
        units.duration_seconds(bad)


def test_timestamps_accept_docker_forms() -> None:
    now = 1_800_000_000.0
    assert units.timestamp("10m", now=now) == now - 600
    assert units.timestamp("1700000000.5", now=now) == 1700000000.5
    assert units.timestamp("2023-11-14T22:13:20Z", now=now) == 1700000000
    assert units.timestamp("2023-11-14T22:13:20.123456789Z", now=now) == pytest.approx(1700000000.123456789)
    assert units.timestamp("2023-11-14T23:13:20+01:00", now=now) == 1700000000
    with pytest.raises(UsageError, match="invalid --since"):
        units.timestamp("yesterday", "--since", now=now)


def test_rfc3339_nano_pads_nine_digits() -> None:
    assert units.rfc3339_nano(1_700_000_000_000_000_123) == "2023-11-14T22:13:20.000000123Z"
    assert units.parse_iso(units.rfc3339_nano(1_700_000_000_500_000_000)) == 1_700_000_000.5
