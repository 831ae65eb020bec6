"""Push, login and TLS against a real registry: htpasswd basic auth, a TLS registry whose CA is
given through certs.d, cross-repository mounts, and interoperation with skopeo both ways."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
from pathlib import Path

import httpx
import pytest
import regpeers as rp
from conftest import PASSWORD, PD, USER, BuiltImage, one_line_error

pytestmark = pytest.mark.peer


def test_login_wrong_password_then_right(pd: PD, areg: rp.Registry) -> None:
    err = one_line_error(pd("login", "-u", USER, "--password-stdin", areg.host, input="wrong\n"))
    assert "unauthorized: incorrect username or password" in err
    assert not (pd.config_dir / "config.json").exists()
    out = pd.ok("login", "-u", USER, "--password-stdin", areg.host, input=PASSWORD + "\n")
    assert "Login Succeeded" in out
    cfg = pd.config_dir / "config.json"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    import base64

    assert json.loads(cfg.read_text())["auths"][areg.host]["auth"] == base64.b64encode(
        f"{USER}:{PASSWORD}".encode()).decode()
    assert "Removing login credentials for " + areg.host in pd.ok("logout", areg.host)
    assert areg.host not in json.loads(cfg.read_text())["auths"]
    assert "Not logged in" in one_line_error(pd("logout", areg.host))


def test_push_needs_login_and_skopeo_pulls_it(pd: PD, areg: rp.Registry, pushed: dict[str, str],
                                                image: BuiltImage, tmp_path: Path) -> None:
    pd.ok("pull", "-q", pushed["oci"])
    target = f"{areg.host}/mine/bb:v1"
    pd.ok("tag", pushed["oci"], target)
    err = one_line_error(pd("push", target))
    assert "unauthorized: authentication required" in err
    pd.ok("login", "-u", USER, "--password-stdin", areg.host, input=PASSWORD)
    out = pd.ok("push", target)
    assert out.count("Pushed") == 2 and "v1: digest: sha256:" in out
    assert pd.ok("push", target).count("Layer already exists") == 2  # HEAD first: nothing sent again
    # skopeo reads what pydock pushed, and the layer content is intact.
    dest = tmp_path / "dir"
    rp.skopeo("copy", "--src-tls-verify=false", "--src-creds", f"{USER}:{PASSWORD}", f"docker://{target}", f"dir:{dest}")
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"  # its layers came as OCI
    top = dest / manifest["layers"][1]["digest"][7:]
    assert rp.layer_member(top, "x/hello.txt").decode() == image.hello
    # The RepoDigest recorded by the push is the digest skopeo sees.
    digest = json.loads(rp.skopeo("inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
                                  f"docker://{target}").stdout)["Digest"]
    assert f"{areg.host}/mine/bb@{digest}" in json.loads(pd.ok("image", "inspect", target))[0]["RepoDigests"]


def test_cross_repository_mount(pd: PD, areg: rp.Registry, pushed: dict[str, str]) -> None:
    pd.ok("login", "-u", USER, "--password-stdin", areg.host, input=PASSWORD)
    pd.ok("pull", "-q", pushed["v2s2"])
    src = f"{areg.host}/mount/src:1"
    pd.ok("tag", pushed["v2s2"], src)
    pd.ok("push", src)
    pd.ok("rmi", pushed["v2s2"], src)
    pd.ok("pull", "-q", src)  # the layers now come from mount/src on this registry
    dst = f"{areg.host}/mount/dst:1"
    pd.ok("tag", src, dst)
    out = pd.ok("push", dst)
    assert out.count("Mounted from mount/src") == 2, out


def test_pushed_by_pydock_pulled_back_into_a_fresh_store(pd: PD, reg: rp.Registry, pushed: dict[str, str],
                                                         tmp_path: Path) -> None:
    pd.ok("pull", "-q", pushed["oci"])
    target = f"{reg.host}/roundtrip/bb:2"
    pd.ok("tag", pushed["oci"], target)
    pd.ok("push", "-q", target)
    image_id = pd.store().get(target).id
    shutil.rmtree(pd.root / "images")
    pd.ok("pull", target)
    assert pd.store().get(target).id == image_id  # the same config, byte for byte


def test_tls_registry_with_ca_in_certs_d(pd: PD, treg: rp.Registry, ca: tuple[Path, tuple[Path, Path]],
                                         image: BuiltImage) -> None:
    rp.push_oci(image.oci, treg, "tls/bb:1")
    ref = f"{treg.host}/tls/bb:1"
    err = one_line_error(pd("pull", ref))  # loopback, but TLS that does not verify is not skipped
    assert "TLS certificate not trusted" in err and "certs.d" in err
    (pd.certs_d / treg.host).mkdir(parents=True)
    shutil.copy(ca[0], pd.certs_d / treg.host / "ca.crt")
    pd.ok("pull", ref)
    assert pd.store().get(ref).diff_ids


def test_basic_auth_pull_with_stored_credentials(pd: PD, areg: rp.Registry, image: BuiltImage) -> None:
    rp.push_oci(image.oci, areg, "private/bb:1", creds=f"{USER}:{PASSWORD}")
    ref = f"{areg.host}/private/bb:1"
    assert "authentication required" in one_line_error(pd("pull", ref))
    assert pd.stored()["configs"] == []
    pd.ok("login", "-u", USER, "--password-stdin", areg.host, input=PASSWORD)
    pd.ok("pull", ref)


def test_save_loads_back_and_is_docker_save_layout(pd: PD, pushed: dict[str, str], tmp_path: Path) -> None:
    pd.ok("pull", "-q", pushed["v2s2"])
    out = tmp_path / "saved.tar"
    pd.ok("save", "-o", str(out), pushed["v2s2"])
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
    [entry] = manifest
    assert entry["RepoTags"] == [pushed["v2s2"]] and entry["Config"] in names
    assert all(layer in names and layer.endswith("/layer.tar") for layer in entry["Layers"])
    image_id = pd.store().get(pushed["v2s2"]).id
    pd.ok("rmi", pushed["v2s2"])
    assert pd.stored()["layers"] == []
    assert f"Loaded image: {pushed['v2s2']}" in pd.ok("load", "-i", str(out))
    assert pd.store().get(pushed["v2s2"]).id == image_id
    assert "No such image" in one_line_error(pd("save", "-o", str(tmp_path / "x.tar"), "nosuch:1"))
    assert not (tmp_path / "x.tar").exists()


def test_prune_removes_untagged(pd: PD, pushed: dict[str, str]) -> None:
    pd.ok("pull", "-q", pushed["oci"])
    pd.ok("image", "bootstrap", "busybox") if os.path.exists("/bin/busybox") else None
    assert "Total reclaimed space: 0B" in pd.ok("image", "prune", "-f")
    out = pd.ok("image", "prune", "-a", "-f")
    assert "deleted: sha256:" in out and "untagged: " + pushed["oci"] in out
    assert pd.stored()["configs"] == [] and pd.stored()["layers"] == []


def test_registry_down_push(pd: PD, pushed: dict[str, str]) -> None:
    pd.ok("pull", "-q", pushed["oci"])
    port = rp.free_port()
    target = f"127.0.0.1:{port}/x/y:1"
    pd.ok("tag", pushed["oci"], target)
    assert "cannot reach the registry" in one_line_error(pd("push", target))
    assert httpx  # imported for the module's peers
