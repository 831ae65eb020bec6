"""Manifests: Docker v2 schema 2, OCI image manifests, manifest lists and OCI indexes; platforms.

A pull asks for all four media types (the registry answers 404 for an OCI manifest unless the
Accept header lists it), then a list or index is narrowed to one platform, `linux/<host arch>` by
default or `--platform os/arch[/variant]`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from pydock.errors import ImageError, NotFoundError, UsageError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

ACCEPT = f"{OCI_INDEX}, {DOCKER_LIST}, {OCI_MANIFEST}, {DOCKER_MANIFEST}"
LISTS = (DOCKER_LIST, OCI_INDEX)
IMAGES = (DOCKER_MANIFEST, OCI_MANIFEST)
LAYER_TYPES = (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER,
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", DOCKER_FOREIGN_LAYER)
MAX_MANIFEST = 4 << 20  # distribution refuses manifests over 4 MiB too


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: Any, what: str) -> Descriptor:
        try:
            digest, size = d["digest"], int(d["size"])
            if not isinstance(digest, str) or size < 0:
                raise ValueError(digest)
            return cls(str(d.get("mediaType", "")), digest, size, d.get("platform"), tuple(d.get("urls") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"malformed {what} descriptor: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            out["platform"] = self.platform
        return out


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    m = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)
    return Platform("linux", arch, "v8" if arch == "arm64" else ("v7" if arch == "arm" else ""))


def parse_platform(text: str | None) -> Platform:
    """`--platform linux/amd64` (or `linux/arm64/v8`); None means this host's."""
    if not text:
        return host_platform()
    parts = text.strip().lower().split("/")
    if len(parts) < 2 or len(parts) > 3 or not all(parts):
        raise UsageError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/amd64")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


@dataclass(frozen=True)
class ImageManifest:
    """One platform's manifest: its config and layers, lowest first."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes


def parse_json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ImageError(f"{what} is not a JSON object")
    return data


def media_type_of(raw: bytes, header: str) -> str:
    """The manifest's type: its own `mediaType`, else the Content-Type (OCI allows omitting it)."""
    data = parse_json(raw, "manifest")
    mt = data.get("mediaType") or header.split(";")[0].strip()
    if not mt or mt in ("application/json", "text/plain"):
        mt = OCI_INDEX if "manifests" in data else OCI_MANIFEST
    if int(data.get("schemaVersion", 2)) == 1:
        raise ImageError("schema 1 manifests are not supported (Docker dropped them too); re-push the image")
    return str(mt)


def parse_image(raw: bytes, media_type: str) -> ImageManifest:
    data = parse_json(raw, "manifest")
    if media_type not in IMAGES:
        raise ImageError(f"unsupported manifest media type {media_type!r}")
    config = Descriptor.from_json(data.get("config"), "config")
    layers = tuple(Descriptor.from_json(d, "layer") for d in data.get("layers") or [])
    for layer in layers:
        if layer.media_type and layer.media_type not in LAYER_TYPES:
            raise ImageError(f"unsupported layer media type {layer.media_type!r}")
    return ImageManifest(media_type, config, layers, raw)


def select_platform(raw: bytes, want: Platform) -> Descriptor:
    """The manifest in a list/index for `want`; a variant is matched only when both name one."""
    data = parse_json(raw, "manifest list")
    found = [Descriptor.from_json(d, "manifest") for d in data.get("manifests") or []]
    for d in found:
        p = d.platform or {}
        if p.get("os") != want.os or p.get("architecture") != want.architecture:
            continue
        if want.variant and p.get("variant") and p.get("variant") != want.variant:
            continue
        return d
    have = ", ".join(str(Platform(str((d.platform or {}).get("os", "?")),
                                  str((d.platform or {}).get("architecture", "?")),
                                  str((d.platform or {}).get("variant", "")))) for d in found)
    raise NotFoundError(f"no matching manifest for {want} in the manifest list entries (has: {have or 'none'})")


def layer_compression(media_type: str, head: bytes) -> str:
    """`gzip`, `zstd` or `none`: by media type, else by magic bytes (v2s2 says gzip for everything)."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if media_type.endswith("+zstd"):
        return "zstd"
    return "none"
