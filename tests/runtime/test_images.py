"""The image store: import, docker-save and OCI archives (whiteouts honoured), tag, rmi, bootstrap."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _busybox_layer(pd) -> bytes:  # type: ignore[no-untyped-def]
    """The busybox image's layer as a tar stream, to base test images on."""
    layer = next(p for p in (pd.settings.images / "layers").iterdir() if p.is_dir())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path in sorted(layer.rglob("*")):
            tf.add(path, arcname=str(path.relative_to(layer)), recursive=False)
    return buf.getvalue()


def _layers(pd, tar_bytes) -> list[bytes]:  # type: ignore[no-untyped-def]
    l2 = tar_bytes([("data", None, {}), ("data/keep", "keep\n", {}), ("data/old", "old\n", {}),
                    ("opt", None, {}), ("opt/stale", "stale\n", {}), ("etc", None, {}),
                    ("etc/motd", "hello\n", {})])
    l3 = tar_bytes([("data", None, {}), ("data/.wh.old", "", {}), ("opt", None, {}),
                    ("opt/.wh..wh..opq", "", {}), ("opt/new", "new\n", {}), ("etc", None, {}),
                    ("etc/.wh.motd", "", {})])
    return [_busybox_layer(pd), l2, l3]


def _config(layers: list[bytes]) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FROM_IMAGE=1"], "Cmd": ["sh", "-c", "ls /data"],
                   "WorkingDir": "/data", "Labels": {"org.example": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(la).hexdigest() for la in layers]},
    }).encode()


def _docker_save(tar_bytes, tmp_path: Path, layers: list[bytes], tag: str) -> Path:  # type: ignore[no-untyped-def]
    config = _config(layers)
    cname = hashlib.sha256(config).hexdigest() + ".json"
    files: list[tuple[str, bytes | None, dict[str, object]]] = [(cname, config, {})]
    names = []
    for i, la in enumerate(layers):
        d = f"{i:064x}"
        files += [(d, None, {}), (f"{d}/layer.tar", la, {}), (f"{d}/VERSION", "1.0", {})]
        names.append(f"{d}/layer.tar")
    files.append(("manifest.json", json.dumps([{"Config": cname, "RepoTags": [tag], "Layers": names}]), {}))
    out = tmp_path / "save.tar"
    out.write_bytes(tar_bytes(files))
    return out


def _oci(tar_bytes, tmp_path: Path, layers: list[bytes], ref: str) -> Path:  # type: ignore[no-untyped-def]
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    config = _config(layers)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(gzip.compress(la))}
                   for la in layers],
    }).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                "annotations": {"org.opencontainers.image.ref.name": ref},
                                                **blob(manifest)}]}
    files: list[tuple[str, bytes | str | None, dict[str, object]]] = [
        ("oci-layout", '{"imageLayoutVersion": "1.0.0"}', {}), ("index.json", json.dumps(index), {}),
        ("blobs", None, {}), ("blobs/sha256", None, {})]
    files += [(f"blobs/sha256/{d[7:]}", data, {}) for d, data in blobs.items()]
    out = tmp_path / "oci.tar"
    out.write_bytes(tar_bytes(files))
    return out


CHECK = "ls /data /opt; ls /etc/motd 2>&1; pwd; echo $FROM_IMAGE"


def _check_whiteouts(pd, ref: str) -> None:  # type: ignore[no-untyped-def]
    p = pd("run", "--rm", ref, "sh", "-c", CHECK)
    assert p.returncode == 0, p.stderr
    out = p.stdout.split()
    assert "keep" in out and "old" not in out  # file whiteout
    assert "new" in out and "stale" not in out  # opaque directory
    assert "No" in out  # /etc/motd deleted by the top layer
    assert out[-2:] == ["/data", "1"]  # WorkingDir and Env of the image config


def test_load_docker_save_honours_whiteouts(pd, tmp_path, tarball):
    archive = _docker_save(tarball, tmp_path, _layers(pd, tarball), "test/wh:1")
    p = pd("load", "-i", str(archive))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "Loaded image: test/wh:1"
    _check_whiteouts(pd, "test/wh:1")
    info = json.loads(pd.out("inspect", "test/wh:1"))[0]
    assert info["Config"]["Labels"] == {"org.example": "yes"} and len(info["RootFS"]["Layers"]) == 3
    # Loading again stores nothing new.
    layers_before = sorted(p.name for p in (pd.settings.images / "layers").iterdir())
    pd("load", "-i", str(archive), check=True)
    assert sorted(p.name for p in (pd.settings.images / "layers").iterdir()) == layers_before


def test_load_oci_layout_honours_whiteouts(pd, tmp_path, tarball):
    archive = _oci(tarball, tmp_path, _layers(pd, tarball), "test/oci:2")
    p = pd("load", input=archive.read_bytes())  # from stdin, as `docker load < file`
    assert p.returncode == 0, p.stderr
    assert "Loaded image: test/oci:2" in p.stdout
    _check_whiteouts(pd, "test/oci:2")


