"""`pydock logs` output: streams to their own fd, -t, --details, parts joined, --tail parsing."""

from __future__ import annotations

import io
import time

import pytest
from pydock.logdrivers.base import LogMessage, PartialMeta

from pydock.cli.logs import details_prefix, parse_tail, parse_time_ns, write_logs
from pydock.errors import UsageError

T = 1_700_000_000_000_000_001


def run(msgs: list[LogMessage], **kw: bool) -> tuple[bytes, bytes]:
    out, err = io.BytesIO(), io.BytesIO()
    write_logs(msgs, out, err, **kw)  # type: ignore[arg-type]
    return out.getvalue(), err.getvalue()


def test_streams_go_to_their_own_output() -> None:
    out, err = run([LogMessage(b"o1", "stdout", T), LogMessage(b"e1", "stderr", T), LogMessage(b"", "stdout", T)])
    assert out == b"o1\n\n" and err == b"e1\n"


def test_timestamps_have_nine_digits() -> None:
    out, _ = run([LogMessage(b"x", "stdout", 1_700_000_000_120_000_000)], timestamps=True)
    assert out == b"2023-11-14T22:13:20.120000000Z x\n"


def test_details_sorted_and_escaped_after_the_time() -> None:
    msg = LogMessage(b"x", "stdout", T, attrs={"z": "1", "a b": "c&d=e"})
    out, _ = run([msg], timestamps=True, details=True)
    assert out == b"2023-11-14T22:13:20.000000001Z a+b=c%26d%3De,z=1 x\n"
    assert details_prefix({}) == b" "  # Docker prints the separating space even with no attributes


def test_parts_of_a_long_line_are_joined_with_one_timestamp() -> None:
    p = "p" * 64
    msgs = [LogMessage(b"aa", "stdout", T, PartialMeta(p, 1, False)), LogMessage(b"e", "stderr", T + 5),
            LogMessage(b"bb", "stdout", T + 9, PartialMeta(p, 2, True)), LogMessage(b"tail", "stdout", T),
            LogMessage(b"open", "stdout", T, PartialMeta("q" * 64, 1, False))]
    out, err = run(msgs, timestamps=True)
    assert out == (b"2023-11-14T22:13:20.000000001Z aabb\n2023-11-14T22:13:20.000000001Z tail\n"
                   b"2023-11-14T22:13:20.000000001Z open")
    assert err == b"2023-11-14T22:13:20.000000006Z e\n"


