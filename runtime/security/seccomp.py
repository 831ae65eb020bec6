"""Seccomp: Docker's JSON profile format, its default profile, and the filter built from it.

The default profile is moby's `profiles/seccomp/default.json` (Apache-2.0), shipped unchanged in
meaning as `seccomp_default.json`: default action ERRNO(EPERM), an allow-list by name, rules that only
apply with a capability in the bounding set (`includes.caps`) or on an architecture, argument
filters on clone/personality/socket, and clone3 answering ENOSYS so glibc falls back to clone.

The filter is built with libseccomp through its Python binding. Preferred: Debian's python3-seccomp
(libseccomp's own Cython binding, 0.4 ms to import), loaded from the system's dist-packages when this
interpreter has the same ABI; else `pyseccomp` (ctypes over libseccomp2, same API, but it finds the
library through ctypes.util.find_library, which runs ldconfig: ~15 ms on every container start).
bench/seccomp.py measures both.

The container's init builds the filter before pivot_root (the library and its module must be loaded
from the host's tree) and loads it just before execve; the generated program is kept between starts
by seccomp_cache.py.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pydock.errors import RuntimeFailure, UsageError

DEFAULT_PROFILE = Path(__file__).with_name("seccomp_default.json")
UNCONFINED = "unconfined"
BUILTIN = "builtin"
_EPERM = 1
_ACTIONS = {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG"}
_OPS = {"SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ",
        "SCMP_CMP_GE": "GE", "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ"}
# uname -m -> Go's GOARCH, the names a profile's includes/excludes.arches use.
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64", "mips64el": "mips64le"}


def binding() -> ModuleType:
    """libseccomp's Python module: Debian's python3-seccomp if it fits this interpreter, else pyseccomp."""
    try:
        return importlib.import_module("seccomp")
    except ImportError:
        pass
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]  # .cpython-311-x86_64-linux-gnu.so
    dist = Path("/usr/lib/python3/dist-packages")
    if (dist / f"seccomp{suffix}").exists():
        loader = importlib.machinery.ExtensionFileLoader("seccomp", str(dist / f"seccomp{suffix}"))
        spec = importlib.machinery.ModuleSpec("seccomp", loader, origin=loader.path)
        try:
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
            sys.modules["seccomp"] = mod
            return mod
        except ImportError:
            pass
    try:
        return importlib.import_module("pyseccomp")
    except (ImportError, OSError) as exc:
        raise RuntimeFailure("seccomp needs libseccomp's Python binding: apt-get install python3-seccomp "
                             f"(or pip install pyseccomp): {exc}") from None


def goarch(machine: str | None = None) -> str:
    m = machine or os.uname().machine
    return _GOARCH.get(m, m)


def read_profile(source: str) -> dict[str, Any] | None:
    """The profile named by `--security-opt seccomp=...`/daemon.json: `builtin` (or ""), `unconfined`
    (None), or a path to Docker's JSON format. Checked here, so a bad profile stops `create`."""
    if source in ("", BUILTIN):
        return json.loads(DEFAULT_PROFILE.read_text())
    if source == UNCONFINED:
        return None
    try:
        text = Path(source).read_text()
    except OSError as exc:
        raise UsageError(f"opening seccomp profile ({source}) failed: {exc.strerror}") from None
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"decoding seccomp profile ({source}) failed: {exc}") from None
    validate(profile, source)
    return profile


def validate(profile: Any, source: str = "profile") -> None:
    if not isinstance(profile, dict):
        raise UsageError(f"seccomp profile {source}: must be a JSON object")
    if profile.get("defaultAction") not in _ACTIONS:
        raise UsageError(f"seccomp profile {source}: invalid defaultAction {profile.get('defaultAction')!r}")
    if "archMap" in profile and "architectures" in profile:
        raise UsageError(f"seccomp profile {source}: use either 'architectures' or 'archMap'")
    for i, call in enumerate(profile.get("syscalls") or []):
        where = f"seccomp profile {source}: syscalls[{i}]"
        if not isinstance(call, dict):
            raise UsageError(f"{where}: must be an object")
        names = call.get("names") or ([call["name"]] if call.get("name") else [])
        if not names or not all(isinstance(n, str) for n in names):
            raise UsageError(f"{where}: needs 'names', a list of syscall names")
        if call.get("action") not in _ACTIONS:
            raise UsageError(f"{where}: invalid action {call.get('action')!r}")
        for a in call.get("args") or []:
            if not isinstance(a, dict) or a.get("op") not in _OPS or not isinstance(a.get("index"), int) \
                    or not 0 <= a["index"] <= 5:
                raise UsageError(f"{where}: invalid argument filter {a!r}")


