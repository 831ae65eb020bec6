"""`save`: images as a `docker save` archive (`manifest.json`, `<config>.json`, `<layer>/layer.tar`,
`repositories`), the layout `docker load` and `pydock load` read. Written to a temporary file beside
the target and renamed, so a failed save leaves no partial archive."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import uuid
from pathlib import Path
from typing import BinaryIO

from pydock.runtime import archive
from pydock.runtime.images.reference import parse
from pydock.runtime.images.store import Image, ImageStore

from pydock.errors import ImageError, UsageError


def _layer_source(store: ImageStore, did: str) -> Path:
    info = store.layer_info(did)
    tar = info.get("tar")
    if tar and (store.layertars / str(tar)).is_file():
        return store.layertars / str(tar)
    blob = info.get("blob")
    if isinstance(blob, dict):
        p = store.blobs / str(blob.get("digest", ":")).split(":", 1)[1]
        if p.is_file():
            return p
    raise ImageError(f"layer {did[7:19]} has no stored archive (stored by an older pydock): "
                     "pull or load the image again to save it")


def _tags_for(store: ImageStore, ref: str) -> list[str]:
    """Docker's choice: `busybox:1` saves that tag, `busybox` every tag of the repository, an id none."""
    image = store.get(ref)
    try:
        r = parse(ref)
    except UsageError:
        return []
    if r.tag:
        return [r.familiar_tagged] if r.familiar_tagged in image.tags else []
    if r.digest:
        return []
    return sorted(t for t, i in store._repos().items() if t.rsplit(":", 1)[0] == r.familiar and i == image.id)


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
    tf.addfile(ti, io.BytesIO(data))


def write(store: ImageStore, refs: list[str], out: BinaryIO) -> None:
    if not refs:
        raise UsageError("save needs at least one image")
    images: list[tuple[Image, list[str]]] = []
    for ref in refs:
        images.append((store.get(ref), _tags_for(store, ref)))
    manifest, repositories, written = [], {}, set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for image, tags in images:
            cfg_name = f"{image.id[7:]}.json"
            if cfg_name not in written:
                _add_bytes(tf, cfg_name, (store.configs / cfg_name).read_bytes())
                written.add(cfg_name)
            layers = []
            for did in image.diff_ids:
                name = f"{did[7:]}/layer.tar"
                layers.append(name)
                if name in written:
                    continue
                written.add(name)
                tmp = store.tmp / f"save-{os.getpid()}-{uuid.uuid4().hex[:8]}.tar"
                try:
                    with archive.open_decompressed(_layer_source(store, did)) as src, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    ti = tarfile.TarInfo(name)
                    ti.size, ti.mode, ti.mtime = tmp.stat().st_size, 0o644, 0
                    with open(tmp, "rb") as f:
                        tf.addfile(ti, f)
                finally:
                    tmp.unlink(missing_ok=True)
            manifest.append({"Config": cfg_name, "RepoTags": tags or None, "Layers": layers})
            for t in tags:
                repo, _, tag = t.rpartition(":")
                repositories.setdefault(repo, {})[tag] = image.diff_ids[-1][7:] if image.diff_ids else ""
        _add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
        if repositories:
            _add_bytes(tf, "repositories", json.dumps(repositories).encode())


def save(store: ImageStore, refs: list[str], output: Path | BinaryIO) -> None:
    """`docker save -o FILE IMAGE...` (or to a stream). Unknown images are refused before writing."""
    for ref in refs:
        store.get(ref)  # NotFoundError names the first unknown image; nothing written yet
    if not isinstance(output, Path):
        write(store, refs, output)
        return
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(store, refs, f)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
