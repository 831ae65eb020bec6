/* pydock dashboards: alerts (firing, pending, silenced), silences (create, expire), 24 h history. */
"use strict";
(function () {
  const { C, M, $, h, showError, setLive, getJSON, instant, range, tryInstant, key, byKey, bytes, pct, ago, labelChips, fillBody, every, ansiSegments, termsOf, highlighted, logLine, recKey, liveTail, appendLive } = window.pydock;
  function matcherOk(m, labels) {
    const v = labels[m.name] || "";
    const eq = m.isEqual !== false;
    let hit;
    try { hit = m.isRegex ? new RegExp("^(?:" + m.value + ")$").test(v) : v === m.value; } catch (e) { hit = false; }
    return eq ? hit : !hit;
  }
  function parseMatchers(text) {
    const out = [];
    const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
    let m, pos = 0;
    while (pos < text.length && (m = re.exec(text)) !== null) {
      out.push({ name: m[1], value: m[3].replace(/\\(.)/g, "$1"), isRegex: m[2].includes("~"), isEqual: !m[2].startsWith("!") });
      pos = re.lastIndex;
    }
    if (!out.length || text.slice(pos).trim()) throw new Error('matchers look like name="value", other=~"re.*"');
    return out;
  }
  function durationSec(text) {
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy; let m, t = 0, pos = 0;
    const u = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    while ((m = re.exec(text)) !== null) { t += parseFloat(m[1]) * u[m[2]]; pos = re.lastIndex; }
    if (!t || pos !== text.length) throw new Error("duration looks like 2h or 30m");
    return t;
  }
  async function alertsPage() {
    let silences = [];
    const silenceBtn = labels => h("button", { class: "link", type: "button", text: "Silence", onclick: () => {
      $("#matchers").value = Object.keys(labels).sort().filter(k => k !== "__name__").map(k => k + '="' + labels[k].replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"').join(", ");
      $("#matchers").focus();
    } });
    const render = async () => {
      const alerts = (await getJSON("/api/v1/alerts")).data.alerts || [];
      try { silences = await getJSON("/api/v2/silences"); } catch (e) { silences = []; }
      const active = silences.filter(s => s.status && s.status.state === "active");
      const silencedBy = a => active.find(s => s.matchers.every(m => matcherOk(m, a.labels || {})));
      const row = a => {
        const s = silencedBy(a);
        return h("tr", { "data-alert": (a.labels || {}).alertname || "" },
          h("td", {}, h("strong", { text: (a.labels || {}).alertname || "" }), s ? h("span", { class: "badge warn", text: "silenced", title: "silence " + s.id }) : null),
          h("td", { class: "wrap" }, labelChips(a.labels, ["alertname"])),
          h("td", { text: ago(a.activeAt), title: a.activeAt || "" }),
          h("td", { text: a.value !== undefined ? String(+parseFloat(a.value).toPrecision(4)) : "" }),
          h("td", { class: "wrap" }, (a.annotations && (a.annotations.summary || a.annotations.description)) || "",
            // the container's last log lines (annotation `logs`, issue 14): text only, never markup
            a.annotations && a.annotations.logs ? h("details", { class: "alert-logs" },
              h("summary", { text: "log lines (" + a.annotations.logs.split("\n").length + ")" }),
              h("pre", { class: "wrap", text: a.annotations.logs })) : null),
          h("td", {}, silenceBtn(a.labels || {})));
      };
      fillBody($("#firing"), alerts.filter(a => a.state === "firing").map(row));
      fillBody($("#pending"), alerts.filter(a => a.state === "pending").map(row));
      fillBody($("#silences"), silences.filter(s => s.status && s.status.state !== "expired").map(s => h("tr", {},
        h("td", { class: "wrap" }, ...s.matchers.map(m => h("span", { class: "label", text: m.name + (m.isEqual === false ? "!" : "") + (m.isRegex ? "=~" : "=") + '"' + m.value + '"' }))),
        h("td", { text: (s.endsAt || "").replace("T", " ").slice(0, 19) }),
        h("td", { text: s.createdBy || "" }),
        h("td", { class: "wrap", text: s.comment || "" }),
        h("td", {}, h("span", { class: "badge " + (s.status.state === "active" ? "ok" : "warn"), text: s.status.state })),
        h("td", {}, h("button", { class: "link", type: "button", text: "Expire", onclick: async () => {
          try { await getJSON("/api/v2/silence/" + encodeURIComponent(s.id), { method: "DELETE" }); await render(); } catch (e) { showError(String(e.message || e)); }
        } })))));
      try {
        const r = await range("ALERTS", 86400, 288);
        const rows = r.result.map(s => {
          const ts = s.values.map(v => v[0]);
          return { m: s.metric, first: Math.min(...ts), last: Math.max(...ts) };
        });
        const grouped = {};
        for (const x of rows) {
          const lab = Object.assign({}, x.m); const st = lab.alertstate; delete lab.alertstate; delete lab.__name__;
          const k = JSON.stringify(Object.entries(lab).sort());
          const g = grouped[k] = grouped[k] || { lab, first: x.first, last: x.last, states: new Set() };
          g.first = Math.min(g.first, x.first); g.last = Math.max(g.last, x.last); g.states.add(st);
        }
        fillBody($("#history"), Object.values(grouped).sort((a, b) => b.last - a.last).map(g => h("tr", {},
          h("td", { text: g.lab.alertname || "" }),
          h("td", { class: "wrap" }, labelChips(g.lab, ["alertname"])),
          h("td", { text: new Date(g.first * 1000).toLocaleString() }),
          h("td", { text: new Date(g.last * 1000).toLocaleString() }),
          h("td", { text: [...g.states].join(", ") }))));
      } catch (e) { /* history needs the ALERTS series; the rest of the page still works */ }
    };
    $("#silence").addEventListener("submit", async ev => {
      ev.preventDefault();
      try {
        const matchers = parseMatchers($("#matchers").value);
        const now = new Date();
        const body = { matchers, startsAt: now.toISOString(), endsAt: new Date(now.getTime() + durationSec($("#duration").value.trim()) * 1000).toISOString(), createdBy: "dashboard", comment: $("#comment").value };
        await getJSON("/api/v2/silences", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) });
        $("#matchers").value = ""; $("#comment").value = "";
        await render();
      } catch (e) { showError(String(e.message || e)); }
    });
    every(render);
  }
  window.pydock.pages.alerts = alertsPage;
  window.pydock.parseMatchers = parseMatchers;
})();
