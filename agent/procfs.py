"""Figures from /proc for the processes of one cgroup: counts, task states, fds, sockets, network.

Processes come and go while we read: a pid that vanished between cgroup.procs and /proc is skipped,
not an error. A file that exists but does not parse is an error that names it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .parsers import CgroupParseError, read_optional, read_text, unchanged
from .stats import TASK_STATES, NetInterface, ProcessStats

# cAdvisor leaves these out of container network stats (container/libcontainer/handler.go).
IGNORED_INTERFACE_PREFIXES = ("lo", "veth", "docker", "nerdctl")

# /proc/PID/stat state letter -> cAdvisor's container_tasks_state label (the kernel's cgroupstats
# buckets). Zombies (Z), dead (X) and idle kernel threads (I) are in no bucket there either.
_STATE_OF = {"R": "running", "S": "sleeping", "D": "uninterruptible", "T": "stopped", "t": "stopped"}


def pid_list(text: str, path: str) -> list[int]:
    try:
        return [int(x) for x in text.split()]
    except ValueError:
        raise CgroupParseError(path, "expected one pid a line") from None


def process_stats(proc: Path, pids: list[int], tids: list[int]) -> ProcessStats:
    """`pids` from cgroup.procs, `tids` from tasks (v1) or cgroup.threads (v2)."""
    states = dict.fromkeys(TASK_STATES, 0)
    threads = 0
    proc_s = str(proc)
    for tid in tids:
        path = f"{proc_s}/{tid}/stat"
        try:
            text = read_text(path)
        except (FileNotFoundError, ProcessLookupError):
            continue
        except OSError as exc:
            raise CgroupParseError(path, exc.strerror or str(exc)) from exc
        threads += 1
        end = text.rfind(")")  # the command name may itself hold spaces and parentheses
        if end < 0 or end + 2 >= len(text):
            raise CgroupParseError(path, "no state field after the command name")
        bucket = _STATE_OF.get(text[end + 2])
        if bucket is not None:
            states[bucket] += 1
    fds = 0
    sockets = 0
    for pid in pids:
        fd_dir = f"{proc_s}/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except (FileNotFoundError, ProcessLookupError):
            continue
        except OSError as exc:
            raise CgroupParseError(fd_dir, exc.strerror or str(exc)) from exc
        fds += len(names)
        for name in names:
            try:
                if os.readlink(f"{fd_dir}/{name}").startswith("socket:"):
                    sockets += 1
            except OSError:  # closed since listdir
                continue
    return ProcessStats(processes=len(pids), threads=threads, fds=fds, sockets=sockets, task_states=states)


@unchanged
def parse_net_dev(text: str, path: str) -> tuple[NetInterface, ...]:
    """/proc/PID/net/dev: two header lines, then `iface: rx(8 fields) tx(8 fields)`."""
    out = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            raise CgroupParseError(path, f"expected 'iface: counters', got {line[:60]!r}")
        name = name.strip()
        if name.lower().startswith(IGNORED_INTERFACE_PREFIXES):
            continue
        f = rest.split()
        if len(f) < 16:
            raise CgroupParseError(path, f"interface {name!r} has {len(f)} fields, expected 16")
        try:  # only the eight counters cAdvisor exports: rx and tx bytes, packets, errs, drop
            out.append(NetInterface(name, *map(int, f[0:4] + f[8:12])))
        except ValueError:
            raise CgroupParseError(path, f"interface {name!r} has a non-integer counter") from None
    out.sort(key=lambda i: i.name)
    return tuple(out)


def network_stats(proc: Path, pid: int) -> tuple[NetInterface, ...]:
    """Interfaces of `pid`'s network namespace; () when the process is gone."""
    path = f"{proc}/{pid}/net/dev"
    text = read_optional(path)
    if text is None:
        return ()
    return parse_net_dev(text, path)
