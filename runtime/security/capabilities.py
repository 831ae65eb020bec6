"""Capability names and the set a container gets: Docker's default, `--cap-add`/`--cap-drop`
(names with or without `CAP_`, any case, `ALL`), and `--privileged` (every capability the kernel has).

The result is the bounding set; for root it is also the effective and permitted set, for a non-root
`--user` those stay empty and the ambient set is cleared, as moby (20.10+) and runc do.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydock.errors import UsageError

# linux/capability.h, by number.
NAMES = ("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
         "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
         "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
         "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
         "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
         "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")
NUMBERS = {name: n for n, name in enumerate(NAMES)}
# moby's oci/caps/defaults.go.
DEFAULT = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
           "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP")


def last_cap(proc: str = "/proc") -> int:
    try:
        with open(f"{proc}/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def normalize(name: str, flag: str) -> str:
    """`net_admin`, `CAP_NET_ADMIN` -> `NET_ADMIN`; `all` -> `ALL`; unknown names refused."""
    n = name.strip().upper().removeprefix("CAP_")
    if n == "ALL":
        return n
    if n not in NUMBERS:
        raise UsageError(f"invalid {flag} value {name!r}: unknown capability CAP_{n}")
    return n


def client_form(cap_add: Iterable[str], cap_drop: Iterable[str]) -> tuple[list[str], list[str]]:
    """`--cap-add`/`--cap-drop` as the docker CLI sends them (docker/cli opts.EffectiveCapAddCapDrop):
    trimmed, upper case, `CAP_`-prefixed (`ALL` kept), `ALL` in a list trumps the rest of that list, a
    name in both lists is only added; each list sorted. The daemon stores what a client sent, so
    `inspect` shows `CAP_SYS_TIME` after `run --cap-add sys_time`, as with Docker."""
    def form(names: Iterable[str]) -> set[str]:
        out = {n.strip().upper() for n in names}
        out = {n if n == "ALL" or n.startswith("CAP_") else f"CAP_{n}" for n in out}
        return {"ALL"} if "ALL" in out else out

    add, drop = form(cap_add), form(cap_drop)
    return sorted(add), sorted(drop - add)


def effective_set(cap_add: Iterable[str] = (), cap_drop: Iterable[str] = (), privileged: bool = False,
                  kernel_last: int | None = None) -> list[str]:
    """The container's capabilities by name (without CAP_), as moby's caps.TweakCapabilities: drops
    apply to the defaults, adds win over drops, `ALL` in either means every capability."""
    top = last_cap() if kernel_last is None else kernel_last
    every = [n for n in NAMES if NUMBERS[n] <= top]
    if privileged:
        return every
    adds = [normalize(c, "--cap-add") for c in cap_add]
    drops = [normalize(c, "--cap-drop") for c in cap_drop]
    if "ALL" in adds:
        return [n for n in every if n not in drops]
    base = [] if "ALL" in drops else [n for n in DEFAULT if n not in drops]
    out = base + [n for n in adds if n not in base]
    return sorted((n for n in out if NUMBERS[n] <= top), key=NUMBERS.__getitem__)


def numbers(names: Iterable[str]) -> frozenset[int]:
    return frozenset(NUMBERS[n] for n in names)