def test_copy_fallback_honours_whiteouts(pd, tmp_path, tarball):
    pd("load", "-i", str(_docker_save(tarball, tmp_path, _layers(pd, tarball), "test/wh:1")), check=True)
    pd.env["PYDOCK_STORAGE_DRIVER"] = "copy"
    _check_whiteouts(pd, "test/wh:1")
    p = pd("run", "--name", "cp", "test/wh:1", "sh", "-c", "echo changed > /data/keep")
    assert p.returncode == 0, p.stderr
    assert json.loads(pd.out("inspect", "cp"))[0]["Driver"] == "copy"
    p = pd("run", "--rm", "test/wh:1", "cat", "/data/keep")
    assert p.stdout == "keep\n"


def test_load_refuses_escaping_layer(pd, tmp_path, tarball):
    bad = tarball([("../../escape", "x", {})])
    archive = _docker_save(tarball, tmp_path, [bad], "test/bad:1")
    p = pd("load", "-i", str(archive))
    assert p.returncode == 125 and "'../../escape'" in p.stderr
    assert pd.out("images", "-q", "test/bad") == ""
    assert not list((pd.settings.images / "layers").glob("*.partial"))


def test_load_refuses_wrong_diff_id(pd, tmp_path, tarball):
    archive = tmp_path / "x.tar"
    layers = _layers(pd, tarball)[1:2]
    config = json.loads(_config(layers))
    config["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
    raw = json.dumps(config).encode()
    archive.write_bytes(tarball([("c.json", raw, {}), ("l.tar", layers[0], {}),
                                   ("manifest.json", json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]), {})]))
    p = pd("load", "-i", str(archive))
    assert p.returncode == 125 and "DiffID" in p.stderr


def test_import_tag_rmi(pd, tmp_path, make_tar):
    rootfs = make_tar([("hello.txt", "hi\n", {})])
    iid = pd.out("import", str(rootfs), "mine:v1")
    assert iid.startswith("sha256:")
    # From stdin too, with the same content: the same layer.
    iid2 = pd("import", "-", "mine:v2", input=rootfs.read_bytes())
    assert iid2.returncode == 0, iid2.stderr
    pd("tag", "mine:v1", "other/name", check=True)
    listing = pd.out("images")
    assert "mine" in listing and "other/name" in listing and "busybox" in listing
    assert listing.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert pd.out("rmi", "other/name") == "Untagged: other/name:latest"
    # In use: refused, until forced.
    pd("create", "--name", "user", "busybox", "true", check=True)
    p = pd("rmi", "busybox")
    assert p.returncode == 1 and "is using its referenced image" in p.stderr
    pd("rm", "user", check=True)
    out = pd.out("rmi", "busybox")
    assert "Untagged: busybox:latest" in out and "Deleted: sha256:" in out
    p = pd("run", "--rm", "--pull", "never", "busybox", "true")
    assert p.returncode == 125 and "Unable to find image 'busybox'" in p.stderr
    p = pd("import", str(tmp_path / "missing.tar"), "x")
    assert p.returncode == 125 and "missing.tar" in p.stderr
    p = pd("tag", "mine:v1", "Bad:Name")
    assert p.returncode == 125 and "Bad:Name" in p.stderr


def test_bootstrap_is_reproducible(pd):
    first = pd.out("images", "-q", "--no-trunc", "busybox")
    out = pd.out("image", "bootstrap", "busybox")
    assert out == f"busybox:latest: {first}"


def test_import_changes_and_inspect_any_object(pd, tmp_path):
    base = pd.settings.images / "layers"
    layer = next(p for p in base.iterdir() if p.is_dir())
    rootfs = tmp_path / "rootfs.tar.gz"
    with tarfile.open(rootfs, "w:gz") as tf:  # compressed, as `docker export | gzip` gives
        tf.add(layer, arcname=".")
    iid = pd.out("import", "-c", 'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]', "-c", "ENV GREETING=hello",
                 "-c", "WORKDIR /srv", "-c", "LABEL team=infra", str(rootfs), "greeter:1")
    p = pd("run", "--rm", "greeter:1")
    assert p.stdout == "hello from /srv\n", p.stderr
    info = json.loads(pd.out("inspect", "greeter:1"))[0]  # `inspect` finds images too
    assert info["Id"] == iid and info["Config"]["Labels"] == {"team": "infra"}
    pd("volume", "create", "vv", check=True)
    assert pd.out("inspect", "-f", "{{.Name}} {{.Driver}}", "vv") == "vv local"
    p = pd("inspect", "nothing-by-this-name")
    assert p.returncode == 1 and "No such object: nothing-by-this-name" in p.stderr
    p = pd("import", "-c", "RUN rm -rf /", str(rootfs), "bad:1")
    assert p.returncode == 125 and "RUN" in p.stderr
    cid = pd.out("create", "greeter:1")
    assert pd.out("ps", "-aq", "--filter", "ancestor=greeter:1") == cid[:12]
    assert pd.out("ps", "-aq", "--filter", f"ancestor={iid[7:19]}") == cid[:12]
    assert pd.out("ps", "-aq", "--filter", "ancestor=busybox") == ""
