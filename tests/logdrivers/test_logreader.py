"""Reading json-file logs back: --tail from the end, --since/--until, and following across rotation."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from ldhelpers import make_info
from pydock.logdrivers.base import LogMessage, ReadConfig
from pydock.logdrivers.jsonfile import JSONFileDriver

T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000


def write(drv: JSONFileDriver, start: int, n: int, ts_of=lambda i: T0 + i * SEC) -> None:  # type: ignore[no-untyped-def]
    for i in range(start, start + n):
        drv.log(LogMessage(f"{i:08d} {'y' * 40}".encode(), "stderr" if i % 7 == 0 else "stdout", ts_of(i)))


def numbers(msgs: list[LogMessage]) -> list[int]:
    return [int(m.line[:8]) for m in msgs]


@pytest.fixture
def rotated(cdir: Path) -> Path:
    drv = JSONFileDriver(make_info(cdir), {"max-size": "4k", "max-file": "5", "compress": "true"})
    write(drv, 0, 300)
    drv.close()
    return cdir


def read(cdir: Path, **kw) -> list[int]:  # type: ignore[no-untyped-def]
    return numbers(list(JSONFileDriver.open_reader(cdir, {}).read(ReadConfig(**kw))))


def test_tail_reads_across_rotated_and_compressed_files(rotated: Path) -> None:
    everything = read(rotated)
    assert everything == list(range(everything[0], 300))
    for n in (0, 1, 5, 40, 100, len(everything), len(everything) + 50):
        assert read(rotated, tail=n) == everything[-n:] if n else read(rotated, tail=0) == []


def test_streams_survive_the_round_trip(rotated: Path) -> None:
    msgs = list(JSONFileDriver.open_reader(rotated, {}).read(ReadConfig(tail=14)))
    assert [m.source for m in msgs] == ["stderr" if int(m.line[:8]) % 7 == 0 else "stdout" for m in msgs]


def test_since_and_until(rotated: Path) -> None:
    assert read(rotated, since_ns=T0 + 250 * SEC) == list(range(250, 300))
    assert read(rotated, since_ns=T0 + 250 * SEC, until_ns=T0 + 260 * SEC) == list(range(250, 261))
    first = read(rotated)[0]
    assert read(rotated, until_ns=T0 + (first + 2) * SEC) == [first, first + 1, first + 2]
    assert read(rotated, tail=5, since_ns=T0 + 297 * SEC) == [297, 298, 299]


def test_tail_cost_does_not_depend_on_size(cdir: Path) -> None:
    """--tail reads only the end: count the bytes it reads from a 20 MB file."""
    drv = JSONFileDriver(make_info(cdir), {})
    block = b"".join(f"{i:08d} {'z' * 90}\n".encode() for i in range(10000))
    for k in range(20):
        drv.log_chunk("stdout", block, T0 + k)
    drv.close()
    reader = JSONFileDriver.open_reader(cdir, {})
    from pydock.logdrivers import logfile

    seen = []
    orig = logfile.OpenLog.read_at

    def counting(self, offset: int, size: int) -> bytes:  # type: ignore[no-untyped-def]
        data = orig(self, offset, size)
        seen.append(len(data))
        return data

    logfile.OpenLog.read_at = counting  # type: ignore[method-assign]
    try:
        msgs = list(reader.read(ReadConfig(tail=100)))
    finally:
        logfile.OpenLog.read_at = orig  # type: ignore[method-assign]
    assert numbers(msgs) == list(range(9900, 10000))
    assert sum(seen) < 4 * logfile.BLOCK


def test_partial_records_are_numbered_on_read(cdir: Path) -> None:
    from pydock.logdrivers.base import PartialMeta

    drv = JSONFileDriver(make_info(cdir), {})
    pid = "p" * 64
    drv.log(LogMessage(b"a" * 10, "stdout", T0, PartialMeta(pid, 1, False)))
    drv.log(LogMessage(b"b" * 10, "stdout", T0, PartialMeta(pid, 2, False)))
    drv.log(LogMessage(b"c", "stdout", T0, PartialMeta(pid, 3, True)))
    drv.log(LogMessage(b"whole", "stdout", T0))
    drv.close()
    msgs = list(JSONFileDriver.open_reader(cdir, {}).read(ReadConfig()))
    metas = [m.partial for m in msgs]
    assert [(p.ordinal, p.last) if p else None for p in metas] == [(1, False), (2, False), (3, True), None]
    assert len({p.id for p in metas if p}) == 1


class Follower:
    """Follows in a thread, collecting line numbers, until `done` says the writer finished."""

    def __init__(self, cdir: Path, poll: float = 0.02, **kw) -> None:  # type: ignore[no-untyped-def]
        self.finished = threading.Event()
        self.got: list[int] = []
        self.times: dict[int, float] = {}
        self.warnings: list[str] = []
        reader = JSONFileDriver.open_reader(cdir, {})
        reader.poll = poll
        reader.on_warning = self.warnings.append
        self.writer_done = threading.Event()
        cfg = ReadConfig(follow=True, done=self.writer_done.is_set, **kw)
        self.thread = threading.Thread(target=self._run, args=(reader, cfg), daemon=True)
        self.thread.start()

    def _run(self, reader, cfg) -> None:  # type: ignore[no-untyped-def]
        for m in reader.read(cfg):
            n = int(m.line[:8])
            self.got.append(n)
            self.times[n] = time.monotonic()
        self.finished.set()

    def stop(self) -> None:
        self.writer_done.set()
        assert self.finished.wait(10), "follower did not end after the writer finished"


@pytest.mark.parametrize("opts", [{"max-size": "3k", "max-file": "3"},
                                  {"max-size": "3k", "max-file": "4", "compress": "true"},
                                  {"max-size": "3k", "max-file": "1"}])
def test_follow_across_rotations_loses_and_repeats_nothing(cdir: Path, opts: dict[str, str]) -> None:
    drv = JSONFileDriver(make_info(cdir), opts)
    write(drv, 0, 20)
    f = Follower(cdir)
    deadline = time.monotonic() + 5
    while len(f.got) < 20 and time.monotonic() < deadline:
        time.sleep(0.005)
    for k in range(20, 400, 10):
        write(drv, k, 10)
        # the follower keeps up (at most one rotation per poll: with max-file=1 a file created and
        # deleted between two polls is gone, as in Docker; several rotations with older files kept
        # are covered below)
        deadline = time.monotonic() + 5
        while len(f.got) < k + 10 and time.monotonic() < deadline:
            time.sleep(0.002)
    drv.close()
    f.stop()
    assert f.got == list(range(400)) and not f.warnings


def test_follow_catches_up_after_several_rotations_between_polls(cdir: Path) -> None:
    """Many rotations while the follower sleeps: compressed files in between are read whole."""
    drv = JSONFileDriver(make_info(cdir), {"max-size": "2k", "max-file": "30", "compress": "true"})
    write(drv, 0, 5)
    f = Follower(cdir, poll=0.3)
    time.sleep(0.1)
    write(drv, 5, 500)  # about 15 rotations within one poll
    drv.close()
    f.stop()
    assert f.got == list(range(505)) and not f.warnings


def test_follow_says_so_when_files_were_deleted_unread(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {"max-size": "1k", "max-file": "2"})
    write(drv, 0, 5)
    it, warnings, finished = step_follower(cdir)
    got = [int(next(it).line[:8]) for _ in range(5)]  # type: ignore[call-overload]
    n = write_until_rotation(drv, 5, 5)  # files 1-3 are deleted while the follower is away; 4 is .1
    drv.close()
    finished[0] = True
    got += numbers(list(it))  # type: ignore[call-overload]
    assert len(warnings) == 1 and "3 file rotations were missed" in warnings[0]
    assert got[-1] == n - 1 and got == sorted(set(got))  # what it shows is in order, once


def test_follow_keeps_up_with_a_burst_of_rotations(cdir: Path) -> None:
    """The follower holds each active file it sees, so a burst of rotations while it sleeps
    between reads loses nothing even when the writer deletes files as fast as max-file=2 allows."""
    drv = JSONFileDriver(make_info(cdir), {"max-size": "1k", "max-file": "2"})
    write(drv, 0, 5)
    f = Follower(cdir, poll=0.3)
    deadline = time.monotonic() + 5
    while len(f.got) < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    for k in range(5, 305, 10):
        write(drv, k, 10)
        time.sleep(0.003)
    drv.close()
    f.stop()
    if f.warnings:  # a scheduler stall longer than two rotations: reported, and in order
        assert "rotations were missed" in f.warnings[0] and f.got == sorted(set(f.got))
    else:
        assert f.got == list(range(305))


def test_follow_shows_new_lines_quickly(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {})
    f = Follower(cdir)
    lags = []
    for i in range(10):
        t = time.monotonic()
        write(drv, i, 1)
        while i not in f.times:
            time.sleep(0.002)
        lags.append(f.times[i] - t)
    drv.close()
    f.stop()
    assert f.got == list(range(10))
    assert max(lags) < 0.5  # generous on a shared machine; the bench measures the real figure


def test_follow_ends_at_until(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {})
    write(drv, 0, 10, ts_of=lambda i: T0 + i)
    f = Follower(cdir, until_ns=T0 + 4)
    assert f.finished.wait(5)
    drv.close()
    assert f.got == [0, 1, 2, 3, 4]


def test_since_seeks_instead_of_scanning(cdir: Path) -> None:
    """--since on a big plain file reads a few blocks, not the whole file, and misses nothing."""
    drv = JSONFileDriver(make_info(cdir), {})
    for k in range(200):
        block = b"".join(b"%08d %s\n" % (i, b"s" * 90) for i in range(k * 100, k * 100 + 100))
        drv.log_chunk("stdout", block, T0 + k * SEC)
    drv.close()
    from pydock.logdrivers import logfile

    seen = []
    orig = logfile.OpenLog.read_at

    def counting(self, offset: int, size: int) -> bytes:  # type: ignore[no-untyped-def]
        data = orig(self, offset, size)
        seen.append(len(data))
        return data

    logfile.OpenLog.read_at = counting  # type: ignore[method-assign]
    try:
        got = read(cdir, since_ns=T0 + 190 * SEC)
    finally:
        logfile.OpenLog.read_at = orig  # type: ignore[method-assign]
    assert got == list(range(19000, 20000))
    size = (cdir / f"{cdir.name}-json.log").stat().st_size
    assert sum(seen) < size / 4
    assert read(cdir, since_ns=T0 + 50 * SEC, until_ns=T0 + 50 * SEC) == list(range(5000, 5100))
    assert read(cdir, since_ns=T0 + 300 * SEC) == []
    assert read(cdir, since_ns=T0 - SEC)[:3] == [0, 1, 2]


def write_until_rotation(drv: JSONFileDriver, start: int, rotations: int) -> int:
    """Writes lines from `start` until the writer has rotated `rotations` times in all (the line
    that triggered the last rotation opens the new file); returns the next line number."""
    i = start
    while drv.rotations < rotations:
        write(drv, i, 1)
        i += 1
    return i


def step_follower(cdir: Path) -> tuple[object, list[str], list[bool]]:
    reader = JSONFileDriver.open_reader(cdir, {})
    warnings: list[str] = []
    reader.on_warning = warnings.append
    finished = [False]
    return reader.read(ReadConfig(follow=True, done=lambda: finished[0])), warnings, finished


def test_follow_with_max_file_1_keeps_a_file_it_has_seen(cdir: Path) -> None:
    """max-file=1 unlinks the active file at rotation. A follower still busy with the old file
    holds the next one open as soon as it sees it, so that one is not lost when it goes too."""
    drv = JSONFileDriver(make_info(cdir), {"max-size": "1k", "max-file": "1"})
    write(drv, 0, 5)
    it, warnings, finished = step_follower(cdir)
    got = [int(next(it).line[:8]) for _ in range(5)]  # type: ignore[call-overload]
    n = write_until_rotation(drv, 5, 1)  # A is full and unlinked; B has begun
    got.append(int(next(it).line[:8]))  # type: ignore[call-overload]  # the follower looks: B is seen
    n = write_until_rotation(drv, n, 2)  # B is full and unlinked before the follower reads it
    drv.close()
    finished[0] = True
    got += numbers(list(it))  # type: ignore[call-overload]
    assert got == list(range(n)) and not warnings


def test_follow_with_max_file_1_says_how_many_rotations_it_missed(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {"max-size": "1k", "max-file": "1"})
    write(drv, 0, 5)
    it, warnings, finished = step_follower(cdir)
    got = [int(next(it).line[:8]) for _ in range(5)]  # type: ignore[call-overload]
    n = write_until_rotation(drv, 5, 3)  # B and C come and go while the follower is away
    drv.close()
    finished[0] = True
    got += numbers(list(it))  # type: ignore[call-overload]
    assert got == sorted(set(got)) and got[-1] == n - 1 and len(got) < n
    assert len(warnings) == 1 and "2 file rotations were missed" in warnings[0]


def test_follow_without_generations_falls_back_to_identity(cdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer of an older pydock keeps no rotation count: the follower then finds the next file
    by identity alone, as before, and what it pinned meanwhile does not lead it astray."""
    from pydock.logdrivers import logfile

    monkeypatch.setattr(logfile, "read_generation", lambda path: None)
    drv = JSONFileDriver(make_info(cdir), {"max-size": "1k", "max-file": "4"})
    write(drv, 0, 5)
    it, warnings, finished = step_follower(cdir)
    got = [int(next(it).line[:8]) for _ in range(5)]  # type: ignore[call-overload]
    n = write_until_rotation(drv, 5, 1)
    got.append(int(next(it).line[:8]))  # type: ignore[call-overload]  # sees (and pins) the new file
    n = write_until_rotation(drv, n, 3)
    drv.close()
    finished[0] = True
    got += numbers(list(it))  # type: ignore[call-overload]
    assert got == list(range(n)) and not warnings
