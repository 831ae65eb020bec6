"""`pull`: an image from a registry into the store, every byte verified before it is kept.

Per layer, in parallel (three at a time, as dockerd), under the layer's own lock (so concurrent
pulls of one layer store it once), in one pass over the wire: the blob streams into a temporary
file while its sha256 and size are checked against the manifest's descriptor, and at the same time
it is decompressed (gzip or zstd), hashed again (the DiffID) and unpacked, each entry checked before
it is written, into a scratch directory under `tmp/`. Only when the blob has ended and both digests
match the manifest and the config is the scratch directory renamed into the store and the blob
kept; a mismatch removes it, so a tampered layer leaves nothing. A layer the store already has (by
DiffID) is not downloaded at all. On any failure the layers this pull made are removed again and
no config or tag is written: nothing half-made.

Progress goes to a callback as Docker's JSON progress events: `{"id", "status", "progressDetail":
{"current", "total"}}`, so the Engine API can stream them unchanged and the CLI can draw them.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from pydock.runtime import archive
from pydock.runtime.images import manifest as mf
from pydock.runtime.images.auth import Credentials, lookup
from pydock.runtime.images.reference import Reference, parse
from pydock.runtime.images.registry import CHUNK, RegistryClient
from pydock.runtime.images.store import Image, ImageStore
from pydock.runtime.rootfs import remove_path

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
    """Removes the temporary files and half-unpacked layer directories of pulls whose process is
    gone (an interrupted pull)."""
    if not store.tmp.is_dir():
        return
    for p in store.tmp.glob("pull-*"):
        try:
            pid = int(p.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            remove_path(p)


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
            blob_path = self._tmp("blob")
            made: list[Path] = []
            try:
                self.emit(_event("Pulling fs layer", short))
                # layer() holds the layer lock; a second flock on the same file blocks even in this process.
                self.store._put_layer(did, lambda dest: self._fetch(desc, did, short, blob_path, dest), made,
                                      (blob_path, {"mediaType": desc.media_type, "digest": desc.digest,
                                                   "size": desc.size, "source": self.ref.name}))
                self.emit(_event("Pull complete", short))
            finally:
                blob_path.unlink(missing_ok=True)
                with self._lock:
                    self.made += made

    def _fetch(self, desc: mf.Descriptor, did: str, short: str, blob_path: Path, dest: Path) -> int:
        """Downloads the blob into `blob_path` and unpacks it into `dest` in one pass; `dest` appears
        only once the blob's digest and size and the tar's DiffID have been checked."""
        with self.client.blob(self.ref.path, desc.digest) as resp, open(blob_path, "wb") as bf:
            stream = _LayerStream(resp.iter_raw(), bf, desc, did, short, self)
            try:
                return archive.unpack_stream(stream, dest, self._tmp("layer"), f"layer {short}",
                                             commit=stream.verify)
            except ImageError as exc:
                if not self.cancelled.is_set():
                    stream.blame_blob(exc)
                raise


class _LayerStream:
    """The blob as it streams, read as the tar it holds: every chunk from the registry is counted,
    hashed (the blob's digest) and written to the blob file, then decompressed; what `read` returns
    is hashed again (the DiffID) in the same pass. After the tar's end it returns the zero padding
    a short tar lacks: some writers (umoci 0.4.7) end a layer right after the last file's data,
    without its padding and the two zero blocks; Go's reader accepts that, Python's tarfile does
    not. The DiffID is of the stream as sent; the padding only completes what is unpacked."""

    def __init__(self, chunks: Iterator[bytes], blob_file: BinaryIO, desc: mf.Descriptor, did: str,
                 short: str, puller: _Puller) -> None:
        self._chunks, self._bf, self.desc, self.did, self.short = chunks, blob_file, desc, did, short
        self._puller = puller
        self._h_blob, self._h_tar = hashlib.sha256(), hashlib.sha256()
        self.got = self._last = self._tar_size = 0
        self._dec: _Decompressor | None = None
        self._broken: ImageError | None = None
        self._buf, self._pos = b"", 0
        self._eof = False
        self._padded = False

    def _pull_chunk(self) -> bool:
        """Takes the next chunk off the wire into the buffer; False at the blob's end."""
        chunk = next(self._chunks, None)
        if chunk is None:
            self._eof = True
            return False
        if self._puller.cancelled.is_set():
            raise ImageError("pull cancelled")
        desc = self.desc
        self.got += len(chunk)
        if self.got > desc.size:
            raise ImageError(f"filesystem layer verification failed for digest {desc.digest}: "
                             f"more than the {desc.size} bytes the manifest says")
        self._h_blob.update(chunk)
        self._bf.write(chunk)
        if self.got - self._last >= (512 << 10) or self.got == desc.size:
            self._last = self.got
            self._puller.emit(_event("Downloading", self.short, self.got, desc.size))
        if self._dec is None:
            self._dec = _Decompressor(mf.layer_compression(desc.media_type, chunk[:4]))
        if self._broken is not None:
            return True
        try:
            plain = self._dec.feed(chunk)
        except (zlib.error, _zstd_error()) as exc:  # the data is bad
            self._broken = ImageError(f"layer {self.short}: cannot decompress: {exc}")
            raise self._broken from exc
        self._h_tar.update(plain)
        self._tar_size += len(plain)
        self._buf, self._pos = (self._buf[self._pos:] + plain if self._pos < len(self._buf) else plain), 0
        return True

    def read(self, n: int = -1) -> bytes:
        while len(self._buf) - self._pos <= 0:
            if self._eof or not self._pull_chunk():
                if self._padded:
                    return b""
                self._padded = True
                if self._dec is not None and self._broken is None:
                    self._dec.finish()
                self._buf, self._pos = b"\0" * ((-self._tar_size) % 512 + 1024), 0
        if n < 0 or n >= len(self._buf) - self._pos:
            out = self._buf[self._pos:] if self._pos else self._buf
            self._buf, self._pos = b"", 0
            return out
        out = self._buf[self._pos:self._pos + n]
        self._pos += n
        return out

    def _drain(self) -> None:
        """Takes the rest of the blob off the wire (the tar's end blocks may come before it ends)."""
        self._buf, self._pos = b"", 0
        while not self._eof and self._pull_chunk():
            self._buf, self._pos = b"", 0

    def _check_blob(self) -> None:
        if self.got != self.desc.size or "sha256:" + self._h_blob.hexdigest() != self.desc.digest:
            raise ImageError(f"filesystem layer verification failed for digest {self.desc.digest}")

    def verify(self) -> None:
        """Run once the tar is unpacked (before its directory is renamed into place): the whole blob
        has its digest and size, and its uncompressed content the config's DiffID."""
        self._drain()
        self._puller.emit(_event("Verifying Checksum", self.short))
        self._check_blob()
        if self._broken is not None:
            raise self._broken
        if self._dec is not None:
            self._dec.finish()
        if "sha256:" + self._h_tar.hexdigest() != self.did:
            raise ImageError(f"layer {self.short}: its uncompressed content has DiffID "
                             f"sha256:{self._h_tar.hexdigest()}, the image config says {self.did}")
        self._bf.flush()
        self._puller.emit(_event("Download complete", self.short))
        self._puller.emit(_event("Extracting", self.short, self.desc.size, self.desc.size))

    def blame_blob(self, exc: ImageError) -> None:
        """An unpacking error on a blob whose digest is wrong is the digest's fault: says so instead
        (tampered data usually also fails to decompress or to parse). Keeps hashing to the end."""
        self._broken = self._broken or exc
        try:
            self._drain()
            self._check_blob()
        except ImageError as digest_exc:
            raise digest_exc from exc


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