def _kernel() -> tuple[int, int]:
    parts = os.uname().release.split(".")
    return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def applicable_rules(profile: dict[str, Any], caps: set[str], arch: str | None = None) -> list[dict[str, Any]]:
    """The profile's rules that hold for this container, as moby's setupSeccomp picks them: dropped if
    an excluded arch/cap matches or the kernel is new enough, or if an included one is missing."""
    arch = arch or goarch()
    kernel = _kernel()
    out = []
    for call in profile.get("syscalls") or []:
        exc, inc = call.get("excludes") or {}, call.get("includes") or {}
        if arch in (exc.get("arches") or []) or any(c in caps for c in exc.get("caps") or []):
            continue
        if exc.get("minKernel") and kernel >= _version(exc["minKernel"]):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if not all(c in caps for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and kernel < _version(inc["minKernel"]):
            continue
        out.append(call)
    return out


@dataclass
class Filter:
    """A built, not yet loaded filter; `load()` installs it on the calling thread."""

    ctx: Any
    rules: int

    def load(self) -> None:
        try:
            self.ctx.load()
        except OSError as exc:
            raise RuntimeFailure(f"loading the seccomp filter: {exc.strerror or exc}") from None


def _action(sc: ModuleType, name: str, errno_ret: int | None, default_errno: int) -> int:
    if name == "SCMP_ACT_ALLOW":
        return sc.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(errno_ret if errno_ret is not None else default_errno)
    if name == "SCMP_ACT_TRACE":
        return sc.TRACE(errno_ret if errno_ret is not None else default_errno)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return sc.KILL
    if name == "SCMP_ACT_KILL_PROCESS":
        return sc.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return sc.TRAP
    return sc.LOG


def build(profile: dict[str, Any], caps: set[str], no_new_privs: bool) -> Filter:
    """libseccomp's filter for `profile` given the container's bounding capabilities (names with
    CAP_). Unknown syscall names are skipped, as runc does (a profile names syscalls of every arch)."""
    sc = binding()
    default_errno = int(profile.get("defaultErrnoRet") or _EPERM)
    ctx = sc.SyscallFilter(_action(sc, profile["defaultAction"], None, default_errno))
    # libseccomp would set no_new_privs itself on load; that is --security-opt no-new-privileges' call.
    ctx.set_attr(sc.Attr.CTL_NNP, 1 if no_new_privs else 0)
    native = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "s390x": "SCMP_ARCH_S390X",
              "riscv64": "SCMP_ARCH_RISCV64", "ppc64le": "SCMP_ARCH_PPC64LE"}.get(os.uname().machine, "")
    arches = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            arches += [native, *(entry.get("subArchitectures") or [])]
    for name in arches:
        arch = getattr(sc.Arch, name.removeprefix("SCMP_ARCH_"), None)
        if arch is not None and name != native:
            try:
                ctx.add_arch(arch)
            except OSError:  # the kernel or libseccomp lacks it
                pass
    rules = 0
    for call in applicable_rules(profile, caps):
        action = _action(sc, call["action"], call.get("errnoRet"), default_errno)
        raw = call.get("args") or []
        args = [sc.Arg(a["index"], getattr(sc, _OPS[a["op"]]), int(a.get("value", 0)), int(a.get("valueTwo", 0)))
                for a in raw]
        # Several comparisons of one argument cannot share a rule in libseccomp: one rule each (runc).
        groups = [args] if len({a["index"] for a in raw}) == len(raw) else [[a] for a in args]
        for name in call.get("names") or [call.get("name")]:
            for group in groups:
                try:
                    ctx.add_rule(action, name, *group)
                    rules += 1
                except (ValueError, RuntimeError, OSError):
                    continue  # a syscall this libseccomp or architecture does not know
    return Filter(ctx, rules)


def status(pid: str = "self") -> int:
    """The `Seccomp:` mode of a process (0 none, 1 strict, 2 filter)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    return 0
