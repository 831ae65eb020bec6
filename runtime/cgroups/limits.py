"""A container's resource limits in Docker's units, parsed from Docker's flags and checked against
the kernel's ranges before anything is made.

Units (those of Docker's HostConfig): bytes for memory, nano-CPUs for `--cpus` (1e9 is one CPU), the
v1 share count for `--cpu-shares`, a kernel CPU list for `--cpuset-cpus`. `0` (or `""`) means unset;
`UNLIMITED` (-1) means no limit, written as `max` (v2) or `-1` (v1) to the kernel.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final

from pydock.errors import UsageError
from pydock.units import ram_bytes

from . import fs

UNLIMITED: Final = -1

# Docker's floor for a memory limit and reservation (linuxMinMemory): below it a container cannot start.
MIN_MEMORY: Final = 6 * 1024 * 1024
# The kernel's page counters are signed 64-bit; larger values overflow.
MAX_MEMORY: Final = 2**63 - 1
# cpu.shares: the kernel's MIN_SHARES and MAX_SHARES (1 << 18).
MIN_SHARES: Final = 2
MAX_SHARES: Final = 262144
# CFS bandwidth: the period pydock uses (Docker's), and the kernel's minimum quota of 1 ms.
CPU_PERIOD_US: Final = 100_000
MIN_QUOTA_US: Final = 1000
# blkio weight: Docker's range (the kernel's bfq accepts 1-1000, CFQ accepted 10-1000).
MIN_BLKIO_WEIGHT: Final = 10
MAX_BLKIO_WEIGHT: Final = 1000

# Limits field -> HostConfig key of Docker's inspect.
_HOST_CONFIG_KEYS: Final = {
    "memory": "Memory",
    "memory_swap": "MemorySwap",
    "memory_reservation": "MemoryReservation",
    "nano_cpus": "NanoCpus",
    "cpu_shares": "CpuShares",
    "cpuset_cpus": "CpusetCpus",
    "pids_limit": "PidsLimit",
    "blkio_weight": "BlkioWeight",
}


@dataclass(frozen=True)
class Limits:
    memory: int = 0
    memory_swap: int = 0
    memory_reservation: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    pids_limit: int = 0
    blkio_weight: int = 0

    @property
    def cpu_quota_us(self) -> int:
        """CFS quota for `nano_cpus` with Docker's 100 ms period: --cpus 0.5 is 50000."""
        return self.nano_cpus * CPU_PERIOD_US // 1_000_000_000

    def is_empty(self) -> bool:
        return self == Limits()

    def merged(self, update: Limits) -> Limits:
        """These limits with every field that `update` sets replaced (what `pydock update` does)."""
        changes = {f.name: getattr(update, f.name) for f in fields(update) if getattr(update, f.name)}
        return replace(self, **changes)

    def to_host_config(self) -> dict[str, Any]:
        return {_HOST_CONFIG_KEYS[k]: v for k, v in asdict(self).items()}

    @classmethod
    def from_host_config(cls, host_config: dict[str, Any]) -> Limits:
        kwargs: dict[str, Any] = {}
        for name, key in _HOST_CONFIG_KEYS.items():
            value = host_config.get(key)
            if value is not None:
                kwargs[name] = str(value) if name == "cpuset_cpus" else int(value)
        return cls(**kwargs)


def parse_cpus(text: str) -> int:
    """`--cpus 1.5` -> 1500000000 nano-CPUs, refusing more precision than a nano-CPU, as Docker does."""
    from decimal import Decimal, InvalidOperation  # here: the shim never parses flags

    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise UsageError(f"invalid argument {text!r} for --cpus: not a number") from exc
    nano = value * 1_000_000_000
    if nano != nano.to_integral_value():
        raise UsageError(f"invalid argument {text!r} for --cpus: value is too precise")
    return int(nano)


