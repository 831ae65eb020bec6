/* pydock dashboards: the logs explorer (search or LogQL, filters, level column, highlighted matches,
   older pages, live tail). */
"use strict";
(function () {
  const { C, M, $, h, showError, setLive, getJSON, instant, range, tryInstant, key, byKey, bytes, pct, ago, labelChips, fillBody, every, ansiSegments, termsOf, highlighted, logLine, recKey, liveTail, appendLive } = window.pydock;
  const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"];
  // A LogQL query highlights its `|=` needles; a plain search its words (field terms included).
  function queryTerms(q) {
    if (!/^\s*\{/.test(q)) return termsOf(q);
    const out = [], re = /\|=\s*"((?:[^"\\]|\\.)*)"/g; let m;
    while ((m = re.exec(q)) !== null) { try { out.push(JSON.parse('"' + m[1] + '"')); } catch (e) { /* not a plain string */ } }
    return out.filter(Boolean);
  }
  // The level column: text only, the class from a fixed list (the store normalises levels).
  function levelRow(rec, terms, fresh) {
    const row = logLine(rec, terms, fresh);
    const lv = LEVELS.includes(rec.level) ? rec.level : "";
    row.insertBefore(h("span", { class: "lvl" + (lv ? " lvl-" + lv : ""), text: lv || "-", title: lv ? "level " + lv : "no level" }), row.children[1] || null);
    return row;
  }
  async function logsPage() {
    const form = $("#search"), box = $("#logs"), more = $("#more"), status = $("#status");
    const fields = ["q", "container", "host", "stream", "level", "start", "end"];
    const url = new URLSearchParams(location.search);
    for (const f of fields) { const v = url.get(f === "q" ? "query" : f); if (v !== null) $("#" + f).value = v; }
    let cursor = "", es = null, terms = [], tailAfter = "", shown = new Set();
    const params = () => {
      const p = new URLSearchParams();
      for (const f of fields) { const v = $("#" + f).value.trim(); if (v) p.set(f === "q" ? "query" : f, v); }
      return p;
    };
    const search = async (append) => {
      const p = params();
      terms = queryTerms($("#q").value);
      p.set("limit", "200");
      if (append && cursor) p.set("cursor", cursor);
      try {
        const t0 = performance.now();
        const b = await getJSON("/api/v1/logs/query?" + p);
        showError("");
        const rows = b.data.lines.map(r => levelRow(r, terms, false));
        if (!append) { tailAfter = b.data.tail_after; shown = new Set(); }
        for (const r of b.data.lines) shown.add(recKey(r));
        if (append) box.append(...rows); else box.replaceChildren(...rows);
        if (!box.childElementCount) box.appendChild(h("p", { class: "muted empty", text: "No matching lines." }));
        cursor = b.data.next_cursor;
        more.hidden = !cursor;
        status.textContent = box.querySelectorAll(".logline").length + " lines, newest first (" + Math.round(performance.now() - t0) + " ms)";
      } catch (e) { showError(String(e.message || e)); }
    };
    const tail = () => {
      if (es) { es.close(); es = null; }
      if (!$("#tail").checked) return;
      const p = params(); p.delete("start"); p.delete("end");
      if (tailAfter) p.set("after", tailAfter);
      es = liveTail(p, rec => {
        if (shown.has(recKey(rec))) return;  // the page's own lines, if the tail starts before them
        const empty = box.querySelector(".empty");
        if (empty) empty.remove();
        // newest first: live lines go on top
        box.prepend(levelRow(rec, terms, true));
        while (box.childElementCount > 5000) box.lastElementChild.remove();
      }, pos => { tailAfter = pos; });
    };
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      history.replaceState(null, "", "?" + params());
      search(false).then(tail);
    });
    more.addEventListener("click", () => search(true));
    $("#tail").addEventListener("change", tail);
    document.addEventListener("keydown", ev => {
      if (ev.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) { ev.preventDefault(); $("#q").focus(); }
    });
    await search(false);
    if ($("#tail").checked) tail();
  }
  window.pydock.pages.logs = logsPage;
})();
