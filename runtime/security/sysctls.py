"""`--sysctl KEY=VALUE`: only the namespaced sysctls Docker (runc's validator) allows, written to the
container's own /proc/sys after pivot_root and before /proc/sys is made read-only.

IPC ones (`kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`) live in the container's IPC
namespace; `net.*` in its network namespace, so they are refused with `--network host`, where they
would change the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydock.errors import UsageError

IPC = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                 "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})


def parse(items: Iterable[str], network: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().replace("/", ".")
        if not eq or not key:
            raise UsageError(f"invalid --sysctl {item!r}: expected KEY=VALUE")
        out[key] = value
    check(out, network)
    return out


def check(sysctls: Mapping[str, str], network: str) -> None:
    for key in sysctls:
        if key in IPC or key.startswith("fs.mqueue."):
            continue
        if key.startswith("net."):
            if network == "host":
                raise UsageError(f"sysctl {key!r} is not allowed in the host's network namespace")
            continue
        raise UsageError(f"sysctl {key!r} is not allowed: only namespaced sysctls (net.*, kernel.msg*, "
                         "kernel.sem, kernel.shm*, fs.mqueue.*) can be set in a container")


def apply(sysctls: Mapping[str, str], proc: str = "/proc") -> None:
    """Writes each value; a key this kernel lacks is an error naming it (nothing is silently dropped)."""
    for key, value in sysctls.items():
        path = f"{proc}/sys/{key.replace('.', '/')}"
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            from pydock.errors import RuntimeFailure

            raise RuntimeFailure(f"setting sysctl {key}={value}: {exc.strerror}") from None