def _int_flag(text: str | int, flag: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise UsageError(f"invalid argument {text!r} for {flag}: not an integer") from exc


def limits_from_flags(
    memory: str | None = None,
    memory_swap: str | None = None,
    memory_reservation: str | None = None,
    cpus: str | None = None,
    cpu_shares: str | int | None = None,
    cpuset_cpus: str | None = None,
    pids_limit: str | int | None = None,
    blkio_weight: str | int | None = None,
) -> Limits:
    """Docker's flag strings (`-m 32m`, `--memory-swap -1`, `--cpus 0.5`, ...) as `Limits`; not validated."""
    kwargs: dict[str, Any] = {}
    if memory:
        kwargs["memory"] = ram_bytes(memory, "--memory")
    if memory_swap:
        kwargs["memory_swap"] = UNLIMITED if memory_swap.strip() == "-1" else ram_bytes(memory_swap, "--memory-swap")
    if memory_reservation:
        kwargs["memory_reservation"] = ram_bytes(memory_reservation, "--memory-reservation")
    if cpus:
        kwargs["nano_cpus"] = parse_cpus(cpus)
    if cpu_shares not in (None, ""):
        kwargs["cpu_shares"] = _int_flag(cpu_shares, "--cpu-shares")  # type: ignore[arg-type]
    if cpuset_cpus:
        kwargs["cpuset_cpus"] = cpuset_cpus.strip()
    if pids_limit not in (None, ""):
        kwargs["pids_limit"] = _int_flag(pids_limit, "--pids-limit")  # type: ignore[arg-type]
    if blkio_weight not in (None, ""):
        kwargs["blkio_weight"] = _int_flag(blkio_weight, "--blkio-weight")  # type: ignore[arg-type]
    return Limits(**kwargs)


def with_docker_defaults(limits: Limits) -> Limits:
    """Docker's daemon gives a container with `-m` and no `--memory-swap` as much swap as memory."""
    if limits.memory > 0 and limits.memory_swap == 0:
        return replace(limits, memory_swap=2 * limits.memory)
    return limits


def _online_cpus() -> set[int]:
    try:
        return fs.parse_cpu_list(open("/sys/devices/system/cpu/online").read())
    except (OSError, ValueError):
        return set(range(os.cpu_count() or 1))


def validate(limits: Limits, ncpu: int | None = None, available_cpus: set[int] | None = None) -> None:
    """Refuse values outside the kernel's (and Docker's) ranges, with Docker's reasons.

    `ncpu` bounds `--cpus`, `available_cpus` bounds `--cpuset-cpus`; both default to this host's.
    """
    mem, swap, res = limits.memory, limits.memory_swap, limits.memory_reservation
    if mem < 0 and mem != UNLIMITED:
        raise UsageError(f"invalid --memory {mem}: must be a positive size")
    if mem > MAX_MEMORY or swap > MAX_MEMORY or res > MAX_MEMORY:
        raise UsageError("memory values must be below 8 EiB (the kernel's page counters are 64-bit)")
    if 0 < mem < MIN_MEMORY:
        raise UsageError("Minimum memory limit allowed is 6MB")
    if swap < UNLIMITED:
        raise UsageError(f"invalid --memory-swap {swap}: use a size, or -1 for unlimited swap")
    if swap > 0 and mem <= 0:
        raise UsageError("You should always set the Memory limit when using Memoryswap limit, see usage")
    if swap > 0 and swap < mem:
        raise UsageError("Minimum memoryswap limit should be larger than memory limit, see usage")
    if res < 0:
        raise UsageError(f"invalid --memory-reservation {res}: must be a positive size")
    if 0 < res < MIN_MEMORY:
        raise UsageError("Minimum memory reservation allowed is 6MB")
    if mem > 0 and res > 0 and mem < res:
        raise UsageError("Minimum memory limit can not be less than memory reservation limit, see usage")

    if limits.nano_cpus:
        n = ncpu if ncpu is not None else len(_online_cpus())
        if limits.nano_cpus < 0 or limits.nano_cpus > n * 1_000_000_000 or limits.cpu_quota_us < MIN_QUOTA_US:
            raise UsageError(f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available")
    if limits.cpu_shares and not MIN_SHARES <= limits.cpu_shares <= MAX_SHARES:
        raise UsageError(
            f"invalid --cpu-shares {limits.cpu_shares}: the kernel's range is {MIN_SHARES} to {MAX_SHARES}"
        )
    if limits.cpuset_cpus:
        try:
            wanted = fs.parse_cpu_list(limits.cpuset_cpus)
        except ValueError as exc:
            raise UsageError(f"Invalid value {limits.cpuset_cpus} for cpuset cpus: {exc}") from exc
        avail = available_cpus if available_cpus is not None else _online_cpus()
        if not wanted <= avail:
            raise UsageError(
                f"Requested CPUs are not available - requested {limits.cpuset_cpus}, "
                f"available: {fs.format_cpu_list(avail)}"
            )
    if limits.pids_limit < UNLIMITED:
        raise UsageError(f"invalid --pids-limit {limits.pids_limit}: use a positive number, or -1 for unlimited")
    if limits.blkio_weight and not MIN_BLKIO_WEIGHT <= limits.blkio_weight <= MAX_BLKIO_WEIGHT:
        raise UsageError(f"Range of blkio weight is from {MIN_BLKIO_WEIGHT} to {MAX_BLKIO_WEIGHT}")
