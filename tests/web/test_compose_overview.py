"""Compose projects on the dashboards (issue 13): the agent exports Compose's labels as
`container_label_com_docker_compose_*`, and the overview groups containers under one heading per
project. A live stack (webstack.py) plus a `pydock compose up -d` project, in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from webstack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.peer, pytest.mark.root]

COMPOSE = """\
services:
  api:
    image: busybox
    command: [sh, -c, "while true; do echo tick; sleep 1; done"]
    network_mode: none
    deploy: {replicas: 2}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("cstack"))
    try:
        s.start()
        proj = s.base / "shopx"
        proj.mkdir()
        (proj / "compose.yaml").write_text(COMPOSE)
        s.pydock("compose", "-f", str(proj / "compose.yaml"), "up", "-d")
        s.wait(lambda: len(s.query('container_last_seen{container_label_com_docker_compose_project="shopx"}')) == 2)
        yield s
    finally:
        try:
            s.pydock("compose", "-p", "shopx", "down")
        finally:
            s.stop()


def test_agent_exports_compose_labels(stack: Stack) -> None:
    rows = stack.query('container_last_seen{container_label_com_docker_compose_project="shopx"}')
    assert sorted(r["metric"]["name"] for r in rows) == ["shopx-api-1", "shopx-api-2"]
    assert {r["metric"]["container_label_com_docker_compose_service"] for r in rows} == {"api"}
    assert {r["metric"]["container_label_com_docker_compose_container_number"] for r in rows} == {"1", "2"}


def test_overview_groups_by_project(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/")
    page.wait_for_selector('#containers tr.project[data-project="shopx"]')
    order = page.eval_on_selector_all(
        "#containers tbody tr", "rows => rows.map(r => r.dataset.project !== undefined ? '#' + r.dataset.project"
        " : r.dataset.name)")
    start = order.index("#shopx")
    assert order[start + 1:start + 3] == ["shopx-api-1", "shopx-api-2"]
    assert "#" in order  # the containers of no project under their own heading
    assert order.index("#") > start and "web" in order[order.index("#"):]
    assert page.locator('tr.project[data-project="shopx"]').inner_text().strip() == "Project shopx"
    page.fill("#filter", "shopx")
    page.wait_for_function("() => !document.querySelector('#containers tr[data-name=web]')")
    assert not page.js_errors
