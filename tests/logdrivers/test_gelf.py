"""gelf: the exact message, UDP chunking and both compressions, TCP with faults."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from ldhelpers import CID, IMAGE_ID, golden, make_info
from pydock.logdrivers import registry
from pydock.logdrivers.base import LogMessage
from pydock.logdrivers.gelf import GelfDriver
from receivers import GelfTCP, GelfUDP

from pydock.errors import LogOptError

T = 1_700_000_000_123_456_789


@pytest.fixture
def udp():  # type: ignore[no-untyped-def]
    r = GelfUDP()
    yield r
    r.close()


def test_message_bytes_match_golden(tmp_path: Path) -> None:
    drv = GelfDriver(make_info(tmp_path), {"gelf-address": "udp://127.0.0.1:12201", "labels": "tier", "env": "APP"})
    out = drv.encode("stdout", b"hello <gelf> \"q\"", T) + b"\n" + drv.encode("stderr", b"oops", 1_700_000_000_000_000_000)
    drv.close()
    golden("gelf_messages.txt", out + b"\n")
    first = json.loads(out.split(b"\n")[0])
    assert list(first)[:5] == ["version", "host", "short_message", "timestamp", "level"]
    assert first == {"version": "1.1", "host": "testhost", "short_message": 'hello <gelf> "q"', "timestamp": 1700000000.123,
                     "level": 6, "_APP": "shop", "_command": "sh -c echo hi", "_container_id": CID,
                     "_container_name": "web", "_created": "2023-11-14T22:13:20.123456789Z", "_image_id": IMAGE_ID,
                     "_image_name": "busybox:latest", "_tag": CID[:12], "_tier": "db"}


@pytest.mark.parametrize("compression", ["gzip", "zlib", "none"])
def test_udp_small_and_chunked(udp: GelfUDP, tmp_path: Path, compression: str) -> None:
    drv = GelfDriver(make_info(tmp_path), {"gelf-address": f"udp://127.0.0.1:{udp.port}",
                                           "gelf-compression-type": compression})
    big = bytes(range(33, 127)) * 170  # ~16 KB that compresses poorly enough to need chunks
    import random

    rnd = random.Random(1)
    noisy = bytes(rnd.randrange(33, 127) for _ in range(16000))
    drv.log(LogMessage(b"small", "stdout", T))
    drv.log(LogMessage(noisy, "stderr", T))
    drv.log_chunk("stdout", b"c1\n\nc2\n" + big + b"\n", T)
    drv.close()
    msgs = udp.wait(5)
    assert [m["short_message"] for m in msgs] == ["small", noisy.decode(), "c1", "c2", big.decode()]
    assert [m["level"] for m in msgs] == [6, 3, 6, 6, 6]
    assert max(udp.datagram_sizes) <= 1420 and len(udp.datagram_sizes) > 5  # the noisy one was chunked
    magic = {"gzip": b"\x1f\x8b", "zlib": b"\x78", "none": b"{"}[compression]
    assert all(r.startswith(magic) for r in udp.raw)


def test_udp_too_many_chunks_is_counted(udp: GelfUDP, tmp_path: Path) -> None:
    import os

    drv = GelfDriver(make_info(tmp_path), {"gelf-address": f"udp://127.0.0.1:{udp.port}",
                                           "gelf-compression-type": "none"})
    huge = os.urandom(100_000).hex().encode()  # 200 KB uncompressed: over 128 chunks
    drv.log(LogMessage(huge, "stdout", T))
    drv.log(LogMessage(b"after", "stdout", T))
    drv.close()
    assert [m["short_message"] for m in udp.wait(1)] == ["after"] and drv.dropped == 1


@pytest.mark.parametrize("opts, key", [
    ({}, "gelf-address"),
    ({"gelf-address": "udp://127.0.0.1"}, "gelf-address"),
    ({"gelf-address": "http://127.0.0.1:1"}, "gelf-address"),
    ({"gelf-address": "udp://127.0.0.1:1", "gelf-compression-type": "lz4"}, "gelf-compression-type"),
    ({"gelf-address": "udp://127.0.0.1:1", "gelf-compression-level": "10"}, "gelf-compression-level"),
    ({"gelf-address": "tcp://127.0.0.1:1", "gelf-compression-type": "gzip"}, "gelf-compression-type"),
    ({"gelf-address": "udp://127.0.0.1:1", "gelf-tcp-max-reconnect": "2"}, "gelf-tcp-max-reconnect"),
    ({"gelf-address": "tcp://127.0.0.1:1", "gelf-tcp-reconnect-delay": "soon"}, "gelf-tcp-reconnect-delay"),
])
def test_bad_options(opts: dict[str, str], key: str) -> None:
    with pytest.raises(LogOptError, match=key):
        registry.validate("gelf", opts)


def test_tcp_frames_and_reconnect_after_the_server_comes_back(tmp_path: Path) -> None:
    srv = GelfTCP().start()
    port = srv.port
    drv = GelfDriver(make_info(tmp_path), {"gelf-address": f"tcp://127.0.0.1:{port}",
                                           "gelf-tcp-reconnect-delay": "0"})
    drv.log_chunk("stdout", b"one\ntwo\n", T)
    assert [m["short_message"] for m in srv.wait(2)] == ["one", "two"]
    srv.stop()
    # down: a send fails, is retried gelf-tcp-max-reconnect times, then counted
    drv.log(LogMessage(b"lost", "stdout", T))
    assert drv.dropped == 1
    srv2 = GelfTCP(port).start()
    drv.log(LogMessage(b"three", "stderr", T))
    drv.close()
    got = srv2.wait(1)
    srv2.stop()
    assert [m["short_message"] for m in got] == ["three"] and got[0]["level"] == 3


def test_tcp_down_at_start_then_up(tmp_path: Path) -> None:
    from peers import free_port

    port = free_port()
    drv = GelfDriver(make_info(tmp_path), {"gelf-address": f"tcp://127.0.0.1:{port}",
                                           "gelf-tcp-max-reconnect": "20", "gelf-tcp-reconnect-delay": "1"})
    done = threading.Event()

    def send() -> None:
        drv.log(LogMessage(b"waited", "stdout", T))
        done.set()

    threading.Thread(target=send, daemon=True).start()
    time.sleep(0.3)
    assert not done.is_set()
    srv = GelfTCP(port).start()
    try:
        assert done.wait(10)
        drv.close()
        assert [m["short_message"] for m in srv.wait(1)] == ["waited"] and drv.dropped == 0
    finally:
        srv.stop()


def test_slow_server_back_pressure_and_non_blocking(tmp_path: Path) -> None:
    srv = GelfTCP(slow=2.0).start()  # accepts, then reads nothing for 2 s
    try:
        stack = registry.create_driver("gelf", make_info(tmp_path),
                                       {"gelf-address": f"tcp://127.0.0.1:{srv.port}", "mode": "non-blocking",
                                        "max-buffer-size": "64k", "cache-disabled": "true"})
        line = b"x" * 1000 + b"\n"
        t0 = time.monotonic()
        for _ in range(50):
            stack.log_chunk("stdout", line * 100, time.time_ns())  # type: ignore[attr-defined]
        assert time.monotonic() - t0 < 1.0  # never waited on the slow server
        stack.close()
        assert stack.dropped > 0  # type: ignore[attr-defined]
        got = len(srv.wait(5000 - stack.dropped, timeout=15))  # type: ignore[attr-defined]
        assert got + stack.dropped == 5000  # type: ignore[attr-defined]
    finally:
        srv.stop()


def test_a_newline_inside_a_message_keeps_the_json_valid(tmp_path: Path) -> None:
    drv = GelfDriver(make_info(tmp_path), {"gelf-address": "udp://127.0.0.1:9"})
    payload = drv.encode("stdout", b"a\nb", 1_000_000_000)
    drv.close()
    assert json.loads(payload)["short_message"] == "a\nb"
