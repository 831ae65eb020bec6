"""Hostile text in every place a page shows data, in headless Chromium against a real collector
(`create_app`, scraping a target that serves the hostile series, rules, silences, the log store):
container names, images and labels from the exposition, alert labels and annotations, a rule's
expression, silence matchers, comments and authors, target labels and scrape errors, PromQL results and
their graph legend, log lines (with ANSI colours) from a search and from the live tail, and error
messages that echo input. Every payload calls `alert()`, which the page's init script records, as it
records every Content-Security-Policy violation (an injected handler that CSP blocked still counts as
an injection); the test asserts that nothing was recorded, that no element from the payloads exists,
and that each payload shows literally as text. Screenshots go to artifacts/screenshots/hostile-*.png."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings
from webhelpers import LiveServer, screenshot

pytestmark = [pytest.mark.browser]

NAME = "<img src=x onerror=alert('name')>\"'&"
IMAGE = "<script>alert('image')</script>"
LABEL = "<svg onload=alert('label')>"
HOST_NAME = "<img src=x onerror=alert('hostname')>"
SUMMARY = "<img src=x onerror=alert('summary')> on"
RULE_LABEL = "<b onmouseover=alert('rulelabel')>x</b>"
COMMENT = "<img src=x onerror=alert('comment')>"
AUTHOR = "<script>alert('author')</script>"
TARGET_LABEL = "<iframe src=javascript:alert('target')>"
REASON = "<img src=x onerror=alert('reason')>"
LINES = ["<img src=x onerror=alert('line1')>",
         "\x1b[31;1m<script>alert('ansi')</script>\x1b[0m plain",
         "</div><svg/onload=alert('close')>"]
LIVE = "live </span><img src=x onerror=alert('tail')> end"
BAD_START = "<img src=x onerror=alert('error')>"

INIT = """
window.__xss = [];
window.alert = x => window.__xss.push("alert:" + x);
document.addEventListener("securitypolicyviolation",
  e => window.__xss.push("csp:" + e.violatedDirective + ":" + e.blockedURI + ":" + (e.sample || "")));
