"""What the agent reads again at each scrape and what it keeps (issue 16, 1,000 containers).

Limits and weights are read once per container record: `pydock update` rewrites config.json after the
kernel took the new limits, and the next scrape shows them; nothing else re-reads them before
OWNED_SPEC_TTL_SECONDS. Counter files are read at every scrape. fds, sockets and task states are kept
for PROCESS_STATS_SECONDS unless the container's processes change.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydock.agent import parsers
from pydock.agent.cgroups import PROCESS_STATS_SECONDS
from pydock.agent.sampler import Sampler

from .conftest import CTR, FAKE, V2, Records, fixture_host, v2_paths

ID_A = "a" * 64
MIB = 1024 * 1024
SPEC_FILES = ("cpu.max", "cpu.weight", "memory.max", "memory.swap.max", "memory.min", "pids.max")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(parsers, "SPECS", parsers.SpecCache(clock=c))  # a fresh cache on a fake clock
    return c


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every file read through the agent's fd cache, by file name."""
    seen: Counter[str] = Counter()
    real = parsers.FILES.read

    def counting(path: str) -> bytes:
        seen[os.path.basename(path)] += 1
        return real(path)

    monkeypatch.setattr(parsers.FILES, "read", counting)
    yield seen


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    cg = tmp_path / "cg"
    shutil.copytree(V2, cg)
    return cg


def _sampler(records: Records, cg: Path, proc: Path | None = None) -> Sampler:
    host = fixture_host(cg)
    if proc is not None:
        host = type(host)(cgroup=host.cgroup, proc=proc, sys=host.sys, etc=host.etc, docker=None)
    return Sampler(records.root, host, cache_seconds=0, foreign=False, root=False)


def _update_memory(record_dir: Path, cgroup_dir: Path, limit: int) -> None:
    """What `pydock update --memory` does (runtime/resources.py): the kernel's file first, then config.json
    rewritten atomically."""
    (cgroup_dir / "memory.max").write_text(f"{limit}\n")
    config = json.loads((record_dir / "config.json").read_text())
    config["HostConfig"]["Memory"] = limit
    tmp = record_dir / "config.json.tmp"
    tmp.write_text(json.dumps(config))
    os.replace(tmp, record_dir / "config.json")


def _limit(sampler: Sampler) -> int | None:
    (e,) = sampler.snapshot().entries
    assert e.stats is not None and e.stats.memory is not None
    return e.stats.memory.limit


def test_spec_files_are_read_once_and_counters_every_scrape(records: Records, tree: Path, clock: Clock,
                                                            reads: Counter[str]) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(tree), pid=443)
    sampler = _sampler(records, tree)
    for _ in range(3):
        sampler.snapshot()
        clock.now += 60  # a minute between scrapes: far past the TTL a cgroup without a record gets
    assert {f: reads[f] for f in SPEC_FILES} == dict.fromkeys(SPEC_FILES, 1)
    assert reads["memory.stat"] == reads["cpu.stat"] == reads["io.stat"] == reads["memory.current"] == 3


def test_pydock_update_memory_shows_in_the_next_scrape(records: Records, tree: Path, clock: Clock) -> None:
    d = records.add(ID_A, "web", cgroup_paths=v2_paths(tree), pid=443)
    sampler = _sampler(records, tree)
    assert _limit(sampler) == 256 * MIB
    _update_memory(d, tree / CTR, 128 * MIB)
    assert _limit(sampler) == 128 * MIB  # the record changed: its limits are read again at once
    (tree / CTR / "memory.max").write_text(f"{64 * MIB}\n")  # behind pydock's back (echo > memory.max)
    clock.now += parsers.SPEC_TTL_SECONDS
    assert _limit(sampler) == 128 * MIB  # not seen until the backstop...
    clock.now += parsers.OWNED_SPEC_TTL_SECONDS
    assert _limit(sampler) == 64 * MIB  # ...OWNED_SPEC_TTL_SECONDS (docs/metrics.md)


def test_a_removed_container_forgets_its_limits(records: Records, tree: Path, clock: Clock) -> None:
    d = records.add(ID_A, "web", cgroup_paths=v2_paths(tree), pid=443)
    sampler = _sampler(records, tree)
    assert _limit(sampler) == 256 * MIB
    records.close()
    shutil.rmtree(d)
    assert sampler.snapshot().entries == ()
    (tree / CTR / "memory.max").write_text("max\n")  # a new container in the same cgroup path
    records.add(ID_A, "web", cgroup_paths=v2_paths(tree), pid=443)
    assert _limit(sampler) is None


def test_fds_and_task_states_are_kept_until_due_or_the_processes_change(records: Records, tree: Path,
                                                                         tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(FAKE / "proc", proc, symlinks=True)
    records.add(ID_A, "web", cgroup_paths=v2_paths(tree), pid=443)
    sampler = _sampler(records, tree, proc)
    now = [0.0]
    sampler.processes.clock = lambda: now[0]

    def figures() -> tuple[int, int, int]:
        (e,) = sampler.snapshot().entries
        assert e.stats is not None and e.stats.processes is not None
        p = e.stats.processes
        return p.processes, p.fds, p.task_states["running"]

    first = figures()
    assert first[0] == 2
    os.symlink("socket:[9999]", proc / "443/fd/7")
    stat = (proc / "447/stat").read_text()
    (proc / "447/stat").write_text(stat.replace(") S ", ") R ", 1) if ") S " in stat else stat.replace(") R ", ") S ", 1))
    now[0] += PROCESS_STATS_SECONDS / 2
    assert figures() == first  # same processes, younger than PROCESS_STATS_SECONDS: kept
    now[0] += PROCESS_STATS_SECONDS / 2
    second = figures()
    assert second[1] == first[1] + 1 and second[2] != first[2]  # due: walked again
    (tree / CTR / "cgroup.procs").write_text("443\n")  # a process ended: taken again at once
    (tree / CTR / "cgroup.threads").write_text("443\n")
    third = figures()
    assert third[0] == 1 and third[1] < second[1]
