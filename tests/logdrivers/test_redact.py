"""Redaction (`--log-opt redact=...`, `redact-regex=...`): the rules, the stack (before cache and
driver, with every driver), and end to end in a real container: no secret under the state root,
`pydock logs` shows `[REDACTED]`, a bad regex refused by `run` with nothing made, the count on the
agent's /metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldhelpers import make_info
from pydock.logdrivers import redact, registry
from pydock.logdrivers.base import LogMessage, PartialMeta

from pydock.errors import LogOptError

CLI = [sys.executable, "-m", "pydock"]
KEY_BODY = [b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", b"BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB"]


def red(names: str, text: bytes) -> bytes:
    r = redact.parse({"redact": names})
    assert r is not None
    return r.chunk("stdout", text)


@pytest.mark.parametrize("line, want", [
    (b"password=hunter2 user=bob", b"password=[REDACTED] user=bob"),
    (b"login ok, Password: hunter2", b"login ok, Password: [REDACTED]"),
    (b'{"user": "bob", "password": "hunter2"}', b'{"user": "bob", "password": "[REDACTED]"}'),
    (b"DB_PASSWD='s3 cr3t' next", b"DB_PASSWD='[REDACTED]' next"),
    (b"mysql --pwd=abc&x=1", b"mysql --pwd=[REDACTED]&x=1"),
    (b"password is required", b"password is required"),
])
def test_password(line: bytes, want: bytes) -> None:
    assert red("password", line + b"\n") == want + b"\n"


def test_other_rules() -> None:
    assert red("bearer", b"Authorization: Bearer abc.def\n") == b"Authorization: Bearer [REDACTED]\n"
    assert red("aws", b"id AKIAIOSFODNN7EXAMPLE and aws_secret_access_key=wJalrXUtnFEMI/K7MDENG+bPxRfiCY\n") == \
        b"id [REDACTED] and aws_secret_access_key=[REDACTED]\n"
    assert red("aws", b"AKIAIOSFODNN7EXAMPL short\n") == b"AKIAIOSFODNN7EXAMPL short\n"
    jwt = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert red("jwt", b"token " + jwt + b" end\n") == b"token [REDACTED] end\n"
    assert red("password", b"Authorization: Bearer abc\n") == b"Authorization: Bearer abc\n"  # not chosen


def test_private_key_blocks_keep_their_lines() -> None:
    block = b"-----BEGIN RSA PRIVATE KEY-----\n" + b"\n".join(KEY_BODY) + b"\n-----END RSA PRIVATE KEY-----\n"
    out = red("private-key", b"before\n" + block + b"after\n")
    assert out == (b"before\n-----BEGIN RSA PRIVATE KEY-----\n[REDACTED]\n[REDACTED]\n"
                   b"-----END RSA PRIVATE KEY-----\nafter\n")
    one_line = b'{"key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----"}\n'
    assert red("private-key", one_line) == b'{"key": "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----"}\n'
    # a block cut between two chunks is followed into the next, and ends at a line that is no key's
    r = redact.parse({"redact": "private-key"})
    assert r is not None
    assert r.chunk("stdout", b"-----BEGIN EC PRIVATE KEY-----\n" + KEY_BODY[0] + b"\n") == \
        b"-----BEGIN EC PRIVATE KEY-----\n[REDACTED]\n"
    assert r.chunk("stderr", b"other stream\n") == b"other stream\n"
    assert r.chunk("stdout", KEY_BODY[1] + b"\n-----END EC PRIVATE KEY-----\nplain text\n") == \
        b"[REDACTED]\n-----END EC PRIVATE KEY-----\nplain text\n"
    assert r.chunk("stdout", b"-----BEGIN EC PRIVATE KEY-----\n") == b"-----BEGIN EC PRIVATE KEY-----\n"
    assert r.chunk("stdout", b"not a key line\n" + KEY_BODY[0] + b"\n") == b"not a key line\n" + KEY_BODY[0] + b"\n"
    assert r.count == 2  # one per key block


def test_all_and_user_regex_and_count() -> None:
    r = redact.parse({"redact": "all", "redact-regex": r"session=(\w+)"})
    assert r is not None
    out = r.chunk("stdout", b"password=a\nAuthorization: Bearer b\nsession=c1 session=c2 ok\nplain\n")
    assert out == b"password=[REDACTED]\nAuthorization: Bearer [REDACTED]\nsession=[REDACTED] session=[REDACTED] ok\nplain\n"
    assert r.count == 4
    whole = redact.parse({"redact-regex": r"card-\d{4}"})
    assert whole is not None and whole.line("stdout", b"paid with card-1234.") == b"paid with [REDACTED]."
    # a user regex that reaches over a newline never merges lines: the line count holds
    multi = redact.parse({"redact-regex": r"a\sb"})
    assert multi is not None and multi.chunk("stdout", b"xa\nby\n") == b"x[REDACTED]\n[REDACTED]y\n"


@pytest.mark.parametrize("opts, words", [
    ({"redact-regex": "(unclosed"}, "'redact-regex'"),
    ({"redact-regex": "x*"}, "matches the empty string"),
    ({"redact": "passwords"}, "unknown rule 'passwords'"),
    ({"redact": ","}, "name at least one rule"),
])
def test_bad_options_are_refused_for_every_driver(opts: dict[str, str], words: str) -> None:
    for name in ("json-file", "local", "syslog", "none"):
        with pytest.raises(LogOptError, match=words):
            registry.validate(name, opts)


def test_redact_keys_are_not_unknown_to_drivers(tmp_path: Path) -> None:
    opts = {"redact": "password", "redact-regex": "x+y"}
    required = {"gelf": {"gelf-address": "udp://127.0.0.1:12201"}}
    for name in ("json-file", "local", "syslog", "journald", "gelf", "fluentd", "none"):
        # each driver refuses keys it does not know; these it never sees
        registry.validate(name, {**opts, **required.get(name, {})})
    assert redact.parse({}) is None  # no option: the stack has no redactor, the lines pass untouched
    drv = registry.create_driver("json-file", make_info(tmp_path), {})
    assert drv.redactor is None  # type: ignore[attr-defined]


def test_stack_redacts_before_cache_and_driver(tmp_path: Path) -> None:
    """Chunks and single messages (long-line parts) alike; the cache of a remote driver too."""
    from receivers import GelfUDP

    gelf = GelfUDP()
    try:
        drv = registry.create_driver("gelf", make_info(tmp_path), {
            "gelf-address": f"udp://127.0.0.1:{gelf.port}", "redact": "password,bearer"})
        drv.log_chunk("stdout", b"password=hunter2\nAuthorization: Bearer abc.def\nfine\n", 1)  # type: ignore[attr-defined]
        drv.log(LogMessage(b"x password=hunter3", "stderr", 2, PartialMeta("p" * 64, 1, True)))
        drv.close()
        got = gelf.wait(4)
    finally:
        gelf.close()
    assert [m["short_message"] for m in got] == ["password=[REDACTED]", "Authorization: Bearer [REDACTED]", "fine",
                                                 "x password=[REDACTED]"]
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"hunter" not in on_disk and b"abc.def" not in on_disk
    stats = json.loads((tmp_path / "logstats.json").read_text())
    assert stats["redactions"] == 3 and stats["lines"] == {"stdout": 3, "stderr": 1}
    assert stats["bytes"]["stdout"] == len(b"password=hunter2Authorization: Bearer abc.deffine")  # as written


# -- end to end ---------------------------------------------------------------------------------

SECRETS = (b"hunter2", b"abc.def", b"tok-77")
# The secrets are put together inside the container: the command itself (kept in config.json and
# the events journal) must not hold them.
SCRIPT = ("p=hunt; a=abc; echo password=${p}er2; echo \"Authorization: Bearer $a.def\"; "
          "echo session=tok-$((70+7)) >&2; echo done")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("redact-images")
    run = Path("/run/pydock-test") / root.name
    env = {**os.environ, "PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run)}
    subprocess.run([*CLI, "image", "bootstrap", "busybox"], env=env, check=True, capture_output=True, timeout=120)
    yield root / "images"
    shutil.rmtree(run, ignore_errors=True)


@pytest.fixture
def root(pydock_env: dict[str, str], images: Path) -> Iterator[Path]:
    state = Path(pydock_env["PYDOCK_ROOT"])
    for src in images.rglob("*"):
        target = state / "images" / src.relative_to(images)
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, target)
    yield state
    ids = pd("ps", "-aq").stdout.split()
    if ids:
        pd("rm", "-f", *(i.decode() for i in ids))


def pd(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], capture_output=True, timeout=60, check=False)


def files_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file() and "images" not in p.parts)


@pytest.mark.root
@pytest.mark.parametrize("driver", ["json-file", "local"])
def test_secret_never_reaches_the_state_root(root: Path, driver: str) -> None:
    p = pd("run", "--name", "red1", "--log-driver", driver, "--log-opt", "redact=password,bearer",
           "--log-opt", r"redact-regex=session=([\w-]+)", "busybox", "sh", "-c", SCRIPT)
    assert p.returncode == 0, p.stderr
    assert b"hunter2" in p.stdout  # the attached terminal gets the output as written; the logs do not
    logs = pd("logs", "red1")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == b"password=[REDACTED]\nAuthorization: Bearer [REDACTED]\ndone\n"
    assert logs.stderr == b"session=[REDACTED]\n"
    everything = files_under(root)
    assert b"password=[REDACTED]" in everything or driver == "local" and b"[REDACTED]" in everything
    for secret in SECRETS:
        assert secret not in everything, f"{secret!r} found under the state root ({driver})"
    cid = pd("inspect", "--format", "{{.Id}}", "red1").stdout.decode().strip()
    stats = json.loads((root / "containers" / cid / "logstats.json").read_text())
    assert stats["redactions"] == 3

    from fastapi.testclient import TestClient
    from pydock.agent.host import HostPaths
    from pydock.agent.sampler import Sampler
    from pydock.agent.server import AgentSettings, create_app

    sampler = Sampler(root, HostPaths(), foreign=False, root=False)
    metrics = TestClient(create_app(AgentSettings(root), sampler)).get("/metrics").text
    line = next(m for m in metrics.splitlines() if m.startswith("pydock_log_redactions_total{"))
    assert f'container_id="{cid}"' in line and 'name="red1"' in line and line.endswith(" 3")


@pytest.mark.root
def test_bad_regex_is_refused_at_run_with_nothing_made(root: Path) -> None:
    t0 = time.monotonic()
    p = pd("run", "--name", "bad", "--log-opt", "redact-regex=(oops", "busybox", "true")
    assert p.returncode != 0 and time.monotonic() - t0 < 30
    err = p.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and "redact-regex" in err and "(oops" in err, err
    assert pd("ps", "-aq").stdout == b""
    assert not any((root / "containers").iterdir()) if (root / "containers").exists() else True
