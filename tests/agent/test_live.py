"""Live correctness: real cgroups on this host with processes we spawn, read by the agent.

These make cgroups under /sys/fs/cgroup/<controller>/pydock-agent-test/, so they need root. Each
process is registered as a pydock container record (with its shim lock held), so the agent reads it
exactly as it reads a container started by `pydock run`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydock.agent.exporter import collect_series
from pydock.agent.exposition import render_text
from pydock.agent.sampler import Sampler

from .conftest import Records
from .live import LiveCgroup

pytestmark = pytest.mark.root
MIB = 1024 * 1024
CID = "d" * 64

# Waits for a line on stdin, then does its work, then reports and sleeps until killed.
HOLD_100M = "import sys,time; print('ready',flush=True); sys.stdin.readline(); " \
            "b=bytearray(b'x')*(100*1024*1024); print('held',flush=True); time.sleep(600)"
SPIN_3S = "import sys,time; print('ready',flush=True); sys.stdin.readline(); " \
          "t=time.process_time()\nwhile time.process_time()-t<3.0: pass\nprint('done',flush=True); time.sleep(600)"


@pytest.fixture
def cgroup() -> Iterator[LiveCgroup]:
    cg = LiveCgroup()
    try:
        yield cg
    finally:
        cg.close()


def _sample(records: Records, name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    sampler = Sampler(records.root, cache_seconds=0, foreign=False, root=False)
    snap = sampler.snapshot()
    assert snap.errors == ()
    text = render_text(collect_series(snap)).decode()
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("id", "image", "name")))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples if s.labels.get("name") == name}


def _start(cg: LiveCgroup, records: Records, name: str, code: str) -> subprocess.Popen[bytes]:
    p = cg.spawn([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    records.add(CID, name, cgroup_paths=cg.paths, pid=p.pid)
    return p


def _step(p: subprocess.Popen[bytes], expect: bytes) -> None:
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(b"go\n")
    p.stdin.flush()
    assert p.stdout.readline() == expect


def test_working_set_of_100_mib(cgroup: LiveCgroup, records: Records) -> None:
    p = _start(cgroup, records, "hold", HOLD_100M)
    before = _sample(records, "hold")[("container_memory_working_set_bytes", ())]
    _step(p, b"held\n")
    after = _sample(records, "hold")
    grown = after[("container_memory_working_set_bytes", ())] - before
    assert abs(grown - 100 * MIB) < 10 * MIB, grown
    usage_file = int(cgroup.file("memory" if "memory" in cgroup.paths else "unified",
                                 "memory.usage_in_bytes" if "memory" in cgroup.paths else "memory.current"))
    assert abs(after[("container_memory_usage_bytes", ())] - usage_file) < 2 * MIB


def test_busy_loop_adds_three_cpu_seconds(cgroup: LiveCgroup, records: Records) -> None:
    p = _start(cgroup, records, "spin", SPIN_3S)

    def cpu_seconds() -> float:
        s = _sample(records, "spin")
        return sum(v for (n, _), v in s.items() if n == "container_cpu_usage_seconds_total")

    before = cpu_seconds()
    _step(p, b"done\n")
    added = cpu_seconds() - before
    assert 2.5 <= added <= 3.5, added


def test_direct_writes_show_in_fs_writes(cgroup: LiveCgroup, records: Records, block_dir: Path) -> None:
    if "blkio" in cgroup.paths:  # v1 counts bios only under a throttle rule: set them as pydock run does
        from pydock.runtime.cgroups.v1 import enable_io_accounting

        enable_io_accounting(Path(cgroup.paths["blkio"]))
    p = _start(cgroup, records, "dd", "import sys; print('ready',flush=True); sys.stdin.readline(); "
               f"import subprocess; subprocess.run(['dd','if=/dev/zero','of={block_dir}/f','bs=1M','count=32',"
               "'oflag=direct'],check=True,capture_output=True); print('done',flush=True); "
               "import time; time.sleep(600)")
    _step(p, b"done\n")
    s = _sample(records, "dd")
    writes = {labels: v for (n, labels), v in s.items() if n == "container_fs_writes_bytes_total"}
    assert writes, "no container_fs_writes_bytes_total series"
    assert max(writes.values()) >= 32 * MIB, writes


def test_memory_limit_is_the_spec_limit(records: Records) -> None:
    cg = LiveCgroup()
    try:
        ctrl, file = ("memory", "memory.limit_in_bytes") if "memory" in cg.paths else ("unified", "memory.max")
        Path(cg.paths[ctrl], file).write_text(str(64 * MIB))
        _start(cg, records, "limited", "import sys,time; print('ready',flush=True); time.sleep(600)")
        s = _sample(records, "limited")
        assert s[("container_spec_memory_limit_bytes", ())] == 64 * MIB
    finally:
        cg.close()


def test_pydock_stats_reads_without_an_agent(cgroup: LiveCgroup, records: Records) -> None:
    p = _start(cgroup, records, "statme", HOLD_100M)
    _step(p, b"held\n")
    env = {**os.environ, "PYDOCK_ROOT": str(records.root)}
    out = subprocess.run([sys.executable, "-m", "pydock", "stats", "--no-stream", "--format", "json"],
                         env=env, capture_output=True, timeout=60, check=True).stdout.decode()
    rows = [json.loads(line) for line in out.splitlines()]
    (row,) = [r for r in rows if r["Name"] == "statme"]
    assert row["ID"] == CID[:12] and row["PIDs"] == "1"
    usage = row["MemUsage"].split(" / ")[0]
    assert usage.endswith("MiB") and 95 <= float(usage[:-3]) <= 130, row
    table = subprocess.run([sys.executable, "-m", "pydock", "stats", "--no-stream", "statme"], env=env,
                           capture_output=True, timeout=60, check=True).stdout.decode().splitlines()
    assert table[0].startswith("CONTAINER ID   NAME") and table[1].startswith(CID[:12])
