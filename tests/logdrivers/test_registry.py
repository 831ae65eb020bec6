"""The registry: lookup through entry points, option checks naming the key, the stack it builds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from ldhelpers import make_info
from pydock.logdrivers import registry
from pydock.logdrivers.base import LogDriver, LogMessage, ReadConfig
from pydock.logdrivers.registry import ReadNotSupported, Registry
from pydock.logdrivers.ring import RingDriver
from pydock.logdrivers.stats import read_stats
from recorders import MessageRecorder

from pydock.errors import LogOptError


def test_builtin_drivers_are_found_through_entry_points() -> None:
    names = Registry().names()
    for name in ("json-file", "local", "syslog", "journald", "gelf", "fluentd", "none"):
        assert name in names
    assert Registry().driver_class("json-file").__name__ == "JSONFileDriver"


def test_builtin_table_matches_pyproject_entry_points() -> None:
    import tomllib

    from pydock.logdrivers.registry import BUILTIN

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pydock.logdrivers"] == BUILTIN


def test_a_package_of_someone_elses_is_found_through_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party distribution on sys.path registers `pydock.logdrivers` = `their-driver`."""
    dist = tmp_path / "site"
    (dist / "theirdriver").mkdir(parents=True)
    (dist / "theirdriver" / "__init__.py").write_text(
        "class TheirDriver:\n    name = 'their-driver'\n"
        "    def __init__(self, info, opts): self.got = []\n"
        "    def log(self, msg): self.got.append(msg)\n"
        "    def close(self): pass\n")
    meta = dist / "theirdriver-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: theirdriver\nVersion: 1.0\n")
    (meta / "entry_points.txt").write_text("[pydock.logdrivers]\ntheir-driver = theirdriver:TheirDriver\n")
    monkeypatch.syspath_prepend(str(dist))
    reg = Registry()
    assert "their-driver" in reg.names()
    drv = reg.create_driver("their-driver", make_info(tmp_path), {"cache-disabled": "true"})
    drv.log(LogMessage(b"hi", "stdout", 1))
    drv.close()
    assert [m.line for m in drv.driver.got] == [b"hi"]  # type: ignore[attr-defined]


def test_unknown_driver_is_named() -> None:
    with pytest.raises(LogOptError, match="no log driver named 'splunk-ish'.*json-file"):
        registry.validate("splunk-ish", {})


def test_a_third_party_driver_plugs_in(cdir: Path) -> None:
    reg = Registry(extra={"recorder": type("Rec", (MessageRecorder,), {"__init__": lambda self, i, o: MessageRecorder.__init__(self)})})
    drv = reg.create_driver("recorder", make_info(cdir), {"cache-disabled": "true"})
    drv.log(LogMessage(b"x", "stdout", 1))
    drv.close()
    assert read_stats(cdir) == {"lines": {"stdout": 1, "stderr": 0}, "bytes": {"stdout": 1, "stderr": 0},
                                "dropped": 0, "driver": "recorder", "closed": True}


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


def test_close_from_another_thread_unsticks_a_blocked_copier(cdir: Path) -> None:
    """A shim stopping a container whose fluentd is gone: close() aborts the stuck send, and lines
    handed over afterwards are counted as dropped instead of failing."""
    import threading

    from peers import free_port

    port = free_port()
    drv = registry.create_driver("fluentd", make_info(cdir), {"fluentd-address": f"127.0.0.1:{port}",
                                                              "cache-disabled": "true"})
    t = threading.Thread(target=drv.log, args=(LogMessage(b"stuck", "stdout", 1),))
    t.start()
    time.sleep(0.2)
    assert t.is_alive()
    drv.close()
    t.join(5)
    assert not t.is_alive()
    stats = read_stats(cdir)
    assert stats is not None and stats["lines"]["stdout"] == 1 and stats["dropped"] == 1
    drv.log_chunk("stdout", b"late 1\nlate 2\n", 2)  # type: ignore[attr-defined]
    stats = read_stats(cdir)
    assert stats is not None and stats["lines"]["stdout"] == 3 and stats["dropped"] == 3
