"""POST /build of the Engine API, driven by the real `docker` CLI's classic builder (DOCKER_BUILDKIT=0):
the tar context goes up, Docker's JSON stream comes back, the image runs with `pydock run`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def test_docker_cli_builds_through_the_api(pd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not os.path.exists(DOCKER):
        pytest.fail("the docker CLI is needed (scripts/setup-test-env installs it)")
    sock = Path(pd.env["PYDOCK_RUN"]) / "b.sock"
    proc = subprocess.Popen([sys.executable, "-m", "pydock", "system", "service", "--host", f"unix://{sock}"],
                            env=pd.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.02)
        env = {**pd.env, "DOCKER_HOST": f"unix://{sock}", "DOCKER_BUILDKIT": "0",
               "DOCKER_CONFIG": str(tmp_path / "docker-config")}
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox\nARG V=1\nCOPY a.txt /a.txt\nRUN echo \"built $V\" >> /a.txt\n"
                                        "CMD [\"cat\", \"/a.txt\"]\n")
        (ctx / "a.txt").write_text("ctx\n")
        p = subprocess.run([DOCKER, "build", "-t", "viaapi", "--build-arg", "V=2", str(ctx)], env=env,
                           capture_output=True, text=True, timeout=60, check=False)
        assert p.returncode == 0, p.stderr
        assert "Step 4/5 : RUN" in p.stdout and "Successfully tagged viaapi:latest" in p.stdout
        assert pd.out("run", "--rm", "viaapi").splitlines() == ["ctx", "built 2"]
        (ctx / "Dockerfile").write_text("FROM busybox\nRUN false\n")
        p = subprocess.run([DOCKER, "build", str(ctx)], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert p.returncode == 1 and "The command '/bin/sh -c false' returned a non-zero code: 1" in p.stderr
        assert pd.out("ps", "-a", "-q") == ""
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
