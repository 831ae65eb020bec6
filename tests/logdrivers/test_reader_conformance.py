"""One suite for every driver that can be read back: json-file, local and the dual-logging cache.

Each must give back what it was given (lines, streams, times, parts of long lines, attributes),
rotate without losing or repeating a record, serve --tail/--since/--until and following, and be
readable by offset through `files.iter_file_records` for the agent's shipper.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ldhelpers import make_info
from pydock.logdrivers import files
from pydock.logdrivers.base import LogMessage, PartialMeta, ReadConfig
from pydock.logdrivers.cache import CacheDriver
from pydock.logdrivers.jsonfile import JSONFileDriver
from pydock.logdrivers.local import LocalDriver

T0 = 1_700_000_000_000_000_000


@dataclass
class Flavor:
    name: str
    log_type: str  # for files.log_files
    make: Callable[[Path, dict[str, str]], Any]
    reader: Callable[[Path], Any]
    rotation: Callable[[str, str, bool], dict[str, str]]
    keeps_part_ids: bool


def _rot(prefix: str) -> Callable[[str, str, bool], dict[str, str]]:
    return lambda size, count, compress: {prefix + "max-size": size, prefix + "max-file": count,
                                          prefix + "compress": str(compress).lower()}


FLAVORS = [
    Flavor("json-file", "json-file", lambda d, o: JSONFileDriver(make_info(d), o),
           lambda d: JSONFileDriver.open_reader(d, {}), _rot(""), False),
    Flavor("local", "local", lambda d, o: LocalDriver(make_info(d), o),
           lambda d: LocalDriver.open_reader(d, {}), _rot(""), True),
    Flavor("cache", "syslog", lambda d, o: CacheDriver(make_info(d), o),
           lambda d: CacheDriver.open_reader(d, {}), _rot("cache-"), True),
]


@pytest.fixture(params=FLAVORS, ids=lambda f: f.name)
def flavor(request: pytest.FixtureRequest) -> Flavor:
    return request.param  # type: ignore[no-any-return]


def numbered(i: int, source: str | None = None) -> LogMessage:
    return LogMessage(f"{i:08d} {'w' * (i % 37)}".encode(), source or ("stderr" if i % 5 == 0 else "stdout"),
                      T0 + i * 1000)


def ints(msgs: list[LogMessage]) -> list[int]:
    return [int(m.line[:8]) for m in msgs]


def test_round_trip(flavor: Flavor, cdir: Path) -> None:
    drv = flavor.make(cdir, {"labels": "tier", "env": "APP"})
    pid = "ab" * 32
    sent = [
        LogMessage(b"plain", "stdout", T0 + 1),
        LogMessage(b"err \xff bytes", "stderr", T0 + 2) if flavor.name != "json-file" else LogMessage(b"err", "stderr", T0 + 2),
        LogMessage(b"", "stdout", T0 + 3),
        LogMessage(b"x" * 16384, "stdout", T0 + 4, PartialMeta(pid, 1, False)),
        LogMessage(b"y" * 10, "stdout", T0 + 4, PartialMeta(pid, 2, True)),
        LogMessage("unicode \u2603 \"quoted\" <tag>".encode(), "stdout", T0 + 5),
    ]
    for m in sent:
        drv.log(m)
    drv.log_chunk("stderr", b"c1\nc2\n\nc4\n", T0 + 6)
    drv.close()
    got = list(flavor.reader(cdir).read(ReadConfig()))
    expect = sent + [LogMessage(x, "stderr", T0 + 6) for x in (b"c1", b"c2", b"", b"c4")]
    assert [(m.line, m.source, m.timestamp_ns) for m in got] == [(m.line, m.source, m.timestamp_ns) for m in expect]
    parts = [(m.partial.ordinal, m.partial.last) if m.partial else None for m in got]
    assert parts == [None, None, None, (1, False), (2, True), None, None, None, None, None]
    if flavor.keeps_part_ids:
        assert got[3].partial and got[3].partial.id == pid
    assert all(dict(m.attrs) == {"tier": "db", "APP": "shop"} for m in got)


def test_rotation_tail_since_until(flavor: Flavor, cdir: Path) -> None:
    drv = flavor.make(cdir, flavor.rotation("4k", "4", True))
    for i in range(0, 400, 20):
        block = b"".join(numbered(j, "stdout").line + b"\n" for j in range(i, i + 20))
        drv.log_chunk("stdout", block, T0 + i)
    drv.close()
    reader = flavor.reader(cdir)
    everything = ints(list(reader.read(ReadConfig())))
    assert everything == list(range(everything[0], 400)) and everything[0] > 0  # rotated, in order
    assert len(files.log_files(cdir, flavor.log_type)) == 4
    assert ints(list(reader.read(ReadConfig(tail=7)))) == everything[-7:]
    assert ints(list(reader.read(ReadConfig(tail=len(everything) - 3)))) == everything[3:]
    assert ints(list(reader.read(ReadConfig(since_ns=T0 + 360)))) == list(range(360, 400))
    assert ints(list(reader.read(ReadConfig(since_ns=T0 + 360, until_ns=T0 + 380)))) == list(range(360, 400))[:40]


def test_follow_across_rotation(flavor: Flavor, cdir: Path) -> None:
    drv = flavor.make(cdir, flavor.rotation("3k", "30", True))
    reader = flavor.reader(cdir)
    stop = threading.Event()
    got: list[int] = []

    def follow() -> None:
        for m in reader.read(ReadConfig(follow=True, done=stop.is_set)):
            got.append(int(m.line[:8]))

    t = threading.Thread(target=follow)
    t.start()
    for i in range(0, 600, 30):
        drv.log_chunk("stdout", b"".join(numbered(j).line + b"\n" for j in range(i, i + 30)), T0 + i)
        time.sleep(0.003)
    drv.close()
    stop.set()
    t.join(10)
    assert not t.is_alive() and got == list(range(600))


def test_records_by_offset_for_the_shipper(flavor: Flavor, cdir: Path) -> None:
    drv = flavor.make(cdir, flavor.rotation("2k", "10", True))
    for i in range(200):
        drv.log(numbered(i))
    drv.close()
    paths = files.log_files(cdir, flavor.log_type)
    assert paths[-1].name.endswith(".log") and all(p.name.endswith(".gz") for p in paths[:-1])
    seen: list[int] = []
    for p in paths:
        recs = list(files.iter_file_records(p))
        seen += ints([m for m, _ in recs])
        # resuming from any record's end offset gives exactly the records after it
        mid = len(recs) // 2
        again = list(files.iter_file_records(p, recs[mid][1]))
        assert [o for _, o in again] == [o for _, o in recs[mid + 1 :]]
        assert [m.line for m, _ in again] == [m.line for m, _ in recs[mid + 1 :]]
    assert seen == list(range(seen[0], 200))


def test_a_record_being_written_is_not_returned(flavor: Flavor, cdir: Path) -> None:
    drv = flavor.make(cdir, {})
    drv.log(numbered(1))
    drv.log(numbered(2))
    drv.close()
    path = files.log_files(cdir, flavor.log_type)[-1]
    whole = path.read_bytes()
    path.write_bytes(whole[:-3])  # the second record cut short, as a reader may find it mid-write
    assert ints([m for m, _ in files.iter_file_records(path)]) == [1]
    assert ints(list(flavor.reader(cdir).read(ReadConfig()))) == [1]
    assert ints(list(flavor.reader(cdir).read(ReadConfig(tail=5)))) == [1]