def test_follow_waits_for_the_driver_to_close_after_the_container_stops(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pydock.cli.logs import _status_probe

    status = ["running"]
    done = _status_probe(lambda: status[0], tmp_path, every=0, grace=0.3)
    assert not done()
    (tmp_path / "logstats.json").write_text('{"closed": false}')
    status[0] = "exited"
    assert not done()  # stopped, but a non-blocking buffer may still be draining into the file
    (tmp_path / "logstats.json").write_text('{"closed": true}')
    assert done()
    (tmp_path / "logstats.json").write_text('{"closed": false}')
    status[0] = "running"
    assert not done()
    status[0] = "exited"
    assert not done()
    import time as _t

    _t.sleep(0.35)
    assert done()  # a driver that never says closed (a crashed shim) does not hold -f forever


def test_tail_values() -> None:
    assert [parse_tail(x) for x in ("all", "", "10", "0", "-3", "ten")] == [-1, -1, 10, 0, -1, -1]


# -- the command itself, on a container record made the way the runtime writes it ------------------

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from ldhelpers import CID, make_info
from pydock.logdrivers.jsonfile import JSONFileDriver


@pytest.fixture
def record(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A running container `web` (its shim lock held by the test) logging to json-file."""
    root = tmp_path / "root"
    cdir = root / "containers" / CID
    cdir.mkdir(parents=True)
    opts = {"max-size": "2k", "max-file": "20", "compress": "true"}
    config = {"Id": CID, "Name": "web", "Created": "2026-01-01T00:00:00Z", "Image": "busybox",
              "Config": {"Image": "busybox", "Labels": {}, "Env": []},
              "HostConfig": {"LogConfig": {"Type": "json-file", "Config": opts}},
              "LogPath": str(cdir / f"{CID}-json.log")}
    (cdir / "config.json").write_text(json.dumps(config))
    (cdir / "state.json").write_text(json.dumps({"Status": "running", "Running": True, "Pid": 1}))
    lock = os.open(cdir / "shim.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    drv = JSONFileDriver(make_info(cdir), opts)
    yield root, cdir, drv
    drv.close()
    os.close(lock)


def pydock_logs(root: Path, *args: str, **kw) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    env = dict(os.environ, PYDOCK_ROOT=str(root))
    return subprocess.Popen([sys.executable, "-m", "pydock", "logs", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_logs_tail_and_timestamps(record) -> None:  # type: ignore[no-untyped-def]
    root, _, drv = record
    for i in range(100):
        drv.log(LogMessage(f"line {i}".encode(), "stderr" if i == 98 else "stdout", T + i))
    p = pydock_logs(root, "--tail", "3", "-t", "web")
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out == b"2023-11-14T22:13:20.000000098Z line 97\n2023-11-14T22:13:20.000000100Z line 99\n"
    assert err == b"2023-11-14T22:13:20.000000099Z line 98\n"


def test_logs_unknown_container_fails_cleanly(record) -> None:  # type: ignore[no-untyped-def]
    p = pydock_logs(record[0], "nope")
    _, err = p.communicate(timeout=30)
    assert p.returncode != 0 and b"No such container: nope" in err


def test_logs_follow_across_rotation_ends_when_the_container_stops(record) -> None:  # type: ignore[no-untyped-def]
    root, cdir, drv = record
    drv.log(LogMessage(b"first", "stdout", time.time_ns()))
    p = pydock_logs(root, "-f", "--tail", "1", CID[:10])
    assert p.stdout is not None
    assert p.stdout.readline() == b"first\n"
    for i in range(300):  # many rotations of a 2k file while following
        drv.log(LogMessage(f"n{i:04d}".encode(), "stdout", time.time_ns()))
    drv.close()
    state = {"Status": "exited", "Running": False, "Pid": 0, "ExitCode": 0}
    (cdir / "state.json").write_text(json.dumps(state))
    (cdir / "logstats.json").write_text(json.dumps({"closed": True}))  # as the driver stack does at close
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.splitlines() == [f"n{i:04d}".encode() for i in range(300)]


def test_tail_is_parsed_as_go_atoi() -> None:
    # strconv.Atoi: an optional sign and digits only; anything else (Python's `1_0`, spaces) is all
    assert [parse_tail(t) for t in ("5", "+5", "0", "-3", "all", "", "1_0", " 5", "5x", "1e3")] == \
        [5, 5, 0, -1, -1, -1, -1, -1, -1, -1]


def test_since_and_until_keep_nanoseconds() -> None:
    # Docker passes `seconds.nanoseconds` through unchanged: a float would move it by ~100 ns
    assert parse_time_ns("1764280000.123456789", "--since") == 1_764_280_000_123_456_789
    assert parse_time_ns("1764280000.5", "--since") == 1_764_280_000_500_000_000
    assert parse_time_ns("1764280000", "--since") == 1_764_280_000_000_000_000
    assert parse_time_ns("2025-11-27T21:46:40.123456789Z", "--since") == 1_764_280_000_123_456_789
    assert parse_time_ns("2025-11-27T22:46:40.000000001+01:00", "--until") == \
        parse_time_ns("2025-11-27T21:46:40Z", "--until") + 1


def test_since_forms_with_a_zone_as_docker() -> None:
    # GetTimestamp's layouts with a zone: 2006-01-02Z07:00, 2006-01-02T15Z07:00, 2006-01-02T15:04Z07:00
    midnight = 1_764_201_600 * 10**9  # 2025-11-27T00:00:00Z
    assert parse_time_ns("2025-11-27Z", "--since") == midnight
    assert parse_time_ns("2025-11-27+01:00", "--since") == midnight - 3600 * 10**9  # not 01:00 local
    assert parse_time_ns("2025-11-27T21-02:30", "--since") == midnight + (21 * 3600 + 9000) * 10**9
    assert parse_time_ns("2025-11-27T21:46Z", "--since") == midnight + (21 * 3600 + 46 * 60) * 10**9
    assert parse_time_ns("2025-11-27T21:46:40.25+00:00", "--since") == 1_764_280_000_250_000_000


def test_since_forms_without_a_zone_are_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30, no daylight saving
    time.tzset()
    try:
        assert parse_time_ns("2025-11-27", "--since") == (1_764_201_600 - 19_800) * 10**9
        assert parse_time_ns("2025-11-27T05:30:00.000000001", "--since") == 1_764_201_600 * 10**9 + 1
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("text", ["2025-11-27 21:46", "2025-13-01", "yesterday", "2025-11-27T21:46:40.5.5"])
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--since"):
        parse_time_ns(text, "--since")
