"""The event journal (order across processes, bound, follow, filters, the CLI), daemon.json, ulimits, info."""

from __future__ import annotations

import json
import multiprocessing
import resource
import threading
import time
from pathlib import Path

import pytest
from pydock.runtime import ulimits
from pydock.runtime.events import EventJournal, matches, parse_filters

from pydock import daemon_config
from pydock.cli import main
from pydock.errors import ConfigError, UsageError


def _emit_many(root: str, who: int, n: int) -> None:
    journal = EventJournal(Path(root))
    for i in range(n):
        journal.emit("start", f"{who:064x}", {"name": f"c{who}", "image": "busybox", "seq": i})


def test_events_from_many_processes_arrive_in_order(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_emit_many, args=(str(tmp_path), w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    events = list(EventJournal(tmp_path).read())
    assert len(events) == 100
    times = [e.time_nano for e in events]
    assert times == sorted(times) and len(set(times)) == 100  # strictly increasing, file order
    for w in range(4):
        seqs = [int(e.attributes["seq"]) for e in events if e.attributes["name"] == f"c{w}"]
        assert seqs == list(range(25))


def test_follow_sees_new_events_in_order_across_compaction(tmp_path: Path) -> None:
    journal = EventJournal(tmp_path, max_bytes=2000)
    journal.emit("create", "a" * 64, {"name": "old"})  # before the follower: not shown
    got: list[str] = []
    done = threading.Event()

    def follower() -> None:
        for ev in journal.follow(poll=0.01, stop=done.is_set):
            got.append(ev.attributes["n"])
            if len(got) == 40:
                return

    t = threading.Thread(target=follower)
    t.start()
    time.sleep(0.1)
    for i in range(40):
        journal.emit("start", "b" * 64, {"name": "new", "n": i})
        time.sleep(0.002)
    t.join(10)
    done.set()
    assert got == [str(i) for i in range(40)]
    # Bounded: rotation kept two files of about max_bytes, holding only the newest events.
    kept = list(journal.read())
    assert journal.previous.exists() and len(kept) < 40
    assert journal.path.stat().st_size + journal.previous.stat().st_size <= 2 * 2000 + 400
    assert [e.attributes["n"] for e in kept] == [str(i) for i in range(40 - len(kept), 40)]


def test_since_until_and_filters(tmp_path: Path) -> None:
    journal = EventJournal(tmp_path)
    a = journal.emit("create", "a" * 64, {"name": "web", "image": "busybox", "tier": "front"})
    time.sleep(0.01)  # apart by more than a float's precision on unix seconds
    journal.emit("start", "a" * 64, {"name": "web", "image": "busybox", "tier": "front"})
    time.sleep(0.01)
    c = journal.emit("die", "c" * 64, {"name": "db", "image": "alpine", "exitCode": 1})
    time.sleep(0.01)
    journal.emit("health_status: unhealthy", "c" * 64, {"name": "db", "image": "alpine"})
    assert [e.action for e in journal.read(filters=parse_filters(["container=web"]))] == ["create", "start"]
    assert [e.action for e in journal.read(filters=parse_filters(["event=die", "event=create"]))] == ["create", "die"]
    assert [e.action for e in journal.read(filters=parse_filters(["event=health_status"]))] == [
        "health_status: unhealthy"]
    assert [e.id[0] for e in journal.read(filters=parse_filters(["image=alpine", "event=die"]))] == ["c"]
    assert len(list(journal.read(filters=parse_filters(["label=tier=front"])))) == 2
    assert [e.action for e in journal.read(since=a.time_nano / 1e9 + 0.005, until=c.time_nano / 1e9 + 0.005)] == [
        "start", "die"]
    assert matches(c, parse_filters(["container=ccc"]))  # id prefix
    with pytest.raises(UsageError, match="invalid filter"):
        parse_filters(["bogus=1"])


def test_events_cli_prints_docker_lines_and_json(pydock_env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    journal = EventJournal(Path(pydock_env["PYDOCK_ROOT"]))
    journal.emit("create", "d" * 64, {"name": "web", "image": "busybox"})
    journal.emit("start", "d" * 64, {"name": "web", "image": "busybox"})
    until = str(time.time())
    main(["events", "--since", "0", "--until", until])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"container create {'d' * 64} (image=busybox, name=web)")
    main(["events", "--since", "0", "--until", until, "--filter", "event=start", "--format", "{{json .}}"])
    obj = json.loads(capsys.readouterr().out)
    assert obj["Action"] == "start" and obj["Actor"]["Attributes"]["name"] == "web" and obj["Type"] == "container"


def test_daemon_json_defaults_and_errors(tmp_path: Path) -> None:
    assert daemon_config.load(tmp_path / "absent.json").log_driver == "json-file"
    good = tmp_path / "daemon.json"
    good.write_text(json.dumps({
        "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"},
        "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}},
        "cgroup-parent": "/pydock-ci/", "labels": ["site=lab"],
    }))
    cfg = daemon_config.load(good)
    assert cfg.log_opts == {"max-size": "10m", "max-file": "3"}
    assert cfg.default_ulimits["nofile"] == daemon_config.Ulimit("nofile", 1024, 2048)
    assert cfg.cgroup_parent == "pydock-ci"
    explicit = daemon_config.parse_ulimit("nofile=100:200")
    assert cfg.ulimits_for([explicit]) == [explicit]

    bad = tmp_path / "bad.json"
    for content, reason in [
        ('{"log-driver": "json-file",\n "bogus-key": 1}', "don't match any configuration option: bogus-key"),
        ('{"log-driver": "json-file",\n "log-opts": {"max-size": 10}}', "must be a string"),
        ('{"log-driver": \n', r"bad.json:2:1: invalid JSON"),
        ('{"default-ulimits": {"nofile": {"Soft": 10, "Hard": 5}}}', "exceeds the hard limit"),
        ('{"cgroup-parent": "../x"}', "not a usable cgroup path"),
        ('{"log-driver": "no-such-driver"}', "no-such-driver"),
        ('{"log-driver": "json-file", "log-opts": {"max-sise": "1m"}}', "max-sise"),
    ]:
        bad.write_text(content)
        with pytest.raises(ConfigError, match=reason):
            daemon_config.load(bad)
    with pytest.raises(UsageError, match="expected NAME=SOFT"):
        daemon_config.parse_ulimit("nofiles=1")


def test_ulimits_stay_within_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    pair, note = ulimits.effective(daemon_config.Ulimit("nofile", -1, -1))
    if hard != resource.RLIM_INFINITY:
        assert pair == (hard, hard) and note is not None and "using" in note
    lower = max(64, soft // 2)
    pair, note = ulimits.effective(daemon_config.Ulimit("nofile", lower, lower))
    assert pair == (lower, lower) and note is None

    def child(q: multiprocessing.Queue[object]) -> None:
        notes = ulimits.apply([daemon_config.Ulimit("nofile", lower, hard if hard != resource.RLIM_INFINITY else -1)])
        q.put((resource.getrlimit(resource.RLIMIT_NOFILE), notes))

    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    (got, notes) = q.get(timeout=10)
    p.join(10)
    assert tuple(got) == (lower, hard) and notes == []


def test_info_shows_layout_driver_root_counts(pydock_env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    Path(pydock_env["PYDOCK_CONFIG"]).write_text('{"log-driver": "json-file", "log-opts": {"max-size": "5m"}}')
    main(["info", "--format", "{{json .}}"])
    data = json.loads(capsys.readouterr().out)
    assert data["LoggingDriver"] == "json-file" and data["LogOpts"] == {"max-size": "5m"}
    assert data["DockerRootDir"] == pydock_env["PYDOCK_ROOT"]
    assert data["Containers"] == 0 and data["CgroupLayout"] in ("v1", "v2", "hybrid")
    main(["info"])
    text = capsys.readouterr().out
    assert "Logging Driver: json-file" in text and " Log Opts: max-size=5m" in text
    assert f"Pydock Root Dir: {pydock_env['PYDOCK_ROOT']}" in text and "Cgroup Version:" in text
