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
from pydock.logdrivers.stats import StatsDriver, read_stats
from recorders import MessageRecorder, copy_bytes

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
        ({"cache-tag": "{{.Nope}}"}, "cache-tag"),
        ({"cache-labels-regex": "("}, "cache-labels-regex"),
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


class FailingDriver(MessageRecorder):
    """A driver whose writes fail as a full disk makes them fail."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    def log(self, msg: LogMessage) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        super().log(msg)

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        for line in data[:-1].split(b"\n"):
            super().log(LogMessage(line, source, timestamp_ns))


def test_a_failing_driver_neither_stops_the_copier_nor_loses_lines_silently(cdir: Path) -> None:
    """Docker's copier logs a driver's error and goes on; here the lines are also counted."""
    drv = FailingDriver()
    cache = FailingDriver()
    stack = StatsDriver(drv, "failing", cdir, cache=cache)
    copy_bytes(stack, [b"a\nb\n", b"c\n"], [b"e\n"])  # must not raise out of the copier
    stack.log(LogMessage(b"single", "stdout", 1))
    drv.fail = cache.fail = False
    stack.log(LogMessage(b"later", "stdout", 2))
    stack.close()
    stats = read_stats(cdir)
    assert stats is not None and stats["dropped"] == 5 and stats["lines"]["stdout"] == 5
    assert "No space left on device" in stats["last_error"]
    assert [m.line for m in drv.messages] == [b"later"] and [m.line for m in cache.messages] == [b"later"]


def test_a_failing_cache_does_not_keep_lines_from_the_driver(cdir: Path) -> None:
    drv, cache = MessageRecorder(), FailingDriver()
    stack = StatsDriver(drv, "remote", cdir, cache=cache)
    stack.log(LogMessage(b"x", "stdout", 1))
    stack.log_chunk("stdout", b"y\nz\n", 2)
    stack.close()
    assert [m.line for m in drv.messages] == [b"x", b"y", b"z"]
    stats = read_stats(cdir)
    assert stats is not None and stats["cache_dropped"] == 3 and stats["dropped"] == 0


@pytest.mark.parametrize("driver, opts, message", [
    ("json-file", {}, "unknown log opt 'bogus' for json-file log driver"),
    ("local", {}, "unknown log opt 'bogus' for log driver local"),  # local.go words it so
    ("syslog", {"syslog-address": "udp://127.0.0.1:1"}, "unknown log opt 'bogus' for syslog log driver"),
    ("gelf", {"gelf-address": "udp://127.0.0.1:1"}, 'unknown log opt "bogus" for gelf log driver'),  # %q there
    ("fluentd", {}, "unknown log opt 'bogus' for fluentd log driver"),
])
def test_unknown_keys_are_refused_in_each_drivers_words(driver: str, opts: dict[str, str], message: str) -> None:
    with pytest.raises(LogOptError) as exc:
        registry.validate(driver, dict(opts, bogus="1"))
    assert str(exc.value) == message


def test_a_driver_failing_at_close_is_reported_not_raised(cdir: Path) -> None:
    """The shim closes the driver before it writes the exited state: an error there (a rotated
    file that could not be compressed, say) must not stop it. It goes to logstats.json."""

    class BadClose(MessageRecorder):
        def close(self) -> None:
            raise OSError(5, "Input/output error")

    stack = StatsDriver(BadClose(), "bad", cdir, cache=BadClose())
    stack.log(LogMessage(b"x", "stdout", 1))
    stack.close()
    stats = read_stats(cdir)
    assert stats is not None and stats["closed"] is True and "Input/output error" in stats["last_error"]


def test_local_and_cache_sizes_are_decimal_as_docker() -> None:
    """local.go parses max-size with units.FromHumanSize (10m = 10,000,000); only the default is
    20 MiB. The cache takes the local driver's keys with a `cache-` prefix."""
    from pydock.logdrivers.local import rotation_opts

    assert rotation_opts({})[0] == 20 * 1024 * 1024
    assert rotation_opts({"max-size": "10m"})[0] == 10_000_000
    assert rotation_opts({"cache-max-size": "1k"}, "cache-")[0] == 1000


def test_cache_takes_the_local_drivers_keys_with_its_prefix(cdir: Path) -> None:
    """Docker's cache accepts every local option as `cache-<key>` (validate.go), `cache-tag` and
    `cache-labels` included; with them the cache's records carry those attributes."""
    opts = {"cache-labels": "tier", "cache-tag": "{{.Name}}", "labels": "com.example.team"}
    registry.validate("syslog", dict(opts, **{"syslog-address": "udp://127.0.0.1:9"}))
    from pydock.logdrivers.cache import CacheDriver

    cache = CacheDriver(make_info(cdir), opts)
    cache.log(LogMessage(b"x", "stdout", 1))
    cache.close()
    msgs = list(CacheDriver.open_reader(cdir, opts).read(ReadConfig()))
    assert [dict(m.attrs) for m in msgs] == [{"tier": "db", "tag": "web"}]
