"""Images by pull_policy through the image room's pull(): a registry on loopback (Debian's
docker-registry) holding a busybox image made by umoci and pushed by skopeo."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.root, pytest.mark.peer]


def _regpeers() -> ModuleType:
    # The image tests' peers, loaded by path: tests/images is not on sys.path when only
    # tests/compose runs.
    path = Path(__file__).resolve().parent.parent / "images" / "regpeers.py"
    spec = importlib.util.spec_from_file_location("compose_regpeers", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    rp = _regpeers()
    for tool in ("docker-registry", "skopeo", "umoci"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/setup-test-env installs it")
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
