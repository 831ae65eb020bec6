"""The streamed pull: a layer is unpacked while it downloads, into a scratch directory that becomes
the layer only once the blob's digest and the DiffID check out. These tests make the cases where
that ordering matters: a DiffID that is only known to be wrong at the end, hostile entries refused
mid-stream, and the stream reader itself fed in awkward pieces."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import httpx
import pytest
import regpeers as rp
from conftest import PD, one_line_error
from pydock.runtime import archive
from pydock.runtime.images import manifest as mf
from pydock.runtime.images.layout import host_arch

from pydock.errors import ImageError

EMPTY = {"layers": [], "configs": [], "blobs": [], "tmp": []}


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            ti.size = len(data) if ti.isreg() else 0
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode, ti.mtime = kind, link, mode, 1_700_000_000
    return ti


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push(reg: rp.Registry, repo: str, tars: list[bytes], diff_ids: list[str] | None = None) -> str:
    """Uploads a v2s2 image of gzip layers by hand (the DiffIDs as given, else the true ones)."""
    def put_blob(data: bytes) -> str:
        r = httpx.post(f"{reg.url}/v2/{repo}/blobs/uploads/")
        r.raise_for_status()
        loc = str(httpx.URL(reg.url).join(r.headers["Location"]))
        loc += ("&" if "?" in loc else "?") + "digest=" + _sha(data)
        httpx.put(loc, content=data,
                  headers={"Content-Type": "application/octet-stream"}).raise_for_status()
        return _sha(data)

    blobs = [gzip.compress(t, mtime=0) for t in tars]
    config = json.dumps({"architecture": host_arch(), "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids or [_sha(t) for t in tars]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": mf.DOCKER_MANIFEST,
                "config": {"mediaType": mf.DOCKER_CONFIG, "size": len(config), "digest": put_blob(config)},
                "layers": [{"mediaType": mf.DOCKER_LAYER_GZIP, "size": len(b), "digest": put_blob(b)} for b in blobs]}
    httpx.put(f"{reg.url}/v2/{repo}/manifests/1", content=json.dumps(manifest).encode(),
              headers={"Content-Type": mf.DOCKER_MANIFEST}).raise_for_status()
    return f"{reg.host}/{repo}:1"


@pytest.mark.peer
def test_wrong_diff_id_found_after_unpacking_keeps_nothing(pd: PD, reg: rp.Registry) -> None:
    # The blob's digest is right; only the uncompressed stream's hash, known once all of it has
    # been unpacked into the scratch directory, disagrees with the config.
    good = _tar([(_entry("ok/file"), b"fine\n" * 1000)])
    bad = _tar([(_entry("big.bin"), os.urandom(3 << 20)), (_entry("dir/", tarfile.DIRTYPE, mode=0o755), b"")])
    ref = _push(reg, "stream/diffid", [good, bad], diff_ids=[_sha(good), _sha(bad + b"x")])
    err = one_line_error(pd("pull", ref))
    assert "DiffID" in err and _sha(bad + b"x") in err
    assert pd.stored() == EMPTY  # no layer dir, no scratch dir, no blob: not even the good layer
    pd.ok("pull", _push(reg, "stream/diffid-ok", [good, bad]))  # the same layers, truthfully described
    assert len(pd.stored()["layers"]) == 2 and pd.stored()["tmp"] == []


@pytest.mark.peer
@pytest.mark.parametrize("entries, why", [
    ([(_entry("evil", tarfile.SYMTYPE, "../../../../../../.."), b""), (_entry("evil/pwned"), b"x")],
     "escapes the root"),
    ([(_entry("etc", tarfile.SYMTYPE, "/etc"), b""), (_entry("etc/pwned"), b"x")],
     "would be written through the symlink"),
    ([(_entry("a"), b"data"), (_entry("b", tarfile.LNKTYPE, "../../outside"), b"")], "outside the root"),
    ([(_entry(".wh.."), b"")], "which names no file"),
])
def test_hostile_layer_refused_mid_stream(pd: PD, reg: rp.Registry, entries: list[tuple[tarfile.TarInfo, bytes]],
                                          why: str) -> None:
    # Harmless files first (written into the scratch directory before the bad entry arrives).
    head = [(_entry(f"f{i}"), os.urandom(200_000)) for i in range(5)]
    ref = _push(reg, f"stream/hostile{abs(hash(why)) % 10_000}", [_tar(head + entries)])
    err = one_line_error(pd("pull", ref))
    assert why in err
    assert pd.stored() == EMPTY
    assert not Path("/etc/pwned").exists()


class _Pieces:
    """A reader that hands out a byte string a few bytes at a time (sizes cycling through `sizes`)."""

    def __init__(self, data: bytes, sizes: tuple[int, ...]) -> None:
        self.data, self.sizes, self.pos, self.i = data, sizes, 0, 0

    def read(self, n: int = -1) -> bytes:
        k = min(n if n >= 0 else len(self.data), self.sizes[self.i % len(self.sizes)])
        self.i += 1
        out = self.data[self.pos:self.pos + k]
        self.pos += len(out)
        return out


def _tree(root: Path) -> dict[str, tuple[int, bytes | str]]:
    out: dict[str, tuple[int, bytes | str]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        body: bytes | str = os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else b""
        out[str(p.relative_to(root))] = (st.st_mode, body)
    return out


@pytest.mark.parametrize("sizes", [(1,), (7, 511, 513), (1 << 20,)])
def test_unpack_stream_matches_unpack(tmp_path: Path, sizes: tuple[int, ...]) -> None:
    entries = [(_entry("d/", tarfile.DIRTYPE, mode=0o750), b""),
               (_entry("d/a"), os.urandom(1500)), (_entry("d/b"), b""), (_entry("d/c"), os.urandom(70_000)),
               (_entry("d/link", tarfile.SYMTYPE, "a"), b""), (_entry("d/hard", tarfile.LNKTYPE, "d/a"), b""),
               (_entry("long/" + "n" * 200 + "/x"), b"pax path\n"), (_entry("d/.wh.gone"), b"")]
    data = _tar(entries)
    archive.unpack(_write(tmp_path / "l.tar", data), tmp_path / "want")
    size = archive.unpack_stream(_Pieces(data, sizes), tmp_path / "got", tmp_path / "scratch", "test")  # type: ignore[arg-type]
    assert _tree(tmp_path / "got") == _tree(tmp_path / "want")
    assert size == 1500 + 70_000 + len(b"pax path\n")
    assert not (tmp_path / "scratch").exists()


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_unpack_stream_commit_refusal_leaves_nothing(tmp_path: Path) -> None:
    data = _tar([(_entry("x/y"), os.urandom(10_000))])

    def refuse() -> None:
        assert (tmp_path / "scratch" / "x" / "y").is_file()  # unpacked, not yet in place
        raise ImageError("verification failed for digest sha256:...")

    with pytest.raises(ImageError, match="verification failed"):
        archive.unpack_stream(_Pieces(data, (4096,)), tmp_path / "dest", tmp_path / "scratch", "t",  # type: ignore[arg-type]
                              commit=refuse)
    assert sorted(os.listdir(tmp_path)) == []


def test_unpack_stream_truncated_data_is_an_error(tmp_path: Path) -> None:
    data = _tar([(_entry("big"), os.urandom(100_000))])[:50_000]
    with pytest.raises(ImageError, match="unexpected end of data"):
        archive.unpack_stream(_Pieces(data, (8192,)), tmp_path / "dest", tmp_path / "scratch", "t")  # type: ignore[arg-type]
    assert sorted(os.listdir(tmp_path)) == []
