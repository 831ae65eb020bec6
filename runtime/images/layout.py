"""Reading `docker save` archives and OCI image layouts (the input of `pydock load`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydock.errors import ImageError

if TYPE_CHECKING:  # tarfile, hashlib and archive are imported where a load uses them: `run` reads host_arch
    import tarfile


def host_arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


class _Reader:
    """Reads the parts of a docker-save or OCI layout archive."""

    def __init__(self, outer: tarfile.TarFile, names: dict[str, tarfile.TarInfo], tmp: Path) -> None:
        self.outer, self.names, self.tmp = outer, names, tmp
        self.count = 0

    def read(self, name: str) -> bytes:
        """A metadata file (manifest, index, config), read whole: refused above MAX_METADATA bytes."""
        m = self.names.get(_member_name(name))
        f = self.outer.extractfile(m) if m is not None and m.isreg() else None
        if f is None:
            raise ImageError(f"image archive lacks {name}")
        limit = _max_metadata()
        if m is not None and m.size > limit:
            raise ImageError(f"image archive member {name} is {m.size} bytes, more than the "
                             f"{limit} allowed for a manifest or config")
        with f:
            data = f.read()
        import hashlib

        _verify(name, hashlib.new(_algo(name), data) if _algo(name) else None)
        return data

    def extract(self, name: str) -> Path:
        m = self.names.get(_member_name(name))
        f = self.outer.extractfile(m) if m is not None and m.isreg() else None
        if f is None:
            raise ImageError(f"image archive lacks the layer {name}")
        self.count += 1
        out = self.tmp / f"layer{self.count}"
        st = os.statvfs(self.tmp)
        if m is not None and m.size > st.f_bavail * st.f_frsize:
            raise ImageError(f"the layer {name} is {m.size} bytes, more than the "
                             f"{st.f_bavail * st.f_frsize} free in {self.tmp}")
        import hashlib

        h = hashlib.new(_algo(name)) if _algo(name) else None
        with f, open(out, "wb") as dst:
            while chunk := f.read(1 << 20):
                dst.write(chunk)
                if h is not None:
                    h.update(chunk)
        _verify(name, h)
        return out

    def docker_manifest(self) -> list[tuple[bytes, list[str], list[str]]]:
        try:
            manifest = json.loads(self.read("manifest.json"))
            return [(self.read(e["Config"]), list(e["Layers"]), list(e.get("RepoTags") or [])) for e in manifest]
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"manifest.json is malformed: {exc}") from exc

    def _blob(self, digest: str) -> str:
        if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
            raise ImageError(f"OCI layout is malformed: invalid digest {digest!r}")
        algo, _, hexd = digest.partition(":")
        return f"blobs/{algo}/{hexd}"

    def oci_manifest(self) -> list[tuple[bytes, list[str], list[str]]]:
        try:
            index = json.loads(self.read("index.json"))
            out = []
            for desc in index.get("manifests", []):
                tags = _oci_tags(desc.get("annotations") or {})
                manifest = json.loads(self.read(self._blob(desc["digest"])))
                if "manifests" in manifest:  # a nested index (multi-platform): take this host's
                    arch = host_arch()
                    picks = [d for d in manifest["manifests"]
                             if d.get("platform", {}).get("architecture", arch) == arch]
                    if not picks:
                        raise ImageError(f"the image index has no manifest for linux/{arch}")
                    manifest = json.loads(self.read(self._blob(picks[0]["digest"])))
                config = self.read(self._blob(manifest["config"]["digest"]))
                layers = [self._blob(layer["digest"]) for layer in manifest["layers"]]
                out.append((config, layers, tags))
            return out
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"OCI layout is malformed: {exc}") from exc


def _algo(name: str) -> str | None:
    """`sha256` for a content-addressed member (`blobs/sha256/<hex>`, OCI layout and new docker save)."""
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == "blobs" and parts[1] in ("sha256", "sha512"):
        return parts[1]
    return None


def _verify(name: str, h: Any) -> None:
    # A blob is named by its digest: one whose content does not hash to its name was altered.
    if h is not None and h.hexdigest() != name.split("/")[2]:
        raise ImageError(f"image archive member {name}: content digest {h.name}:{h.hexdigest()} does "
                         "not match its name (the archive was altered or is corrupt)")


def _max_metadata() -> int:
    # Read through the package so that `pydock.runtime.images.MAX_METADATA` stays the one knob
    # (tests lower it there, as they did before the package split).
    import pydock.runtime.images as pkg

    return int(getattr(pkg, "MAX_METADATA", MAX_METADATA))


MAX_METADATA = 32 << 20  # manifests and configs are read into memory; real ones are kilobytes
_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


def _member_name(name: object) -> str:
    """A path named by a manifest, refused (naming it) if it is not a relative path inside the archive."""
    if not isinstance(name, str):
        raise ImageError(f"image manifest names a non-string path {name!r}")
    if name.startswith("/") or ".." in name.split("/"):
        raise ImageError(f"image manifest names the path {name!r}, which is outside the archive")
    from pydock.runtime import archive

    return archive._norm(name, name)


def _oci_tags(ann: dict[str, str]) -> list[str]:
    if "io.containerd.image.name" in ann:
        return [ann["io.containerd.image.name"]]
    ref = ann.get("org.opencontainers.image.ref.name", "")
    if not ref:
        return []
    # A bare tag ("latest") names no repository; a full reference names both.
    return [ref] if ("/" in ref or ":" in ref) else []
