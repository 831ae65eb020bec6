/* pydock dashboards: one container (charts over a chosen range, or over the fixed window of `?from=&to=`
   that an alert's generatorURL gives; the container's events as markers on the charts and as a list;
   labels and limits, alerts, logs with live tail). */
"use strict";
(function () {
  const { C, M, $, h, showError, setLive, getJSON, instant, range, rangeBetween, tryInstant, key, byKey, bytes, pct, ago, labelChips, fillBody, every, ansiSegments, termsOf, highlighted, logLine, recKey, liveTail, appendLive } = window.pydock;
  // An event entry's line is `container ACTION[: DETAIL] [(attrs)]` (agent/events.py); the kind picks a colour.
  function eventKind(line) {
    const m = /^container ([a-z_]+)/.exec(line || "");
    const action = m ? m[1] : "";
    if (["die", "oom", "kill", "destroy"].includes(action) || /unhealthy/.test(line)) return "bad";
    if (["start", "restart", "unpause", "create"].includes(action) || /: healthy/.test(line)) return "ok";
    if (action) return "warn";
    return "";
  }
  function localTime(t) {
    const d = new Date(t * 1000), p = n => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  async function containerPage() {
    const name = document.body.dataset.container;
    const sel = 'name="' + name.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
    // A window from the URL (checked by the server, unix seconds here): charts and logs fixed to it.
    const from = parseFloat(document.body.dataset.from), to = parseFloat(document.body.dataset.to);
    const fixed = isFinite(from) && isFinite(to);
    const rangeSel = $("#range");
    const span = () => {
      if (fixed) return [from, to];
      const end = Date.now() / 1000;
      return [end - parseInt(rangeSel.value, 10), end];
    };
    const logsLink = { container: name };
    if (fixed) {
      for (const [id, t] of [["#wfrom", from], ["#wto", to]]) { $(id).textContent = localTime(t); $(id).setAttribute("datetime", new Date(t * 1000).toISOString()); }
      logsLink.start = new Date(from * 1000).toISOString();
      logsLink.end = new Date(to * 1000).toISOString();
    }
    $("#alllogs").href = "/logs?" + new URLSearchParams(logsLink);
    const events = async (t0, t1) => {
      const p = new URLSearchParams({ container: name, stream: "event", start: t0.toFixed(3), end: t1.toFixed(3), limit: "500" });
      const lines = (await getJSON("/api/v1/logs/query?" + p)).data.lines;
      return lines.map(r => ({ t: r.time_ns / 1e9, line: r.line || "" })).reverse();
    };
    const showEvents = evs => {
      $("#events").replaceChildren(...(evs.length ? evs.map(e => h("li", { class: "ev" + (eventKind(e.line) ? " ev-" + eventKind(e.line) : "") },
        h("time", { class: "meta", datetime: new Date(e.t * 1000).toISOString(), text: localTime(e.t) }), " ", h("span", { class: "evtext", text: e.line })))
        : [h("li", { class: "muted", text: fixed ? "No events in the window." : "No events in this range." })]));
    };
    const charts = async () => {
      const [t0, t1] = span();
      const q = expr => rangeBetween(expr, t0, t1);
      const mk = (r, nameOf) => r.result.map(s => ({ name: nameOf(s.metric), points: s.values.map(([t, v]) => [t, parseFloat(v)]) }));
      const [cpu, mem, lim, rx, tx, rd, wr, evs] = await Promise.all([
        q(`sum(rate(container_cpu_usage_seconds_total{${sel}}[1m])) * 100`),
        q(`sum(container_memory_working_set_bytes{${sel}})`),
        q(`sum(container_spec_memory_limit_bytes{${sel}}) > 0 < 2^60`),
        q(`sum(rate(container_network_receive_bytes_total{${sel}}[1m]))`),
        q(`sum(rate(container_network_transmit_bytes_total{${sel}}[1m]))`),
        q(`sum(rate(container_fs_reads_bytes_total{${sel}}[1m]))`),
        q(`sum(rate(container_fs_writes_bytes_total{${sel}}[1m]))`),
        events(t0, t1).catch(() => [])]);
      const markers = evs.map(e => ({ t: e.t, text: localTime(e.t) + " " + e.line, kind: eventKind(e.line) }));
      const o = { start: cpu.start, end: cpu.end, gap: cpu.step * 3, markers };
      C.lineChart($("#chart-cpu"), mk(cpu, () => "CPU %"), Object.assign({ title: "CPU %", fmt: v => +v.toPrecision(3) + "%" }, o));
      C.lineChart($("#chart-mem"), mk(mem, () => "working set").concat(mk(lim, () => "limit")), Object.assign({ title: "Memory", fmt: bytes, legend: true }, o));
      C.lineChart($("#chart-net"), mk(rx, () => "receive").concat(mk(tx, () => "transmit")), Object.assign({ title: "Network", fmt: v => bytes(v) + "/s", legend: true }, o));
      C.lineChart($("#chart-io"), mk(rd, () => "read").concat(mk(wr, () => "write")), Object.assign({ title: "Block I/O", fmt: v => bytes(v) + "/s", legend: true }, o));
      showEvents(evs);
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
    if (fixed) {
      // A fixed window: charts and logs drawn once; state, labels and alerts stay live.
      charts().catch(e => showError(String(e.message || e)));
      every(info);
    } else {
      rangeSel.addEventListener("change", () => charts().catch(e => showError(String(e.message || e))));
      every(async () => { await Promise.all([charts(), info()]); });
    }
    const box = $("#logs");
    const params = new URLSearchParams({ container: name, limit: fixed ? "500" : "200" });
    if (fixed) { params.set("start", from.toFixed(3)); params.set("end", to.toFixed(3)); }
    const page = await getJSON("/api/v1/logs/query?" + params);
    const shown = new Set(page.data.lines.map(recKey));
    box.replaceChildren(...page.data.lines.reverse().map(r => logLine(r, [], false)));
    if (fixed && page.data.next_cursor) box.prepend(h("p", { class: "muted", text: "The newest 500 lines of the window; the logs explorer has them all." }));
    if (!page.data.lines.length) box.appendChild(h("p", { class: "muted empty", text: fixed ? "No log lines in the window." : "No log lines yet." }));
    box.scrollTop = box.scrollHeight;
    if (fixed) return;
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
  window.pydock.pages.container = containerPage;
})();
