"""Pulls from a real registry (Debian's docker-registry on loopback) of images pydock did not make:
umoci builds them, skopeo pushes them as OCI and as Docker v2s2, zstd, and as a manifest list."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import regpeers as rp
from conftest import CLI, PD, BuiltImage, one_line_error
from pydock.runtime.images import manifest as mf

pytestmark = pytest.mark.peer


def test_pull_oci_and_v2s2_share_layers(pd: PD, pushed: dict[str, str]) -> None:
    out = pd.ok("pull", pushed["oci"])
    assert "Pull complete" in out and "Status: Downloaded newer image for " + pushed["oci"] in out
    assert out.strip().splitlines()[-1] == pushed["oci"]
    layers = pd.stored()["layers"]
    assert len(layers) == 2
    out = pd.ok("pull", pushed["v2s2"])  # same layers, another manifest format
    assert out.count("Already exists") == 2 and "Pull complete" not in out
    assert pd.stored()["layers"] == layers and len(pd.stored()["configs"]) == 1
    assert "Image is up to date" in pd.ok("pull", pushed["v2s2"])
    [info] = json.loads(pd.ok("image", "inspect", pushed["oci"]))
    repo_digests = sorted(info["RepoDigests"])
    assert len(repo_digests) == 2 and all("@sha256:" in d for d in repo_digests)
    assert info["RepoTags"] == sorted([pushed["oci"], pushed["v2s2"]])
    # The RepoDigest is the registry's manifest digest: skopeo agrees.
    skopeo_digest = json.loads(rp.skopeo("inspect", "--tls-verify=false", f"docker://{pushed['oci']}").stdout)["Digest"]
    assert pushed["oci"].rsplit(":", 1)[0] + "@" + skopeo_digest in repo_digests
    table = pd.ok("images", "--digests")
    assert "DIGEST" in table.splitlines()[0] and skopeo_digest in table
    # pull by digest resolves to the same image
    by_digest = pushed["oci"].rsplit(":", 1)[0] + "@" + skopeo_digest
    pd.ok("pull", by_digest)
    assert json.loads(pd.ok("image", "inspect", by_digest))[0]["Id"] == info["Id"]


@pytest.mark.root
def test_pull_and_run_an_umoci_image(pd: PD, pushed: dict[str, str], image: BuiltImage) -> None:
    pd.ok("pull", "-q", pushed["v2s2"])
    p = pd("run", "--rm", pushed["v2s2"], "cat", "/x/hello.txt")
    assert p.returncode == 0, p.stderr
    assert p.stdout == image.hello


def test_zstd_layers(pd: PD, reg: rp.Registry, tmp_path: Path) -> None:
    # Content of its own: skopeo reuses a gzip blob it has pushed before instead of recompressing.
    layers = []
    for i in range(2):
        root = tmp_path / f"z{i}" / "rootfs"
        (root / "z").mkdir(parents=True)
        (root / "z" / f"f{i}").write_text(uuid.uuid4().hex * 500)
        layers.append(root)
    oci = rp.umoci_image(tmp_path / "z", layers)
    rp.skopeo("copy", "--dest-tls-verify=false", "--format", "oci", "--dest-compress-format", "zstd",
              f"oci:{oci}:latest", f"docker://{reg.host}/bb/zstd:1")
    raw = httpx.get(f"{reg.url}/v2/bb/zstd/manifests/1", headers={"Accept": mf.OCI_MANIFEST}).json()
    assert {layer["mediaType"] for layer in raw["layers"]} == {mf.OCI_LAYER_ZSTD}
    pd.ok("pull", f"{reg.host}/bb/zstd:1")
    store = pd.store()
    im = store.get(f"{reg.host}/bb/zstd:1")
    dirs = store.layer_dirs(im)
    assert len(dirs) == 2
    assert (dirs[0] / "z" / "f0").read_text() == (layers[0] / "z" / "f0").read_text()
    assert (dirs[1] / "z" / "f1").read_text() == (layers[1] / "z" / "f1").read_text()


def _manifest_of(reg: rp.Registry, repo: str, tag: str) -> tuple[bytes, str]:
    r = httpx.get(f"{reg.url}/v2/{repo}/manifests/{tag}", headers={"Accept": mf.ACCEPT})
    r.raise_for_status()
    return r.content, r.headers["Content-Type"]


def test_manifest_list_picks_the_platform(pd: PD, reg: rp.Registry, image: BuiltImage, tmp_path: Path) -> None:
    # Two images in one repository: ours as amd64, a one-layer one labelled arm64; then a Docker
    # manifest list naming both, uploaded by hand.
    rp.push_oci(image.oci, reg, "bb/multi:amd64", fmt="v2s2")
    root = tmp_path / "arm" / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "which").write_text("arm64 image\n" * 100)
    oci = rp.umoci_image(tmp_path / "arm", [root])
    subprocess.run(["umoci", "config", "--image", f"{oci}:latest", "--architecture", "arm64"], check=True)
    rp.push_oci(oci, reg, "bb/multi:arm64", fmt="v2s2")
    entries = []
    for tag, arch in (("amd64", "amd64"), ("arm64", "arm64")):
        raw, ctype = _manifest_of(reg, "bb/multi", tag)
        entries.append({"mediaType": ctype, "size": len(raw), "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
                        "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": mf.DOCKER_LIST, "manifests": entries}).encode()
    httpx.put(f"{reg.url}/v2/bb/multi/manifests/1", content=index,
              headers={"Content-Type": mf.DOCKER_LIST}).raise_for_status()
    ref = f"{reg.host}/bb/multi:1"
    store = pd.store()
    pd.ok("pull", "--platform", "linux/arm64", ref)
    arm = store.get(ref)
    assert arm.config["architecture"] == "arm64" and len(arm.diff_ids) == 1
    [digest] = arm.digests
    assert digest.endswith(hashlib.sha256(index).hexdigest())  # the list's digest, as Docker records it
    pd.ok("pull", "--platform", "linux/amd64", ref)
    assert store.get(ref).config["architecture"] == "amd64" and len(store.get(ref).diff_ids) == 2
    err = one_line_error(pd("pull", "--platform", "linux/s390x", ref))
    assert "no matching manifest for linux/s390x" in err


def test_tampered_blob_keeps_nothing(pd: PD, reg: rp.Registry, tmp_path: Path) -> None:
    # An image of its own (the registry stores blobs once for all repositories).
    root = tmp_path / "t" / "rootfs"
    (root / "data").mkdir(parents=True)
    (root / "data" / "blob.bin").write_bytes(os.urandom(300_000))
    small = tmp_path / "t2" / "rootfs"
    (small / "ok").mkdir(parents=True)
    (small / "ok" / "file").write_text(uuid.uuid4().hex * 100)
    oci = rp.umoci_image(tmp_path / "t", [small, root])
    rp.push_oci(oci, reg, "bb/tamper:1")
    raw, _ = _manifest_of(reg, "bb/tamper", "1")
    big = max(json.loads(raw)["layers"], key=lambda d: d["size"])
    data = reg.storage / "docker/registry/v2/blobs/sha256" / big["digest"][7:9] / big["digest"][7:] / "data"
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # same size, other content
    data.write_bytes(bytes(blob))
    err = one_line_error(pd("pull", f"{reg.host}/bb/tamper:1"))
    assert f"verification failed for digest {big['digest']}" in err
    assert pd.stored() == {"layers": [], "configs": [], "blobs": [], "tmp": []}
    assert pd("image", "inspect", f"{reg.host}/bb/tamper:1").returncode != 0


def test_bad_input_one_line_and_nothing_made(pd: PD, reg: rp.Registry, pushed: dict[str, str]) -> None:
    err = one_line_error(pd("pull", f"{reg.host}/bb/nothing:1"))
    assert "manifest for" in err and "not found" in err
    err = one_line_error(pd("pull", f"{reg.host}/bb/oci:nosuchtag"))
    assert "not found" in err
    err = one_line_error(pd("pull", "Busybox"))
    assert err == "pydock: invalid reference format: repository name (library/Busybox) must be lowercase"
    port = rp.free_port()
    err = one_line_error(pd("pull", f"127.0.0.1:{port}/bb/oci:1"))
    assert f"cannot reach the registry 127.0.0.1:{port}" in err and "refused" in err
    assert pd.stored() == {"layers": [], "configs": [], "blobs": [], "tmp": []}


def test_concurrent_pulls_of_one_image(pd: PD, pushed: dict[str, str]) -> None:
    procs = [subprocess.Popen([*CLI, "pull", "-q", pushed["oci"]], env=pd.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    s = pd.stored()
    assert len(s["layers"]) == 2 and len(s["configs"]) == 1 and len(s["blobs"]) == 2 and s["tmp"] == []
    im = pd.store().get(pushed["oci"])
    assert (pd.store().layer_dirs(im)[1] / "x" / "hello.txt").is_file()


def test_killed_pull_then_clean_pull(pd: PD, reg: rp.Registry, tmp_path: Path) -> None:
    root = tmp_path / "k" / "rootfs"
    root.mkdir(parents=True)
    (root / "big.bin").write_bytes(os.urandom(24 << 20))  # incompressible: the download takes a while
    rp.push_oci(rp.umoci_image(tmp_path / "k", [root]), reg, "bb/big:1")
    ref = f"{reg.host}/bb/big:1"
    p = subprocess.Popen([*CLI, "pull", ref], env=pd.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None
    for line in p.stdout:
        if "Pulling fs layer" in line:
            break
    time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    assert pd("image", "inspect", ref).returncode != 0  # no half-made image
    pd.ok("pull", ref)
    s = pd.stored()
    assert len(s["layers"]) == 1 and s["tmp"] == []  # the killed pull's files were swept
    im = pd.store().get(ref)
    assert (pd.store().layer_dirs(im)[0] / "big.bin").stat().st_size == 24 << 20


@pytest.mark.root
def test_run_pulls_a_missing_image_by_policy(pd: PD, pushed: dict[str, str], image: BuiltImage) -> None:
    ref = pushed["oci"]
    p = pd("run", "--rm", "--pull", "never", ref, "true")
    assert p.returncode == 125 and f"Unable to find image '{ref}' locally" in one_line_error(p)
    assert pd.stored()["layers"] == []
    # missing (the default): pulled first, progress on stderr, the container's output alone on stdout
    p = pd("run", "--rm", ref, "cat", "/x/hello.txt")
    assert p.returncode == 0, p.stderr
    assert p.stdout == image.hello
    assert f"Unable to find image '{ref}' locally" in p.stderr and "Pull complete" in p.stderr
    p = pd("run", "--rm", ref, "true")  # present now: no pull
    assert p.returncode == 0 and "Pull" not in p.stderr
    p = pd("run", "--rm", "--pull", "always", ref, "true")
    assert p.returncode == 0 and "Image is up to date" in p.stderr
    p = pd("run", "--rm", "--pull", "sometimes", ref, "true")
    assert p.returncode == 125 and 'invalid pull option: "sometimes"' in one_line_error(p)
    missing = ref.rsplit("/", 1)[0] + "/nosuch:1"
    p = pd("run", "--rm", missing, "true")
    assert p.returncode == 125, p.stderr
    lines = p.stderr.strip().splitlines()  # Docker's two: not here, then why the pull failed
    assert lines[0] == f"Unable to find image '{missing}' locally", p.stderr
    assert lines[-1].startswith("pydock: manifest for ") and "not found" in lines[-1], p.stderr
    assert not (pd.root / "containers").is_dir() or not any((pd.root / "containers").iterdir())
