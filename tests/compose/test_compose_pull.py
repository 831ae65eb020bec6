"""Images by pull_policy through the image room's pull(): a registry on loopback (Debian's
docker-registry) holding a busybox image made by umoci and pushed by skopeo."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

pytestmark = [pytest.mark.root, pytest.mark.peer]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, regpeers: ModuleType) -> Iterator[str]:
    rp = regpeers
    d = tmp_path_factory.mktemp("creg")
    reg = rp.start_registry(d)
    try:
        oci = rp.umoci_image(d, [rp.busybox_rootfs(d)])
        rp.push_oci(oci, reg, "tools/bb:1")
        yield reg.host
    finally:
        reg.stop()


def test_missing_image_is_pulled_then_kept(pc, registry: str) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text(
        f"services:\n  job:\n    image: {registry}/tools/bb:1\n    command: [echo, pulled]\n")
    out = pc("compose", "up", "-d")
    assert f"Image {registry}/tools/bb:1  Pulled" in out.stderr
    rt = pc.runtime()
    rec = rt.store.get("proj-job-1")
    assert rec.image_id == rt.images.resolve(f"{registry}/tools/bb:1")
    again = pc("compose", "up", "-d")
    assert "Pulled" not in again.stderr  # present now: `missing` does not pull again
    assert "Pulled" in pc("compose", "pull").stderr
    pc("compose", "down", "--rmi", "all")
    assert rt.store.list() == []
    with pytest.raises(Exception):  # noqa: B017 - NotFoundError: --rmi all removed it
        rt.images.resolve(f"{registry}/tools/bb:1")


def test_never_and_unknown_image(pc, registry: str) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text(
        f"services:\n  job:\n    image: {registry}/tools/bb:1\n    pull_policy: never\n")
    p = pc("compose", "up", "-d", check=False)
    assert p.returncode != 0 and "pull_policy: never" in p.stderr
    (pc.cwd / "compose.yaml").write_text(f"services:\n  job:\n    image: {registry}/tools/nope:1\n")
    p = pc("compose", "up", "-d", check=False)
    assert p.returncode != 0 and "services.job.image" in p.stderr, p.stderr
    assert pc.runtime().store.list() == []
