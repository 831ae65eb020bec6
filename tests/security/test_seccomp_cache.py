"""The compiled seccomp filter's cache (runtime/security/seccomp_cache.py): a kept program is the one
libseccomp generates, its key follows every input, and containers started from the cache are still
confined (Seccomp: 2, no user namespaces) on the first and on later starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydock.runtime.security import seccomp_cache

CAPS = {"CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_NET_BIND_SERVICE"}


def test_cached_program_equals_a_fresh_one(tmp_path: Path) -> None:
    fresh = seccomp_cache.generate("builtin", CAPS, True)
    first = seccomp_cache.program("builtin", CAPS, True, tmp_path)
    files = list(tmp_path.glob("*.bpf"))
    assert len(files) == 1 and files[0].read_bytes() == fresh
    again = seccomp_cache.program("builtin", CAPS, True, tmp_path)
    assert first.code == again.code == fresh and len(fresh) % 8 == 0
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_key_follows_every_input() -> None:
    text = seccomp_cache.profile_text("builtin")
    lib = seccomp_cache.library_stamp()
    base = seccomp_cache.cache_key(text, CAPS, library=lib)
    assert base == seccomp_cache.cache_key(text, set(CAPS), library=lib)
    assert base != seccomp_cache.cache_key(text, CAPS | {"CAP_SYS_ADMIN"}, library=lib)
    assert base != seccomp_cache.cache_key(text, CAPS - {"CAP_KILL"}, library=lib)
    assert base != seccomp_cache.cache_key(text + b" ", CAPS, library=lib)
    assert base != seccomp_cache.cache_key(text, CAPS, machine="aarch64", library=lib)
    assert base != seccomp_cache.cache_key(text, CAPS, kernel="4.19.0", library=lib)
    assert base != seccomp_cache.cache_key(text, CAPS, library="other-libseccomp")


def test_another_capability_set_gets_its_own_program(tmp_path: Path) -> None:
    seccomp_cache.program("builtin", CAPS, True, tmp_path)
    admin = seccomp_cache.program("builtin", CAPS | {"CAP_SYS_ADMIN"}, True, tmp_path)
    assert len(list(tmp_path.glob("*.bpf"))) == 2
    assert admin.code == seccomp_cache.generate("builtin", CAPS | {"CAP_SYS_ADMIN"}, True)
    assert admin.code != seccomp_cache.generate("builtin", CAPS, True)  # unshare, mount, ... allowed


def test_custom_profile_is_keyed_by_its_content(tmp_path: Path) -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    a = seccomp_cache.program(profile, CAPS, True, tmp_path)
    b = seccomp_cache.program({**profile, "defaultErrnoRet": 13}, CAPS, True, tmp_path)
    assert a.code != b.code and len(list(tmp_path.glob("*.bpf"))) == 2


def test_unwritable_cache_still_gives_the_program(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    got = seccomp_cache.program("builtin", CAPS, True, blocker / "seccomp")  # mkdir under a file fails
    assert got.code == seccomp_cache.generate("builtin", CAPS, True)


def test_truncated_cache_file_is_rebuilt(tmp_path: Path) -> None:
    seccomp_cache.program("builtin", CAPS, True, tmp_path)
    (path,) = tmp_path.glob("*.bpf")
    path.write_bytes(b"\0" * 5)
    assert seccomp_cache.program("builtin", CAPS, True, tmp_path).code == seccomp_cache.generate("builtin", CAPS, True)


@pytest.mark.root
def test_containers_from_the_cache_are_confined(pd) -> None:
    script = "grep Seccomp: /proc/self/status; unshare -U -r true; echo rc=$?"
    for _ in range(2):  # the first start writes the program, the second reads it
        p = pd("run", "--rm", "busybox", "sh", "-c", script)
        assert "Seccomp:\t2" in p.stdout and "rc=0" not in p.stdout, p.stdout + p.stderr
    assert len(list((pd.settings.run / "seccomp").glob("*.bpf"))) == 1
    p = pd("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", "grep Seccomp: /proc/self/status")
    assert "Seccomp:\t2" in p.stdout, p.stdout + p.stderr
    assert len(list((pd.settings.run / "seccomp").glob("*.bpf"))) == 2
