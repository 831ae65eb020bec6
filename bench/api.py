"""Engine API: `docker ps` and `docker logs --tail 100` through pydock's socket next to `pydock ps` / `pydock logs`.

Run as root: `bench/run api [--runs 20]`. Starts `pydock system service` on a private socket and
state root, makes 10 containers (one has logged 10,000 lines), then times each command `--runs`
times after a warm-up, the CLIs taking turns so load from elsewhere hits them alike, and prints the
API server's resident memory idle and after the runs. The peer is the real `docker` CLI talking to
pydock: the ratio is what a user of docker.sock pays against pydock's own CLI. Never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import median_ms, rss_mb, table, time_command


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    docker = shutil.which("docker")
    if docker is None:
        raise SystemExit("bench: the docker CLI is missing (scripts/setup-test-env installs it)")
    pydock = [str(Path(sys.executable).parent / "pydock")]
    tmp = Path(tempfile.mkdtemp(prefix="pydock-bench-api-"))
    run_dir = Path("/run") / f"pydock-bench-api-{os.getpid()}"
    sock = tmp / "docker.sock"
    env = {**os.environ, "PYDOCK_ROOT": str(tmp / "root"), "PYDOCK_RUN": str(run_dir),
           "PYDOCK_CONFIG": str(tmp / "daemon.json"), "DOCKER_HOST": f"unix://{sock}",
           "DOCKER_CONFIG": str(tmp / "docker-config")}
    subprocess.run([*pydock, "image", "bootstrap", "busybox"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([*pydock, "system", "service", "--host", f"unix://{sock}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        idle = rss_mb(server.pid)
        subprocess.run([*pydock, "run", "-d", "--name", "talker", "busybox", "sh", "-c",
                        "i=0; while [ $i -lt 10000 ]; do i=$((i+1)); echo line $i of the bench log; done; sleep 1d"],
                       env=env, check=True, capture_output=True)
        for i in range(9):
            subprocess.run([*pydock, "run", "-d", "--name", f"idle{i}", "busybox", "sleep", "1d"], env=env,
                           check=True, capture_output=True)
        for _ in range(100):
            out = subprocess.run([*pydock, "logs", "--tail", "1", "talker"], env=env, capture_output=True,
                                 text=True).stdout
            if "line 10000 " in out:
                break
            time.sleep(0.1)
        work = {
            "ps -a": (["ps", "-a"], ["ps", "-a"]),
            "logs --tail 100": (["logs", "--tail", "100", "talker"], ["logs", "--tail", "100", "talker"]),
            "inspect": (["inspect", "talker"], ["inspect", "talker"]),
        }
        rows = []
        for metric, (pd_args, dk_args) in work.items():
            pd_s: list[float] = []
            dk_s: list[float] = []
            for _ in range(args.runs):  # taking turns
                dk_s += time_command([docker, *dk_args], 1, env=env, warmup=0)
                pd_s += time_command([*pydock, *pd_args], 1, env=env, warmup=0)
            rows.append((metric, "ms", [median_ms(dk_s), median_ms(pd_s)]))
        busy = rss_mb(server.pid)
        print(table(f"Engine API ({args.runs} runs each, median)", ["docker->pydock API", "pydock CLI"], rows))
        print(f"API server RSS: idle {idle:.1f} MB, after the runs {busy:.1f} MB")
    finally:
        subprocess.run([*pydock, "rm", "-f", "talker", *[f"idle{i}" for i in range(9)]], env=env,
                       capture_output=True)
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
