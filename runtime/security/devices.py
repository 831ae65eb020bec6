"""Devices: `--device HOST[:CONTAINER[:rwm]]`, `--device-cgroup-rule`, and the device cgroup.

On cgroup v1 the `devices` controller takes the rules as text (devices.allow). Cgroup v2 has no such
file: the kernel asks a BPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup,
so `device_filter` compiles the same allow-list into one, as runc's and crun's devicefilter do
(default deny; each rule a short run of compares ending in `return 1`), and `attach` loads it with
bpf(2) and attaches it to the container's cgroup.
"""

from __future__ import annotations

import ctypes
import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydock.errors import CgroupError, UsageError

# runc's AllowedDevices, as the v1 rules in cgroups/v1.py.
DEFAULT_RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                 "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")
_RULE_RE = re.compile(r"^([abc]) (\*|\d+):(\*|\d+) ([rwm]{1,3})$")


@dataclass(frozen=True)
class Device:
    """A host device node made in the container's /dev (Docker's HostConfig.Devices entry)."""

    host: str
    container: str
    permissions: str  # subset of "rwm"

    def to_json(self) -> dict[str, str]:
        return {"PathOnHost": self.host, "PathInContainer": self.container, "CgroupPermissions": self.permissions}

    @classmethod
    def from_json(cls, d: dict[str, str]) -> Device:
        return cls(d["PathOnHost"], d["PathInContainer"], d.get("CgroupPermissions", "rwm"))


def _perms_ok(p: str) -> bool:
    return bool(p) and set(p) <= set("rwm") and len(set(p)) == len(p)


