/* pydock dashboards: the overview page (hosts and containers, refreshed every 5 s). */
"use strict";
(function () {
  const { C, M, $, h, showError, setLive, getJSON, instant, range, tryInstant, key, byKey, bytes, pct, ago, labelChips, fillBody, every, ansiSegments, termsOf, highlighted, logLine, recKey, liveTail, appendLive } = window.pydock;
  async function overview() {
    const filter = $("#filter");
    let spark = {}, lastSpark = 0;
    const render = async () => {
      const [seen, cpu, mem, limit, restarts, state, health, cores, memory, up] = await Promise.all([
        instant(M.seen), instant(M.cpu), instant(M.mem), instant(M.limit), tryInstant(M.restarts),
        tryInstant(M.state), tryInstant(M.health), tryInstant(M.cores), tryInstant(M.memory), tryInstant(M.up)]);
      if (Date.now() - lastSpark > 15000) {
        try {
          const r = await range(M.cpu, 900, 60);
          spark = {};
          for (const s of r.result) spark[key(s.metric)] = s.values.map(([t, v]) => [t, parseFloat(v)]);
          lastSpark = Date.now();
        } catch (e) { /* sparklines are optional */ }
      }
      const C_ = byKey(cpu), MEM = byKey(mem), LIM = byKey(limit), RS = byKey(restarts);
      const ST = {}, HE = {};
      for (const s of state) ST[key(s.metric)] = s.metric.state || "";
      for (const s of health) HE[key(s.metric)] = s.metric.health || s.metric.status || "";
      const now = Date.now() / 1000;
      const seenRows = {};
      for (const s of seen) {
        const k = key(s.metric);
        const last = parseFloat(s.value[1]);
        if (!seenRows[k] || seenRows[k].last < last) seenRows[k] = { m: s.metric, last };
      }
      // Containers the agent reports only by state (exited ones have no cgroup, so no last_seen).
      for (const s of state) {
        const k = key(s.metric);
        if (!seenRows[k] && s.metric.name) seenRows[k] = { m: s.metric, last: 0 };
      }
      // Compose projects first, grouped under a heading row each (the agent exports Compose's labels).
      const proj = m => m.container_label_com_docker_compose_project || "";
      const rows = Object.values(seenRows).sort((a, b) => (proj(a.m) ? 0 : 1) - (proj(b.m) ? 0 : 1)
        || proj(a.m).localeCompare(proj(b.m)) || (a.m.name || "").localeCompare(b.m.name || ""));
      let group = null;
      const grouped = rows.some(r => proj(r.m));
      const q = (filter.value || "").toLowerCase();
      const perHost = {};
      const trs = [];
      for (const { m, last } of rows) {
        const k = key(m);
        perHost[m.instance || ""] = (perHost[m.instance || ""] || 0) + 1;
        if (q && !((m.name || "") + " " + (m.image || "") + " " + (m.instance || "") + " " + proj(m)).toLowerCase().includes(q)) continue;
        if (grouped && proj(m) !== group) {
          group = proj(m);
          trs.push(h("tr", { class: "project", "data-project": group },
            h("th", { colspan: "9", scope: "rowgroup", text: group ? "Project " + group : "Other containers" })));
        }
        const stale = last > 0 && now - last > 60;
        const st = ST[k] || (stale ? "gone" : "running");
        const stCls = st === "running" ? "ok" : (st === "restarting" || st === "paused") ? "warn" : "bad";
        const he = HE[k] || "";
        const used = MEM[k], lim = LIM[k];
        const frac = lim > 0 && lim < 2 ** 60 ? used / lim : NaN;
        const memCell = h("td", {},
          isFinite(frac) ? h("span", { class: "bar" + (frac > 0.9 ? " hot" : ""), title: pct(frac) + " of limit" }, h("span", { style: { width: Math.min(100, frac * 100).toFixed(1) + "%" } })) : null,
          bytes(used) + (isFinite(frac) ? " / " + bytes(lim) : ""));
        const tr = h("tr", { "data-name": m.name || "" },
          h("td", {}, h("a", { href: "/containers/" + encodeURIComponent(m.name || ""), text: m.name || "" })),
          h("td", { text: m.instance || "" }),
          h("td", { class: "hide-sm", text: m.image || "" }),
          h("td", {}, h("span", { class: "badge " + stCls, text: st })),
          h("td", {}, he ? h("span", { class: "badge " + (he === "healthy" ? "ok" : he === "starting" ? "warn" : "bad"), text: he }) : h("span", { class: "muted", text: "–" })),
          h("td", { text: pct(C_[k]) }),
          h("td", {}, C.sparkline(spark[k] || [])),
          memCell,
          h("td", { text: isFinite(RS[k]) ? String(RS[k]) : "–" }));
        trs.push(tr);
      }
      fillBody($("#containers"), trs);
      $("#count").textContent = "(" + rows.length + ")";
      $("#empty").hidden = rows.length > 0;
      const hosts = {};
      for (const s of up) if (s.metric.instance) hosts[s.metric.instance] = hosts[s.metric.instance] || { up: parseFloat(s.value[1]), job: s.metric.job };
      for (const hname of Object.keys(perHost)) hosts[hname] = hosts[hname] || { up: NaN };
      const CO = {}, MB = {};
      for (const s of cores) CO[s.metric.instance] = parseFloat(s.value[1]);
      for (const s of memory) MB[s.metric.instance] = parseFloat(s.value[1]);
      fillBody($("#hosts"), Object.keys(hosts).sort().filter(hn => perHost[hn] || CO[hn] !== undefined).map(hn =>
        h("tr", {},
          h("td", { text: hn }),
          h("td", {}, h("span", { class: "badge " + (hosts[hn].up === 1 ? "ok" : isNaN(hosts[hn].up) ? "warn" : "bad"), text: hosts[hn].up === 1 ? "up" : isNaN(hosts[hn].up) ? "?" : "down" })),
          h("td", { text: CO[hn] !== undefined ? String(CO[hn]) : "–" }),
          h("td", { text: MB[hn] !== undefined ? bytes(MB[hn]) : "–" }),
          h("td", { text: String(perHost[hn] || 0) }))));
    };
    filter.addEventListener("input", () => render().catch(e => showError(String(e.message || e))));
    every(render);
  }
  window.pydock.pages.overview = overview;
})();
