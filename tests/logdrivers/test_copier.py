"""The copier cuts lines as Docker's copier.go does: 16 KiB parts, EOF parts, both streams."""

from __future__ import annotations

import pytest
from pydock.logdrivers.copier import BUF_SIZE
from recorders import ChunkRecorder, MessageRecorder, copy_bytes

K16 = 16 * 1024


def lines(rec: MessageRecorder, source: str = "stdout") -> list[bytes]:
    return [m.line for m in rec.messages if m.source == source]


@pytest.mark.parametrize("cls", [MessageRecorder, ChunkRecorder])
def test_plain_lines_across_odd_write_boundaries(cls: type[MessageRecorder]) -> None:
    rec = cls()
    copy_bytes(rec, [b"one\ntw", b"o\n", b"", b"\nthree\nfo", b"ur\n"])
    assert lines(rec) == [b"one", b"two", b"", b"three", b"four"]
    assert all(m.partial is None for m in rec.messages)


def test_chunks_are_used_when_offered() -> None:
    rec = ChunkRecorder()
    copy_bytes(rec, [b"a\n" * 10000])
    assert lines(rec) == [b"a"] * 10000
    assert rec.chunks < 100  # whole reads, not one call per line


@pytest.mark.parametrize(
    "length, parts",
    [
        (BUF_SIZE - 1, None),  # the longest line sent whole
        (BUF_SIZE, [K16, 0]),  # the buffer fills before the newline: a full part, then an empty last
        (BUF_SIZE + 1, [K16, 1]),
        (3 * BUF_SIZE + 100, [K16, K16, K16, 100]),
    ],
)
@pytest.mark.parametrize("cls", [MessageRecorder, ChunkRecorder])
def test_long_lines_split_at_16k(length: int, parts: list[int] | None, cls: type[MessageRecorder]) -> None:
    rec = cls()
    body = bytes(range(97, 123)) * (length // 26 + 1)
    body = body[:length]
    # written in pieces that do not line up with 16 KiB, with a short line before and after
    data = b"before\n" + body + b"\nafter\n"
    copy_bytes(rec, [data[i : i + 5000] for i in range(0, len(data), 5000)])
    msgs = rec.messages
    assert msgs[0].line == b"before" and msgs[-1].line == b"after"
    middle = msgs[1:-1]
    if parts is None:
        assert [m.line for m in middle] == [body] and middle[0].partial is None
        return
    assert [len(m.line) for m in middle] == parts
    assert b"".join(m.line for m in middle) == body
    metas = [m.partial for m in middle]
    assert all(p is not None for p in metas)
    assert len({p.id for p in metas if p}) == 1 and len(metas[0].id) == 64  # type: ignore[union-attr]
    assert [p.ordinal for p in metas if p] == list(range(1, len(parts) + 1))
    assert [p.last for p in metas if p] == [False] * (len(parts) - 1) + [True]
    assert len({m.timestamp_ns for m in middle}) == 1  # every part keeps the first part's time


def test_unterminated_text_at_eof_is_a_non_final_part() -> None:
    rec = MessageRecorder()
    copy_bytes(rec, [b"done\nno newline"])
    assert [m.line for m in rec.messages] == [b"done", b"no newline"]
    last = rec.messages[-1].partial
    assert last is not None and last.ordinal == 1 and last.last is False


def test_long_unterminated_line_at_eof_continues_its_id() -> None:
    rec = MessageRecorder()
    copy_bytes(rec, [b"z" * (BUF_SIZE + 10)])
    assert [len(m.line) for m in rec.messages] == [BUF_SIZE, 10]
    p1, p2 = (m.partial for m in rec.messages)
    assert p1 and p2 and p1.id == p2.id and (p1.ordinal, p2.ordinal) == (1, 2) and not p2.last


def test_both_streams_keep_their_own_order_and_source() -> None:
    rec = ChunkRecorder()
    out = [f"out {i}\n".encode() for i in range(2000)]
    err = [f"err {i}\n".encode() for i in range(2000)]
    copy_bytes(rec, out, err)
    assert lines(rec, "stdout") == [x[:-1] for x in out]
    assert lines(rec, "stderr") == [x[:-1] for x in err]


def test_no_byte_lost_on_a_large_mixed_stream() -> None:
    rec = ChunkRecorder()
    import random

    rnd = random.Random(7)
    text = [bytes([rnd.randrange(32, 127)]) * rnd.choice([0, 1, 50, 4000, 20000, 70000]) for _ in range(300)]
    data = b"\n".join(text) + b"\n"
    copy_bytes(rec, [data[i : i + 7919] for i in range(0, len(data), 7919)])
    rebuilt: list[bytes] = []
    cur = b""
    for m in rec.messages:
        cur += m.line
        if m.partial is None or m.partial.last:
            rebuilt.append(cur)
            cur = b""
    assert rebuilt == text


def test_a_terminal_reads_to_its_end() -> None:
    """With `run -t` the copier reads a pty master, which says EIO, not EOF, when the container ends."""
    import os
    import pty

    from pydock.logdrivers.copier import Copier

    master, slave = pty.openpty()
    os.write(slave, b"tty line 1\ntty line 2\n")  # the terminal turns each \n into \r\n
    os.close(slave)
    rec = ChunkRecorder()
    Copier(rec, {"stdout": master}).run()
    os.close(master)
    assert [m.line for m in rec.messages] == [b"tty line 1\r", b"tty line 2\r"]  # Docker keeps the \r too
