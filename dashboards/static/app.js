/* pydock dashboards: page scripts. Data comes from the collector's JSON APIs; every piece of it is
   written with textContent (or attribute setters), never parsed as HTML. */
"use strict";
(function () {
  const C = window.pydockCharts;
  const REFRESH_MS = 5000;
  // cAdvisor's names (what the agent exports) and pydock's own additions.
  const M = {
    seen: 'container_last_seen{name!=""}',
    cpu: 'sum by (instance, name) (rate(container_cpu_usage_seconds_total{name!=""}[1m]))',
    mem: 'sum by (instance, name) (container_memory_working_set_bytes{name!=""})',
    limit: 'sum by (instance, name) (container_spec_memory_limit_bytes{name!=""})',
    restarts: 'max by (instance, name) (pydock_container_restarts_total{name!=""})',
    state: 'pydock_container_state{name!=""} == 1',  // label "state"
    health: 'pydock_container_health_status{name!=""} == 1',  // label "status"
    cores: "machine_cpu_cores",
    memory: "machine_memory_bytes",
    up: "up",
  };

  /* ---------- helpers ---------- */
  function $(sel, root) { return (root || document).querySelector(sel); }
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) for (const k in props) {
      if (k === "text") e.textContent = props[k];
      else if (k === "class") e.className = props[k];
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), props[k]);
      else e.setAttribute(k, props[k]);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.appendChild(typeof k === "string" ? document.createTextNode(k) : k);
    return e;
  }
  function showError(msg) {
    const e = $("#error");
    if (!e) return;
    if (msg) { e.textContent = msg; e.hidden = false; } else { e.hidden = true; }
  }
  function setLive(ok) {
    const e = $("#live");
    if (e) { e.classList.toggle("on", ok); e.classList.toggle("off", !ok); e.title = ok ? "Live" : "Disconnected"; }
  }
  async function getJSON(url, init) {
    const r = await fetch(url, Object.assign({ headers: { Accept: "application/json" } }, init || {}));
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const msg = body && (body.error || body.detail) ? (body.error || JSON.stringify(body.detail)) : r.status + " " + r.statusText;
      const err = new Error(url.split("?")[0] + ": " + msg);
      err.status = r.status;
      throw err;
    }
    return body;
  }
  async function instant(expr) {
    const b = await getJSON("/api/v1/query?" + new URLSearchParams({ query: expr }));
    return b.data.result;
  }
  async function range(expr, seconds, points) {
    const end = Date.now() / 1000, start = end - seconds;
    const step = Math.max(1, Math.ceil(seconds / (points || 120)));
    const b = await getJSON("/api/v1/query_range?" + new URLSearchParams({ query: expr, start: start.toFixed(3), end: end.toFixed(3), step: String(step) }));
    return { result: b.data.result, start, end, step };
  }
  async function tryInstant(expr) { try { return await instant(expr); } catch (e) { return []; } }
  function key(m) { return (m.instance || "") + "\u0000" + (m.name || ""); }
  function byKey(result) { const o = {}; for (const s of result) o[key(s.metric)] = parseFloat(s.value[1]); return o; }
  function bytes(v) {
    if (!isFinite(v)) return "–";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : String(Math.round(v))) + " " + u[i];
  }
  function pct(v) { return isFinite(v) ? (v * 100).toFixed(1) + "%" : "–"; }
  function ago(iso) {
    if (!iso) return "";
    const t = Date.parse(iso);
    if (!isFinite(t) || t <= 0) return "";
    const s = Math.max(0, (Date.now() - t) / 1000);
    if (s < 90) return Math.round(s) + "s ago";
    if (s < 5400) return Math.round(s / 60) + "m ago";
    if (s < 129600) return Math.round(s / 3600) + "h ago";
    return Math.round(s / 86400) + "d ago";
  }
  function labelChips(labels, skip) {
    const span = h("span");
    for (const k of Object.keys(labels || {}).sort()) {
      if (skip && skip.includes(k)) continue;
      span.appendChild(h("span", { class: "label", text: k + "=" + labels[k] }));
    }
    return span;
  }
  function fillBody(table, rows) {
    const tb = table.tBodies[0];
    tb.replaceChildren(...rows);
  }
  function every(fn, ms) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); setLive(true); showError(""); } catch (e) { setLive(false); showError(String(e.message || e)); }
      finally { busy = false; }
    };
    tick();
    setInterval(tick, ms || REFRESH_MS);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
  }

  /* ---------- ANSI colours and highlighting, as DOM nodes ---------- */
  const ESC_RE = /\u001b\[([0-9;]*)([A-Za-z])|\u001b[\]P^_][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b./g;
  function ansiSegments(text) {
    const segs = []; let cls = { fg: "", bg: "", b: false, i: false, u: false }; let last = 0, m;
    ESC_RE.lastIndex = 0;
    while ((m = ESC_RE.exec(text)) !== null) {
      if (m.index > last) segs.push([text.slice(last, m.index), Object.assign({}, cls)]);
      last = ESC_RE.lastIndex;
      if (m[2] === "m") {
        const codes = (m[1] || "0").split(";").map(Number);
        for (let j = 0; j < codes.length; j++) {
          const c = codes[j];
          if (c === 0) cls = { fg: "", bg: "", b: false, i: false, u: false };
          else if (c === 1) cls.b = true; else if (c === 3) cls.i = true; else if (c === 4) cls.u = true;
          else if (c === 22) cls.b = false; else if (c === 23) cls.i = false; else if (c === 24) cls.u = false;
          else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) cls.fg = "fg-" + c;
          else if (c === 39) cls.fg = "";
          else if (c >= 41 && c <= 44) cls.bg = "bg-" + c;
          else if (c === 49 || c === 40) cls.bg = "";
          else if (c === 38 || c === 48) j += codes[j + 1] === 5 ? 2 : 4; // 256/true colour: skipped
        }
      }
    }
    if (last < text.length) segs.push([text.slice(last), cls]);
    return segs;
  }
  function escRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  function termsOf(query) {
    const out = [];
    const re = /"([^"]+)"|([^\s()"]+)/g; let m;
    while ((m = re.exec(query || "")) !== null) {
      let t = m[1] || m[2];
      if (!m[1] && /^(AND|OR|NOT|NEAR)$/.test(t)) continue;
      t = t.replace(/^[-+]/, "").replace(/\*$/, "").replace(/^[a-z_]+:/, "");
      if (t) out.push(t);
    }
    return out;
  }
  function highlighted(text, terms, parent) {
    if (!terms.length) { parent.appendChild(document.createTextNode(text)); return; }
    const re = new RegExp(terms.map(escRe).join("|"), "gi");
    let last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m[0] === "") { re.lastIndex++; continue; }
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      parent.appendChild(h("mark", { text: m[0] }));
      last = re.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function logLine(rec, terms, fresh) {
    const row = h("div", { class: "logline " + (rec.stream === "stderr" ? "stderr" : "stdout") + (fresh ? " new" : "") });
    row.appendChild(h("span", { class: "meta", text: (rec.time || "").replace("T", " ").slice(0, 23), title: rec.time || "" }));
    const cn = h("a", { class: "cname", href: "/containers/" + encodeURIComponent(rec.container_name || rec.container_id), text: rec.container_name || (rec.container_id || "").slice(0, 12) });
    row.appendChild(cn);
    const msg = h("span", { class: "msg" });
    for (const [txt, c] of ansiSegments(rec.line || "")) {
      const cls = [c.fg, c.bg, c.b ? "ansi-b" : "", c.i ? "ansi-i" : "", c.u ? "ansi-u" : ""].filter(Boolean).join(" ");
      const target = cls ? h("span", { class: cls }) : msg;
      highlighted(txt, terms, target);
      if (cls) msg.appendChild(target);
    }
    row.appendChild(msg);
    return row;
  }

  /* ---------- live tail (server-sent events) ---------- */
  function recKey(r) { return r.container_id + "\u0000" + r.file_id + "\u0000" + r.offset; }
  function liveTail(params, onRecord, onPos) {
    const es = new EventSource("/api/v1/logs/tail?" + params);
    es.addEventListener("log", ev => { onRecord(JSON.parse(ev.data)); if (onPos && ev.lastEventId) onPos(ev.lastEventId); });
    es.onopen = () => setLive(true);
    es.onerror = () => setLive(false);
    return es;
  }
  function appendLive(box, rec, terms, max) {
    const empty = box.querySelector(".empty");
    if (empty) empty.remove();
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.appendChild(logLine(rec, terms, true));
    while (box.childElementCount > (max || 2000)) box.firstElementChild.remove();
    if (nearBottom) box.scrollTop = box.scrollHeight;
  }

  /* ---------- overview ---------- */
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
      const rows = Object.values(seenRows).sort((a, b) => (a.m.name || "").localeCompare(b.m.name || ""));
      const q = (filter.value || "").toLowerCase();
      const perHost = {};
      const trs = [];
      for (const { m, last } of rows) {
        const k = key(m);
        perHost[m.instance || ""] = (perHost[m.instance || ""] || 0) + 1;
        if (q && !((m.name || "") + " " + (m.image || "") + " " + (m.instance || "")).toLowerCase().includes(q)) continue;
        const stale = last > 0 && now - last > 60;
        const st = ST[k] || (stale ? "gone" : "running");
        const stCls = st === "running" ? "ok" : (st === "restarting" || st === "paused") ? "warn" : "bad";
        const he = HE[k] || "";
        const used = MEM[k], lim = LIM[k];
        const frac = lim > 0 && lim < 2 ** 60 ? used / lim : NaN;
        const memCell = h("td", {},
          isFinite(frac) ? h("span", { class: "bar" + (frac > 0.9 ? " hot" : ""), title: pct(frac) + " of limit" }, h("span", { style: "width:" + Math.min(100, frac * 100).toFixed(1) + "%" })) : null,
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

  /* ---------- container page ---------- */
  async function containerPage() {
    const name = document.body.dataset.container;
    const sel = 'name="' + name.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
    $("#alllogs").href = "/logs?" + new URLSearchParams({ container: name });
    const rangeSel = $("#range");
    const charts = async () => {
      const secs = parseInt(rangeSel.value, 10);
      const mk = (r, nameOf) => r.result.map(s => ({ name: nameOf(s.metric), points: s.values.map(([t, v]) => [t, parseFloat(v)]) }));
      const [cpu, mem, lim, rx, tx, rd, wr] = await Promise.all([
        range(`sum(rate(container_cpu_usage_seconds_total{${sel}}[1m])) * 100`, secs),
        range(`sum(container_memory_working_set_bytes{${sel}})`, secs),
        range(`sum(container_spec_memory_limit_bytes{${sel}}) > 0 < 2^60`, secs),
        range(`sum(rate(container_network_receive_bytes_total{${sel}}[1m]))`, secs),
        range(`sum(rate(container_network_transmit_bytes_total{${sel}}[1m]))`, secs),
        range(`sum(rate(container_fs_reads_bytes_total{${sel}}[1m]))`, secs),
        range(`sum(rate(container_fs_writes_bytes_total{${sel}}[1m]))`, secs)]);
      const o = { start: cpu.start, end: cpu.end, gap: cpu.step * 3 };
      C.lineChart($("#chart-cpu"), mk(cpu, () => "CPU %"), Object.assign({ title: "CPU %", fmt: v => +v.toPrecision(3) + "%" }, o));
      C.lineChart($("#chart-mem"), mk(mem, () => "working set").concat(mk(lim, () => "limit")), Object.assign({ title: "Memory", fmt: bytes, legend: true }, o));
      C.lineChart($("#chart-net"), mk(rx, () => "receive").concat(mk(tx, () => "transmit")), Object.assign({ title: "Network", fmt: v => bytes(v) + "/s", legend: true }, o));
      C.lineChart($("#chart-io"), mk(rd, () => "read").concat(mk(wr, () => "write")), Object.assign({ title: "Block I/O", fmt: v => bytes(v) + "/s", legend: true }, o));
    };
    const info = async () => {
      const [seen, quota, period, shares, mlimit, state] = await Promise.all([
        instant(`container_last_seen{${sel}}`), tryInstant(`container_spec_cpu_quota{${sel}}`), tryInstant(`container_spec_cpu_period{${sel}}`),
        tryInstant(`container_spec_cpu_shares{${sel}}`), tryInstant(`container_spec_memory_limit_bytes{${sel}}`), tryInstant(`pydock_container_state{${sel}} == 1`)]);
      const dl = $("#info");
      const items = [];
      const m = seen.length ? seen[0].metric : {};
      const add = (k, v) => { items.push(h("dt", { text: k }), h("dd", { text: v })); };
      if (m.id) add("cgroup", m.id);
      if (m.image) add("image", m.image);
      if (m.instance) add("host", m.instance);
      const q = quota.length ? parseFloat(quota[0].value[1]) : 0, p = period.length ? parseFloat(period[0].value[1]) : 0;
      add("CPU limit", q > 0 && p > 0 ? (q / p).toFixed(2) + " CPUs" : "none");
      if (shares.length) add("CPU shares", shares[0].value[1]);
      const ml = mlimit.length ? parseFloat(mlimit[0].value[1]) : 0;
      add("memory limit", ml > 0 && ml < 2 ** 60 ? bytes(ml) : "none");
      for (const k of Object.keys(m).sort()) if (k.startsWith("container_label_")) add(k.slice(16), m[k]);
      dl.replaceChildren(...items);
      const badge = $("#cstate");
      const st = state.length ? state[0].metric.state : (seen.length ? (Date.now() / 1000 - parseFloat(seen[0].value[1]) < 60 ? "running" : "gone") : "unknown");
      badge.textContent = st;
      badge.className = "badge " + (st === "running" ? "ok" : "bad");
      let alerts = [];
      try { alerts = (await getJSON("/api/v1/alerts")).data.alerts; } catch (e) { alerts = []; }
      const mine = alerts.filter(a => a.labels && (a.labels.name === name || a.labels.container === name));
      $("#calerts").replaceChildren(...(mine.length ? mine.map(a => h("li", {},
        h("span", { class: "badge " + (a.state === "firing" ? "bad" : "warn"), text: a.state }), " ",
        h("strong", { text: a.labels.alertname || "" }), " ",
        h("span", { text: (a.annotations && (a.annotations.summary || a.annotations.description)) || "" })))
        : [h("li", { class: "muted", text: "No alerts" })]));
    };
    rangeSel.addEventListener("change", () => charts().catch(e => showError(String(e.message || e))));
    every(async () => { await Promise.all([charts(), info()]); });
    const box = $("#logs");
    const params = new URLSearchParams({ container: name, limit: "200" });
    const page = await getJSON("/api/v1/logs/query?" + params);
    const shown = new Set(page.data.lines.map(recKey));
    box.replaceChildren(...page.data.lines.reverse().map(r => logLine(r, [], false)));
    if (!page.data.lines.length) box.appendChild(h("p", { class: "muted empty", text: "No log lines yet." }));
    box.scrollTop = box.scrollHeight;
    let es = null, after = page.data.tail_after;
    const toggle = () => {
      if (es) { es.close(); es = null; }
      if ($("#tail").checked) es = liveTail(new URLSearchParams({ container: name, after }), rec => {
        if (shown.has(recKey(rec))) return;
        appendLive(box, rec, [], 1000);
      }, pos => { after = pos; });
    };
    $("#tail").addEventListener("change", toggle);
    toggle();
  }

  /* ---------- logs explorer ---------- */
  async function logsPage() {
    const form = $("#search"), box = $("#logs"), more = $("#more"), status = $("#status");
    const fields = ["q", "container", "host", "stream", "start", "end"];
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
      terms = termsOf($("#q").value);
      p.set("limit", "200");
      if (append && cursor) p.set("cursor", cursor);
      try {
        const t0 = performance.now();
        const b = await getJSON("/api/v1/logs/query?" + p);
        showError("");
        const rows = b.data.lines.map(r => logLine(r, terms, false));
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
        box.prepend(logLine(rec, terms, true));
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

  /* ---------- alerts ---------- */
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
          h("td", { class: "wrap", text: (a.annotations && (a.annotations.summary || a.annotations.description)) || "" }),
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

  /* ---------- targets, rules ---------- */
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

  const pages = { overview, container: containerPage, logs: logsPage, alerts: alertsPage, targets: targetsPage, rules: rulesPage, query: queryPage };
  window.pydockUI = { ansiSegments, termsOf, parseMatchers };
  const start = pages[document.body.dataset.page];
  if (start) start().catch(e => showError(String(e.message || e)));
})();
