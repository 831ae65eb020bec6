"""`pydock compose` end to end with real busybox containers: up, convergence by config hash, health
conditions, a shared named volume, .env and override files, logs, exec, run, scale, down -v, and the
rollback of an `up` that fails half way."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
from pydock.compose.spec import HASH, NUMBER, PROJECT, SERVICE

pytestmark = pytest.mark.root

COMPOSE = """\
name: shop
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo '<h1>shop</h1>' > /srv/index.html; echo web ready $$GREETING; exec httpd -f -p 80 -h /srv"]
    environment:
      GREETING: ${GREETING:-hello}
    volumes: [site:/srv]
    ports: ["127.0.0.1:${WEB_PORT}:80"]
    networks:
      front:
        aliases: [www]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
      interval: 100ms
      retries: 50
    stop_grace_period: 1s
  worker:
    image: busybox
    command: ["sh", "-c", "echo worker $$MODE sees $$(cat /srv/index.html) web=$$(wget -qO- http://web/) www=$$(wget -qO- http://www/); exec sleep 1000"]
    networks: [front, default]
    depends_on:
      web:
        condition: service_healthy
    volumes:
      - type: volume
        source: site
        target: /srv
        read_only: true
    environment:
      MODE: ${MODE:?MODE must be set}
    stop_grace_period: 1s
volumes:
  site:
networks:
  front: {}
"""
OVERRIDE = """\
services:
  worker:
    labels:
      tier: back
    deploy:
      resources:
        limits: {memory: 64M, pids: 50}
    restart: on-failure:2
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _project(pc, mode: str = "batch") -> int:  # type: ignore[no-untyped-def]
    port = _free_port()
    (pc.cwd / "compose.yaml").write_text(COMPOSE)
    (pc.cwd / "compose.override.yaml").write_text(OVERRIDE)
    (pc.cwd / ".env").write_text(f"MODE={mode}\nWEB_PORT={port}\n")
    return port


def _ids(pc) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.name: r.id for r in pc.runtime().store.list()}


def test_up_converge_down(pc) -> None:  # type: ignore[no-untyped-def]
    port = _project(pc)
    pc("compose", "up", "-d")
    rt = pc.runtime()
    recs = {r.name: r for r in rt.store.list()}
    assert set(recs) == {"shop-web-1", "shop-worker-1"} and all(r.running for r in recs.values())
    web, worker = recs["shop-web-1"], recs["shop-worker-1"]
    assert web.labels[PROJECT] == "shop" and web.labels[SERVICE] == "web" and web.labels[NUMBER] == "1"
    assert (web.state.get("Health") or {}).get("Status") == "healthy"  # the worker waited for it
    assert worker.labels["tier"] == "back"  # from the override file
    host = worker.config["HostConfig"]
    assert host["Memory"] == 64 * 1024 * 1024 and host["PidsLimit"] == 50
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert "MODE=batch" in worker.config["Config"]["Env"]  # from .env
    assert [v.name for v in rt.volumes.list()] == ["shop_site"]

    # the page is served on the published port, and the worker reached web by name and by alias
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
    assert "<h1>shop</h1>" in page
    page = pc("compose", "exec", "web", "wget", "-qO-", "http://127.0.0.1:80/").stdout
    assert "<h1>shop</h1>" in page
    ps = pc("compose", "ps").stdout
    assert "shop-web-1" in ps and "shop-worker-1" in ps and "(healthy)" in ps
    assert f"127.0.0.1:{port}->80/tcp" in ps
    from pydock.runtime.network import list_networks

    assert {"shop_front", "shop_default"} <= {n["Name"] for n in list_networks(pc.settings)}
    logs = pc("compose", "logs", "--tail", "1").stdout.splitlines()
    assert "web-1     | web ready hello" in logs
    assert "worker-1  | worker batch sees <h1>shop</h1> web=<h1>shop</h1> www=<h1>shop</h1>" in logs

    before = _ids(pc)
    again = pc("compose", "up", "-d")
    assert _ids(pc) == before and "Recreated" not in again.stderr and "Created" not in again.stderr

    (pc.cwd / ".env").write_text(f"MODE=stream\nWEB_PORT={port}\n")
    changed = pc("compose", "up", "-d")
    after = _ids(pc)
    assert after["shop-web-1"] == before["shop-web-1"]
    assert after["shop-worker-1"] != before["shop-worker-1"]
    assert "Container shop-worker-1  Recreated" in changed.stderr
    assert rt.store.get("shop-worker-1").labels[HASH] != worker.labels[HASH]

    # one-off container, removed after
    out = pc("compose", "run", "--rm", "worker", "sh", "-c", "echo one-off $MODE")
    assert out.stdout.strip() == "one-off stream"
    assert set(_ids(pc)) == {"shop-web-1", "shop-worker-1"}

    pc("compose", "stop")
    assert not any(r.running for r in rt.store.list())
    pc("compose", "start")
    assert all(r.running for r in rt.store.list())

    pc("compose", "down", "-v")
    assert rt.store.list() == [] and rt.volumes.list() == []
    assert not any(n["Name"].startswith("shop_") for n in list_networks(pc.settings))


