"""`pydock ps`, `inspect` and `stop` without click print what the click commands print, with the same
errors and exit codes, over a corpus of argument lists and container states; unusual lines still go
through click (pydock/cli/fastcontainers.py)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydock.cli.fastcontainers import (
    INSPECT_OPTIONS,
    PS_OPTIONS,
    Unsupported,
    fast_inspect,
    fast_ps,
    fast_stop,
    parse_line,
)

VIA_CLICK = "import sys; from pydock.cli.app import main; main(sys.argv[1:])"
FAST = ("import sys; from pydock.cli import main; main(sys.argv[1:]); "
        "sys.stderr.write('click imported\\n' if 'click' in sys.modules else '')")
OLD = "2024-01-02T03:04:05.123456789Z"  # far enough back that "N months ago" cannot change between two runs

# name -> (state, extra config): the states `ps` and `inspect` show differently
STATES: dict[str, tuple[dict[str, object] | None, dict[str, object]]] = {
    "web": ({"Status": "running", "Running": True, "Pid": 1, "StartedAt": OLD}, {"Labels": {"tier": "web"}}),
    "db": ({"Status": "exited", "ExitCode": 3, "StartedAt": OLD, "FinishedAt": OLD}, {"Labels": {"tier": "db", "x": "1"}}),
    "fresh": (None, {}),
    "napping": ({"Status": "paused", "Running": True, "Paused": True, "Pid": 1, "StartedAt": OLD}, {}),
    "looping": ({"Status": "restarting", "Running": True, "Restarting": True, "ExitCode": 1, "FinishedAt": OLD}, {}),
    "orphan": ({"Status": "running", "Running": True, "Pid": 1, "StartedAt": OLD}, {}),  # its shim is gone
    "healthy": ({"Status": "running", "Running": True, "Pid": 1, "StartedAt": OLD, "Health": {"Status": "healthy"}}, {}),
}
LOCKED = ("web", "napping", "looping", "healthy")  # shims alive: the test holds their locks


@pytest.fixture
def containers(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A state root with one record per entry of STATES; the environment to run pydock in it."""
    root = tmp_path / "root"
    locks = []
    for k, (name, (state, extra)) in enumerate(STATES.items()):
        cid = f"{k:x}{k:x}" + "ab" * 31
        cdir = root / "containers" / cid
        cdir.mkdir(parents=True)
        config = {"Id": cid, "Name": name, "Created": f"2024-01-0{k + 1}T00:00:00Z", "Image": "busybox",
                  "ImageID": "sha256:" + "0" * 64, "Path": "sh", "Args": ["-c", "echo a long command line"],
                  "Config": {"Image": "busybox", "Labels": extra.get("Labels", {}), "Env": []},
                  "HostConfig": {"NetworkMode": "none", "LogConfig": {"Type": "json-file", "Config": {}}},
                  "Mounts": [{"Type": "bind", "Source": "/srv", "Destination": "/data"}],
                  "LogPath": str(cdir / f"{cid}-json.log")}
        (cdir / "config.json").write_text(json.dumps(config))
        if state is not None:
            (cdir / "state.json").write_text(json.dumps(state))
        if name in LOCKED:
            fd = os.open(cdir / "shim.lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            locks.append(fd)
    lost = root / "containers" / ("ee" * 32)  # state.json emptied by a crash
    lost.mkdir()
    (lost / "config.json").write_text(json.dumps({"Id": lost.name, "Name": "lost", "Config": {"Image": "busybox"},
                                                  "HostConfig": {}}))
    (lost / "state.json").write_text("")
    yield dict(os.environ, PYDOCK_ROOT=str(root), PYDOCK_RUN=str(tmp_path / "run"),
               PYDOCK_CONFIG=str(tmp_path / "daemon.json"))
    for fd in locks:
        os.close(fd)


def _both(env: dict[str, str], args: list[str]) -> bool:
    """Runs the line through click and through pydock.cli.main; both print the same. True when
    main left it to click (and click did not exit before the end)."""
    slow = subprocess.run([sys.executable, "-c", VIA_CLICK, *args], env=env, capture_output=True, timeout=60, check=False)
    fast = subprocess.run([sys.executable, "-c", FAST, *args], env=env, capture_output=True, timeout=60, check=False)
    assert (fast.returncode, fast.stdout.decode()) == (slow.returncode, slow.stdout.decode()), args
    assert fast.stderr.replace(b"click imported\n", b"") == slow.stderr, args
    return fast.stderr.endswith(b"click imported\n")


PS_LINES = [[], ["-a"], ["-aq"], ["-qa", "--no-trunc"], ["--all", "--format", "json"], ["-a", "--format=table"],
            ["-a", "--format", "{{.Names}}\\t{{.Status}}\\t{{.State}}"], ["-a", "--format", "table {{.ID}}\\t{{.Names}}"],
            ["--format", "{{json .Labels}} {{.Mounts}} {{.Command}}", "-a", "--no-trunc"], ["-f", "status=exited"],
            ["-fname=we"], ["--filter", "label=tier=db", "-a"], ["-a", "--filter=label=tier"], ["-a", "-f", "id=11"],
            ["-a", "-f", "name=^/?[ow]"], ["-a", "-f", "bogus"], ["-a", "-f", "color=red"],
            ["-a", "--format", "{{.Nope}}"], ["-a", "--format", "{{.Names | x}}"], ["-q", "-f", "status=running"]]
PS_TO_CLICK = [["--help"], ["-x"], ["extra"], ["--all=1"], ["-f"], ["--format"], ["--", "-a"], ["-a", "-n", "2"]]
INSPECT_LINES = [["web"], ["db", "web"], ["-f", "{{.Name}} {{.State.Status}} {{.State.ExitCode}}", "web", "db"],
                 ["--format={{json .State}}", "orphan"], ["--type", "container", "fresh"], ["-f{{.Id}}", "/lost"],
                 ["11"], ["-f", "{{.Bad}}", "web"], ["healthy", "napping", "looping"], ["a"]]
INSPECT_TO_CLICK = [["nope"], ["web", "nope"], [], ["-f"], ["--type", "bogus", "web"], ["--type=volume", "web"],
                    ["--help"], ["--size", "web"]]


@pytest.mark.parametrize("args", PS_LINES + PS_TO_CLICK, ids=lambda a: " ".join(a) or "(none)")
def test_ps_prints_what_click_prints(containers: dict[str, str], args: list[str]) -> None:
    clicked = _both(containers, ["ps", *args])
    if args in PS_TO_CLICK:  # left to click (which may exit before the marker line)
        assert fast_ps(args) is False
    else:
        assert not clicked


@pytest.mark.parametrize("args", INSPECT_LINES + INSPECT_TO_CLICK, ids=lambda a: " ".join(a) or "(none)")
def test_inspect_prints_what_click_prints(containers: dict[str, str], args: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    clicked = _both(containers, ["inspect", *args])
    if args in INSPECT_TO_CLICK:
        monkeypatch.setattr(os, "environ", containers)
        assert fast_inspect(args) is False
    else:
        assert not clicked


STOP_LINES = [["db"], ["fresh", "db"], ["-t", "5", "orphan"], ["--time=-1", "lost"], ["db", "nope", "fresh"],
              ["nope"], ["-t0", "/db"]]  # no live shim among them: a stop of those signals nothing
STOP_TO_CLICK = [[], ["-t", "x", "db"], ["-t", "+5", "db"], ["--help"], ["-t"], ["--signal", "9", "db"]]


@pytest.mark.parametrize("args", STOP_LINES + STOP_TO_CLICK, ids=lambda a: " ".join(a) or "(none)")
def test_stop_prints_what_click_prints(containers: dict[str, str], args: list[str]) -> None:
    clicked = _both(containers, ["stop", *args])
    if args in STOP_TO_CLICK:
        assert fast_stop(args) is False
    else:
        assert not clicked


@pytest.mark.parametrize("args,options,want", [
    (["-aq", "--no-trunc"], PS_OPTIONS, ({"all_": True, "quiet": True, "no_trunc": True}, [])),
    (["-fa=1", "--filter", "b=2", "-f", "c"], PS_OPTIONS, ({"filters": ("a=1", "b=2", "c")}, [])),
    (["x", "-f", "{{.Id}}", "y", "--type=container"], INSPECT_OPTIONS,
     ({"fmt": "{{.Id}}", "kind": "container"}, ["x", "y"])),
    (["-f", "-a"], PS_OPTIONS, ({"filters": ("-a",)}, [])),  # a value may look like a flag, as in click
])
def test_parse_line(args: list[str], options: dict[str, tuple[str, str]], want: object) -> None:
    assert parse_line(args, options) == want


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--", "x"], ["--all=x"], ["--format"], ["-qz"]])
def test_parse_line_leaves_to_click(args: list[str]) -> None:
    with pytest.raises(Unsupported):
        parse_line(args, PS_OPTIONS)


@pytest.mark.root
def test_stop_of_running_containers(pydock_env: dict[str, str]) -> None:
    """A real stop: the fast path and click each stop a running `sleep`, with the same output, exit
    code and resulting state."""
    env = dict(os.environ, **pydock_env)

    def pydock(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "pydock", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=True).stdout

    pydock("image", "bootstrap", "busybox")
    for name in ("by-fast", "by-click"):
        pydock("run", "-d", "--name", name, "busybox", "sleep", "1000")
    try:
        fast = subprocess.run([sys.executable, "-c", FAST, "stop", "-t", "0", "by-fast"], env=env, capture_output=True,
                              timeout=60, check=False)
        slow = subprocess.run([sys.executable, "-c", VIA_CLICK, "stop", "-t", "0", "by-click"], env=env,
                              capture_output=True, timeout=60, check=False)
        assert (fast.returncode, fast.stdout, fast.stderr) == (0, b"by-fast\n", b"")
        assert (slow.returncode, slow.stdout, slow.stderr) == (0, b"by-click\n", b"")
        shown = pydock("ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}").splitlines()
        states = dict(line.split(" ", 1) for line in shown)
        assert states["by-fast"].split(")")[0] == states["by-click"].split(")")[0] == "exited Exited (137", shown
    finally:
        pydock("rm", "-f", "by-fast", "by-click")
