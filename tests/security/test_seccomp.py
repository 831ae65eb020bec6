"""Seccomp from inside real containers: Docker's default profile (Seccomp: 2, no user namespaces,
keyctl/add_key/bpf/perf_event_open/kexec_load EPERM, clone3 ENOSYS with glibc's fork still working),
`seccomp=unconfined`, a custom profile, daemon.json's `seccomp-profile`, and bad profiles refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydock.runtime.security import seccomp

pytestmark = pytest.mark.root


def _probe(pd, probe_dir, *args: str, calls: list[str]) -> dict[str, str]:
    p = pd("run", "--rm", "-v", f"{probe_dir}:/probe:ro", *args, "busybox", "/probe/probe", *calls)
    assert p.returncode == 0, p.stderr
    return dict(line.split("=", 1) for line in p.stdout.split())


def test_default_profile_is_loaded(pd):
    p = pd("run", "--rm", "busybox", "sh", "-c", "grep Seccomp: /proc/self/status; unshare -U -r true; echo rc=$?")
    assert "Seccomp:\t2" in p.stdout and "rc=0" not in p.stdout, p.stdout + p.stderr


def test_default_profile_denies_dangerous_calls(pd, probe_dir):
    got = _probe(pd, probe_dir, calls=["keyctl", "add_key", "bpf", "perf_event_open", "kexec_load",
                                       "unshare_user", "clone3", "fork"])
    assert got == {"keyctl": "EPERM", "add_key": "EPERM", "bpf": "EPERM", "perf_event_open": "EPERM",
                   "kexec_load": "EPERM", "unshare_user": "EPERM", "clone3": "ENOSYS", "fork": "0"}


def test_unconfined_has_no_filter(pd, probe_dir):
    p = pd("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/self/status")
    assert p.stdout.split() == ["Seccomp:", "0"], p.stderr
    got = _probe(pd, probe_dir, "--security-opt", "seccomp=unconfined", calls=["clone3", "keyctl"])
    assert got["clone3"] != "ENOSYS" and got["keyctl"] != "EPERM", got


def _profile_without(tmp_path: Path, *names: str) -> Path:
    profile = json.loads(seccomp.DEFAULT_PROFILE.read_text())
    for rule in profile["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in names]
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile))
    return path


def test_custom_profile_denies_mkdirat(pd, probe_dir, tmp_path):
    path = _profile_without(tmp_path, "mkdir", "mkdirat")
    assert _probe(pd, probe_dir, "--security-opt", f"seccomp={path}", calls=["mkdirat=/tmp/d"]) == {"mkdirat": "EPERM"}
    assert _probe(pd, probe_dir, calls=["mkdirat=/tmp/d"]) == {"mkdirat": "0"}


def test_daemon_json_profile(pd, probe_dir, tmp_path):
    path = _profile_without(tmp_path, "mkdir", "mkdirat")
    Path(pd.env["PYDOCK_CONFIG"]).write_text(json.dumps({"seccomp-profile": str(path)}))
    assert _probe(pd, probe_dir, calls=["mkdirat=/tmp/d"]) == {"mkdirat": "EPERM"}
    assert f"profile={path}" in pd("info").stdout


def test_no_new_privileges_false_keeps_the_filter(pd):
    p = pd("run", "--rm", "--security-opt", "no-new-privileges=false", "busybox", "grep", "-E",
           "NoNewPrivs|Seccomp:", "/proc/self/status")
    assert p.stdout.split() == ["NoNewPrivs:", "0", "Seccomp:", "2"], p.stdout + p.stderr


@pytest.mark.parametrize("content,needle", [("{not json", "decoding seccomp profile"),
                                            ('{"defaultAction": "SCMP_ACT_NOPE"}', "invalid defaultAction"),
                                            (('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],'
                                             ' "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]}'),
                                             "invalid argument filter")])
def test_bad_profile_refused_with_no_container(pd, tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    p = pd("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "true")
    assert p.returncode == 125 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert pd("ps", "-a", "-q").stdout.strip() == ""


def test_profile_rules_follow_capabilities():
    profile = json.loads(seccomp.DEFAULT_PROFILE.read_text())
    names = lambda caps: {n for r in seccomp.applicable_rules(profile, caps, "amd64") for n in r["names"]}
    assert "unshare" not in names(set()) and "unshare" in names({"CAP_SYS_ADMIN"})
    assert "ptrace" in names(set())  # kernel >= 4.8
    clone3 = [r for r in seccomp.applicable_rules(profile, set(), "amd64") if "clone3" in r["names"]]
    assert clone3 and clone3[0]["errnoRet"] == 38
    assert not [r for r in seccomp.applicable_rules(profile, {"CAP_SYS_ADMIN"}, "amd64")
                if "clone3" in r["names"] and r["action"] != "SCMP_ACT_ALLOW"]
    assert "arch_prctl" in names(set()) and "arch_prctl" not in {n for r in seccomp.applicable_rules(profile, set(), "arm64") for n in r["names"]}
