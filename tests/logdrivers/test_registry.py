"""The registry: lookup through entry points, option checks naming the key, the stack it builds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from ldhelpers import make_info
from recorders import MessageRecorder

from pydock.errors import LogOptError
from pydock.logdrivers import registry
from pydock.logdrivers.base import LogDriver, LogMessage, ReadConfig
from pydock.logdrivers.registry import ReadNotSupported, Registry
from pydock.logdrivers.ring import RingDriver
from pydock.logdrivers.stats import read_stats


def test_builtin_drivers_are_found_through_entry_points() -> None:
    names = Registry().names()
    for name in ("json-file", "local", "syslog", "journald", "gelf", "fluentd", "none"):
        assert name in names
    assert Registry().driver_class("json-file").__name__ == "JSONFileDriver"


def test_unknown_driver_is_named() -> None:
    with pytest.raises(LogOptError, match="no log driver named 'splunk-ish'.*json-file"):
        registry.validate("splunk-ish", {})


def test_a_third_party_driver_plugs_in(cdir: Path) -> None:
    reg = Registry(extra={"recorder": type("Rec", (MessageRecorder,), {"__init__": lambda self, i, o: MessageRecorder.__init__(self)})})
    drv = reg.create_driver("recorder", make_info(cdir), {"cache-disabled": "true"})
    drv.log(LogMessage(b"x", "stdout", 1))
    drv.close()
    assert read_stats(cdir) == {"lines": {"stdout": 1, "stderr": 0}, "bytes": {"stdout": 1, "stderr": 0},
                                "dropped": 0, "driver": "recorder"}


@pytest.mark.parametrize(
    "opts, needle",
    [
        ({"mode": "fast"}, "mode"),
        ({"max-buffer-size": "1m"}, "max-buffer-size"),  # only with non-blocking
        ({"mode": "non-blocking", "max-buffer-size": "lots"}, "max-buffer-size"),
        ({"cache-disabled": "maybe"}, "cache-disabled"),
        ({"cache-max-size": "-1"}, "cache-max-size"),
        ({"cache-max-file": "0"}, "cache-max-file"),
        ({"max-size": "1q"}, "max-size"),
        ({"no-such-opt": "1"}, "no-such-opt"),
    ],
)
def test_validate_names_bad_keys(opts: dict[str, str], needle: str) -> None:
    with pytest.raises(LogOptError, match=needle):
        registry.validate("json-file", opts)


def test_none_accepts_anything_like_docker(cdir: Path) -> None:
    registry.validate("none", {"whatever": "x", "mode": "odd"})
    drv = registry.create_driver("none", make_info(cdir), {})
    drv.log(LogMessage(b"x", "stdout", 1))
    drv.close()
    with pytest.raises(ReadNotSupported, match="does not support reading"):
        registry.open_reader(cdir, "none", {})


def test_non_blocking_wraps_in_the_ring(cdir: Path) -> None:
    drv = registry.create_driver("json-file", make_info(cdir), {"mode": "non-blocking", "max-buffer-size": "64k"})
    assert isinstance(drv.driver, RingDriver) and drv.driver.max_bytes == 65536  # type: ignore[attr-defined]
    chunk = b"".join(b"%06d\n" % i for i in range(1000))
    drv.log_chunk("stdout", chunk, time.time_ns())  # type: ignore[attr-defined]
    drv.close()
    got = [m.line for m in registry.open_reader(cdir, "json-file", {}).read(ReadConfig())]
    assert got == [b"%06d" % i for i in range(1000)]
    stats = read_stats(cdir)
    assert stats is not None and stats["lines"]["stdout"] == 1000 and stats["dropped"] == 0


def test_stats_file_is_written_while_running(cdir: Path) -> None:
    drv: LogDriver = registry.create_driver("json-file", make_info(cdir), {})
    drv.log(LogMessage(b"abc", "stderr", 1))
    first = json.loads((cdir / "logstats.json").read_text())
    assert first["lines"]["stderr"] == 1 and first["bytes"]["stderr"] == 3 and first["driver"] == "json-file"
    drv.close()
