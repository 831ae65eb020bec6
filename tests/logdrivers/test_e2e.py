"""End to end: `pydock run --log-driver X` in a real container, to the real or spec-exact receiver,
and `pydock logs` back (the dual-logging cache for the remote drivers)."""

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
from peers import journald, rsyslog
from receivers import Fluentd, GelfUDP

pytestmark = [pytest.mark.root, pytest.mark.peer]

CLI = [sys.executable, "-m", "pydock"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("ld-images")
    run = Path("/run/pydock-test") / root.name
    env = {**os.environ, "PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run)}
    subprocess.run([*CLI, "image", "bootstrap", "busybox"], env=env, check=True, capture_output=True, timeout=120)
    yield root / "images"
    shutil.rmtree(run, ignore_errors=True)


class PD:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}
        self.root = Path(env["PYDOCK_ROOT"])

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, timeout=timeout, check=False)

    def ok(self, *args: str, timeout: float = 60) -> bytes:
        p = self(*args, timeout=timeout)
        assert p.returncode == 0, f"pydock {' '.join(args)}: {p.returncode}\n{p.stdout!r}\n{p.stderr!r}"
        return p.stdout

    def cdir(self, name: str) -> Path:
        cid = self.ok("inspect", "--format", "{{.Id}}", name).decode().strip()
        return self.root / "containers" / cid


@pytest.fixture
def pd(pydock_env: dict[str, str], images: Path) -> Iterator[PD]:
    dst = Path(pydock_env["PYDOCK_ROOT"]) / "images"
    for src in images.rglob("*"):
        target = dst / src.relative_to(images)
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, target)
    p = PD(pydock_env)
    yield p
    ids = p("ps", "-aq").stdout.decode().split()
    if ids:
        p("rm", "-f", *ids)


LINES = "i=0; while [ $i -lt {n} ]; do echo line $i; i=$((i+1)); done; echo oops >&2"


def expected(n: int) -> list[bytes]:
    return [b"line %d" % i for i in range(n)]


def test_json_file_rotation_and_logs(pd: PD) -> None:
    pd.ok("run", "--name", "jf", "--log-opt", "max-size=10k", "--log-opt", "max-file=4", "--log-opt", "compress=true",
          "busybox", "sh", "-c", LINES.format(n=2000))
    cdir = pd.cdir("jf")
    names = sorted(p.name for p in cdir.iterdir() if "-json.log" in p.name)
    assert names == [f"{cdir.name}-json.log", f"{cdir.name}-json.log.1.gz", f"{cdir.name}-json.log.2.gz",
                     f"{cdir.name}-json.log.3.gz"]
    first = json.loads((cdir / names[0]).read_bytes().splitlines()[0])
    assert list(first) == ["log", "stream", "time"] and first["log"].endswith("\n")
    out = pd("logs", "--tail", "3", "jf")
    assert out.stdout.splitlines() == expected(2000)[-2:] and out.stderr == b"oops\n"
    stats = json.loads((cdir / "logstats.json").read_text())
    assert stats["lines"] == {"stdout": 2000, "stderr": 1} and stats["dropped"] == 0


