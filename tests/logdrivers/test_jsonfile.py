"""json-file: Docker's record bytes (golden), options, rotation and compression as Docker names them."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from ldhelpers import CID, golden, make_info
from pydock.logdrivers import jsonlog
from pydock.logdrivers.base import LogMessage, PartialMeta, ReadConfig
from pydock.logdrivers.jsonfile import JSONFileDriver, log_path
from pydock.logdrivers.rotate import gzip_extra

from pydock.errors import LogOptError

T0 = 1_700_000_000_000_000_001  # 2023-11-14T22:13:20.000000001Z

CASES: list[tuple[str, bytes]] = [
    ("stdout", b"plain ascii line"),
    ("stderr", b"quote \" backslash \\ tab \t cr \r"),
    ("stdout", b"html <b>&amp;</b>"),
    ("stdout", b"ctrl \x00\x01\x1b[31m del \x7f"),
    ("stdout", "utf-8 caf\u00e9 \u2603 \U0001f600 sep\u2028par\u2029".encode()),
    ("stdout", b"invalid \xff\xfe trunc \xe2\x82 surrogate \xed\xa0\x80 end"),
    ("stdout", "valid replacement char \ufffd".encode()),
    ("stdout", b""),
]


def test_record_bytes_match_golden(info) -> None:  # type: ignore[no-untyped-def]
    enc = jsonlog.ChunkEncoder({})
    out = b"".join(enc.message(LogMessage(line, src, T0 + i * 10)) for i, (src, line) in enumerate(CASES))
    golden("jsonfile_records.log", out)
    # the chunk path (the copier's) writes the very same bytes
    by_chunk = b"".join(enc.chunk(src, line + b"\n", T0 + i * 10) for i, (src, line) in enumerate(CASES))
    assert by_chunk == out


def test_docker_examples_exactly() -> None:
    # jsonfilelog_test.go / jsonlogbytes_test.go expectations
    enc = jsonlog.ChunkEncoder({"tag": "a7317399f3f8/test-container"})
    ts = 1504227661000000001  # 2017-09-01T01:01:01.000000001Z
    assert enc.message(LogMessage(b"line1", "stdout", ts)) == (
        b'{"log":"line1\\n","stream":"stdout","attrs":{"tag":"a7317399f3f8/test-container"},'
        b'"time":"2017-09-01T01:01:01.000000001Z"}\n')
    assert jsonlog.format_time(0 - 62135596800 * 10**9) == "0001-01-01T00:00:00Z"
    assert jsonlog.format_time(1504227661_120000000) == "2017-09-01T01:01:01.12Z"


def test_partial_parts_have_no_newline_but_the_last() -> None:
    enc = jsonlog.ChunkEncoder({})
    a = enc.message(LogMessage(b"aaa", "stdout", T0, PartialMeta("x" * 64, 1, False)))
    b = enc.message(LogMessage(b"bb", "stdout", T0, PartialMeta("x" * 64, 2, True)))
    assert json.loads(a)["log"] == "aaa" and json.loads(b)["log"] == "bb\n"


def test_time_round_trip() -> None:
    for ns in (T0, 1_700_000_000_000_000_000, 1_700_000_000_120_000_000, 1_700_000_000_999_999_999):
        assert jsonlog.parse_time(jsonlog.format_time(ns)) == ns
    assert jsonlog.parse_time("2017-09-01T03:01:01.5+02:00") == 1504227661_500000000


def test_attrs_from_labels_env_and_tag(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {"labels": "tier,missing", "env": "APP", "env-regex": "^REG",
                                           "tag": "{{.Name}}/{{.ID}}"})
    drv.log(LogMessage(b"hello", "stdout", T0))
    drv.close()
    rec = json.loads(log_path(cdir).read_bytes())
    assert rec["attrs"] == {"APP": "shop", "REGION": "eu-1", "tier": "db", "tag": f"web/{CID[:12]}"}
    assert list(rec) == ["log", "stream", "attrs", "time"]
    assert (log_path(cdir).stat().st_mode & 0o777) == 0o640


def test_no_attrs_without_options(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {})
    drv.log(LogMessage(b"hello", "stdout", T0))
    drv.close()
    assert log_path(cdir).read_bytes() == b'{"log":"hello\\n","stream":"stdout","time":"2023-11-14T22:13:20.000000001Z"}\n'


@pytest.mark.parametrize(
    "opts, needle",
    [
        ({"max-size": "ten"}, "max-size"),
        ({"max-size": "0"}, "max-size"),
        ({"max-file": "0"}, "max-file"),
        ({"max-file": "x"}, "max-file"),
        ({"compress": "yes"}, "compress"),
        ({"compress": "true", "max-size": "1m"}, "compress"),
        ({"compress": "true", "max-file": "3"}, "compress"),
        ({"bogus": "1"}, "bogus"),
        ({"labels-regex": "("}, "labels-regex"),
        ({"tag": "{{.Nope}}"}, "tag"),
    ],
)
def test_bad_options_name_the_key(cdir: Path, opts: dict[str, str], needle: str) -> None:
    with pytest.raises(LogOptError, match=needle):
        JSONFileDriver(make_info(cdir), opts)
    assert not log_path(cdir).exists()  # nothing made


def _write_lines(drv: JSONFileDriver, n: int, width: int = 60, start: int = 0, ts: int = T0) -> None:
    for i in range(start, start + n, 50):
        block = b"".join(f"{j:08d} ".encode().ljust(width, b"x") + b"\n" for j in range(i, min(i + 50, start + n)))
        drv.log_chunk("stdout", block, ts + i)


def _all_lines(cdir: Path) -> list[int]:
    reader = JSONFileDriver.open_reader(cdir, {})
    return [int(m.line[:8]) for m in reader.read(ReadConfig())]


def _log_names(cdir: Path, drv: JSONFileDriver) -> list[str]:
    """Docker's file names, and beside them only pydock's hidden rotation count (rotate.py)."""
    names = sorted(os.listdir(cdir))
    assert names[0] == f".{CID}-json.gen" and (cdir / names[0]).read_text() == str(drv.rotations)
    return names[1:]


def test_rotation_names_sizes_and_no_loss(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {"max-size": "10k", "max-file": "3"})
    _write_lines(drv, 1000)
    drv.close()
    names = _log_names(cdir, drv)
    assert names == [f"{CID}-json.log", f"{CID}-json.log.1", f"{CID}-json.log.2"]
    record = len(json.dumps({"log": "x" * 60 + "\n"})) + 60  # generous bound on one record
    for name in names[1:]:
        size = (cdir / name).stat().st_size
        assert 10_000 <= size < 10_000 + record  # rotated once past max-size, by at most one record
    got = _all_lines(cdir)
    assert got == list(range(got[0], 1000))  # the newest lines, in order, none twice or missing


def test_compress_gzips_every_rotated_file_with_last_time(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {"max-size": "5k", "max-file": "4", "compress": "true"})
    _write_lines(drv, 600)
    drv.close()
    names = _log_names(cdir, drv)
    assert names == [f"{CID}-json.log", f"{CID}-json.log.1.gz", f"{CID}-json.log.2.gz", f"{CID}-json.log.3.gz"]
    for gz in names[1:]:
        data = gzip.decompress((cdir / gz).read_bytes())  # a standard gzip file
        last = json.loads(data.splitlines()[-1])["time"]
        extra = gzip_extra(cdir / gz)
        assert extra is not None and extra["lastTime"] == last
    got = _all_lines(cdir)
    assert got == list(range(got[0], 600)) and len(got) > 3 * 5000 // 140  # three full files and more


def test_max_file_one_recreates_the_file(cdir: Path) -> None:
    drv = JSONFileDriver(make_info(cdir), {"max-size": "2k", "max-file": "1"})
    _write_lines(drv, 200)
    drv.close()
    assert _log_names(cdir, drv) == [f"{CID}-json.log"]
    got = _all_lines(cdir)
    assert got[-1] == 199 and got == list(range(got[0], 200))


def test_reopening_appends(cdir: Path) -> None:
    for start in (0, 10):
        drv = JSONFileDriver(make_info(cdir), {})
        _write_lines(drv, 10, start=start)
        drv.close()
    assert _all_lines(cdir) == list(range(20))


@pytest.mark.parametrize("bad", [b"[1]", b'"text"', b'{"log": 5, "stream": "stdout", "time": "x"}', b"{nope"])
def test_a_record_that_is_not_a_log_object_is_skipped_with_a_warning(cdir: Path, bad: bytes) -> None:
    with pytest.raises((ValueError, TypeError)):  # what the reader skips with a warning
        jsonlog.decode(bad)
    drv = JSONFileDriver(make_info(cdir), {})
    _write_lines(drv, 2)
    drv.close()
    path = log_path(cdir, CID)
    first, second = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(first + bad + b"\n" + second)
    warnings: list[str] = []
    reader = JSONFileDriver.open_reader(cdir, {})
    reader.on_warning = warnings.append
    assert [int(m.line[:8]) for m in reader.read(ReadConfig())] == [0, 1]
    assert len(warnings) == 1 and "undecodable record" in warnings[0]


def test_fast_decode_agrees_with_the_json_parser() -> None:
    """Plain records skip the JSON parser; every kind of record must decode as json.loads reads it."""
    enc, tagged = jsonlog.ChunkEncoder({}), jsonlog.ChunkEncoder({"tag": "t"})
    lines = [b"plain", b"", b"back\\slash", b'"quoted"', b"caf\xc3\xa9", b"\xff", b"a\\nb", b"tab\there",
             b'x","stream":"stderr","time":"2001-01-01T00:00:00Z"}']
    for e in (enc, tagged):
        for line in lines:
            for partial in (None, PartialMeta("p" * 64, 1, False)):
                rec = e.message(LogMessage(line, "stderr", T0, partial))
                got = jsonlog.decode(rec)
                obj = json.loads(rec)
                assert got.line + (b"" if partial else b"\n") == obj.get("log", "").encode("utf-8", "surrogatepass")
                assert got.source == obj["stream"] and got.timestamp_ns == T0
                assert dict(got.attrs) == obj.get("attrs", {})
                assert (got.partial is not None) == (partial is not None)
    assert jsonlog._decode_plain(enc.message(LogMessage(b"plain", "stdout", T0))) is not None  # the fast path ran


def test_a_newline_inside_a_message_is_escaped_as_docker() -> None:
    """The copier never hands over a newline inside a line, but a LogMessage from elsewhere may:
    ffjson writes it as `\\n`, and the record must stay one line of valid JSON."""
    rec = jsonlog.ChunkEncoder({}).message(LogMessage(b"a\nb", "stdout", 1_000_000_000))
    assert rec == b'{"log":"a\\nb\\n","stream":"stdout","time":"1970-01-01T00:00:01Z"}\n'
    assert json.loads(rec)["log"] == "a\nb\n"
