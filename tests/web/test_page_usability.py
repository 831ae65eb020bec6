"""The pages with the keyboard alone, at a phone's width and in both themes, in headless Chromium
against the same live collector as test_hostile_text.py:

- Tab reaches every visible control of each page, in order, and each shows a focus ring (an outline
  of at least 2 px, or a box shadow) when it has focus; the skip link comes first and moves focus to
  the content; controls work from the keyboard (Silence/Expire buttons with Enter, the live-tail
  checkbox with Space, `/` to the log search, Ctrl+Enter on a query).
- At 320 and 390 px wide nothing makes the page scroll sideways (wide tables scroll inside their box).
- In the light and the dark theme, which follow the system's, text on its background has a WCAG
  contrast ratio of at least 4.5 (body text, muted text, links, buttons, badges, the error banner).
Screenshots: artifacts/screenshots/usability-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_hostile_text import hostile  # noqa: F401 - the live collector fixture, shared
from webhelpers import screenshot

pytestmark = [pytest.mark.browser]

PAGES = ["/", "/logs", "/alerts", "/targets", "/rules", "/query?expr=up", "/containers/x"]

# Visible controls in document order, and the one that has focus with how its focus shows.
CONTROLS = """() => [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')]
  .filter(e => e.tabIndex >= 0 && !e.disabled && e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
  .map(e => e.id || e.textContent.trim().slice(0, 40) || e.tagName)"""
FOCUSED = """() => { const e = document.activeElement; const s = getComputedStyle(e);
  return {id: e.id || e.textContent.trim().slice(0, 40) || e.tagName, outline: s.outlineStyle,
          width: parseFloat(s.outlineWidth), shadow: s.boxShadow}; }"""
CONTRAST = """sel => {
  const rgb = c => { const m = c.match(/[\\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                     return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const out = [];
  for (const e of document.querySelectorAll(sel)) {
    if (!e.getClientRects().length || !e.textContent.trim()) continue;
    let bg = null;
    for (let p = e; p; p = p.parentElement) { const c = rgb(getComputedStyle(p).backgroundColor); if (c.a > 0.5) { bg = c; break; } }
    bg = bg || {r: 255, g: 255, b: 255};
    const fg = rgb(getComputedStyle(e).color);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push({sel, text: e.textContent.trim().slice(0, 30), ratio: (a + 0.05) / (b + 0.05)});
  }
  return out; }"""
TEXT = ["body", "h1", "th", ".muted", "nav a", "nav a[aria-current]", "main a", "button", ".badge", ".error",
        ".label", ".logline .meta", ".logline .msg", "mark", "label"]


@pytest.fixture
def kpage(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.js_errors = errors
    yield pg
    ctx.close()


def settle(page: Any) -> None:
    """Until the page has shown its data: live updates on, search results, a query's rows, or an error."""
    page.wait_for_function("""() => document.getElementById('live').classList.contains('on')
        || (document.getElementById('status') || {}).textContent
        || document.querySelector('#qtable tbody tr') || !document.getElementById('error').hidden""", timeout=15000)
    page.wait_for_timeout(300)


@pytest.mark.parametrize("path", PAGES)
def test_every_control_is_reached_by_tab_with_a_visible_focus(hostile: str, kpage: Any,  # noqa: F811
                                                              path: str) -> None:
    kpage.goto(hostile + path)
    settle(kpage)
    controls = kpage.evaluate(CONTROLS)
    assert controls[0] == "Skip to content"
    reached = []
    for _ in range(len(controls) + 5):
        kpage.keyboard.press("Tab")
        f = kpage.evaluate(FOCUSED)
        if f["id"] == "BODY":
            break
        assert (f["outline"] != "none" and f["width"] >= 2) or f["shadow"] != "none", f
        reached.append(f["id"])
        if len(reached) == len(controls):
            break
    assert reached == controls
    assert kpage.js_errors == []


def test_skip_link_moves_focus_to_the_content(hostile: str, kpage: Any) -> None:  # noqa: F811
    kpage.goto(hostile + "/alerts")
    settle(kpage)
    kpage.keyboard.press("Tab")
    assert kpage.locator(".skip").bounding_box()["x"] >= 0  # shown on screen while focused
    screenshot(kpage, "usability-skip-link")
    kpage.keyboard.press("Enter")
    assert kpage.evaluate("() => document.activeElement.id") == "main"


def focus_on(page: Any, text: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == text:
            return
    raise AssertionError(f"{text!r} not reached by Tab")


def test_alerts_silence_and_expire_by_keyboard(hostile: str, kpage: Any) -> None:  # noqa: F811
    kpage.goto(hostile + "/alerts")
    kpage.wait_for_selector("#firing tbody button")
    before = kpage.locator("#silences tbody tr").count()
    focus_on(kpage, "Silence")
    kpage.keyboard.press("Enter")  # fills the form from the alert's labels and focuses it
    assert kpage.evaluate("() => document.activeElement.id") == "matchers"
    assert 'alertname="HostileAlert"' in kpage.locator("#matchers").input_value()
    kpage.keyboard.press("Tab")
    kpage.keyboard.press("Tab")
    kpage.keyboard.type("keyboard only")
    kpage.keyboard.press("Enter")  # submits the form
    kpage.wait_for_function(f"() => document.querySelectorAll('#silences tbody tr').length === {before + 1}")
    kpage.locator("#silences tbody tr", has_text="keyboard only").locator("button").focus()
    kpage.keyboard.press("Enter")  # Expire
    kpage.wait_for_function(f"() => document.querySelectorAll('#silences tbody tr').length === {before}")
    assert kpage.js_errors == []


def test_logs_and_query_keys(hostile: str, kpage: Any) -> None:  # noqa: F811
    kpage.goto(hostile + "/logs")
    kpage.wait_for_selector("#logs .logline")
    kpage.keyboard.press("/")
    assert kpage.evaluate("() => document.activeElement.id") == "q"
    kpage.keyboard.type("plain")
    kpage.keyboard.press("Enter")
    kpage.wait_for_function("() => document.querySelectorAll('#logs .logline').length === 1")
    kpage.locator("#tail").focus()
    kpage.keyboard.press("Space")
    assert kpage.locator("#tail").is_checked()
    kpage.goto(hostile + "/query")
    kpage.locator("#expr").focus()
    kpage.keyboard.type("vector(42)")
    kpage.keyboard.press("Control+Enter")
    kpage.wait_for_function("() => document.querySelector('#qtable tbody').textContent.includes('42')")
    assert kpage.js_errors == []


@pytest.mark.parametrize("width", [320, 390])
def test_phone_width_has_no_sideways_scroll(hostile: str, browser: Any, width: int) -> None:  # noqa: F811
    ctx = browser.new_context(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True,
                              device_scale_factor=2)
    pg = ctx.new_page()
    try:
        for path in PAGES:
            pg.goto(hostile + path)
            settle(pg)
            over = pg.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert over <= 0, (path, over)
            if width == 390:
                screenshot(pg, "usability-phone-" + (path.split("?")[0].strip("/").replace("/", "-") or "overview"))
    finally:
        ctx.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_in_both_themes(hostile: str, browser: Any, scheme: str) -> None:  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    pg = ctx.new_page()
    try:
        for path in ["/", "/logs?query=plain", "/alerts", "/targets", "/containers/x", "/logs?start=bad"]:
            pg.goto(hostile + path)
            settle(pg)
            bg = pg.evaluate("() => getComputedStyle(document.body).backgroundColor")
            dark_bg = sum(int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]) < 3 * 80
            assert dark_bg == (scheme == "dark"), bg
            low = [r for sel in TEXT for r in pg.evaluate(CONTRAST, sel) if r["ratio"] < 4.5]
            assert low == [], (path, low)
            screenshot(pg, f"usability-{scheme}-" + (path.split("?")[0].strip("/").replace("/", "-") or "overview")
                       + ("-error" if "bad" in path else ""))
    finally:
        ctx.close()
