"""Parsers shared by the v1 and v2 readers: one read per file, and errors that name the file.

Files are read with a bare open/read/close (no stat, no buffering layer): a scrape of 100 containers
reads over a thousand small files, and Python's `open()` costs several extra syscalls each. A file
that does not parse raises `CgroupParseError` with its path; it never quietly becomes 0.
"""

from __future__ import annotations

import os
import time

from pydock.errors import CgroupError

from .stats import UNLIMITED_THRESHOLD, Limit


class CgroupParseError(CgroupError):
    """A cgroup or /proc file is missing or does not parse; `path` names it."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path


def read_text(path: str) -> str:
    """The whole file; raises FileNotFoundError/OSError as the kernel says."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)
        if len(data) == 65536:  # big files (v1 memory.stat on many NUMA nodes): keep reading
            chunks = [data]
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
    finally:
        os.close(fd)
    return data.decode("ascii", "replace")


def read_required(path: str) -> str:
    try:
        return read_text(path)
    except OSError as exc:
        raise CgroupParseError(path, exc.strerror or str(exc)) from exc


def read_optional(path: str) -> str | None:
    """None when the file does not exist (an older kernel, a controller not enabled)."""
    try:
        return read_text(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CgroupParseError(path, exc.strerror or str(exc)) from exc


def parse_int(text: str, path: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise CgroupParseError(path, f"expected an integer, got {text.strip()[:40]!r}") from None


def parse_limit(text: str, path: str) -> Limit:
    """v2 "max" or a v1 value above 2**62 is None (unlimited); -1 (v1 cfs_quota_us) too."""
    t = text.strip()
    if t == "max":
        return None
    v = parse_int(t, path)
    if v < 0 or v >= UNLIMITED_THRESHOLD:
        return None
    return v


def parse_flat_keyed(text: str, path: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, memory.events, cpuacct.stat)."""
    parts = text.split()
    if len(parts) == 2 * text.count("\n"):  # the usual shape: convert in one pass, in C
        try:
            return dict(zip(parts[::2], map(int, parts[1::2])))
        except ValueError:
            pass  # find the culprit line below, to name it
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line:
            continue
        fields = line.split()
        if len(fields) != 2:
            raise CgroupParseError(path, f"expected 'key value', got {line[:60]!r}")
        try:
            out[fields[0]] = int(fields[1])
        except ValueError:
            raise CgroupParseError(path, f"value of {fields[0]!r} is not an integer: {fields[1][:40]!r}") from None
    return out


def parse_ints(text: str, path: str) -> tuple[int, ...]:
    """Space-separated integers on one line (cpuacct.usage_percpu)."""
    try:
        return tuple(int(x) for x in text.split())
    except ValueError:
        raise CgroupParseError(path, f"expected integers, got {text.strip()[:60]!r}") from None


def parse_nested_keyed(text: str, path: str) -> dict[tuple[int, int], dict[str, int]]:
    """v2 io.stat: `MAJ:MIN key=value ...`; a device line without fields has no figures yet."""
    out: dict[tuple[int, int], dict[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        dev = _parse_dev(parts[0], path)
        fields: dict[str, int] = {}
        for item in parts[1:]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CgroupParseError(path, f"expected key=value, got {item[:40]!r}")
            try:
                fields[key] = int(value)
            except ValueError:
                # io.stat's cost.* fields can be fractional in some kernels; we use none of them
                if key.startswith("cost."):
                    continue
                raise CgroupParseError(path, f"value of {key!r} is not an integer: {value[:40]!r}") from None
        if fields:
            out[dev] = fields
    return out


def parse_blkio_v1(text: str, path: str) -> dict[tuple[int, int], dict[str, int]]:
    """v1 blkio.*io_service*: `MAJ:MIN Op value` lines, then a `Total n` line for all devices."""
    out: dict[tuple[int, int], dict[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or (parts[0] == "Total" and len(parts) == 2):
            continue
        if len(parts) != 3:
            raise CgroupParseError(path, f"expected 'MAJ:MIN Op value', got {line[:60]!r}")
        dev = _parse_dev(parts[0], path)
        try:
            out.setdefault(dev, {})[parts[1]] = int(parts[2])
        except ValueError:
            raise CgroupParseError(path, f"value is not an integer: {parts[2][:40]!r}") from None
    return out


def _parse_dev(text: str, path: str) -> tuple[int, int]:
    major, sep, minor = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(major), int(minor)
    except ValueError:
        raise CgroupParseError(path, f"expected MAJ:MIN, got {text[:40]!r}") from None


SPEC_TTL_SECONDS = 10.0
_spec_cache: dict[str, tuple[float, str | None]] = {}


def read_spec(path: str, required: bool = False) -> str | None:
    """Limits and weights (memory.max, cpu.shares, pids.max...): read at most every SPEC_TTL_SECONDS.

    They change only through `pydock update` (or another runtime's equivalent), while every scrape of
    every container would otherwise pay seven extra file reads for them; a change shows within 10 s.
    Figures (usage, counters) are never cached."""
    now = time.monotonic()
    hit = _spec_cache.get(path)
    if hit is not None and hit[0] > now:
        text = hit[1]
    else:
        text = read_required(path) if required else read_optional(path)
        if len(_spec_cache) > 50000:  # bounded: cgroups come and go
            _spec_cache.clear()
        _spec_cache[path] = (now + SPEC_TTL_SECONDS, text)
    if text is None and required:
        raise CgroupParseError(path, "No such file or directory")
    return text
