"""The click-free `run`/`create` parser (pydock/cli/fastrun.py) against the click commands it stands in
for: on a corpus of argument lists both give the same image, command and options, the same
ContainerSpec or the same error; lines it does not know go to click; and through the real CLI both
paths print the same output and exit codes and make the same container."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from pydock.cli import containers, fastrun
from pydock.cli.runspec import build_spec
from pydock.errors import PydockError

RUN_CORPUS = [
    ["busybox"],
    ["busybox", "true"],
    ["--rm", "busybox", "true"],
    ["-d", "busybox", "sleep", "60"],
    ["-d", "--name", "web", "-e", "A=1", "--env", "B=2", "-eC=3", "--env=D=4", "busybox", "env"],
    ["-it", "busybox", "sh"],
    ["-dit", "busybox"],
    ["-di", "-e", "X=1", "busybox"],
    ["-de", "X=1", "busybox"],
    ["-deX=1", "busybox"],
    ["-i", "busybox", "cat"],
    ["--init", "--rm", "busybox", "sleep", "1"],
    ["-v", "/tmp:/data:ro", "-v", "vol1:/v", "--mount", "type=tmpfs,target=/t", "busybox"],
    ["-w", "/tmp", "-u", "1000:1000", "-h", "box", "busybox", "pwd"],
    ["--workdir=/x", "--user=nobody", "--hostname=h", "busybox"],
    ["--entrypoint", "", "busybox", "echo", "hi"],
    ["--entrypoint=/bin/sh", "busybox", "-c", "exit 3"],
    ["--network", "none", "--rm", "busybox", "true"],
    ["--net=host", "busybox"],
    ["--network", "bridge", "-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "--expose", "90", "busybox"],
    ["-P", "--dns", "1.1.1.1", "--add-host", "a:10.0.0.1", "--network-alias", "al", "--ip", "", "busybox"],
    ["-l", "a=b", "--label", "c=", "--label=d=e", "busybox"],
    ["-l", "=b", "busybox"],
    ["--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3", "busybox"],
    ["--log-driver", "none", "busybox"],
    ["--log-opt", "=x", "busybox"],
    ["--restart", "always", "busybox"],
    ["--restart", "on-failure:3", "-d", "busybox"],
    ["--restart", "always", "--rm", "busybox"],
    ["--restart", "sometimes", "busybox"],
    ["--stop-signal", "SIGINT", "--pull", "never", "busybox"],
    ["-m", "64m", "--cpus", "0.5", "--pids-limit", "100", "busybox"],
    ["--memory=12x", "busybox"],
    ["--ulimit", "nofile=1024:2048", "--cgroup-parent", "mine", "busybox"],
    ["--cgroup-parent", "a/../b", "busybox"],
    ["--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "busybox"],
    ["--privileged", "--read-only", "--tmpfs", "/run:size=64m", "busybox"],
    ["--cap-add", "NOT_A_CAP", "busybox"],
    ["-v", "relative:/x:zz", "busybox"],
    ["-v", "/a:relative", "busybox"],
    ["--name", "bad name!", "busybox"],
    ["--rm", "busybox", "--rm", "-d", "--help"],  # after the image, all of it is the command
    ["--name", "--rm", "busybox"],  # a value that looks like a flag is still the value, as in click
]

# lines the parser leaves to click: help, an unknown flag, a flag with a value it takes none, a
# missing value or image, `--`, a non-string option
FALLBACK = [
    ["--help"],
    ["--rm", "--help", "busybox"],
    ["--bogus", "busybox"],
    ["-x", "busybox"],
    ["-dx", "busybox"],
    ["--rm=true", "busybox"],
    ["--name"],
    ["-e"],
    [],
    ["--rm"],
    ["--", "busybox"],
    ["-", "true"],
    ["--stop-timeout", "5", "busybox"],
    ["--health-retries", "3", "busybox"],
    ["--platform", "linux/amd64", "busybox"],
]


def _click_parse(command: click.Command, args: list[str]) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    params = dict(command.make_context(command.name or "", list(args)).params)
    return params.pop("image"), params.pop("command"), params


def _spec_or_error(image: str, cmd: tuple[str, ...], o: dict[str, Any]) -> object:
    try:
        return build_spec(image, cmd, **{k: v for k, v in o.items() if k != "detach"})
    except PydockError as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("args", RUN_CORPUS, ids=" ".join)
@pytest.mark.parametrize("name", ["run", "create"])
def test_fast_parse_builds_what_click_builds(name: str, args: list[str], pydock_env: dict[str, str],
                                             capfd: pytest.CaptureFixture[str]) -> None:
    command = containers.run if name == "run" else containers.create
    if name == "create" and any(a in ("-d", "-dit", "-di", "-de", "-deX=1") for a in args[:args.index("busybox")]):
        with pytest.raises(fastrun.Unsupported):  # create has no -d: click says so
            fastrun.parse(args, name)
        return
    image, cmd, fast = fastrun.parse(args, name)
    assert (image, cmd) == _click_parse(command, args)[:2]
    slow = _click_parse(command, args)[2]
    for key, value in fast.items():
        assert slow[key] == value, key
    fast_spec = _spec_or_error(image, cmd, fast)
    fast_err = capfd.readouterr().err  # warnings, as the click path prints them
    assert fast_spec == _spec_or_error(image, cmd, slow)
    assert capfd.readouterr().err == fast_err


def test_the_defaults_are_clicks(pydock_env: dict[str, str]) -> None:
    slow = _click_parse(containers.run, ["busybox"])[2]
    assert {k: slow[k] for k in fastrun._DEFAULTS} == fastrun._DEFAULTS


@pytest.mark.parametrize("args", FALLBACK, ids=lambda a: " ".join(a) or "(none)")
def test_unknown_lines_go_to_click(args: list[str]) -> None:
    with pytest.raises(fastrun.Unsupported):
        fastrun.parse(args, "run")
    assert fastrun.fast_run(args) is False
    assert fastrun.fast_create(args) is False


# -- through the real CLI (root): the fast path (`pydock.cli.main`) against click (`pydock.cli.app`) --

CLICK_CLI = [sys.executable, "-c", "import sys; from pydock.cli.app import main; main(sys.argv[1:])"]

END_TO_END = [
    ["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"],
    ["run", "--rm", "-e", "A=1", "--network", "none", "-w", "/tmp", "busybox", "sh", "-c", "echo $A; pwd"],
    ["run", "--rm", "--restart", "always", "busybox", "true"],
    ["run", "--rm", "-v", "/a:relative", "busybox", "true"],
    ["run", "--rm", "--log-opt", "max-size=bad", "busybox", "true"],
    ["run", "--rm", "busybox", "no-such-command"],
    ["run", "--rm", "--name", "bad name!", "busybox", "true"],
    ["run", "--rm", "--pull", "never", "no-such-image", "true"],
    ["create", "-l", "=x", "busybox"],
]


@pytest.mark.parametrize("args", END_TO_END, ids=" ".join)
def test_fast_and_click_commands_read_alike(args: list[str], pd: Any) -> None:
    fast = pd(*args)
    slow = subprocess.run([*CLICK_CLI, *args], env=pd.env, capture_output=True, text=True, timeout=60,
                          input="", check=False)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_fast_and_click_make_the_same_container(pd: Any) -> None:
    flags = ["-e", "A=1", "-l", "k=v", "-w", "/tmp", "--network", "none", "--init", "--log-opt", "max-size=1m",
             "-v", "/tmp:/data:ro", "--restart", "on-failure:2", "busybox", "echo", "hi"]
    fast_id = pd.out("create", "--name", "fast", *flags)
    slow_id = subprocess.run([*CLICK_CLI, "create", "--name", "slow", *flags], env=pd.env, capture_output=True,
                             text=True, check=True).stdout.strip()

    def config(cid: str) -> dict[str, Any]:
        rec = json.loads((Path(pd.env["PYDOCK_ROOT"]) / "containers" / cid / "config.json").read_text())
        text = json.dumps(rec).replace(cid, "ID").replace(cid[:12], "ID")
        out: dict[str, Any] = json.loads(text)
        for key in ("Name", "Created"):
            out.pop(key, None)
        return out

    assert config(fast_id) == config(slow_id)
