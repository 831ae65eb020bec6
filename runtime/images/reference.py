"""Image references, parsed as Docker's `reference.ParseNormalizedNamed` does.

`busybox` is `docker.io/library/busybox:latest`; the first path component is a registry host only if
it has a `.` or a `:` or is `localhost` (so `localhost:5000/x` and `ghcr.io/a/b` are hosts, `user/app`
is a Docker Hub repository); `index.docker.io` is the legacy spelling of `docker.io`. A reference may
carry a tag, a digest, or both. Uppercase in the repository is refused with Docker's message. The store
keys tags by the *familiar* name (`busybox:latest`, `localhost:5000/x:1`), as `docker images` shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydock.errors import UsageError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_ONLY_RE = re.compile(r"^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$")


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised reference: `domain/path[:tag][@digest]`."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar(self) -> str:
        """The short repository name Docker shows: `busybox`, `user/app`, `localhost:5000/x`."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix(OFFICIAL_PREFIX)
        return self.name

    @property
    def familiar_tagged(self) -> str:
        """`busybox:latest`: the key of a tag in the store (`latest` when none was given)."""
        return f"{self.familiar}:{self.tag or 'latest'}"

    def with_tag(self, tag: str | None) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def __str__(self) -> str:
        s = self.familiar
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def _bad(ref: str, why: str = "") -> UsageError:
    return UsageError(f"invalid reference format{': ' + why if why else ''}" + ("" if why else f": {ref!r}"))


def parse(ref: str, default_tag: bool = False) -> Reference:
    """Parses as `docker pull` does; `default_tag` adds `latest` when neither tag nor digest is given."""
    s = ref.strip()
    if not s:
        raise _bad(ref, "repository name must have at least one component")
    if _HEX64_RE.match(s):
        raise UsageError(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    name_part, _, _digest = s.partition("@")
    # Split off the tag: a ':' after the last '/' (a ':' before it is a registry port).
    slash = name_part.rfind("/")
    colon = name_part.rfind(":")
    bare = name_part[:colon] if colon > slash else name_part
    i = bare.find("/")
    first = bare[:i]
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, bare
    else:
        domain, remainder = first, bare[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    if remainder.lower() != remainder:
        raise UsageError(f"invalid reference format: repository name ({remainder}) must be lowercase")
    full = f"{domain}/{remainder}" + s[len(bare):]
    m = _REFERENCE_RE.match(full)
    if not m:
        raise _bad(ref)
    if len(m.group(1)) > NAME_MAX:
        raise UsageError(f"invalid reference format: repository name must not be more than {NAME_MAX} characters")
    tag, digest = m.group(2), m.group(3)
    if digest is not None and not _DIGEST_ONLY_RE.match(digest):
        raise UsageError(f"invalid reference format: unsupported digest algorithm or length ({digest})")
    if default_tag and tag is None and digest is None:
        tag = "latest"
    return Reference(domain, remainder, tag, digest)


def normalize_ref(ref: str) -> str:
    """`busybox` -> `busybox:latest`; `x@sha256:..` stays a digest reference; bad input is refused."""
    r = parse(ref, default_tag=True)
    if r.digest:
        return f"{r.familiar}@{r.digest}"
    return r.familiar_tagged


def is_digest(s: str) -> bool:
    return bool(_DIGEST_ONLY_RE.match(s))
