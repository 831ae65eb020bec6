"""Image references: parsing and normalising NAME[:TAG] as Docker does."""

from __future__ import annotations

import re

from pydock.errors import UsageError

_REF_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
                     r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
_HOST_PREFIXES = ("docker.io/library/", "docker.io/", "index.docker.io/library/", "localhost/")


def normalize_ref(ref: str) -> str:
    """`busybox` -> `busybox:latest`; refuses what Docker would refuse as a reference."""
    r = ref.strip()
    for p in _HOST_PREFIXES:
        if r.startswith(p):
            r = r[len(p):]
            break
    if "@" in r:
        raise UsageError(f"invalid reference {ref!r}: digests are not supported, use NAME[:TAG]")
    if not _REF_RE.match(r):
        raise UsageError(f"invalid reference format {ref!r}: repository names must be lowercase")
    last = r.rsplit("/", 1)[-1]
    return r if ":" in last else r + ":latest"
