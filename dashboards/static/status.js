/* pydock dashboards: scrape targets, rule groups, and the PromQL query page (table and graph). */
"use strict";
(function () {
  const { C, M, $, h, showError, setLive, getJSON, instant, range, tryInstant, key, byKey, bytes, pct, ago, labelChips, fillBody, every, ansiSegments, termsOf, highlighted, logLine, recKey, liveTail, appendLive } = window.pydock;
  async function targetsPage() {
    every(async () => {
      const d = (await getJSON("/api/v1/targets")).data;
      const ts = (d.activeTargets || []).slice().sort((a, b) => ((a.labels.job || "") + a.scrapeUrl).localeCompare((b.labels.job || "") + b.scrapeUrl));
      fillBody($("#targets"), ts.map(t => h("tr", {},
        h("td", { text: (t.labels && t.labels.job) || t.scrapePool || "" }),
        h("td", {}, h("span", { class: "mono", text: t.scrapeUrl || "" })),
        h("td", {}, h("span", { class: "badge " + (t.health === "up" ? "ok" : t.health === "down" ? "bad" : "warn"), text: t.health || "unknown" })),
        h("td", { class: "wrap" }, labelChips(t.labels, ["job"])),
        h("td", { text: ago(t.lastScrape), title: t.lastScrape || "" }),
        h("td", { text: t.lastScrapeDuration !== undefined ? (t.lastScrapeDuration * 1000).toFixed(1) + " ms" : "" }),
        h("td", { class: "wrap bad", text: t.lastError || "" }))));
    });
  }
  async function rulesPage() {
    every(async () => {
      const groups = (await getJSON("/api/v1/rules")).data.groups || [];
      $("#groups").replaceChildren(...groups.map(g => h("section", {},
        h("h2", { text: g.name + " " }, h("span", { class: "muted", text: (g.file || "") + (g.interval ? " · every " + g.interval + "s" : "") })),
        h("div", { class: "scroll" }, h("table", { class: "grid" },
          h("thead", {}, h("tr", {}, ...["Rule", "Expression", "State", "Health", "Labels", "Last evaluation"].map(x => h("th", { text: x })))),
          h("tbody", {}, ...(g.rules || []).map(r => h("tr", {},
            h("td", {}, h("strong", { text: r.name || "" }), h("span", { class: "muted", text: " " + (r.type || "") })),
            h("td", { class: "wrap" }, h("code", { text: r.query || "" }), r.duration ? h("span", { class: "muted", text: " for " + r.duration + "s" }) : null),
            h("td", {}, r.state ? h("span", { class: "badge " + (r.state === "firing" ? "bad" : r.state === "pending" ? "warn" : "ok"), text: r.state }) : null),
            h("td", {}, h("span", { class: "badge " + (r.health === "ok" ? "ok" : r.health === "err" ? "bad" : "warn"), text: r.health || "unknown" }), r.lastError ? h("span", { class: "bad", text: " " + r.lastError }) : null),
            h("td", { class: "wrap" }, labelChips(r.labels)),
            h("td", { text: ago(r.lastEvaluation) })))))))));
    });
  }

  /* ---------- query ---------- */
  async function queryPage() {
    const form = $("#qform"), expr = $("#expr");
    const url = new URLSearchParams(location.search);
    if (url.get("expr")) expr.value = url.get("expr");
    const fmtMetric = m => {
      const name = m.__name__ || "";
      const rest = Object.keys(m).filter(k => k !== "__name__").sort().map(k => k + '="' + m[k] + '"');
      return name + (rest.length || !name ? "{" + rest.join(", ") + "}" : "");
    };
    const run = async () => {
      const e = expr.value.trim();
      if (!e) return;
      history.replaceState(null, "", "?" + new URLSearchParams({ expr: e }));
      try {
        const b = await getJSON("/api/v1/query?" + new URLSearchParams({ query: e }));
        const d = b.data;
        let rows;
        if (d.resultType === "vector") rows = d.result.map(s => h("tr", {}, h("td", { class: "wrap mono", text: fmtMetric(s.metric) }), h("td", { text: s.value[1] })));
        else if (d.resultType === "matrix") rows = d.result.map(s => h("tr", {}, h("td", { class: "wrap mono", text: fmtMetric(s.metric) }), h("td", { class: "wrap", text: s.values.map(v => v[1] + " @" + v[0]).join("\n") })));
        else rows = [h("tr", {}, h("td", { text: d.resultType }), h("td", { text: String(d.result[1]) }))];
        fillBody($("#qtable"), rows);
        if (d.resultType === "vector" || d.resultType === "scalar") {
          const r = await range(e, parseInt($("#range").value, 10));
          const series = r.resultType === "scalar" ? [] : r.result.map(s => ({ name: fmtMetric(s.metric), points: s.values.map(([t, v]) => [t, parseFloat(v)]) }));
          C.lineChart($("#qgraph"), series, { start: r.start, end: r.end, gap: r.step * 3, title: e, legend: true });
        } else {
          $("#qgraph").textContent = "";
        }
        showError("");
      } catch (err) { showError(String(err.message || err)); }
    };
    form.addEventListener("submit", ev => { ev.preventDefault(); run(); });
    expr.addEventListener("keydown", ev => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); run(); } });
    $("#range").addEventListener("change", run);
    if (expr.value) run();
  }
  Object.assign(window.pydock.pages, { targets: targetsPage, rules: rulesPage, query: queryPage });
})();
