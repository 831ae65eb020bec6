"""The image store: content-addressed layers and image configs under `$ROOT/images`.

```
images/layers/<diff-id hex>/        one unpacked layer (overlayfs format, see archive.py)
images/layers/<diff-id hex>.json    {"size": bytes, "blob": {digest, size, mediaType}} or {"size", "tar": name}
images/blobs/sha256/<hex>           a layer as it came (a pulled blob, compressed) or as pushed
images/layertars/<diff-id hex>      a layer's tar as loaded, imported or built (for save and push)
images/configs/<image-id hex>.json  the image config exactly as loaded; its sha256 is the image id
images/repositories.json            {"busybox:latest": "sha256:<image id>"}
images/repodigests.json             {"busybox@sha256:<manifest digest>": "sha256:<image id>"}
```
An image id is the sha256 of its config, a layer's name the sha256 of its uncompressed tar (its
DiffID), as in Docker and OCI; so loading the same image twice stores it once. Writers of the
repositories hold `images/lock`; a layer is written under its own lock (`tmp/layer-<hex>.lock`), so
concurrent pulls of one layer unpack it once, and is unpacked into a scratch directory (beside its
final name; a pull's under `tmp/`, swept once its process is gone) that is renamed into place when
whole and verified. A layer counts as stored once its `.json` exists (written last).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pydock.runtime.atomic import Lock, read_json, write_bytes, write_json
from pydock.runtime.images.layout import host_arch
from pydock.runtime.images.reference import normalize_ref

from pydock.errors import ConflictError, ImageError, NotFoundError, UsageError
from pydock.units import utc_iso


@dataclass(frozen=True)
class Image:
    id: str  # "sha256:<hex>"
    tags: tuple[str, ...]
    config: dict[str, Any]
    size: int
    digests: tuple[str, ...] = ()  # RepoDigests: "busybox@sha256:<manifest digest>"

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def created(self) -> str:
        return str(self.config.get("created", "")) or "0001-01-01T00:00:00Z"

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def run_config(self) -> dict[str, Any]:
        return dict(self.config.get("config") or {})


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.layers = self.root / "layers"
        self.configs = self.root / "configs"
        self.repos_file = self.root / "repositories.json"
        self.digests_file = self.root / "repodigests.json"
        self.blobs = self.root / "blobs" / "sha256"
        self.layertars = self.root / "layertars"
        self.tmp = self.root / "tmp"

    def _setup(self) -> None:
        for d in (self.layers, self.configs, self.tmp, self.blobs, self.layertars):
            d.mkdir(parents=True, exist_ok=True)

    def _lock(self) -> Lock:
        self._setup()
        return Lock(self.root / "lock")

    def _repos(self) -> dict[str, str]:
        try:
            return dict(read_json(self.repos_file))
        except FileNotFoundError:
            return {}

    def _digests(self) -> dict[str, str]:
        try:
            return dict(read_json(self.digests_file))
        except FileNotFoundError:
            return {}

    # -- reading -------------------------------------------------------------------------------

    def _image(self, image_id: str, repos: dict[str, str]) -> Image:
        hexid = image_id.split(":", 1)[1]
        try:
            config = read_json(self.configs / f"{hexid}.json")
        except FileNotFoundError:
            raise NotFoundError(f"No such image: {image_id}") from None
        size = 0
        for d in config.get("rootfs", {}).get("diff_ids", []):
            try:
                size += int(read_json(self.layers / f"{d.split(':', 1)[1]}.json").get("size", 0))
            except FileNotFoundError:
                pass
        tags = tuple(sorted(t for t, i in repos.items() if i == image_id))
        digests = tuple(sorted(d for d, i in self._digests().items() if i == image_id))
        return Image(id=image_id, tags=tags, config=config, size=size, digests=digests)

    def list(self) -> builtins.list[Image]:
        repos = self._repos()
        try:
            ids = ["sha256:" + p.stem for p in self.configs.glob("*.json")]
        except FileNotFoundError:
            return []
        images = [self._image(i, repos) for i in ids]
        images.sort(key=lambda im: im.created, reverse=True)
        return images

    def resolve(self, ref: str) -> str:
        """Image id for a reference: NAME[:TAG], full id (with or without `sha256:`) or id prefix."""
        repos = self._repos()
        try:
            norm = normalize_ref(ref)
            if norm in repos:
                return repos[norm]
            if "@" in norm:
                by_digest = self._digests()
                if norm in by_digest:
                    return by_digest[norm]
        except UsageError:
            norm = None
        hexpart = ref.removeprefix("sha256:")
        if re.fullmatch(r"[0-9a-f]{4,64}", hexpart):
            found = [p.stem for p in self.configs.glob(f"{hexpart}*.json")] if self.configs.is_dir() else []
            if len(found) == 1:
                return "sha256:" + found[0]
            if len(found) > 1:
                raise ConflictError(f"image id prefix {ref!r} is ambiguous")
        if norm is None:
            normalize_ref(ref)  # raises the reference-format error
        raise NotFoundError(f"No such image: {norm or ref}")

    def get(self, ref: str) -> Image:
        return self._image(self.resolve(ref), self._repos())

    def layer_dirs(self, image: Image) -> builtins.list[Path]:
        """The image's unpacked layers, lowest first."""
        dirs = [self.layers / d.split(":", 1)[1] for d in image.diff_ids]
        for d in dirs:
            if not d.is_dir():
                raise ImageError(f"image {image.short_id} is missing its layer {d.name[:12]}")
        return dirs

    # -- writing -------------------------------------------------------------------------------

    def has_layer(self, did: str) -> bool:
        hexid = did.split(":", 1)[1]
        return (self.layers / f"{hexid}.json").is_file() and (self.layers / hexid).is_dir()

    def layer_lock(self, did: str) -> Lock:
        self._setup()
        return Lock(self.tmp / f"layer-{did.split(':', 1)[1]}.lock")

    def layer_info(self, did: str) -> dict[str, Any]:
        try:
            return dict(read_json(self.layers / f"{did.split(':', 1)[1]}.json"))
        except FileNotFoundError:
            raise ImageError(f"layer {did[7:19]} is not stored") from None

    def set_layer_info(self, did: str, info: dict[str, Any]) -> None:
        write_json(self.layers / f"{did.split(':', 1)[1]}.json", info)

    def _add_layer(self, tar_path: Path, did: str | None = None,
                   made: builtins.list[Path] | None = None,
                   blob: tuple[Path, dict[str, Any]] | None = None) -> tuple[str, int]:
        """Unpacks a layer unless stored already; a new layer's directory is appended to `made`.

        The layer's archive is kept for `save` and `push`: `blob` (a verified registry blob and its
        descriptor) is moved into blobs/; otherwise the tar is hard-linked (or copied) to layertars/."""
        from pydock.runtime import archive  # writers only: `run` reads the store without tarfile

        did = did or archive.diff_id(tar_path)
        with self.layer_lock(did):
            return self._add_layer_locked(tar_path, did, made, blob)

    def _add_layer_locked(self, tar_path: Path, did: str, made: builtins.list[Path] | None = None,
                          blob: tuple[Path, dict[str, Any]] | None = None) -> tuple[str, int]:
        """`_add_layer` for a caller that holds `layer_lock(did)` already."""
        from pydock.runtime import archive

        return self._put_layer(did, lambda dest: archive.unpack(tar_path, dest), made, blob, tar_path)

    def _put_layer(self, did: str, unpack: Callable[[Path], int], made: builtins.list[Path] | None,
                   blob: tuple[Path, dict[str, Any]] | None, tar_path: Path | None = None) -> tuple[str, int]:
        """Stores layer `did` unless stored already; the caller holds `layer_lock(did)`.

        `unpack(dest)` makes the new directory `dest` whole or not at all (archive.py's `unpack` and
        `unpack_stream` do) and returns its size. The layer's archive is kept: `blob` (a verified
        registry blob and its descriptor) is moved into blobs/, else `tar_path` is linked into
        layertars/. The `.json`, written last, is what makes the layer count as stored."""
        hexid = did.split(":", 1)[1]
        dest = self.layers / hexid
        if self.has_layer(did):
            return did, int(self.layer_info(did).get("size", 0))
        import shutil

        from pydock.runtime.rootfs import remove_path

        remove_path(dest)  # a directory without its .json: a crashed write, redone
        size = unpack(dest)
        if made is not None:
            made.append(dest)
        info: dict[str, Any] = {"size": size}
        if blob is not None:
            path, desc = blob
            os.replace(path, self.blobs / desc["digest"].split(":", 1)[1])
            info["blob"] = desc
        else:
            assert tar_path is not None
            kept = self.layertars / hexid
            kept.unlink(missing_ok=True)
            try:
                os.link(tar_path, kept)
            except OSError:
                shutil.copyfile(tar_path, kept)
            info["tar"] = hexid
        write_json(self.layers / f"{hexid}.json", info)
        return did, size

    def drop_layers(self, dirs: builtins.list[Path]) -> None:
        """Removes layers made by an operation that failed, unless a stored image uses them now."""
        import shutil

        used = {d for im in self.list() for d in im.diff_ids}
        for d in dirs:
            if f"sha256:{d.name}" in used:
                continue
            info_path = d.parent / f"{d.name}.json"
            try:
                info = dict(read_json(info_path))
            except FileNotFoundError:
                info = {}
            info_path.unlink(missing_ok=True)
            shutil.rmtree(d, ignore_errors=True)
            self._drop_archive(d.name, info)

    def _drop_archive(self, hexid: str, info: dict[str, Any]) -> None:
        if isinstance(info.get("blob"), dict):
            (self.blobs / str(info["blob"].get("digest", ":")).split(":", 1)[1]).unlink(missing_ok=True)
        (self.layertars / hexid).unlink(missing_ok=True)

    def add_pulled(self, config_raw: bytes, tags: builtins.list[str], repo_digest: str | None) -> Image:
        """Stores a pulled image's config (its layers are stored), its tag and its RepoDigest."""
        with self._lock():
            image = self._add_config(config_raw, tags)
            if repo_digest:
                digests = self._digests()
                digests[repo_digest] = image.id
                write_json(self.digests_file, digests)
            return self._image(image.id, self._repos())

    def add_repo_digest(self, repo_digest: str, image_id: str) -> None:
        """Records `busybox@sha256:...` (the manifest a pull or push used) for the image."""
        with self._lock():
            digests = self._digests()
            digests[repo_digest] = image_id
            write_json(self.digests_file, digests)

    def _add_config(self, raw: bytes, tags: builtins.list[str]) -> Image:
        import hashlib

        image_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        path = self.configs / f"{image_id[7:]}.json"
        if not path.exists():
            write_bytes(path, raw)
        repos = self._repos()
        for t in tags:
            repos[t] = image_id
        if tags:
            write_json(self.repos_file, repos)
        return self._image(image_id, repos)

    def import_tarball(self, src: Path | BinaryIO, ref: str | None = None,
                       run_config: dict[str, Any] | None = None, created: str | None = None,
                       comment: str = "Imported from -") -> Image:
        """`docker import`: one root filesystem tarball (plain or compressed) becomes a one-layer image."""
        import shutil
        import tempfile  # here, not at the top: `pydock pull` starts faster without it

        tag = normalize_ref(ref) if ref else None
        with self._lock():
            with tempfile.TemporaryDirectory(dir=self.tmp) as td:
                if isinstance(src, Path):
                    if not src.is_file():
                        raise NotFoundError(f"open {src}: no such file")
                    tar_path = src
                else:
                    tar_path = Path(td) / "layer.tar"
                    with open(tar_path, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                did, _ = self._add_layer(tar_path)
            when = created or utc_iso()
            config = {
                "architecture": host_arch(), "os": "linux", "created": when,
                "config": run_config or {},
                "rootfs": {"type": "layers", "diff_ids": [did]},
                "history": [{"created": when, "comment": comment}],
            }
            raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
            return self._add_config(raw, [tag] if tag else [])

    def load(self, path: Path) -> builtins.list[Image]:
        """`docker load`: a `docker save` archive or an OCI image layout archive."""
        import tarfile
        import tempfile
        import zlib

        from pydock.runtime import archive
        from pydock.runtime.images.layout import _Reader

        if not path.is_file():
            raise NotFoundError(f"open {path}: no such file")
        try:
            outer = archive.open_tar(path)
            members = archive.bounded_members(outer, str(path))
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ImageError(f"{path}: not a readable image archive: {exc}") from exc
        with outer, self._lock(), tempfile.TemporaryDirectory(dir=self.tmp) as td:
            names = {archive._norm(m.name, m.name): m for m in members}
            reader = _Reader(outer, names, Path(td))
            if "manifest.json" in names:
                wanted = reader.docker_manifest()
            elif "index.json" in names:
                wanted = reader.oci_manifest()
            else:
                raise ImageError(f"{path}: neither a docker-save archive (manifest.json) "
                                 "nor an OCI layout (index.json)")
            loaded = []
            made: list[Path] = []  # layers unpacked for the image being loaded, not yet referenced
            try:
                for raw_config, layer_names, tags in wanted:
                    try:
                        config = json.loads(raw_config)
                        expected = list(config.get("rootfs", {}).get("diff_ids", []))
                    except (AttributeError, TypeError, ValueError) as exc:
                        raise ImageError(f"{path}: the image config is malformed: {exc}") from exc
                    if len(expected) != len(layer_names):
                        raise ImageError(f"{path}: the config lists {len(expected)} layers, the manifest "
                                         f"{len(layer_names)}")
                    refs = [normalize_ref(t) for t in tags]
                    for want, name in zip(expected, layer_names):
                        tar = reader.extract(name)
                        did = archive.diff_id(tar)  # checked before anything is unpacked
                        if did != want:
                            raise ImageError(f"{path}: layer {name} has DiffID {did}, the config says {want}")
                        self._add_layer(tar, did, made)
                        tar.unlink()
                    loaded.append(self._add_config(raw_config, refs))
                    made.clear()  # now referenced by a stored config
            except BaseException:
                self.drop_layers(made)
                raise
            return loaded

    def tag(self, source: str, target: str) -> None:
        with self._lock():
            image_id = self.resolve(source)
            repos = self._repos()
            try:
                key = normalize_ref(target)
            except UsageError as exc:  # Docker's wording for `docker tag`
                raise UsageError(f'Error parsing reference: "{target}" is not a valid repository/tag: {exc}') from None
            if "@" in key:
                raise UsageError(f"refusing to create a tag with a digest reference: {target}")
            repos[key] = image_id
            write_json(self.repos_file, repos)

    def remove(self, ref: str, force: bool, users: Callable[[str], builtins.list[str]]) -> builtins.list[str]:
        """`docker rmi`: untags; deletes the image once it has no tag. `users(image_id)` names the
        containers using an image; an image in use is refused unless `force`, and even then its
        layers stay until the last container using it is gone. Returns Docker's report lines."""
        import shutil

        with self._lock():
            image_id = self.resolve(ref)
            repos = self._repos()
            tags = [t for t, i in repos.items() if i == image_id]
            try:
                by_tag = normalize_ref(ref) in tags
            except UsageError:
                by_tag = False
            out = []
            if by_tag and len(tags) > 1:
                del repos[normalize_ref(ref)]
                write_json(self.repos_file, repos)
                return [f"Untagged: {normalize_ref(ref)}"]
            if not by_tag and len(tags) > 1 and not force:
                raise ConflictError(f"unable to delete {image_id[7:19]} (must be forced) - image is "
                                    "referenced in multiple repositories")
            using = users(image_id)
            if using and not force:
                raise ConflictError(f"unable to remove image {ref} (must force) - container "
                                    f"{using[0]} is using its referenced image {image_id[7:19]}")
            for t in tags:
                del repos[t]
                out.append(f"Untagged: {t}")
            write_json(self.repos_file, repos)
            digests = self._digests()
            for d in [d for d, i in digests.items() if i == image_id]:
                del digests[d]
                out.append(f"Untagged: {d}")
            write_json(self.digests_file, digests)
            if using:
                return out
            image = self._image(image_id, repos)
            (self.configs / f"{image_id[7:]}.json").unlink()
            out.append(f"Deleted: {image_id}")
            still = {d for im in self.list() for d in im.diff_ids}
            for d in image.diff_ids:
                if d not in still:
                    info_path = self.layers / f"{d[7:]}.json"
                    try:
                        info = dict(read_json(info_path))
                    except FileNotFoundError:
                        info = {}
                    info_path.unlink(missing_ok=True)  # first: a layer without its .json is not stored
                    shutil.rmtree(self.layers / d[7:], ignore_errors=True)
                    self._drop_archive(d[7:], info)
                    out.append(f"Deleted: {d}")
            return out

    def prune(self, all_: bool, users: Callable[[str], builtins.list[str]]) -> tuple[builtins.list[str], int]:
        """`docker image prune [-a]`: removes untagged images (with `all_`, every image) that no
        container uses; returns the report lines and the bytes freed."""
        out: builtins.list[str] = []
        freed = 0
        for im in self.list():
            if (im.tags and not all_) or users(im.id):
                continue
            sizes = {}
            for d in im.diff_ids:
                try:
                    sizes[d] = int(self.layer_info(d).get("size", 0))
                except ImageError:
                    pass
            lines = self.remove(im.id, True, users)
            freed += sum(sizes.get(line.removeprefix("Deleted: "), 0) for line in lines)
            out += lines
        return out, freed

    def bootstrap_busybox(self, busybox: Path = Path("/bin/busybox"), ref: str = "busybox:latest") -> Image:
        """Builds `busybox:latest` from the host's static busybox: the binary, one symlink per applet,
        /etc/passwd and /etc/group. The tarball is deterministic, so the image id only changes
        when the busybox binary does."""
        import subprocess
        import tarfile
        import tempfile

        from pydock.runtime.spec import DEFAULT_PATH

        if not busybox.is_file():
            raise NotFoundError(f"{busybox} not found: install a static busybox (Debian: busybox-static)")
        try:
            applets = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                                     check=True).stdout.split()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ImageError(f"{busybox} --list-full failed: {exc}") from exc
        mtime = int(busybox.stat().st_mtime)
        self._setup()
        with tempfile.TemporaryDirectory(dir=self.tmp) as td:
            tar_path = Path(td) / "busybox.tar"
            with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tf:
                def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
                    ti = tarfile.TarInfo(name)
                    ti.type, ti.mode, ti.mtime, ti.linkname, ti.size = kind, mode, mtime, link, len(data)
                    tf.addfile(ti, _bytes_io(data) if data else None)

                for d, mode in (("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755),
                                ("proc", 0o555), ("root", 0o700), ("sbin", 0o755), ("sys", 0o555),
                                ("tmp", 0o1777), ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755),
                                ("var", 0o755), ("var/tmp", 0o1777)):
                    add(d, tarfile.DIRTYPE, mode)
                add("bin/busybox", tarfile.REGTYPE, 0o755, busybox.read_bytes())
                for a in sorted(set(applets)):
                    if a != "bin/busybox":
                        add(a, tarfile.SYMTYPE, 0o777, link="/bin/busybox")
                add("etc/passwd", tarfile.REGTYPE, 0o644,
                    b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
                add("etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\nnogroup:x:65534:\n")
            created = utc_iso(mtime)
            return self.import_tarball(tar_path, ref, run_config={"Env": [f"PATH={DEFAULT_PATH}"], "Cmd": ["sh"]},
                                       created=created, comment=f"pydock image bootstrap from {busybox}")


def _bytes_io(data: bytes) -> BinaryIO:
    return io.BytesIO(data)