def test_logs_follow_a_running_container_to_its_end(pd: PD) -> None:
    pd.ok("run", "-d", "--name", "fo", "busybox", "sh", "-c",
          "i=0; while [ $i -lt 30 ]; do echo tick $i; i=$((i+1)); sleep 0.02; done")
    p = subprocess.Popen([*CLI, "logs", "-f", "fo"], env=pd.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.splitlines() == [b"tick %d" % i for i in range(30)]


def test_local_driver(pd: PD) -> None:
    pd.ok("run", "--name", "lo", "--log-driver", "local", "--log-opt", "max-size=4k", "busybox", "sh", "-c",
          LINES.format(n=500))
    cdir = pd.cdir("lo")
    assert (cdir / "local-logs" / "container.log").exists() and (cdir / "local-logs" / "container.log.1.gz").exists()
    kept = pd.ok("logs", "lo").splitlines()  # five files of 4 KiB: the newest lines, in order
    assert len(kept) > 200 and kept == expected(500)[-len(kept):]
    assert pd.ok("logs", "--tail", "3", "lo").splitlines() == expected(500)[-2:]  # and the stderr line


def test_bad_option_makes_no_container(pd: PD) -> None:
    p = pd("run", "--name", "bad", "--log-opt", "max-size=lots", "busybox", "true")
    assert p.returncode == 125 and b"max-size" in p.stderr
    p = pd("run", "--name", "bad", "--log-driver", "nonesuch", "busybox", "true")
    assert p.returncode == 125 and b"nonesuch" in p.stderr
    assert pd.ok("ps", "-aq").strip() == b""


def test_none_driver(pd: PD) -> None:
    pd.ok("run", "--name", "nn", "--log-driver", "none", "busybox", "echo", "gone")
    p = pd("logs", "nn")
    assert p.returncode != 0 and b"does not support reading" in p.stderr


def test_syslog_to_rsyslog_and_logs_from_the_cache(pd: PD, tmp_path: Path) -> None:
    with rsyslog(tmp_path / "rs") as rs:
        pd.ok("run", "--name", "sy", "--log-driver", "syslog", "--log-opt", f"syslog-address=tcp://127.0.0.1:{rs.tcp}",
              "--log-opt", "syslog-format=rfc5424micro", "--log-opt", "tag={{.Name}}", "busybox", "sh", "-c",
              LINES.format(n=50))
        got = rs.records(51)
    assert [r["msg"] for r in got if r["sev"] == "6"] == [x.decode() for x in expected(50)]
    assert [r["msg"] for r in got if r["sev"] == "3"] == ["oops"]
    assert all(r["app"] == "sy" and r["msgid"] == "sy" for r in got)
    assert pd.ok("logs", "sy").splitlines() == expected(50)


def test_gelf_udp(pd: PD) -> None:
    rx = GelfUDP()
    try:
        pd.ok("run", "--name", "ge", "--log-driver", "gelf", "--log-opt", f"gelf-address=udp://127.0.0.1:{rx.port}",
              "busybox", "sh", "-c", LINES.format(n=20))
        msgs = rx.wait(21)
    finally:
        rx.close()
    cid = pd.cdir("ge").name
    assert sorted(m["short_message"] for m in msgs if m["level"] == 6) == sorted(x.decode() for x in expected(20))
    assert [m["short_message"] for m in msgs if m["level"] == 3] == ["oops"]
    assert all(m["_container_id"] == cid and m["_container_name"] == "ge" and m["_tag"] == cid[:12] for m in msgs)


def test_fluentd_and_non_blocking_with_endpoint_down(pd: PD) -> None:
    srv = Fluentd().start()
    try:
        pd.ok("run", "--name", "fl", "--log-driver", "fluentd", "--log-opt", f"fluentd-address=127.0.0.1:{srv.port}",
              "busybox", "sh", "-c", LINES.format(n=30))
        ev = srv.wait(31)
        assert sorted(e[3]["log"] for e in ev if e[3]["source"] == "stdout") == sorted(x.decode() for x in expected(30))
        assert all(e[3]["container_name"] == "/fl" for e in ev)
    finally:
        srv.stop()
    # fluentd gone: a non-blocking container runs to its end at once; drops are counted; logs has all
    t0 = time.monotonic()
    pd.ok("run", "--name", "fl2", "--log-driver", "fluentd", "--log-opt", f"fluentd-address=127.0.0.1:{srv.port}",
          "--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=2k", "busybox", "sh", "-c",
          LINES.format(n=3000), timeout=120)
    assert time.monotonic() - t0 < 60
    stats = json.loads((pd.cdir("fl2") / "logstats.json").read_text())
    assert stats["lines"]["stdout"] == 3000 and stats["dropped"] > 0
    assert pd.ok("logs", "fl2").splitlines() == expected(3000)


def test_journald(pd: PD, tmp_path: Path) -> None:
    with journald(tmp_path / "jd") as jd:
        pd.ok("run", "--name", "jd", "--log-driver", "journald", "--log-opt", f"journald-socket={jd.socket}",
              "busybox", "sh", "-c", "echo from-journald-e2e; echo err-journald-e2e >&2")
        got = jd.entries(2, "journald-e2e")
    cid = pd.cdir("jd").name
    by_msg = {e["MESSAGE"]: e for e in got}
    assert by_msg["from-journald-e2e"]["PRIORITY"] == "6" and by_msg["err-journald-e2e"]["PRIORITY"] == "3"
    assert by_msg["from-journald-e2e"]["CONTAINER_ID_FULL"] == cid
    assert by_msg["from-journald-e2e"]["CONTAINER_NAME"] == "jd"
