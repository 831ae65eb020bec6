"""`push`: a stored image to a registry, blobs first (each only when missing), the manifest last.

Per blob: HEAD (the registry has it: "Layer already exists"), else a cross-repository mount from
the repository the layer was pulled from when that is on the same registry, else a chunked upload
(POST, PATCH per chunk, PUT with the digest). A layer made locally (load, import, build) is pushed
as a deterministic gzip of its tar, kept in the store so a second push sends the same digest.
The manifest is Docker's v2 schema 2, or OCI when a layer is an OCI type (zstd, for instance).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydock.runtime.images import manifest as mf
from pydock.runtime.images.auth import Credentials, lookup
from pydock.runtime.images.pull import _event
from pydock.runtime.images.reference import parse
from pydock.runtime.images.registry import RegistryClient
from pydock.runtime.images.store import ImageStore

from pydock.errors import ImageError, NotFoundError

Progress = Callable[[dict[str, Any]], None]
_TO_OCI = {mf.DOCKER_LAYER_GZIP: mf.OCI_LAYER_GZIP}


def layer_blob(store: ImageStore, did: str) -> tuple[Path, dict[str, Any]]:
    """The compressed blob of a stored layer and its descriptor, made (and kept) on first need."""
    info = store.layer_info(did)
    blob = info.get("blob")
    if isinstance(blob, dict):
        path = store.blobs / str(blob["digest"]).split(":", 1)[1]
        if path.is_file():
            return path, blob
    tar_name = info.get("tar")
    if not tar_name or not (store.layertars / str(tar_name)).is_file():
        raise ImageError(f"layer {did[7:19]} has no stored archive (stored by an older pydock): "
                         "pull or load the image again to push or save it")
    src = store.layertars / str(tar_name)
    with store.layer_lock(did):
        tmp = store.tmp / f"push-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        h = hashlib.sha256()
        try:
            from pydock.runtime import archive

            # mtime=0 and no file name: the same tar always gives the same blob digest.
            with archive.open_decompressed(src) as plain, open(tmp, "wb") as raw, \
                    gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
                shutil.copyfileobj(plain, gz, 1 << 20)
            with open(tmp, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            desc = {"mediaType": mf.DOCKER_LAYER_GZIP, "digest": "sha256:" + h.hexdigest(),
                    "size": tmp.stat().st_size}
            path = store.blobs / h.hexdigest()
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        info["blob"] = desc
        store.set_layer_info(did, info)
    return path, desc


def push(store: ImageStore, ref: str, *, auth: Credentials | None = None, progress: Progress | None = None,
         insecure_registries: tuple[str, ...] = (), config_dir: str | Path | None = None,
         chunk_size: int = 16 << 20) -> str:
    """`docker push NAME[:TAG]`: returns the manifest digest. The image must be tagged NAME[:TAG]."""
    r = parse(ref, default_tag=True)
    if r.digest:
        raise ImageError(f"cannot push a digest reference ({ref}): push a tag")
    emit = progress or (lambda ev: None)
    try:
        image = store.get(r.familiar_tagged)
    except NotFoundError:
        raise NotFoundError(f"An image does not exist locally with the tag: {r.familiar}") from None
    if r.familiar_tagged not in image.tags:
        raise NotFoundError(f"An image does not exist locally with the tag: {r.familiar}")
    creds = auth if auth is not None else lookup(r.domain, config_dir)
    config_raw = (store.configs / f"{image.id[7:]}.json").read_bytes()
    blobs = [layer_blob(store, did) for did in image.diff_ids]
    oci = any(str(d["mediaType"]).startswith("application/vnd.oci") for _, d in blobs)
    emit(_event(f"The push refers to repository [{r.name}]"))
    with RegistryClient(r.domain, creds, insecure_registries) as client:
        for path, desc in blobs:
            _push_blob(client, r.path, r.domain, path, desc, emit, chunk_size)
        cdesc = {"mediaType": mf.OCI_CONFIG if oci else mf.DOCKER_CONFIG,
                 "digest": image.id, "size": len(config_raw)}
        if not client.blob_exists(r.path, image.id):
            loc = client.start_upload(r.path, image.id)
            client.upload(r.path, loc or "", image.id, io.BytesIO(config_raw), len(config_raw))
        layers = [{"mediaType": _TO_OCI.get(str(d["mediaType"]), d["mediaType"]) if oci else d["mediaType"],
                   "digest": d["digest"], "size": d["size"]} for _, d in blobs]
        manifest: dict[str, Any] = {"schemaVersion": 2,
                                    "mediaType": mf.OCI_MANIFEST if oci else mf.DOCKER_MANIFEST,
                                    "config": cdesc, "layers": layers}
        raw = json.dumps(manifest, indent=3).encode()
        digest = client.put_manifest(r.path, r.tag or "latest", raw, manifest["mediaType"])
    store.add_repo_digest(f"{r.familiar}@{digest}", image.id)
    emit(_event(f"{r.tag}: digest: {digest} size: {len(raw)}"))
    return digest


def _push_blob(client: RegistryClient, repo: str, domain: str, path: Path, desc: dict[str, Any],
               emit: Progress, chunk_size: int) -> None:
    short = str(desc["digest"]).split(":", 1)[1][:12]
    digest, size = str(desc["digest"]), int(desc["size"])
    emit(_event("Preparing", short))
    if client.blob_exists(repo, digest):
        emit(_event("Layer already exists", short))
        return
    source = str(desc.get("source") or "")
    mount_from = None
    if source.startswith(domain + "/") and source[len(domain) + 1:] != repo:
        mount_from = source[len(domain) + 1:]
    loc = client.start_upload(repo, digest, mount_from)
    if loc is None:
        emit(_event(f"Mounted from {mount_from}", short))
        return
    emit(_event("Pushing", short, 0, size))
    with open(path, "rb") as f:
        client.upload(repo, loc, digest, f, size,
                      progress=lambda sent: emit(_event("Pushing", short, sent, size)), chunk=chunk_size)
    emit(_event("Pushed", short))