"""
# An element or attribute that only an injection could have made (the pages have no img, iframe or
# inline handler of their own; their only scripts are the static ones).
INJECTED = """() => [...document.querySelectorAll('*')].filter(e =>
  ['IMG', 'IFRAME'].includes(e.tagName) || (e.tagName === 'SCRIPT' && !e.src) ||
  [...e.attributes].some(a => a.name.startsWith('on'))).map(e => e.outerHTML)"""


def esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Exporter:
    """A scrape target that serves cAdvisor-named series with hostile labels (/metrics) and one that
    fails with a hostile reason phrase (/broken)."""

    def __init__(self) -> None:
        start = time.time()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/broken"):
                    self.send_response(500, REASON)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                now = time.time()
                c = f'name="{esc(NAME)}",image="{esc(IMAGE)}",id="/pydock/{esc(NAME)}"'
                body = (
                    f'container_last_seen{{{c},container_label_tier="{esc(LABEL)}"}} {now}\n'
                    f"container_cpu_usage_seconds_total{{{c},cpu=\"total\"}} {(now - start) * 0.25}\n"
                    f"container_memory_working_set_bytes{{{c}}} 1048576\n"
                    f"container_spec_memory_limit_bytes{{{c}}} 4194304\n"
                    f'pydock_container_state{{name="{esc(NAME)}",state="running"}} 1\n'
                    f"machine_cpu_cores 4\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


RULES = f"""groups:
  - name: hostile
    interval: 1s
    rules:
      - alert: HostileAlert
        expr: container_last_seen{{image="{esc(IMAGE)}"}} > 0
        labels: {{evil: {json.dumps(RULE_LABEL)}}}
        annotations: {{summary: {json.dumps(SUMMARY + " {{ $labels.name }}")}}}
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("hostile")
    exporter = Exporter()
    (base / "rules.yml").write_text(RULES)
    (base / "collector.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: cadvisor\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}'], labels: {{owner: {json.dumps(TARGET_LABEL)}}}}}]\n"
        "  - job_name: broken\n"
        "    metrics_path: /broken\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
        "rule_files: [rules.yml]\n")
    srv = LiveServer(create_app(CollectorSettings(config_path=base / "collector.yml", data_dir=base / "data"))).start()
    try:
        records = [{"host": HOST_NAME, "container_id": "e" * 64, "container_name": NAME, "stream": "stderr" if i else "stdout",
                    "time_ns": time.time_ns() - 1000 + i, "line": line, "file_id": "1:1:h", "offset": 100 * (i + 1)}
                   for i, line in enumerate(LINES)]
        r = httpx.post(srv.url + "/api/v1/logs/push", timeout=10, headers={"Content-Encoding": "gzip"},
                       content=gzip.compress("".join(json.dumps(x) + "\n" for x in records).encode()))
        assert r.status_code == 200, r.text
        now = time.time()
        r = httpx.post(srv.url + "/api/v2/silences", timeout=10, json={
            "matchers": [{"name": "name", "value": NAME, "isRegex": False, "isEqual": True}],
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5)),
            "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
            "createdBy": AUTHOR, "comment": COMMENT})
        assert r.status_code == 200, r.text
        deadline = time.time() + 30
        while True:  # two scrapes (rate() needs them) and the alert firing
            alerts = httpx.get(srv.url + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            rate = httpx.get(srv.url + "/api/v1/query", timeout=5,
                             params={"query": "rate(container_cpu_usage_seconds_total[1m])"}).json()["data"]["result"]
            if any(a["state"] == "firing" for a in alerts) and rate:
                break
            assert time.time() < deadline, (alerts, rate)
            time.sleep(0.3)
        yield srv.url
    finally:
        srv.stop()
        exporter.stop()


@pytest.fixture
def hpage(page: Any) -> Any:
    page.add_init_script(INIT)
    return page


def shows(page: Any, *texts: str, timeout: float = 15000) -> None:
    for t in texts:
        page.wait_for_function("t => document.body.innerText.includes(t)", arg=t, timeout=timeout)


def assert_clean(page: Any, name: str) -> None:
    screenshot(page, f"hostile-{name}")
    assert page.evaluate("window.__xss") == []
    assert page.evaluate(INJECTED) == []
    assert page.js_errors == []


def test_overview(hostile: str, hpage: Any) -> None:
    hpage.goto(hostile + "/")
    shows(hpage, NAME)
    link = hpage.locator("#containers tbody a").first
    assert link.inner_text() == NAME
    assert link.get_attribute("href") == "/containers/" + quote(NAME, safe="!'()*")  # encodeURIComponent
    hpage.locator("#filter").fill("onerror")
    shows(hpage, NAME)
    assert_clean(hpage, "overview")


def test_container_page(hostile: str, hpage: Any) -> None:
    hpage.goto(hostile + "/containers/" + quote(NAME, safe=""))
    assert hpage.locator("h1 .mono").inner_text() == NAME
    shows(hpage, IMAGE, LABEL, SUMMARY + " " + NAME, *(line.replace("\x1b[31;1m", "").replace("\x1b[0m", "")
                                                        for line in LINES))
    hpage.wait_for_function("() => +(document.querySelector('#chart-cpu svg') || {getAttribute: () => 0})"
                            ".getAttribute('data-points') > 0", timeout=20000)
    assert hpage.locator("#alllogs").get_attribute("href") == "/logs?container=" + quote(NAME, safe="").replace("%20", "+")
    assert_clean(hpage, "container")


def test_logs_search_ansi_and_live_tail(hostile: str, hpage: Any) -> None:
    hpage.goto(hostile + "/logs?query=onerror")
    shows(hpage, LINES[0])
    assert LINES[2] not in hpage.locator("#logs").inner_text()  # the search filtered
    # the match is highlighted as a <mark> holding text, inside the literal payload
    assert hpage.locator("#logs mark").first.inner_text().lower() == "onerror"
    hpage.goto(hostile + "/logs")
    shows(hpage, "<script>alert('ansi')</script> plain", LINES[2])
    red = hpage.locator("#logs .fg-31.ansi-b")
    assert red.inner_text() == "<script>alert('ansi')</script>"
    assert hpage.locator("#logs .cname").first.inner_text() == NAME
    hpage.locator("#tail").check()
    hpage.wait_for_timeout(500)
    r = httpx.post(hostile + "/api/v1/logs/push", timeout=10, content=json.dumps(
        {"host": HOST_NAME, "container_id": "e" * 64, "container_name": NAME, "stream": "stdout",
         "time_ns": time.time_ns(), "line": LIVE, "file_id": "1:1:h", "offset": 10_000}) + "\n")
    assert r.status_code == 200
    shows(hpage, LIVE, timeout=5000)
    assert hpage.locator("#logs .logline.new .msg").first.inner_text() == LIVE
    assert_clean(hpage, "logs")


def test_error_messages_stay_text(hostile: str, hpage: Any) -> None:
    hpage.goto(hostile + "/logs?start=" + quote(BAD_START))
    hpage.wait_for_selector("#error:not([hidden])")
    assert BAD_START in hpage.locator("#error").inner_text()
    assert_clean(hpage, "logs-error")


def test_alerts_and_silences(hostile: str, hpage: Any) -> None:
    hpage.goto(hostile + "/alerts")
    shows(hpage, "evil=" + RULE_LABEL, "image=" + IMAGE, SUMMARY + " " + NAME, COMMENT, AUTHOR, 'name="' + NAME + '"')
    assert hpage.locator("#firing .badge", has_text="silenced").count() == 1  # the silence matched the hostile name
    hpage.locator("#firing button", has_text="Silence").first.click()  # fills the form from the labels
    assert 'name="' + NAME.replace('"', '\\"') + '"' in hpage.locator("#matchers").input_value()
    assert_clean(hpage, "alerts")


def test_targets_rules_and_query(hostile: str, hpage: Any) -> None:
    hpage.goto(hostile + "/targets")
    shows(hpage, "owner=" + TARGET_LABEL, REASON)
    assert_clean(hpage, "targets")
    hpage.goto(hostile + "/rules")
    shows(hpage, "evil=" + RULE_LABEL, 'image="' + esc(IMAGE) + '"')
    assert_clean(hpage, "rules")
    hpage.goto(hostile + "/query?expr=container_memory_working_set_bytes")
    shows(hpage, 'name="' + NAME + '"', 'image="' + IMAGE + '"')
    hpage.wait_for_selector("#qgraph .legend")
    assert NAME in hpage.locator("#qgraph .legend").inner_text()
    hpage.locator("#expr").fill(f'label_replace(vector(1), "x", "{esc(LABEL)}", "", "")')
    hpage.locator("#expr").press("Control+Enter")
    shows(hpage, 'x="' + LABEL + '"')
    hpage.locator("#expr").fill('"' + esc(BAD_START) + '" +')
    hpage.locator("#expr").press("Control+Enter")
    hpage.wait_for_selector("#error:not([hidden])")
    assert_clean(hpage, "query")
