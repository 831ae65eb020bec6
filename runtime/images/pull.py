"""`pull`: an image from a registry into the store, every byte verified before it is kept.

Per layer, in parallel (three at a time, as dockerd): the blob streams into a temporary file while
its sha256 and size are checked against the manifest's descriptor and, at the same time, it is
decompressed (gzip or zstd) into a tar whose sha256 must equal the config's DiffID. Only then is
the layer unpacked into the store (under its own lock, so concurrent pulls of one layer do it once).
A layer the store already has (by DiffID) is not downloaded at all. On any failure the layers this
pull made are removed again and no config or tag is written: nothing half-made.

Progress goes to a callback as Docker's JSON progress events: `{"id", "status", "progressDetail":
{"current", "total"}}`, so the Engine API can stream them unchanged and the CLI can draw them.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydock.runtime.images import manifest as mf
from pydock.runtime.images.auth import Credentials, lookup
from pydock.runtime.images.reference import Reference, parse
from pydock.runtime.images.registry import CHUNK, RegistryClient
from pydock.runtime.images.store import Image, ImageStore

from pydock.errors import ImageError

Progress = Callable[[dict[str, Any]], None]
PARALLEL = 3
MAX_CONFIG = 8 << 20


def _event(status: str, id_: str | None = None, current: int | None = None, total: int | None = None) -> dict[str, Any]:
    ev: dict[str, Any] = {"status": status}
    if id_ is not None:
        ev["id"] = id_
    if current is not None:
        ev["progressDetail"] = {"current": current, "total": total} if total else {"current": current}
    return ev


class _Decompressor:
    """Streaming gzip/zstd/none decompression, across concatenated members or frames."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._obj: Any = self._new()

    def _new(self) -> Any:
        if self.kind == "gzip":
            return zlib.decompressobj(wbits=31)
        if self.kind == "zstd":
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj()
        return None

    def feed(self, data: bytes) -> bytes:
        if self._obj is None:
            return data
        out = []
        while data:
            out.append(self._obj.decompress(data))
            data = b""
            if self._obj.eof:
                data = self._obj.unused_data
                if data.strip(b"\0"):  # another member/frame follows
                    self._obj = self._new()
                else:
                    data = b""
        return b"".join(out)

    def finish(self) -> None:
        if self._obj is not None and not self._obj.eof:
            raise ImageError("the layer's compressed stream ends early (truncated blob)")


def _zstd_error() -> type[Exception]:
    import zstandard

    return zstandard.ZstdError  # type: ignore[no-any-return]


