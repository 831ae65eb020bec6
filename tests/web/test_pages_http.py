"""The pages through the ASGI test client: every page renders, a container name with markup is
escaped by the template, static files are served and nothing outside dashboards/static is."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydock.collector.logstore.sqlite import SQLiteLogStore
from webhelpers import logs_app


@pytest.fixture
def client(logstore: SQLiteLogStore):
    with TestClient(logs_app(logstore)) as c:
        yield c


@pytest.mark.parametrize("path,title,script", [
    ("/", "Overview", "overview.js"), ("/logs", "Logs", "logs.js"), ("/alerts", "Alerts", "alerts.js"),
    ("/targets", "Targets", "status.js"), ("/rules", "Rules", "status.js"), ("/query", "Query", "status.js"),
    ("/containers/web", "Container web", "container.js")])
def test_pages_render(client: TestClient, path: str, title: str, script: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f"<title>{title} · pydock</title>" in r.text
    assert '<script src="/static/app.js" defer></script>' in r.text
    assert f'<script src="/static/{script}" defer></script>' in r.text


def test_container_name_is_escaped(client: TestClient) -> None:
    r = client.get("/containers/%3Cscript%3Ealert(1)%3Cimg%20src=x%20onerror=alert(2)%3E%22x")
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text and "<img" not in r.text
    assert 'data-container="&lt;script&gt;alert(1)&lt;img src=x onerror=alert(2)&gt;&#34;x"' in r.text
    assert '<span class="mono">&lt;script&gt;alert(1)&lt;img src=x onerror=alert(2)&gt;&#34;x</span>' in r.text


def test_static_files(client: TestClient) -> None:
    for name in ("pydock.js", "overview.js", "container.js", "logs.js", "alerts.js", "status.js"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and "window.pydock" in r.text, name
    for name, ctype in (("app.js", "javascript"), ("charts.js", "javascript"), ("app.css", "text/css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and ctype in r.headers["content-type"], name
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/..%2F__init__.py").status_code == 404
    assert client.get("/static/%2e%2e%2ftemplates%2fbase.html").status_code == 404


PAGES = ["/", "/logs", "/alerts", "/targets", "/rules", "/query", "/containers/web"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_strict_content_security_policy(client: TestClient, path: str) -> None:
    from pydock.collector.web.pages import CSP

    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert csp == CSP
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"


def test_nothing_inline_that_the_policy_would_block() -> None:
    """The CSP allows no inline script or style attribute: the templates have none, and the scripts
    never parse data as HTML (they build DOM nodes and set text)."""
    import re

    from pydock.collector.web.pages import DASHBOARDS

    for t in (DASHBOARDS / "templates").glob("*.html"):
        html = t.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), t.name
        assert not re.search(r"\sstyle=|\son[a-z]+=|javascript:|\|\s*safe\b|autoescape\s+false", html), t.name
    for js in (DASHBOARDS / "static").glob("*.js"):
        code = js.read_text()
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                             r"setAttribute\(\s*[\"']style|[{,]\s*style:\s*[\"']", code), js.name
