"""A service as a ContainerSpec, the config hash, and the plan's decisions (no containers needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydock.agent.exporter import sanitize_label
from pydock.compose import spec as cspec
from pydock.compose.loader import load

from pydock.errors import UsageError

FILE = """\
services:
  web:
    image: busybox
    command: httpd -f -p 80
    entrypoint: ["/bin/sh", "-c"]
    environment: {A: "1"}
    user: "1000:1000"
    working_dir: /srv
    hostname: webhost
    labels: {team: a}
    volumes:
      - data:/data
      - ./conf:/etc/conf:ro
      - {type: tmpfs, target: /cache, tmpfs: {size: 1048576}}
    tmpfs: [/run]
    logging: {driver: json-file, options: {max-size: 1m}}
    healthcheck: {test: "wget -q -O- http://127.0.0.1/", interval: 2s, timeout: 1s, retries: 3, start_period: 1m}
    restart: unless-stopped
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    deploy: {resources: {limits: {cpus: "0.5", memory: 32M, pids: 20}, reservations: {memory: 16M}}, replicas: 3}
    ulimits: {nofile: {soft: 1024, hard: 2048}}
volumes:
  data: {}
"""


@pytest.fixture
def project(tmp_path: Path, pydock_env: dict[str, str]):  # type: ignore[no-untyped-def]
    (tmp_path / "compose.yaml").write_text(FILE)
    return load(cwd=tmp_path, environ={}, project_name="demo")


def test_service_to_container_spec(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    s = cspec.container_spec(project, "web", 2, "sha256:abc")
    assert s.name == "demo-web-2" and s.image == "busybox"
    assert s.cmd == ("httpd", "-f", "-p", "80") and s.entrypoint == ("/bin/sh", "-c")
    assert s.env == ("A=1",) and s.user == "1000:1000" and s.workdir == "/srv" and s.hostname == "webhost"
    assert s.labels["team"] == "a" and s.labels[cspec.PROJECT] == "demo" and s.labels[cspec.SERVICE] == "web"
    assert s.labels[cspec.NUMBER] == "2" and s.labels[cspec.ONEOFF] == "False"
    assert s.labels[cspec.WORKDIR] == str(tmp_path.resolve())
    assert s.labels[cspec.FILES] == str((tmp_path / "compose.yaml").resolve())
    mounts = {m.target: m for m in s.mounts}
    assert mounts["/data"].type == "volume" and mounts["/data"].source == "demo_data"
    assert mounts["/etc/conf"].type == "bind" and mounts["/etc/conf"].source == str(tmp_path.resolve() / "conf")
    assert mounts["/etc/conf"].read_only
    assert mounts["/cache"].type == "tmpfs" and mounts["/cache"].options == {"tmpfs-size": "1048576"}
    assert mounts["/run"].type == "tmpfs"
    assert s.log_driver == "json-file" and s.log_opts == {"max-size": "1m"}
    assert s.healthcheck == {"Test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1/"], "Interval": 2_000_000_000,
                             "Timeout": 1_000_000_000, "StartPeriod": 60_000_000_000, "Retries": 3}
    assert s.stop_signal == "SIGINT" and s.stop_timeout == 90
    hc = s.host_config
    assert hc["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert hc["NanoCpus"] == 500_000_000 and hc["Memory"] == 32 << 20 and hc["PidsLimit"] == 20
    assert hc["MemoryReservation"] == 16 << 20
    assert {"Name": "nofile", "Soft": 1024, "Hard": 2048} in hc["Ulimits"]


def test_config_hash_ignores_replicas_and_deps() -> None:
    base = {"image": "b", "environment": {"A": "1"}, "deploy": {"replicas": 2}}
    assert cspec.config_hash(base) == cspec.config_hash({**base, "deploy": {"replicas": 5},
                                                         "depends_on": {"x": {}}, "profiles": ["p"]})
    assert cspec.config_hash(base) != cspec.config_hash({**base, "environment": {"A": "2"}})


def test_bad_limit_names_the_service(project) -> None:  # type: ignore[no-untyped-def]
    project.services["web"]["deploy"]["resources"]["limits"]["cpus"] = "-1"
    with pytest.raises(UsageError, match="services.web"):
        cspec.container_spec(project, "web", 1, "sha256:abc")


def test_agent_exports_compose_labels() -> None:
    # cAdvisor's rule, which the agent follows for every label: dashboards group by this name
    assert sanitize_label(cspec.PROJECT) == "container_label_com_docker_compose_project"
    assert sanitize_label(cspec.SERVICE) == "container_label_com_docker_compose_service"


def test_security_fields_go_through_the_security_room(tmp_path: Path, pydock_env: dict[str, str]) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  s:\n    image: busybox\n    cap_add: [NET_ADMIN]\n    cap_drop: [ALL]\n    read_only: true\n"
        "    sysctls: [net.ipv4.ip_forward=1]\n    init: true\n    shm_size: 32m\n"
        "    security_opt: [no-new-privileges]\n  plain:\n    image: busybox\n")
    p = load(cwd=tmp_path, environ={}, project_name="sec")
    hc = cspec.container_spec(p, "s", 1, "sha256:abc").host_config
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["ALL"]
    assert hc["ReadonlyRootfs"] is True and hc["Init"] is True and hc["ShmSize"] == 32 << 20
    assert hc["Sysctls"] == {"net.ipv4.ip_forward": "1"} and hc["NoNewPrivileges"] is True
    plain = cspec.container_spec(p, "plain", 1, "sha256:abc").host_config
    assert plain["Privileged"] is False and "SeccompProfile" in plain  # the default profile, as `pydock run`
