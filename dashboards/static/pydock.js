/* pydock dashboards: the shared part of the page scripts (data fetching, DOM building, ANSI colours,
   live tail). Data from the collector's JSON APIs is written with textContent or attribute setters,
   never parsed as HTML. Each page's own script registers itself in `pydock.pages`; app.js starts it. */
"use strict";
(function () {
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
      else if (k === "style") Object.assign(e.style, props[k]);  // CSSOM: allowed by the page's CSP, a style attribute is not
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
      const detail = body && body.detail !== undefined ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : "";
      const msg = (body && body.error) || detail || r.status + " " + r.statusText;
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
    const end = Date.now() / 1000;
    return rangeBetween(expr, end - seconds, end, points);
  }
  async function rangeBetween(expr, start, end, points) {
    const step = Math.max(1, Math.ceil((end - start) / (points || 120)));
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
    const row = h("div", { class: "logline " + (["stderr", "event"].includes(rec.stream) ? rec.stream : "stdout") + (fresh ? " new" : "") });
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
  window.pydock = { pages: {}, C: window.pydockCharts, REFRESH_MS, M, $, h, showError, setLive, getJSON, instant, range, rangeBetween, tryInstant, key, byKey, bytes, pct, ago, labelChips, fillBody, every, ansiSegments, termsOf, highlighted, logLine, recKey, liveTail, appendLive };
})();