def parse_device(text: str) -> Device:
    """Docker's `--device /dev/sda[:/dev/xvda[:rwm]]` (the middle part may be the permissions)."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise UsageError(f"invalid --device {text!r}: expected HOST[:CONTAINER[:rwm]]")
    host, cont, perms = parts[0], parts[0], "rwm"
    if len(parts) == 2:
        if _perms_ok(parts[1]) and not parts[1].startswith("/"):
            perms = parts[1]
        else:
            cont = parts[1]
    elif len(parts) == 3:
        cont, perms = parts[1], parts[2]
    if not _perms_ok(perms):
        raise UsageError(f"invalid --device {text!r}: bad cgroup permissions {perms!r} (a subset of rwm)")
    if not host.startswith("/") or not cont.startswith("/"):
        raise UsageError(f"invalid --device {text!r}: device paths must be absolute")
    try:
        st = os.stat(host)
    except OSError as exc:
        raise UsageError(f"error gathering device information while adding custom device {host!r}: "
                         f"{exc.strerror}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise UsageError(f"invalid --device {text!r}: {host} is not a device node")
    return Device(host, cont, perms)


def parse_rule(text: str) -> str:
    """`--device-cgroup-rule 'c 1:3 rwm'` (type a|b|c, major/minor number or *)."""
    t = " ".join(text.split())
    if t.startswith("a") and t in ("a", "a *:* rwm"):
        return "a *:* rwm"
    if not _RULE_RE.match(t):
        raise UsageError(f"invalid --device-cgroup-rule {text!r}: expected 'TYPE MAJOR:MINOR PERMS', "
                         "e.g. 'c 1:3 rwm'")
    return t


def rule_for(dev: Device) -> str:
    st = os.stat(dev.host)
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    return f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {dev.permissions}"


def rules(host_config: dict[str, Any]) -> list[str]:
    """The container's device allow-list: runc's defaults, then --device and --device-cgroup-rule;
    `a *:* rwm` alone for --privileged."""
    if host_config.get("Privileged"):
        return ["a *:* rwm"]
    out = list(DEFAULT_RULES)
    out += [rule_for(Device.from_json(d)) for d in host_config.get("Devices") or []]
    out += list(host_config.get("DeviceCgroupRules") or [])
    return out


def make_nodes(dev_dir: Path, host_config: dict[str, Any]) -> None:
    """Creates --device nodes in the container's fresh /dev tmpfs (before pivot_root); with
    --privileged, every host device node directly under /dev, as Docker does."""
    devices = [Device.from_json(d) for d in host_config.get("Devices") or []]
    if host_config.get("Privileged"):
        for name in sorted(os.listdir("/dev")):
            p = f"/dev/{name}"
            st = os.lstat(p)
            if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and not (dev_dir / name).exists():
                devices.append(Device(p, p, "rwm"))
    for d in devices:
        st = os.stat(d.host)
        rel = d.container.removeprefix("/dev/") if d.container.startswith("/dev/") else None
        if rel is None or ".." in rel.split("/"):
            raise UsageError(f"--device {d.host}:{d.container}: the container path must be under /dev")
        node = dev_dir / rel
        node.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(node):
            os.unlink(node)
        try:
            os.mknod(node, (st.st_mode & 0o7777) | stat.S_IFMT(st.st_mode), st.st_rdev)
        except PermissionError:  # a user namespace has no CAP_MKNOD: bind the host's node, as runc does
            from pydock.runtime import syscalls

            node.touch()
            syscalls.mount(d.host, node, None, syscalls.MS_BIND)
            continue
        os.chmod(node, st.st_mode & 0o7777)
        os.chown(node, st.st_uid, st.st_gid)


# -- cgroup v2: the BPF device filter --------------------------------------------------------------

_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
_BPF_PROG_TYPE_CGROUP_DEVICE, _BPF_CGROUP_DEVICE = 15, 6
_BPF_F_ALLOW_MULTI = 2
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
_TYPE = {"c": 2, "b": 1}  # BPF_DEVCG_DEV_CHAR, BPF_DEVCG_DEV_BLOCK
_ACC = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def device_filter(allow: list[str]) -> bytes:
    """eBPF for `allow` (device cgroup rules): r0 = 1 if the access matches one rule, else 0.

    The context is struct bpf_cgroup_dev_ctx {u32 access_type (access << 16 | type); u32 major; u32 minor}."""
    LDXW, AND32K, RSH32K, MOV64X, MOV64K, JNEK, JNEX, EXIT = 0x61, 0x54, 0x74, 0xBF, 0xB7, 0x55, 0x5D, 0x95
    prologue = [_insn(LDXW, 2, 1, 0), _insn(AND32K, 2, imm=0xFFFF),  # r2 = type
                _insn(LDXW, 3, 1, 0), _insn(RSH32K, 3, imm=16),      # r3 = access
                _insn(LDXW, 4, 1, 4), _insn(LDXW, 5, 1, 8)]          # r4 = major, r5 = minor
    body: list[bytes] = []
    for rule in allow:
        kind, _, rest = rule.partition(" ")
        nums, _, perms = rest.partition(" ")
        major, _, minor = nums.partition(":")
        if kind == "a" and perms == "rwm":
            body += [_insn(MOV64K, 0, imm=1), _insn(EXIT)]
            continue
        # Each compare jumps past this rule's `return 1` when it fails; offsets are filled in once
        # the rule's length is known. An entry is (code, dst, src, imm, jumps).
        block: list[tuple[int, int, int, int, bool]] = []
        if kind != "a":
            block.append((JNEK, 2, 0, _TYPE[kind], True))
        acc = sum(_ACC[c] for c in perms)
        if acc != 7:  # (access & allowed) != access: something asked for is not allowed
            block += [(MOV64X, 1, 3, 0, False), (AND32K, 1, 0, acc, False), (JNEX, 1, 3, 0, True)]
        if major != "*":
            block.append((JNEK, 4, 0, int(major), True))
        if minor != "*":
            block.append((JNEK, 5, 0, int(minor), True))
        n = len(block) + 2
        out = [_insn(code, dst, src, off=n - i - 1 if jumps else 0, imm=imm)
               for i, (code, dst, src, imm, jumps) in enumerate(block)]
        body += out + [_insn(MOV64K, 0, imm=1), _insn(EXIT)]
    return b"".join(prologue + body + [_insn(MOV64K, 0, imm=0), _insn(EXIT)])


_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: bytes) -> int:
    nr = _SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise CgroupError(f"bpf: unsupported architecture {os.uname().machine}")
    buf = ctypes.create_string_buffer(attr, 128)
    ret = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), buf, ctypes.c_uint(128))
    if ret < 0:
        err = ctypes.get_errno()
        raise CgroupError(f"bpf({cmd}) for the device filter: {os.strerror(err)}")
    return int(ret)


def load_filter(allow: list[str]) -> int:
    """Loads the device filter; returns the program's fd."""
    prog = device_filter(allow)
    insns = ctypes.create_string_buffer(prog, len(prog))
    lic = ctypes.create_string_buffer(b"Apache-2.0\0")  # no GPL-only helpers are called
    attr = struct.pack("IIQQIIQII", _BPF_PROG_TYPE_CGROUP_DEVICE, len(prog) // 8, ctypes.addressof(insns),
                       ctypes.addressof(lic), 0, 0, 0, 0, 0)
    return _bpf(_BPF_PROG_LOAD, attr)


def attach(cgroup_dir: Path, allow: list[str]) -> None:
    """Attaches the filter for `allow` to the v2 cgroup `cgroup_dir` (it stays attached once our fds
    close: the cgroup holds it until the cgroup is removed)."""
    prog = load_filter(allow)
    try:
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _bpf(_BPF_PROG_ATTACH, struct.pack("IIIII", cg, prog, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI, 0))
        finally:
            os.close(cg)
    finally:
        os.close(prog)


def apply_cgroup(paths: dict[str, str], host_config: dict[str, Any]) -> None:
    """The container's device rules on its cgroup: v1 `devices.allow` lines (the default deny-all and
    runc's list were written at create), or the BPF filter on a v2 cgroup."""
    allow = rules(host_config)
    if "devices" in paths:
        from pydock.runtime.cgroups import fs

        d = Path(paths["devices"])
        for rule in allow[len(DEFAULT_RULES):] if allow[0] != "a *:* rwm" else ["a"]:
            fs.write(d / "devices.allow", rule)
    elif "unified" in paths:
        attach(Path(paths["unified"]), allow)
