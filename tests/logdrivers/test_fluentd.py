"""fluentd: Docker's records over the forward protocol, EventTime, acks, faults."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from ldhelpers import CID, make_info
from peers import free_port
from pydock.logdrivers import registry
from pydock.logdrivers.base import LogMessage, PartialMeta
from pydock.logdrivers.fluentd import FluentdDriver
from receivers import Fluentd

from pydock.errors import LogOptError

T = 1_700_000_000_123_456_789


@pytest.fixture
def fluent():  # type: ignore[no-untyped-def]
    srv = Fluentd().start()
    yield srv
    srv.stop()


def test_records_as_docker_writes_them(fluent: Fluentd, tmp_path: Path) -> None:
    drv = FluentdDriver(make_info(tmp_path), {"fluentd-address": f"127.0.0.1:{fluent.port}", "labels": "tier"})
    drv.log(LogMessage(b"hello", "stdout", T))
    drv.log(LogMessage(b"part", "stderr", T, PartialMeta("ab" * 32, 1, False)))
    drv.log(LogMessage(b"end", "stderr", T, PartialMeta("ab" * 32, 2, True)))
    drv.log_chunk("stdout", b"c1\nc2 \xff\n", T)
    drv.close()
    ev = fluent.wait(5)
    assert [e[0] for e in ev] == ["message", "message", "message", "forward", "forward"]
    assert all(e[1] == CID[:12] for e in ev)  # default tag {{.ID}}
    assert all(e[2] == T // 10**9 for e in ev)  # integer seconds
    base = {"container_id": CID, "container_name": "/web", "tier": "db"}
    assert ev[0][3] == dict(base, source="stdout", log="hello")
    assert ev[1][3] == dict(base, source="stderr", log="part", partial_message="true", partial_id="ab" * 32,
                            partial_ordinal="1", partial_last="false")
    # Docker's fluentd.go sets partial_message="true" on every part, the last one included
    assert ev[2][3] == dict(base, source="stderr", log="end", partial_message="true", partial_id="ab" * 32,
                            partial_ordinal="2", partial_last="true")
    assert [e[3]["log"] for e in ev[3:]] == ["c1", "c2 \udcff"]  # invalid UTF-8 kept byte for byte
    assert fluent.options[:3] == [{}, {}, {}]


def test_sub_second_precision_and_ack(fluent: Fluentd, tmp_path: Path) -> None:
    drv = FluentdDriver(make_info(tmp_path), {"fluentd-address": f"tcp://127.0.0.1:{fluent.port}",
                                              "fluentd-sub-second-precision": "true",
                                              "fluentd-request-ack": "true", "tag": "app.{{.Name}}"})
    drv.log(LogMessage(b"precise", "stdout", T))
    drv.log_chunk("stdout", b"a\nb\n", T + 1)
    drv.close()
    ev = fluent.wait(3)
    assert ev[0][1] == "app.web"
    assert ev[0][2] == ("EventTime", 1_700_000_000, 123_456_789)
    assert ev[1][2] == ("EventTime", 1_700_000_000, 123_456_790)
    assert all(o.get("chunk") for o in fluent.options) and fluent.options[1]["size"] == 2
    assert drv.core.sent == 3 and drv.dropped == 0


def test_ack_never_comes_then_retry(tmp_path: Path) -> None:
    srv = Fluentd(ack=False).start()
    try:
        drv = FluentdDriver(make_info(tmp_path), {"fluentd-address": f"127.0.0.1:{srv.port}",
                                                  "fluentd-request-ack": "true", "fluentd-read-timeout": "200ms",
                                                  "fluentd-retry-wait": "10ms", "fluentd-max-retries": "2"})
        drv.log(LogMessage(b"unacked", "stdout", T))
        drv.close()
        assert drv.dropped == 1
        assert len(srv.wait(3)) == 3  # sent three times: the first try and two retries, none acknowledged
    finally:
        srv.stop()


def test_unix_socket(tmp_path: Path) -> None:
    import socket

    import msgpack

    path = tmp_path / "fluent.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    drv = FluentdDriver(make_info(tmp_path), {"fluentd-address": f"unix://{path}"})
    drv.log(LogMessage(b"over unix", "stdout", T))
    conn, _ = srv.accept()
    conn.settimeout(5)
    obj = msgpack.unpackb(conn.recv(65536), raw=False)
    drv.close()
    conn.close()
    srv.close()
    assert obj[0] == CID[:12] and obj[2]["log"] == "over unix" and obj[3] == {}


@pytest.mark.parametrize("opts, key", [
    ({"fluentd-address": "udp://1.2.3.4:5"}, "fluentd-address"),
    ({"fluentd-address": "unix://"}, "fluentd-address"),
    ({"fluentd-async-connect": "true"}, "fluentd-async-connect"),
    ({"fluentd-retry-wait": "soon"}, "fluentd-retry-wait"),
    ({"fluentd-max-retries": "-1"}, "fluentd-max-retries"),
    ({"fluentd-buffer-limit": "big"}, "fluentd-buffer-limit"),
    ({"fluentd-async-reconnect-interval": "20s"}, "fluentd-async-reconnect-interval"),
    ({"fluentd-sub-second-precision": "yes"}, "fluentd-sub-second-precision"),
    ({"fluentd-bogus": "1"}, "fluentd-bogus"),
])
def test_bad_options(opts: dict[str, str], key: str) -> None:
    with pytest.raises(LogOptError, match=key):
        registry.validate("fluentd", opts)


def test_down_at_start_blocking_waits_then_delivers(tmp_path: Path) -> None:
    port = free_port()
    drv = FluentdDriver(make_info(tmp_path), {"fluentd-address": f"127.0.0.1:{port}", "fluentd-retry-wait": "50ms"})
    done = threading.Event()
    threading.Thread(target=lambda: (drv.log(LogMessage(b"patient", "stdout", T)), done.set()), daemon=True).start()
    time.sleep(0.4)
    assert not done.is_set()  # blocking mode: the container would wait here
    srv = Fluentd(port).start()
    try:
        assert done.wait(10)
        drv.close()
        assert [e[3]["log"] for e in srv.wait(1)] == ["patient"]
    finally:
        srv.stop()


def test_close_aborts_a_send_stuck_on_a_dead_endpoint(tmp_path: Path) -> None:
    port = free_port()
    drv = FluentdDriver(make_info(tmp_path), {"fluentd-address": f"127.0.0.1:{port}"})
    t = threading.Thread(target=drv.log, args=(LogMessage(b"never", "stdout", T),))
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    drv.close()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 2 and drv.dropped == 1


def test_async_buffers_and_reconnects(tmp_path: Path) -> None:
    port = free_port()
    drv = FluentdDriver(make_info(tmp_path), {"fluentd-address": f"127.0.0.1:{port}", "fluentd-async": "true",
                                              "fluentd-async-reconnect-interval": "100ms"})
    t0 = time.monotonic()
    for i in range(20):
        drv.log(LogMessage(b"queued %d" % i, "stdout", T))
    assert time.monotonic() - t0 < 0.5  # never waits while fluentd is down
    srv = Fluentd(port).start()
    try:
        got = srv.wait(20)
        drv.close()
        assert [e[3]["log"] for e in got] == [f"queued {i}" for i in range(20)] and drv.dropped == 0
    finally:
        srv.stop()


def test_server_restart_loses_nothing_in_sync_mode(tmp_path: Path) -> None:
    srv = Fluentd().start()
    port = srv.port
    drv = FluentdDriver(make_info(tmp_path), {"fluentd-address": f"127.0.0.1:{port}", "fluentd-retry-wait": "50ms"})
    drv.log(LogMessage(b"first", "stdout", T))
    assert len(srv.wait(1)) == 1
    srv.stop()
    srv2 = Fluentd(port).start()
    try:
        drv.log(LogMessage(b"second", "stdout", T))  # the old connection is dead; must not vanish (moby#43690)
        drv.close()
        assert [e[3]["log"] for e in srv2.wait(1)] == ["second"]
    finally:
        srv2.stop()


def test_slow_server_non_blocking_counts_what_it_drops(tmp_path: Path) -> None:
    srv = Fluentd(slow=1.5).start()  # accepts, then reads nothing for 1.5 s
    try:
        stack = registry.create_driver("fluentd", make_info(tmp_path),
                                       {"fluentd-address": f"127.0.0.1:{srv.port}", "mode": "non-blocking",
                                        "max-buffer-size": "64k", "cache-disabled": "true"})
        t0 = time.monotonic()
        for _ in range(50):
            stack.log_chunk("stdout", (b"f" * 1000 + b"\n") * 100, time.time_ns())  # type: ignore[attr-defined]
        assert time.monotonic() - t0 < 1.5  # never waited for the slow server
        stack.close()
        dropped = stack.dropped  # type: ignore[attr-defined]
        assert dropped > 0
        assert len(srv.wait(5000 - dropped, timeout=15)) + dropped == 5000
    finally:
        srv.stop()