def test_scale_and_orphans(pc) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\n    command: [sleep, '1000']\n    stop_grace_period: 0s\n"
        "    deploy: {replicas: 2}\n  extra:\n    image: busybox\n    command: [sleep, '1000']\n"
        "    stop_grace_period: 0s\n")
    pc("compose", "-p", "sc", "up", "-d")
    assert sorted(_ids(pc)) == ["sc-app-1", "sc-app-2", "sc-extra-1"]
    pc("compose", "-p", "sc", "up", "-d", "--scale", "app=1")
    assert sorted(_ids(pc)) == ["sc-app-1", "sc-extra-1"]
    (pc.cwd / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\n    command: [sleep, '1000']\n    stop_grace_period: 0s\n")
    warn = pc("compose", "-p", "sc", "up", "-d")
    assert "orphan container sc-extra-1" in warn.stderr
    pc("compose", "-p", "sc", "up", "-d", "--remove-orphans")
    assert sorted(_ids(pc)) == ["sc-app-1"]
    pc("compose", "-p", "sc", "down")
    assert _ids(pc) == {}


def test_failed_up_leaves_nothing(pc) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text("""\
services:
  db:
    image: busybox
    command: [sleep, "1000"]
    volumes: [data:/data]
    healthcheck: {test: ["CMD", "false"], interval: 50ms, retries: 2}
    stop_grace_period: 0s
  app:
    image: busybox
    command: [sleep, "1000"]
    depends_on: {db: {condition: service_healthy}}
volumes:
  data: {}
""")
    p = pc("compose", "up", "-d", check=False)
    assert p.returncode != 0 and "container proj-db-1 is unhealthy" in p.stderr
    rt = pc.runtime()
    assert rt.store.list() == [] and rt.volumes.list() == []
    from pydock.runtime.network import list_networks

    assert not any(n["Name"].startswith("proj_") for n in list_networks(pc.settings))


@pytest.mark.parametrize("body,msg", [
    ("services:\n  web:\n    image: busybox\n    expose: ['80-70']\n    volumes: [v:/v]\nvolumes: {v: {}}\n",
     "invalid --expose '80-70'"),
    ("services:\n  web:\n    image: busybox\n    networks: [nope]\n", ("compose.yaml:4: services.web.networks: "
     "service refers to undefined network 'nope'")),
    ("services:\n  web:\n    image: busybox\n    mem_limit: lots\n", "compose.yaml:4: services.web.mem_limit"),
    ("services:\n  web:\n    image: nosuchimage\n    pull_policy: never\n    volumes: [v:/v]\nvolumes: {v: {}}\n",
     "services.web.image: no such image 'nosuchimage'"),
])
def test_bad_files_make_nothing(pc, body: str, msg: str) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text(body)
    p = pc("compose", "up", "-d", check=False)
    assert p.returncode != 0 and msg in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1  # one line, no traceback
    rt = pc.runtime()
    assert rt.store.list() == [] and rt.volumes.list() == []


def test_config_prints_a_loadable_file(pc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _project(pc)
    out = pc("compose", "config", "--format", "json").stdout
    model = json.loads(out)
    assert model["services"]["worker"]["environment"] == {"MODE": "batch"}
    assert model["services"]["worker"]["depends_on"]["web"]["condition"] == "service_healthy"
    text = pc("compose", "config").stdout
    assert "$$GREETING" in text
    # the reference parser of the Compose Specification accepts the test's files and the resolved one
    from compose_spec import PyCompose

    port = _project(pc)
    PyCompose.from_yaml(COMPOSE.replace("${WEB_PORT}", str(port)))
    PyCompose.from_yaml(OVERRIDE.replace("on-failure:2", "on-failure"))  # the crate lacks `:N` (validate.py)
    PyCompose.from_yaml(text.replace("on-failure:2", "on-failure"))
    again = tmp_path / "again"
    again.mkdir()
    (again / "compose.yaml").write_text(text)
    pc("compose", "-f", str(again / "compose.yaml"), "config", "-q")


def test_logs_merge_in_time_order_and_follow(pc) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text("""\
services:
  a:
    image: busybox
    command: ["sh", "-c", "echo a1; sleep 0.6; echo a2"]
  b:
    image: busybox
    command: ["sh", "-c", "sleep 0.3; echo b1; sleep 0.6; echo b2 >&2"]
    network_mode: none
""")
    pc("compose", "up", "-d")
    followed = pc("compose", "logs", "-f", timeout=30).stdout.splitlines()  # returns once both exited
    assert sorted(followed) == ["a-1  | a1", "a-1  | a2", "b-1  | b1", "b-1  | b2"]
    lines = pc("compose", "logs").stdout.splitlines()
    assert lines == ["a-1  | a1", "b-1  | b1", "a-1  | a2", "b-1  | b2"]
    stamped = pc("compose", "logs", "-t", "b").stdout.splitlines()
    assert len(stamped) == 2 and all(ln.startswith("b-1  | 20") for ln in stamped)
    assert "Exited (0)" in pc("compose", "ps", "-a").stdout


def test_security_fields_reach_the_container(pc) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text(
        "services:\n  s:\n    image: busybox\n    read_only: true\n    tmpfs: [/scratch]\n    network_mode: none\n")
    out = pc("compose", "run", "--rm", "s", "sh", "-c", "touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmp")
    assert out.stdout.split() == ["ro", "tmp"]
    assert pc.runtime().store.list() == []


def test_attached_up_streams_logs_and_stops_on_sigterm(pc) -> None:  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import sys
    import time

    (pc.cwd / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    network_mode: none\n    stop_grace_period: 5s\n"
        "    command: [sh, -c, \"trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done\"]\n")
    proc = subprocess.Popen([sys.executable, "-m", "pydock", "compose", "up"], cwd=pc.cwd, env=pc.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (pc.runtime().store.list() and "started" in _log(pc)):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "a-1  | started" in out and "Gracefully stopping" in err
    rec = pc.runtime().store.get("proj-a-1")
    assert not rec.running and rec.state.get("ExitCode") == 0  # stopped by its stop signal, not killed


def _log(pc) -> str:  # type: ignore[no-untyped-def]
    return pc("compose", "logs", check=False).stdout


def test_completed_successfully_and_selected_services(pc) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text("""\
services:
  migrate:
    image: busybox
    command: [sh, -c, "sleep 0.3; echo migrated > /state/done; exit ${MIGRATE_EXIT}"]
    volumes: [state:/state]
    network_mode: none
  app:
    image: busybox
    command: [sh, -c, "cat /state/done; exec sleep 1000"]
    volumes: [state:/state]
    network_mode: none
    stop_grace_period: 0s
    depends_on:
      migrate: {condition: service_completed_successfully}
  other:
    image: busybox
    command: [sleep, "1000"]
    network_mode: none
volumes:
  state:
""")
    (pc.cwd / "ok.env").write_text("MIGRATE_EXIT=0\n")
    (pc.cwd / "bad.env").write_text("MIGRATE_EXIT=3\n")
    p = pc("compose", "--env-file", "bad.env", "up", "-d", "app", check=False)
    assert p.returncode != 0 and "service 'migrate' didn't complete successfully: exit 3" in p.stderr
    rt = pc.runtime()
    assert rt.store.list() == [] and rt.volumes.list() == []
    pc("compose", "--env-file", "ok.env", "up", "-d", "app")  # brings up migrate first, not `other`
    assert sorted(_ids(pc)) == ["proj-app-1", "proj-migrate-1"]
    assert "app-1  | migrated" in pc("compose", "logs", "app").stdout
    pc("compose", "--env-file", "ok.env", "down", "-v")
    assert rt.store.list() == [] and rt.volumes.list() == []


def test_expose_reaches_the_container_config(pc) -> None:  # type: ignore[no-untyped-def]
    (pc.cwd / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n    command: [sleep, '300']\n"
                                         "    expose: ['8080', '53/udp']\n")
    pc("compose", "up", "-d")
    exposed = pc.runtime().store.get("proj-web-1").config["Config"]["ExposedPorts"]
    assert set(exposed) == {"8080/tcp", "53/udp"}
