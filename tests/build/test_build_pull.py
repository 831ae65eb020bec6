"""FROM (and COPY --from) an image the store lacks: pulled from a registry first, as the classic
builder does; Debian's docker-registry on loopback holds an image umoci made and skopeo pushed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.root, pytest.mark.peer]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, regpeers: ModuleType) -> Iterator[str]:
    rp = regpeers
    d = tmp_path_factory.mktemp("buildreg")
    reg = rp.start_registry(d)
    try:
        extra = d / "extra"
        (extra / "etc").mkdir(parents=True)
        (extra / "etc" / "from-registry").write_text("pulled base\n")
        rp.push_oci(rp.umoci_image(d, [rp.busybox_rootfs(d), extra]), reg, "base/bb:1", fmt="v2s2")
        yield f"{reg.host}/base/bb:1"
    finally:
        reg.stop()


def test_from_a_missing_image_pulls_it(pd, ctx: Callable[[dict[str, str | bytes]], Path], base: str) -> None:  # type: ignore[no-untyped-def]
    d = ctx({"Dockerfile": f"FROM {base}\nRUN cat /etc/from-registry > /copied\n"
                           f"FROM busybox\nCOPY --from={base} /etc/from-registry /again\n"
                           "COPY --from=0 /copied /copied\n"})
    p = pd("build", "-t", "onpulled", str(d), timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Pull complete" in p.stdout and f"Status: Downloaded newer image for {base}" in p.stdout
    assert pd.out("run", "--rm", "onpulled", "cat", "/again", "/copied") == "pulled base\npulled base"
    again = pd("build", "-t", "onpulled", str(d), timeout=120)
    assert again.returncode == 0 and "Pull complete" not in again.stdout  # present now: not pulled
    forced = pd("build", "--pull", str(ctx({"Dockerfile": f"FROM {base}\nRUN true\n"})), timeout=120)
    assert forced.returncode == 0 and "Image is up to date" in forced.stdout
    missing = base.rsplit("/", 2)[0] + "/base/nosuch:1"
    p = pd("build", str(ctx({"Dockerfile": f"FROM {missing}\n"})), timeout=60)
    assert p.returncode == 1 and f"Unable to find image '{missing}' locally" in p.stderr
    assert "manifest unknown" in p.stderr and len(p.stderr.strip().splitlines()) == 1
