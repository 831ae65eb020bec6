/* pydock dashboards: one container (charts over a chosen range, labels and limits, alerts, logs with live tail). */
"use strict";
(function () {
  const { C, M, $, h, showError, setLive, getJSON, instant, range, tryInstant, key, byKey, bytes, pct, ago, labelChips, fillBody, every, ansiSegments, termsOf, highlighted, logLine, recKey, liveTail, appendLive } = window.pydock;
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
  window.pydock.pages.container = containerPage;
})();
