"""The non-blocking ring (drops counted, never silent), tag templates and attribute options."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from ldhelpers import CID, IMAGE_ID, make_info
from pydock.logdrivers import registry, tag
from pydock.logdrivers.base import LogMessage
from pydock.logdrivers.options import extra_attributes
from pydock.logdrivers.ring import RingDriver
from pydock.logdrivers.stats import read_stats
from recorders import ChunkRecorder, MessageRecorder

from pydock.errors import LogOptError


class Gate(ChunkRecorder):
    """A driver that blocks until opened, like a remote endpoint that is down."""

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()

    def log(self, msg: LogMessage) -> None:
        self.open.wait()
        super().log(msg)

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        self.open.wait()
        super().log_chunk(source, data, timestamp_ns)


def test_ring_never_blocks_and_counts_every_drop() -> None:
    gate = Gate()
    ring = RingDriver(gate, max_bytes=1000)
    lines = [b"%04d" % i + b"." * 95 for i in range(100)]  # 99 bytes each
    for i in range(0, 100, 5):
        ring.log_chunk("stdout", b"\n".join(lines[i : i + 5]) + b"\n", i)  # returns at once
    for i in range(3):
        ring.log(LogMessage(b"m%d" % i + b"." * 200, "stderr", 1000 + i))
    gate.open.set()
    ring.close()
    delivered = len(gate.messages)
    assert delivered + ring.dropped == 103
    assert ring.dropped > 0 and delivered >= 10
    # what got through is in order, whole lines only
    got = [m.line for m in gate.messages if m.source == "stdout"]
    assert got == sorted(got) and all(len(x) == 99 for x in got)


def test_ring_accepts_one_oversize_message_into_an_empty_queue() -> None:
    rec = MessageRecorder()
    ring = RingDriver(rec, max_bytes=10)
    ring.log(LogMessage(b"x" * 100, "stdout", 1))
    ring.close()
    assert [len(m.line) for m in rec.messages] == [100] and ring.dropped == 0


def test_ring_close_does_not_hang_on_a_dead_driver() -> None:
    gate = Gate()
    ring = RingDriver(gate, max_bytes=10_000)
    for i in range(10):
        ring.log(LogMessage(b"line", "stdout", i))
    ring.close(timeout=0.2)  # the gate never opens
    assert ring.dropped >= 9


def test_drops_reach_logstats(cdir: Path) -> None:
    gate = Gate()
    reg = registry.Registry(extra={"gate": lambda info, opts: gate})  # type: ignore[dict-item]
    drv = reg.create_driver("gate", make_info(cdir), {"mode": "non-blocking", "max-buffer-size": "1k",
                                                      "cache-disabled": "true"})
    for i in range(50):
        drv.log(LogMessage(b"y" * 100, "stdout", i))
    stats_dropped = drv.dropped  # type: ignore[attr-defined]
    gate.open.set()
    drv.close()
    stats = read_stats(cdir)
    assert stats is not None and stats["lines"]["stdout"] == 50
    assert stats["dropped"] == stats_dropped == 50 - len(gate.messages) and stats["dropped"] > 0


@pytest.mark.parametrize(
    "template, expected",
    [
        ("{{.ID}}", CID[:12]),
        ("{{.FullID}}", CID),
        ("{{.Name}}/{{.ImageName}}", "web/busybox:latest"),
        ("{{.ImageID}} {{.ImageFullID}}", f"{IMAGE_ID[7:19]} {IMAGE_ID}"),
        ("{{.DaemonName}}@{{.Hostname}}", "pydock@testhost"),
        ("{{.Command}}", "sh -c echo hi"),
        ("{{upper .Name}}-{{.Name | title}}", "WEB-Web"),
        ('{{truncate .FullID 4}}|{{pad .Name 2 3}}|{{truncate .Name 10}}', f"{CID[:4]}|  web   |web"),
        ("{{pad .Name 5}}", None),  # Docker's pad(source, prefix, suffix) takes three arguments
        ('{{pad "" 2 3}}|', "|"),  # and pads nothing around an empty string
        ("{{truncate .Name -1}}", None),  # Go panics slicing [:-1]: the template fails
        ('{{join (split .ImageName ":") "_"}}', "busybox_latest"),  # parenthesised calls, as Go
        ('{{title "hELLO wORLD-x_y a1b"}}', "HELLO WORLD-X_y A1b"),  # Go's strings.Title, not str.title
        ('{{split .ImageName ":"}}', "[busybox latest]"),  # a []string prints as fmt.Sprint does
        ('{{json "é<&\u2028"}}', '"é<&\\u2028"'),  # SetEscapeHTML(false), UTF-8 raw, U+2028 escaped
        ("a {{- .Name -}} b", "awebb"),  # `{{-` and `-}}` trim the white space around the action
        ('{{split .Name ""}}', "[w e b]"),
        ("{{upper .Nope}}", None),
        ('{{split .ImageName ":" | join "_"}}', None),  # join(sep, list): a type error, as in Go
        ('{{.ImageName | split ":" | json}}', '[":"]'),  # Go passes the piped value last: Split(":", name)
        ('{{split .ImageName ":" | json}}', '["busybox","latest"]'),
        ("plain text", "plain text"),
    ],
)
def test_tag_templates(tmp_path: Path, template: str, expected: str | None) -> None:
    info = make_info(tmp_path)
    if expected is None:
        with pytest.raises(LogOptError, match="tag"):
            tag.render(template, info)
        return
    assert tag.render(template, info) == expected


def test_attribute_options(tmp_path: Path) -> None:
    info = make_info(tmp_path, env=["APP=shop", "REGION=eu-1", "tier=from-env"])
    opts = {"labels": "tier,nope", "labels-regex": r"^com\.", "env": "APP", "env-regex": "^tier$"}
    assert extra_attributes(info, opts) == {"tier": "from-env", "com.example.team": "core", "APP": "shop"}
