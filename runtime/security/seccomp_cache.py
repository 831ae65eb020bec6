"""The compiled seccomp filter, kept: the BPF program libseccomp makes of a profile, stored once per
set of inputs and loaded as bytes at the next container start.

Building Docker's default profile with libseccomp (about 360 rules) and generating its BPF costs
~20 ms of every container start; reading the 8 kB program back costs a file read. The program is a
function of the profile's text, the container's bounding capabilities (rules included or excluded by
`includes.caps`/`excludes.caps`), the architecture, the kernel release (`minKernel` rules) and the
libseccomp that generated it; the key is a hash of all of them, so a change in any gives another file
and the old one is simply not read again. no_new_privs is not an input: libseccomp sets it at load
time, outside the program (confine sets it itself).

The cache lives under the runtime dir (`PYDOCK_RUN`/seccomp, a tmpfs on most hosts: empty again
after a reboot), owned by root and written by rename, so a reader sees a whole program or none.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydock.runtime import syscalls
from pydock.runtime.security import seccomp

# Imported here, in the shim, not when the key is made: the container's init makes it after joining a
# --userns namespace, where the host's root (and so a Python tree under /root) may be out of reach.
# The C module alone, because hashlib loads OpenSSL's libcrypto (~3 ms), as syscalls takes _socket.
try:
    from _sha256 import sha256
except ImportError:  # Python 3.12 renamed it
    from hashlib import sha256

FORMAT = "1"  # bump when the key's inputs or the file's layout change


@dataclass(frozen=True)
class Program:
    """A generated BPF program (struct sock_filter[]); `load()` installs it on the calling thread."""

    code: bytes

    def load(self) -> None:
        syscalls.load_seccomp_program(self.code)


def library_stamp() -> str | None:
    """Which libseccomp would generate the program: the resolved shared object, its size and mtime
    (an upgrade replaces the file). None where it is not at a known place: then nothing is cached."""
    multiarch = getattr(sys.implementation, "_multiarch", "")
    for d in (f"/usr/lib/{multiarch}", f"/lib/{multiarch}", "/usr/lib64", "/usr/lib", "/lib64", "/lib"):
        path = os.path.realpath(f"{d}/libseccomp.so.2")
        try:
            st = os.stat(path)
        except OSError:
            continue
        return f"{path}:{st.st_size}:{st.st_mtime_ns}"
    return None


def profile_text(source: Any) -> bytes:
    """The profile's identity: the builtin file's bytes, or a custom profile as canonical JSON."""
    if source == seccomp.BUILTIN:
        return seccomp.DEFAULT_PROFILE.read_bytes()
    return json.dumps(source, sort_keys=True, separators=(",", ":")).encode()


def cache_key(text: bytes, caps: set[str], machine: str | None = None, kernel: str | None = None,
              library: str | None = None) -> str:
    uname = os.uname()
    h = sha256()
    for part in (FORMAT, machine or uname.machine, kernel or uname.release, library or "",
                 ",".join(sorted(caps)), sha256(text).hexdigest()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def generate(source: Any, caps: set[str], no_new_privs: bool) -> bytes:
    """The BPF program libseccomp makes for `source` ("builtin" or a profile dict)."""
    profile = seccomp.read_profile(seccomp.BUILTIN) if source == seccomp.BUILTIN else source
    flt = seccomp.build(profile, caps, no_new_privs)
    fd = os.memfd_create("pydock-seccomp", os.MFD_CLOEXEC)  # a pipe could fill and block export_bpf
    with open(fd, "w+b") as f:
        flt.ctx.export_bpf(f)
        f.seek(0)
        return f.read()


def program(source: Any, caps: set[str], no_new_privs: bool, cache: Path | None) -> Program:
    """The container's filter: read from `cache` when its inputs were built before, else generated
    and stored there. A cache that cannot be read or written (a user namespace without rights on the
    directory, a read-only /run) only means this start generates the program itself."""
    library = library_stamp() if cache is not None else None
    if cache is None or library is None:
        return Program(generate(source, caps, no_new_privs))
    path = cache / f"{cache_key(profile_text(source), caps, library=library)}.bpf"
    try:
        code = path.read_bytes()
        if code and len(code) % 8 == 0:
            return Program(code)
    except OSError:
        pass
    code = generate(source, caps, no_new_privs)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        cache.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with open(fd, "wb") as f:
            f.write(code)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return Program(code)
