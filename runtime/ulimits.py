"""Applying rlimits to a container's process, in the child between fork and exec.

A process may lower its hard limit, and raise its soft limit up to the hard one; raising the hard
limit needs CAP_SYS_RESOURCE, which root on these hosts lacks (the sandbox drops it). So a requested
limit above the current hard limit is clamped to it rather than failing the container's start, and the
clamp is reported so the caller can say so.
"""

from __future__ import annotations

import errno
import resource

from pydock.daemon_config import ULIMIT_NAMES, Ulimit
from pydock.errors import RuntimeFailure


def _value(v: int) -> int:
    return resource.RLIM_INFINITY if v == -1 else v


def effective(u: Ulimit) -> tuple[tuple[int, int], str | None]:
    """The (soft, hard) pair that can be set now for `u`, and a note when it had to be clamped."""
    _, cur_hard = resource.getrlimit(ULIMIT_NAMES[u.name])
    soft, hard = _value(u.soft), _value(u.hard)
    note = None

    def above(a: int, b: int) -> bool:  # a > b, with RLIM_INFINITY as the largest value
        if b == resource.RLIM_INFINITY:
            return False
        return a == resource.RLIM_INFINITY or a > b

    if above(hard, cur_hard):
        note = f"ulimit {u.name}: hard limit {u.hard} is above this host's {cur_hard}; using {cur_hard}"
        hard = cur_hard
        if above(soft, hard):
            soft = hard
    return (soft, hard), note


def from_host_config(host_config: dict[str, object]) -> list[Ulimit]:
    """HostConfig.Ulimits (`[{"Name": "nofile", "Soft": 1024, "Hard": 2048}]`) as Ulimit values."""
    out = []
    for item in host_config.get("Ulimits") or []:  # type: ignore[attr-defined]
        out.append(Ulimit(str(item["Name"]), int(item["Soft"]), int(item["Hard"])))
    return out


def apply_in_child(host_config: dict[str, object], fail_fd: int) -> None:
    """The shim's hook in the container's process before container_init: set the container's
    ulimits; on failure report `125 <reason>` on the failure pipe, as container_init would, and exit."""
    import os

    try:
        apply(from_host_config(host_config))  # `run`/`create` already warned about clamped values
    except RuntimeFailure as exc:
        os.write(fail_fd, f"125 {exc}".encode())
        os._exit(125)


def apply(ulimits: list[Ulimit]) -> list[str]:
    """setrlimit for each; returns the notes of clamped values. Raises RuntimeFailure on refusal."""
    notes = []
    for u in ulimits:
        pair, note = effective(u)
        if note:
            notes.append(note)
        try:
            resource.setrlimit(ULIMIT_NAMES[u.name], pair)
        except (ValueError, OSError) as exc:
            code = getattr(exc, "errno", None)
            why = "not permitted" if code == errno.EPERM else str(exc)
            raise RuntimeFailure(f"cannot set ulimit {u.name}={u.soft}:{u.hard}: {why}") from exc
    return notes
