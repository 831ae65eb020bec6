"""Shared pieces of the benchmarks: timing commands, medians, RSS, peers installed on demand, and
the comparison table with ratios."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def time_command(argv: Sequence[str], runs: int, env: dict[str, str] | None = None, warmup: int = 1,
                 check: bool = True) -> list[float]:
    """Wall seconds of `runs` executions of `argv` (after `warmup` unmeasured ones)."""
    out = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        p = subprocess.run(list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        dt = time.perf_counter() - t0
        if check and p.returncode != 0:
            raise SystemExit(f"bench: {' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
        if i >= warmup:
            out.append(dt)
    return out


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def podman_env(d: Path, storage: str, conf: str) -> dict[str, str]:
    """The environment for podman with private storage and configuration under `d` (`storage` and
    `conf` are templates taking `{d}`): this host's hybrid cgroups need both (PEERS.md)."""
    (d / "podman" / "tmp").mkdir(parents=True, exist_ok=True)
    (d / "storage.conf").write_text(storage.format(d=d / "podman"))
    (d / "containers.conf").write_text(conf.format(d=d / "podman"))
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(d / "storage.conf"), "CONTAINERS_CONF": str(d / "containers.conf")}


def ensure_packages(*commands_packages: tuple[str, str]) -> None:
    """Installs the Debian package of each missing command (the peers: podman, crun, conmon)."""
    missing = [pkg for cmd, pkg in commands_packages if shutil.which(cmd) is None]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True)


def table(title: str, columns: Sequence[str], rows: Sequence[tuple[str, str, Sequence[float | None]]]) -> str:
    """Rows of (metric, unit, values per column); adds `pydock/<peer>` ratio columns (first column is pydock)."""
    head = ["metric", *columns, *[f"{columns[0]}/{c}" for c in columns[1:]]]
    body = []
    for metric, unit, values in rows:
        cells = [f"{metric} ({unit})"]
        cells += ["-" if v is None else f"{v:.1f}" for v in values]
        base = values[0]
        for v in values[1:]:
            cells.append("-" if base is None or not v else f"{base / v:.2f}x")
        body.append(cells)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [title, "  ".join(h.ljust(widths[i]) for i, h in enumerate(head)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) for r in body]
    return "\n".join(lines)
