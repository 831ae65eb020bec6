"""journald: the native protocol's bytes, and a real systemd-journald read back with journalctl."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ldhelpers import CID, make_info
from peers import journald
from pydock.logdrivers import registry
from pydock.logdrivers.base import LogMessage, PartialMeta
from pydock.logdrivers.journald import JournaldDriver, field, sanitize_key
from receivers import JournalSocket

from pydock.errors import LogOptError

T = 1_700_000_000_123_456_789


def test_field_encoding() -> None:
    assert field("MESSAGE", b"plain") == b"MESSAGE=plain\n"
    assert field("MESSAGE", b"two\nlines") == b"MESSAGE\n\x09\x00\x00\x00\x00\x00\x00\x00two\nlines\n"
    assert sanitize_key("com.example-team") == "COM_EXAMPLE_TEAM" and sanitize_key("_x") == "X"


def test_entries_on_the_wire(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.sock")
    rx = JournalSocket(path)
    try:
        drv = JournaldDriver(make_info(tmp_path), {"journald-socket": path, "labels": "com.example.team", "env": "APP"})
        drv.log(LogMessage(b"hello", "stdout", T))
        drv.log(LogMessage(b"part one", "stderr", T, PartialMeta("cd" * 32, 1, False)))
        drv.log(LogMessage(b"x" * 400_000, "stderr", T, PartialMeta("cd" * 32, 2, True)))  # over a datagram
        drv.log_chunk("stdout", b"c1\n\n", T)
        drv.close()
        e = [rx.entry() for _ in range(5)]
    finally:
        rx.close()
    assert rx.via_fd == 1
    assert e[0]["MESSAGE"] == b"hello" and e[0]["PRIORITY"] == b"6"
    for k, v in {"CONTAINER_ID": CID[:12], "CONTAINER_ID_FULL": CID, "CONTAINER_NAME": "web",
                 "CONTAINER_TAG": CID[:12], "SYSLOG_IDENTIFIER": CID[:12], "IMAGE_NAME": "busybox:latest",
                 "SYSLOG_TIMESTAMP": "2023-11-14T22:13:20.123456789Z", "COM_EXAMPLE_TEAM": "core", "APP": "shop"}.items():
        assert e[0][k] == v.encode(), k
    assert [x["CONTAINER_LOG_ORDINAL"] for x in e] == [b"1", b"2", b"3", b"4", b"5"]
    assert len({x["CONTAINER_LOG_EPOCH"] for x in e}) == 1
    assert e[1]["PRIORITY"] == b"3" and e[1]["CONTAINER_PARTIAL_MESSAGE"] == b"true"
    assert (e[1]["CONTAINER_PARTIAL_ID"], e[1]["CONTAINER_PARTIAL_ORDINAL"], e[1]["CONTAINER_PARTIAL_LAST"]) == \
        (b"cd" * 32, b"1", b"false")
    assert "CONTAINER_PARTIAL_MESSAGE" not in e[2] and e[2]["CONTAINER_PARTIAL_LAST"] == b"true"
    assert len(e[2]["MESSAGE"]) == 400_000
    assert [x["MESSAGE"] for x in e[3:]] == [b"c1", b""]


def test_no_journal_no_driver(tmp_path: Path) -> None:
    with pytest.raises(LogOptError, match="journald is not enabled"):
        JournaldDriver(make_info(tmp_path), {"journald-socket": str(tmp_path / "none.sock")})
    with pytest.raises(LogOptError, match="journald-socket"):
        registry.validate("journald", {"journald-socket": "relative/path"})
    with pytest.raises(LogOptError, match="max-file"):
        registry.validate("journald", {"max-file": "2"})


@pytest.mark.root
@pytest.mark.peer
def test_real_journald_reads_back_docker_fields(tmp_path: Path) -> None:
    with journald(tmp_path / "jd") as jd:
        drv = JournaldDriver(make_info(tmp_path), {"journald-socket": str(jd.socket), "tag": "{{.Name}}",
                                                   "labels": "tier"})
        marker = f"jd-{time.monotonic_ns()}"
        drv.log(LogMessage(f"{marker} out".encode(), "stdout", T))
        drv.log(LogMessage(f"{marker} multi\nline".encode(), "stderr", T))
        drv.log(LogMessage(marker.encode() + b" " + b"B" * 300_000, "stdout", T, PartialMeta("ef" * 32, 1, False)))
        drv.close()
        got = jd.entries(3, marker)
    assert len(got) == 3
    first, second, big = got
    assert first["MESSAGE"] == f"{marker} out" and first["PRIORITY"] == "6"
    assert first["CONTAINER_ID"] == CID[:12] and first["CONTAINER_ID_FULL"] == CID
    assert first["CONTAINER_NAME"] == "web" and first["CONTAINER_TAG"] == "web" and first["SYSLOG_IDENTIFIER"] == "web"
    assert first["IMAGE_NAME"] == "busybox:latest" and first["TIER"] == "db"
    assert first["SYSLOG_TIMESTAMP"] == "2023-11-14T22:13:20.123456789Z"
    assert first["_PID"] == str(os.getpid()) and first["_TRANSPORT"] == "journal"
    assert second["MESSAGE"] == f"{marker} multi\nline" and second["PRIORITY"] == "3"
    # journalctl prints a message with bytes it will not show as text as an array of byte values
    big_msg = big["MESSAGE"]
    assert isinstance(big_msg, str) and len(big_msg) == len(marker) + 1 + 300_000
    assert big["CONTAINER_PARTIAL_MESSAGE"] == "true" and big["CONTAINER_PARTIAL_ORDINAL"] == "1"


def test_key_sanitising_is_ascii_only_as_docker() -> None:
    # sanitizeKeyMod upper-cases a-z only; every other rune, `ß` and `ı` included, becomes `_`
    assert sanitize_key("straße.ıd") == "STRA_E__D" and sanitize_key("_é_x") == "X"


def test_an_attribute_replaces_a_field_of_the_same_name(tmp_path: Path) -> None:
    """Docker puts the attributes into the same map as its own fields: one value per key."""
    path = tmp_path / "journal.sock"
    path.touch()
    info = make_info(tmp_path, labels={"container_name": "from-label"})
    drv = JournaldDriver(info, {"journald-socket": str(path), "labels": "container_name"})
    entry = drv.entry(LogMessage(b"hello", "stdout", T))
    drv.close()
    assert entry.count(b"CONTAINER_NAME=") == 1 and b"\nCONTAINER_NAME=from-label\n" in entry