def sweep_tmp(store: ImageStore) -> None:
    """Removes the temporary files of pulls whose process is gone (an interrupted pull)."""
    if not store.tmp.is_dir():
        return
    for p in store.tmp.glob("pull-*"):
        try:
            pid = int(p.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            p.unlink(missing_ok=True)


class _Puller:
    def __init__(self, store: ImageStore, client: RegistryClient, ref: Reference, progress: Progress) -> None:
        self.store, self.client, self.ref = store, client, ref
        self._emit, self._lock = progress, threading.Lock()
        self.made: list[Path] = []
        self.cancelled = threading.Event()

    def emit(self, ev: dict[str, Any]) -> None:
        with self._lock:
            self._emit(ev)

    def _tmp(self, what: str) -> Path:
        return self.store.tmp / f"pull-{os.getpid()}-{uuid.uuid4().hex[:12]}-{what}"

    def config(self, desc: mf.Descriptor) -> bytes:
        if desc.size > MAX_CONFIG:
            raise ImageError(f"the image config is {desc.size} bytes, over the {MAX_CONFIG} allowed")
        h, data = hashlib.sha256(), bytearray()
        with self.client.blob(self.ref.path, desc.digest) as resp:
            for chunk in resp.iter_raw(CHUNK):
                data += chunk
                if len(data) > desc.size:
                    break
        h.update(data)
        if len(data) != desc.size or "sha256:" + h.hexdigest() != desc.digest:
            raise ImageError(f"image config verification failed for digest {desc.digest}")
        return bytes(data)

    def layer(self, desc: mf.Descriptor, did: str) -> None:
        short = desc.digest.split(":", 1)[1][:12]
        if desc.urls or desc.media_type == mf.DOCKER_FOREIGN_LAYER:
            raise ImageError(f"layer {short} is a foreign layer (fetched from {desc.urls[:1]}); not supported")
        if self.store.has_layer(did):
            self.emit(_event("Already exists", short))
            return
        with self.store.layer_lock(did):  # a concurrent pull of this layer: wait, then find it stored
            if self.store.has_layer(did):
                self.emit(_event("Already exists", short))
                return
            if self.cancelled.is_set():
                return
            blob_path, tar_path = self._tmp("blob"), self._tmp("tar")
            try:
                self._download(desc, did, short, blob_path, tar_path)
                self.emit(_event("Extracting", short, 0, desc.size))
                self._unpack(tar_path, did, blob_path, desc)
                self.emit(_event("Pull complete", short))
            finally:
                blob_path.unlink(missing_ok=True)
                tar_path.unlink(missing_ok=True)

    def _unpack(self, tar: Path, did: str, blob: Path, desc: mf.Descriptor) -> None:
        made: list[Path] = []
        # layer() holds the layer lock; a second flock on the same file blocks even in this process.
        self.store._add_layer_locked(tar, did, made, (blob, {"mediaType": desc.media_type,
                                                             "digest": desc.digest, "size": desc.size,
                                                             "source": self.ref.name}))
        with self._lock:
            self.made += made

    def _download(self, desc: mf.Descriptor, did: str, short: str, blob_path: Path, tar_path: Path) -> None:
        self.emit(_event("Pulling fs layer", short))
        h_blob, h_tar = hashlib.sha256(), hashlib.sha256()
        got, last, tar_size = 0, 0, 0
        dec: _Decompressor | None = None
        broken: ImageError | None = None
        with self.client.blob(self.ref.path, desc.digest) as resp, \
                open(blob_path, "wb") as bf, open(tar_path, "wb") as tf:
            for chunk in resp.iter_raw(CHUNK):
                if self.cancelled.is_set():
                    raise ImageError("pull cancelled")
                got += len(chunk)
                if got > desc.size:
                    raise ImageError(f"filesystem layer verification failed for digest {desc.digest}: "
                                     f"more than the {desc.size} bytes the manifest says")
                h_blob.update(chunk)
                bf.write(chunk)
                if dec is None:
                    dec = _Decompressor(mf.layer_compression(desc.media_type, chunk[:4]))
                if broken is not None:
                    continue  # keep hashing: a digest mismatch is the better explanation
                try:
                    plain = dec.feed(chunk)
                except (zlib.error, _zstd_error()) as exc:  # the data is bad
                    broken = ImageError(f"layer {short}: cannot decompress: {exc}")
                    continue
                h_tar.update(plain)
                tf.write(plain)
                tar_size += len(plain)
                if got - last >= (512 << 10) or got == desc.size:
                    last = got
                    self.emit(_event("Downloading", short, got, desc.size))
            # Some writers (umoci 0.4.7) end a layer right after the last file's data, without its
            # padding and the two zero blocks; Go's reader accepts that, Python's tarfile does not.
            # The DiffID is of the stream as sent; the padding only completes the file we unpack.
            tf.write(b"\0" * ((-tar_size) % 512 + 1024))
        self.emit(_event("Verifying Checksum", short))
        if got != desc.size or "sha256:" + h_blob.hexdigest() != desc.digest:
            raise ImageError(f"filesystem layer verification failed for digest {desc.digest}")
        if broken is not None:
            raise broken
        if dec is not None:
            dec.finish()
        if "sha256:" + h_tar.hexdigest() != did:
            raise ImageError(f"layer {short}: its uncompressed content has DiffID sha256:{h_tar.hexdigest()}, "
                             f"the image config says {did}")
        self.emit(_event("Download complete", short))


def pull(store: ImageStore, ref: str, *, platform: str | None = None, auth: Credentials | None = None,
         progress: Progress | None = None, insecure_registries: tuple[str, ...] = (),
         config_dir: str | Path | None = None) -> Image:
    """`docker pull REF`: returns the stored image. Raises NotFoundError (unknown image), AuthError,
    RegistryError (unreachable, refused) or ImageError (a digest or format check failed)."""
    r = parse(ref, default_tag=True)
    emit = progress or (lambda ev: None)
    want = mf.parse_platform(platform)
    creds = auth if auth is not None else lookup(r.domain, config_dir)
    store._setup()
    sweep_tmp(store)
    with RegistryClient(r.domain, creds, insecure_registries) as client:
        tag_or_digest = r.digest or r.tag or "latest"
        emit(_event(f"Pulling from {r.path}", r.tag or r.digest))
        raw, media_type, digest = client.get_manifest(r.path, tag_or_digest)
        top_digest = digest
        if media_type in mf.LISTS:
            chosen = mf.select_platform(raw, want)
            raw, media_type, digest = client.get_manifest(r.path, chosen.digest)
        manifest = mf.parse_image(raw, media_type)
        puller = _Puller(store, client, r, emit)
        config_raw = puller.config(manifest.config)
        config = mf.parse_json(config_raw, "image config")
        if platform and media_type not in mf.LISTS and top_digest == digest:
            got = (config.get("os"), config.get("architecture"))
            if got != (want.os, want.architecture):
                raise ImageError(f"image with reference {r} was found but does not match the specified "
                                 f"platform: wanted {want}, actual: {got[0]}/{got[1]}")
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(manifest.layers):
            raise ImageError(f"the image config lists {len(diff_ids)} layers, the manifest {len(manifest.layers)}")
        image_id = "sha256:" + hashlib.sha256(config_raw).hexdigest()
        repo_digest = f"{r.familiar}@{top_digest}"
        try:
            with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="pull") as pool:
                futures = [pool.submit(puller.layer, d, did) for d, did in zip(manifest.layers, diff_ids)]
                try:
                    for f in futures:
                        f.result()
                except BaseException:
                    puller.cancelled.set()
                    raise
            existed = (store.configs / f"{image_id[7:]}.json").exists()
            tags = [r.familiar_tagged] if r.tag and not r.digest else []
            before = store._repos().get(r.familiar_tagged) if tags else None
            image = store.add_pulled(config_raw, tags, repo_digest)
        except BaseException:
            store.drop_layers(puller.made)
            raise
    emit(_event(f"Digest: {top_digest}"))
    name = str(r) if r.digest else r.familiar_tagged
    if existed and (not tags or before == image_id):
        emit(_event(f"Status: Image is up to date for {name}"))
    else:
        emit(_event(f"Status: Downloaded newer image for {name}"))
    return image


def ensure_image(store: ImageStore, ref: str, policy: str = "missing", progress: Progress | None = None,
                 **kw: Any) -> Image:
    """`run --pull missing|always|never`: the image to run, pulled when the policy says so."""
    from pydock.errors import NotFoundError, UsageError

    if policy not in ("missing", "always", "never"):
        raise UsageError(f'invalid pull option: "{policy}": must be one of "always", "missing" or "never"')
    if policy != "always":
        try:
            return store.get(ref)
        except NotFoundError:
            if policy == "never":
                raise
    return pull(store, ref, progress=progress, **kw)
