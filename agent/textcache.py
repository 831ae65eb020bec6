"""The latest reading's /metrics text, gzip-compressed once and kept, for scrapers that accept gzip.

At 1,000 containers the text is 18 MB; writing it takes ~70 ms of CPU and sending it uncompressed most of
the rest of a scrape. Prometheus asks for gzip (`Accept-Encoding: gzip`) and client_golang's handler, which
cAdvisor uses, compresses when asked; here the text of each reading is compressed once (level 1: 18 MB
to ~2.5 MB in ~60 ms, the text being mostly repeated labels), right after the read-ahead's read
(agent/readahead.py), so a scrape sends the kept bytes. Only the compressed bytes are kept (~2.5 MB), never
the text. The part that must be current at the scrape (the events counters, the log shipper's health) is
compressed per scrape onto a copy of the compressor's state, so the body is one gzip stream that
decompresses to exactly the text `render_text` writes for the whole scrape. Measured by
bench/agent_scrape.py (docs/performance.md, "The agent at 1,000 containers").
"""

from __future__ import annotations

import threading
import weakref
import zlib
from typing import Any

from .exporter import collect_series
from .exposition import render_text_chunks
from .sampler import Snapshot

GZIP_LEVEL = 1  # 2.45 MB at level 1 vs 2.13 MB at level 6, for half the CPU (1,000 containers)
_GZIP_WBITS = 31  # zlib's gzip container


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether Accept-Encoding lists gzip (or *) without q=0."""
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            if not (q.startswith("q=") and _zero(q[2:])):
                return True
    return False


def _zero(q: str) -> bool:
    try:
        return float(q) == 0.0
    except ValueError:
        return False


class GzippedText:
    """The gzip of one snapshot's series text; `body(snap, tail)` appends `tail` to it, one gzip stream."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap: weakref.ref[Snapshot] | None = None  # not a reference: the sampler decides what stays
        self._head = b""  # the compressed bytes written so far
        self._compressor: Any = None  # zlib's compressor after the head: copied, then given the tail

    def prepare(self, snap: Snapshot) -> bool:
        """Compress `snap`'s text unless it already is; True when this call did the work."""
        with self._lock:
            return self._compress(snap)

    def body(self, snap: Snapshot, tail: bytes) -> bytes:
        """The gzip of `snap`'s text followed by `tail` (text rendered at the scrape)."""
        with self._lock:
            self._compress(snap)
            head, compressor = self._head, self._compressor.copy()
        return b"".join((head, compressor.compress(tail), compressor.flush()))

    def _compress(self, snap: Snapshot) -> bool:
        if self._snap is not None and self._snap() is snap:
            return False
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        head = b"".join([compressor.compress(chunk) for chunk in render_text_chunks(collect_series(snap))])
        self._snap, self._head, self._compressor = weakref.ref(snap), head, compressor
        return True
