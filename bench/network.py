"""Networking: `run --rm` latency with the bridge vs none (and podman's bridge), and throughput into a container over a published port vs its bridge IP.

Run as root: `bench/run network [--runs 15] [--mb 200] [--no-podman]`. pydock gets a bench-private
default bridge, subnet and nftables table (PYDOCK_BRIDGE, daemon.json bip, PYDOCK_NFT_TABLE), all
removed at the end. Latency: the median of `--runs` runs of `run --rm busybox true` with
`--network none` and with `--network bridge` (veth, IPAM, nft render, teardown), taking turns so
load from elsewhere hits them alike; podman (runc, private storage) runs the same rootfs with its
default bridge network when it is installable and has a network backend, else with none. Throughput:
`--mb` MB from the host through one TCP connection to `nc -l` in a container, over 127.0.0.1:PORT
(DNAT + route_localnet hairpin + masquerade) and over the container's bridge IP (plain forwarding):
the cost of publishing. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ensure_packages, median_ms, table, time_command
from start_latency import PODMAN_CONF, PODMAN_STORAGE, interleaved, pydock_cmd


def _send(target: tuple[str, int], mb: int) -> float:
    """MB/s of `mb` MiB sent to `target`, counted until the receiver closed (all of it arrived)."""
    chunk = b"x" * (1 << 20)
    for _ in range(50):
        try:
            s = socket.create_connection(target, timeout=10)
            break
        except OSError:
            time.sleep(0.1)
    else:
        raise SystemExit(f"bench: cannot connect to {target}")
    t0 = time.perf_counter()
    with s:
        for _ in range(mb):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    return mb / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: network needs root (namespaces, bridges, nftables)")
    d = Path(tempfile.mkdtemp(prefix="pydock-bench-net-"))
    run_dir = Path(f"/run/pydock-bench-{os.getpid()}")
    tag = os.getpid() % 100000
    (d / "daemon.json").write_text(json.dumps({"bip": "10.249.0.1/24"}))
    env = {**os.environ, "PYDOCK_ROOT": str(d / "root"), "PYDOCK_RUN": str(run_dir),
           "PYDOCK_CONFIG": str(d / "daemon.json"), "PYDOCK_BRIDGE": f"pdb{tag}", "PYDOCK_NFT_TABLE": f"pydock_bench_{tag}"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    pd = pydock_cmd()
    podman = None
    pod_env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(d / "storage.conf"), "CONTAINERS_CONF": str(d / "containers.conf")}
    try:
        subprocess.run([*pd, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        pod_note = "podman: skipped"
        if not args.no_podman:
            try:
                ensure_packages(("podman", "podman"), ("runc", "runc"))
                layer = next(p for p in (d / "root/images/layers").iterdir() if p.is_dir())
                subprocess.run(["cp", "-a", str(layer), str(d / "rootfs")], check=True)
                (d / "podman" / "tmp").mkdir(parents=True)
                (d / "storage.conf").write_text(PODMAN_STORAGE.format(d=d / "podman"))
                conf = PODMAN_CONF.format(d=d / "podman").replace('netns = "none"\n', "")
                (d / "containers.conf").write_text(conf)
                podman = ["podman", "--runtime", "runc", "run", "--rm", "--rootfs", str(d / "rootfs"), "true"]
                if subprocess.run(podman, env=pod_env, capture_output=True, check=False).returncode == 0:
                    pod_note = "podman: its default bridge network"
                else:
                    podman[5:5] = ["--network", "none"]
                    pod_note = "podman: no network backend here, so --network none"
                    if subprocess.run(podman, env=pod_env, capture_output=True, check=False).returncode != 0:
                        podman, pod_note = None, "podman: does not run here"
            except (subprocess.CalledProcessError, StopIteration, OSError) as exc:
                podman, pod_note = None, f"podman: not installable ({exc})"
        print(f"timing {args.runs} runs each (median after one warm-up); {pod_note} ...", file=sys.stderr)

        def one(argv: list[str], e: dict[str, str]) -> float:
            return time_command(argv, 1, e, warmup=0)[0]

        runners = [lambda: one([*pd, "run", "--rm", "--network", "bridge", "busybox", "true"], env),
                   lambda: one([*pd, "run", "--rm", "--network", "none", "busybox", "true"], env)]
        if podman:
            runners.append(lambda: one(podman, pod_env))  # type: ignore[arg-type]
        for r in runners:
            r()  # warm-up (the first bridged run also makes the bridge)
        samples = interleaved(args.runs, *runners)
        lat = [median_ms(s) for s in samples] + ([] if podman else [None])

        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = s.getsockname()[1]
        cid = subprocess.run([*pd, "run", "-d", "--network", "bridge", "-p", f"{port}:5001", "busybox", "sh", "-c",
                              "while :; do nc -l -p 5001 < /dev/null > /dev/null; done"],
                             env=env, check=True, capture_output=True, text=True).stdout.strip()
        ip = json.loads(subprocess.run([*pd, "inspect", cid], env=env, check=True, capture_output=True,
                                       text=True).stdout)[0]["NetworkSettings"]["IPAddress"]
        time.sleep(0.3)
        pub, direct = [], []
        for _ in range(3):
            pub.append(_send(("127.0.0.1", port), args.mb))
            time.sleep(0.2)
            direct.append(_send((ip, 5001), args.mb))
            time.sleep(0.2)
        subprocess.run([*pd, "rm", "-f", cid], env=env, check=True, stdout=subprocess.DEVNULL)
        print(table("run --rm busybox true (this host; noisy, for orientation only)",
                    ["pydock bridge", "pydock none", "podman"],
                    [("run --rm, median", "ms", lat)]))
        print()
        print(table(f"host -> container, {args.mb} MiB over one TCP connection, best of 3",
                    ["published 127.0.0.1:PORT", "bridge IP"],
                    [("throughput", "MB/s", [max(pub), max(direct)])]))
    finally:
        if podman:
            subprocess.run(["podman", "rm", "-af", "-t", "0"], env=pod_env, capture_output=True, check=False)
        ids = subprocess.run([*pd, "ps", "-aq"], env=env, capture_output=True, text=True, check=False).stdout.split()
        if ids:
            subprocess.run([*pd, "rm", "-f", *ids], env=env, capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", env["PYDOCK_BRIDGE"]], capture_output=True, check=False)
        subprocess.run(["nft", "delete", "table", "ip", env["PYDOCK_NFT_TABLE"]], capture_output=True, check=False)
        Path("/run/pydock-nft", env["PYDOCK_NFT_TABLE"]).unlink(missing_ok=True)  # runtime/network/nat.py's cache
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
