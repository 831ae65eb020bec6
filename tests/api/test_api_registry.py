"""The real docker CLI and docker-py pull, push, tag, save, load and remove images through pydock's
Engine API, against Debian's docker-registry on loopback with an image umoci made and skopeo pushed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.root, pytest.mark.peer, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, regpeers: ModuleType) -> Iterator[tuple[ModuleType, str]]:
    rp = regpeers
    d = tmp_path_factory.mktemp("apireg")
    reg = rp.start_registry(d)
    try:
        extra = d / "extra"
        (extra / "x").mkdir(parents=True)
        (extra / "x" / "hello.txt").write_text("hello through the API\n")
        rp.push_oci(rp.umoci_image(d, [rp.busybox_rootfs(d), extra]), reg, "api/bb:1", fmt="v2s2")
        yield rp, reg.host
    finally:
        reg.stop()


def test_docker_pull_run_tag_push_save_load_rmi(api, registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rp, host = registry
    ref = f"{host}/api/bb:1"
    out = api.docker("pull", ref, timeout=120).stdout
    assert f"Status: Downloaded newer image for {ref}" in out and "Digest: sha256:" in out
    assert api.docker("run", "--rm", ref, "cat", "/x/hello.txt").stdout == "hello through the API\n"
    api.docker("tag", ref, f"{host}/api/copy:2")
    out = api.docker("push", f"{host}/api/copy:2", timeout=120).stdout
    assert "2: digest: sha256:" in out
    pushed = json.loads(rp.skopeo("inspect", "--tls-verify=false", f"docker://{host}/api/copy:2").stdout)
    assert pushed["Digest"].startswith("sha256:") and len(pushed["Layers"]) == 2
    archive = tmp_path / "saved.tar"
    api.docker("save", "-o", str(archive), f"{host}/api/copy:2")
    api.docker("rmi", f"{host}/api/copy:2", ref)
    tags = api.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert ref not in tags and f"{host}/api/copy:2" not in tags
    assert f"Loaded image: {host}/api/copy:2" in api.docker("load", "-i", str(archive)).stdout
    assert api.docker("run", "--rm", f"{host}/api/copy:2", "cat", "/x/hello.txt").stdout == "hello through the API\n"
    p = api.docker("pull", f"{host}/api/nosuch:1", check=False, timeout=60)
    assert p.returncode != 0 and "manifest unknown" in p.stderr


def test_dockerpy_images_pull(api, registry) -> None:  # type: ignore[no-untyped-def]
    docker = pytest.importorskip("docker")
    _, host = registry
    client = docker.DockerClient(base_url=f"unix://{api.sock}", version="auto", timeout=60)
    try:
        image = client.images.pull(f"{host}/api/bb", tag="1")
        assert f"{host}/api/bb:1" in image.tags
        assert client.images.get(f"{host}/api/bb:1").id == image.id
    finally:
        client.close()
