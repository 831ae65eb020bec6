"""syslog: the exact lines (golden), and a real rsyslog parsing them over UDP, TCP and TLS."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from ldhelpers import CID, golden, make_info
from peers import TLSFiles, free_port, make_ca, rsyslog
from pydock.logdrivers import registry
from pydock.logdrivers.base import LogMessage
from pydock.logdrivers.syslog import Formatter, SyslogDriver, parse_facility

from pydock.errors import LogOptError

T = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_lines_match_golden(utc: None) -> None:
    out = []
    for fmt in ("", "rfc3164", "rfc5424", "rfc5424micro"):
        for octets in (False, True):
            f = Formatter(fmt, 3 if fmt else 23, "testhost", CID[:12], 4242, octets)
            for source in ("stdout", "stderr"):
                out.append(f.frame(f.header(source, T), f"a line from {source}".encode()))
    golden("syslog_lines.txt", b"".join(out))


def test_rfc5424_layout_by_hand(utc: None) -> None:
    f = Formatter("rfc5424micro", 16, "h", "tag1", 7, True)
    msg = b"<134>1 2023-11-14T22:13:20.123456Z h tag1 7 tag1 - hi\n"
    assert f.frame(f.header("stdout", T), b"hi") == b"%d " % len(msg) + msg


@pytest.mark.parametrize("opts, key", [
    ({"syslog-address": "http://x"}, "syslog-address"),
    ({"syslog-address": "tcp://"}, "syslog-address"),
    ({"syslog-address": "unix:///does/not/exist"}, "syslog-address"),
    ({"syslog-address": "udp://127.0.0.1:1", "syslog-facility": "kernel"}, "syslog-facility"),
    ({"syslog-address": "udp://127.0.0.1:1", "syslog-facility": "24"}, "syslog-facility"),
    ({"syslog-address": "udp://127.0.0.1:1", "syslog-facility": "\u0663"}, "syslog-facility"),  # not Atoi's digits
    ({"syslog-address": "udp://127.0.0.1:1", "syslog-format": "rfc9999"}, "syslog-format"),
    ({"syslog-address": "udp://127.0.0.1:1", "syslog-tls-ca-cert": "/nope.pem"}, "syslog-tls-ca-cert"),
    ({"syslog-address": "udp://127.0.0.1:1", "syslog-tls-skip-verify": "maybe"}, "syslog-tls-skip-verify"),
    ({"syslog-address": "udp://127.0.0.1:1", "max-size": "1m"}, "max-size"),
])
def test_bad_options(opts: dict[str, str], key: str) -> None:
    with pytest.raises(LogOptError, match=key):
        registry.validate("syslog", opts)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def rs(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles):  # type: ignore[no-untyped-def]
    with rsyslog(tmp_path_factory.mktemp("rsyslog"), tls_files) as r:
        yield r


@pytest.mark.peer
@pytest.mark.parametrize("fmt", ["rfc5424", "rfc5424micro", "rfc3164", ""])
@pytest.mark.parametrize("scheme", ["udp", "tcp", "tcp+tls"])
def test_rsyslog_parses_every_format_and_transport(rs, tls_files: TLSFiles, tmp_path: Path, fmt: str,
                                                   scheme: str) -> None:  # type: ignore[no-untyped-def]
    port = {"udp": rs.udp, "tcp": rs.tcp, "tcp+tls": rs.tls}[scheme]
    opts = {"syslog-address": f"{scheme}://127.0.0.1:{port}", "syslog-format": fmt,
            "syslog-facility": "local3", "tag": "{{.Name}}"}
    if scheme == "tcp+tls":
        opts["syslog-tls-ca-cert"] = str(tls_files.ca)
    marker = f"m-{fmt or 'default'}-{scheme}-{time.monotonic_ns()}"
    before = len(rs.records(0, timeout=0))
    drv = SyslogDriver(make_info(tmp_path, hostname="pydock-host"), opts)
    drv.log(LogMessage(f"{marker} out".encode(), "stdout", time.time_ns()))
    drv.log(LogMessage(b"", "stdout", time.time_ns()))  # empty lines are not sent
    drv.log_chunk("stderr", f"{marker} err1\n\n{marker} err2 \u2603\n".encode(), time.time_ns())
    drv.close()
    got = [r for r in rs.records(before + 3) if marker in r["msg"]]
    assert [r["msg"].strip() for r in got] == [f"{marker} out", f"{marker} err1", f"{marker} err2 \u2603"]
    assert [r["sev"] for r in got] == ["6", "3", "3"]
    assert all(r["fac"] == "19" for r in got)
    for r in got:
        assert r["app"] == "web"
        assert r["procid"] == str(os.getpid())
        if fmt.startswith("rfc5424"):
            assert r["host"] == "pydock-host" and r["msgid"] == "web"
        elif fmt == "rfc3164":
            assert r["host"] == "pydock-host" and r["msgid"] == "-"
        if fmt == "rfc5424micro":
            assert len(r["ts"].split(".")[1]) >= 7  # six digits and the zone


@pytest.mark.peer
def test_long_lines_arrive_whole_over_tcp(rs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    drv = SyslogDriver(make_info(tmp_path), {"syslog-address": f"tcp://127.0.0.1:{rs.tcp}",
                                             "syslog-format": "rfc5424"})
    marker = f"long-{time.monotonic_ns()}"
    body = marker + " " + "L" * 16000
    before = len(rs.records(0, timeout=0))
    drv.log(LogMessage(body.encode(), "stdout", time.time_ns()))
    drv.log(LogMessage(f"{marker} next".encode(), "stdout", time.time_ns()))
    drv.close()
    got = [r["msg"] for r in rs.records(before + 2) if marker in r["msg"]]
    assert got == [body, f"{marker} next"]  # octet counting keeps message boundaries


@pytest.mark.peer
def test_wrong_ca_is_refused_and_counted(rs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other = make_ca(tmp_path / "other")
    drv = SyslogDriver(make_info(tmp_path), {"syslog-address": f"tcp+tls://127.0.0.1:{rs.tls}",
                                             "syslog-tls-ca-cert": str(other.ca)})
    t = threading.Thread(target=drv.log, args=(LogMessage(b"secret", "stdout", time.time_ns()),))
    t.start()
    time.sleep(0.5)
    assert t.is_alive()  # blocking mode: waits for a server it can trust
    assert "CERTIFICATE_VERIFY_FAILED" in drv._stream.last_error  # type: ignore[union-attr]
    drv.close()
    t.join(5)
    assert not t.is_alive() and drv.dropped == 1


@pytest.mark.peer
def test_endpoint_down_at_start_then_up_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    drv = SyslogDriver(make_info(tmp_path), {"syslog-address": f"tcp://127.0.0.1:{port}",
                                             "syslog-format": "rfc5424"})  # starts although nobody listens
    sent = threading.Thread(target=lambda: [drv.log(LogMessage(b"early %d" % i, "stdout", time.time_ns()))
                                            for i in range(3)])
    sent.start()
    time.sleep(0.3)
    assert sent.is_alive()  # blocking: waiting, retrying with backoff
    with rsyslog(tmp_path / "rs", tcp=port) as r:
        sent.join(15)
        assert not sent.is_alive()
        drv.close()
        assert [x["msg"] for x in r.records(3)] == ["early 0", "early 1", "early 2"]


@pytest.mark.peer
def test_server_restart_mid_stream(tmp_path: Path) -> None:
    port = free_port()
    drv = SyslogDriver(make_info(tmp_path), {"syslog-address": f"tcp://127.0.0.1:{port}",
                                             "syslog-format": "rfc5424"})
    with rsyslog(tmp_path / "a", tcp=port) as r:
        drv.log(LogMessage(b"before", "stdout", time.time_ns()))
        assert [x["msg"] for x in r.records(1)] == ["before"]
    with rsyslog(tmp_path / "b", tcp=port) as r:
        drv.log(LogMessage(b"after", "stdout", time.time_ns()))  # the old connection is dead: reconnect
        drv.close()
        assert [x["msg"] for x in r.records(1)] == ["after"]


def test_non_blocking_never_waits_on_a_dead_endpoint(tmp_path: Path) -> None:
    port = free_port()
    drv = registry.create_driver("syslog", make_info(tmp_path),
                                 {"syslog-address": f"tcp://127.0.0.1:{port}", "mode": "non-blocking",
                                  "max-buffer-size": "4k"})
    t0 = time.monotonic()
    for i in range(0, 2000, 100):
        drv.log_chunk("stdout", b"".join(b"line %05d\n" % j for j in range(i, i + 100)), time.time_ns())  # type: ignore[attr-defined]
    assert time.monotonic() - t0 < 1.0
    drv.driver.close(timeout=0.2)  # type: ignore[attr-defined]
    assert drv.dropped == 2000  # type: ignore[attr-defined]
    drv.cache.close()  # type: ignore[attr-defined]


def test_unixgram_and_unix_stream(tmp_path: Path) -> None:
    for kind, scheme in ((socket.SOCK_DGRAM, "unixgram"), (socket.SOCK_STREAM, "unix")):
        path = tmp_path / f"{scheme}.sock"
        srv = socket.socket(socket.AF_UNIX, kind)
        srv.bind(str(path))
        if kind == socket.SOCK_STREAM:
            srv.listen(1)
        drv = SyslogDriver(make_info(tmp_path), {"syslog-address": f"{scheme}://{path}", "syslog-format": "rfc3164"})
        drv.log(LogMessage(b"via " + scheme.encode(), "stdout", time.time_ns()))
        if kind == socket.SOCK_STREAM:
            conn, _ = srv.accept()
            conn.settimeout(5)
            data = conn.recv(4096)
            conn.close()
        else:
            srv.settimeout(5)
            data = srv.recv(4096)
        drv.close()
        srv.close()
        assert data.startswith(b"<30>") and data.endswith(b"]: via " + scheme.encode() + b"\n")


def test_facility_numbers_as_go_atoi() -> None:
    assert [parse_facility({"syslog-facility": v}) for v in ("", "daemon", "local7", "0", "+5", "23")] == \
        [3, 3, 23, 0, 5, 23]
