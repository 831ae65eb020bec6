"""The fast log path (issue 16): records handed to one writev with the encoder's line count, rotation
cut exactly where per-record writes put it, the count in logstats.json, and the copier's batching
(short reads coalesced) losing nothing."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

from ldhelpers import make_info
from pydock.logdrivers import jsonlog, registry
from pydock.logdrivers.base import LogMessage
from pydock.logdrivers.copier import Copier
from pydock.logdrivers.jsonfile import cut_lines
from pydock.logdrivers.rotate import RotatingFile

T0 = 1_700_000_000_123_456_789
ODD = [b"", b"plain", b'quote " back \\ slash', b"<tag>&amp;", b"tab\tcr\r\x00\x1f\x7f", "é ü 漢字 😀".encode(),
       b"bad \xff\xfe utf8 \xe2\x80", "sep \u2028 \u2029".encode(), b"x" * 300]


def _chunks(seed: int, n: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [b"".join(rnd.choice(ODD) + b"%d\n" % i for i in range(rnd.randint(1, 40))) for _ in range(n)]


def test_chunk_parts_are_the_chunk_and_count_its_lines() -> None:
    enc = jsonlog.ChunkEncoder({"tag": "web"})
    for k, data in enumerate(_chunks(1, 50)):
        src = "stdout" if k % 3 else "stderr"
        parts, lines = enc.chunk_parts(src, data, T0 + k // 2)
        records = b"".join(parts)
        assert lines == data.count(b"\n") == records.count(b"\n")
        # and exactly what one record per line gives (the golden test pins that format)
        assert records == b"".join(enc.message(LogMessage(line, src, T0 + k // 2))
                                   for line in data[:-1].split(b"\n"))


def test_write_parts_rotates_where_write_does(tmp_path: Path) -> None:
    enc = jsonlog.ChunkEncoder({})
    chunks = _chunks(2, 120)
    for how in ("write", "parts"):
        d = tmp_path / how
        d.mkdir()
        f = RotatingFile(d / "x-json.log", cut_lines, max_size=3000, max_file=4)
        for k, data in enumerate(chunks):
            parts, _ = enc.chunk_parts("stdout", data, T0 + k)
            if how == "write":
                f.write(b"".join(parts), T0 + k)
            else:
                f.write_parts(parts, T0 + k)
        f.close()
    names = sorted(os.listdir(tmp_path / "write"))
    assert names == sorted(os.listdir(tmp_path / "parts")) and len(names) == 5  # 4 files and the count
    for name in names:
        assert (tmp_path / "write" / name).read_bytes() == (tmp_path / "parts" / name).read_bytes()


def test_stats_count_what_the_container_wrote(tmp_path: Path) -> None:
    drv = registry.create_driver("json-file", make_info(tmp_path), {"max-size": "2k", "max-file": "2"})
    chunks = _chunks(3, 30)
    for k, data in enumerate(chunks):
        drv.log_chunk("stdout", data, T0 + k)  # type: ignore[attr-defined]
    drv.close()
    stats = json.loads((tmp_path / "logstats.json").read_text())
    n = sum(c.count(b"\n") for c in chunks)
    assert stats["lines"]["stdout"] == n
    assert stats["bytes"]["stdout"] == sum(len(c) for c in chunks) - n


def test_copier_batches_a_slow_writer_and_loses_nothing(tmp_path: Path) -> None:
    """A writer that trickles small writes: every line arrives, in order, in far fewer chunks."""
    drv = registry.create_driver("json-file", make_info(tmp_path), {})
    calls: list[int] = []
    inner = drv.log_chunk  # type: ignore[attr-defined]

    def counting(source: str, data: bytes, ts: int) -> None:
        calls.append(data.count(b"\n"))
        inner(source, data, ts)

    drv.log_chunk = counting  # type: ignore[attr-defined]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    code = ("import os,time\n"
            "for i in range(0, 4000, 2):\n"
            "    os.write(1, b'%06d ' % i + b'y' * 40 + b'\\n' + b'%06d\\n' % (i + 1))\n"
            "    time.sleep(0.0002)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=out_w, stderr=err_w)
    os.close(out_w)
    os.close(err_w)
    t = threading.Thread(target=Copier(drv, {"stdout": out_r, "stderr": err_r}).run)
    t.start()
    p.wait(30)
    t.join(30)
    drv.close()
    os.close(out_r)
    os.close(err_r)
    (log,) = tmp_path.glob("*-json.log")
    got = [int(jsonlog.decode(rec).line[:6]) for rec in log.read_bytes().splitlines()]
    assert got == list(range(4000))
    # 2000 writes, each a wake-up without the coalescing (a chunk each); far fewer chunks with it
    assert sum(calls) == 4000 and len(calls) < 1000, len(calls)


def _deleted_fds_under(d: Path) -> list[str]:
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(d)) and target.endswith(" (deleted)"):
            held.append(target)
    return held


def test_rotation_releases_removed_files_by_close(tmp_path: Path) -> None:
    """Removed files are closed on another thread (RotatingFile._release_later): none may stay
    held once the writer is closed, whatever the number of files kept or compression."""
    enc = jsonlog.ChunkEncoder({})
    chunks = _chunks(3, 200)
    for max_file, compress in ((1, False), (2, False), (3, True)):
        d = tmp_path / f"{max_file}-{compress}"
        d.mkdir()
        f = RotatingFile(d / "x-json.log", cut_lines, max_size=2000, max_file=max_file, compress=compress)
        for k, data in enumerate(chunks):
            f.write_parts(enc.chunk_parts("stdout", data, T0 + k)[0], T0 + k)
        assert f.rotations > 10
        f.close()
        assert _deleted_fds_under(d) == []
        logs = sorted(n for n in os.listdir(d) if n.startswith("x-json.log"))
        assert logs == ["x-json.log", *(f"x-json.log.{i}" + (".gz" if compress else "") for i in range(1, max_file))]
