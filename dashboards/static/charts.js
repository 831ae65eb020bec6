/* pydock charts: small SVG line charts and sparklines, no dependencies.
   Every label is set with textContent; nothing from the data is parsed as markup. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function niceStep(range, ticks) {
    const raw = range / Math.max(1, ticks);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  }
  function fmtTime(t, span) {
    const d = new Date(t * 1000);
    const hh = String(d.getHours()).padStart(2, "0"), mm = String(d.getMinutes()).padStart(2, "0");
    if (span > 2 * 86400) return (d.getMonth() + 1) + "/" + d.getDate();
    if (span < 600) return hh + ":" + mm + ":" + String(d.getSeconds()).padStart(2, "0");
    return hh + ":" + mm;
  }
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const COLORS = ["--c0", "--c1", "--c2", "--c3", "--c4", "--c5"];
  function color(i) {
    return getComputedStyle(document.documentElement).getPropertyValue(COLORS[i % COLORS.length]).trim() || "#1d63d8";
  }
  /* Vertical markers (container events) over [x0, x1]: each a line with a wider, invisible hit line, and
     its text in an SVG <title> (a text node: the browser's tooltip, read by screen readers too). */
  const MARK_KINDS = ["ok", "warn", "bad"];
  function drawMarkers(svg, markers, X, x0, x1, top, bottom) {
    const g = el("g", { class: "evmarks" }, svg);
    let n = 0;
    for (const m of markers || []) {
      if (!(m.t >= x0 && m.t <= x1)) continue;
      const x = X(m.t).toFixed(1);
      const mk = el("g", { class: "evmark" + (MARK_KINDS.includes(m.kind) ? " ev-" + m.kind : ""), "data-t": String(m.t) }, g);
      const tt = el("title", {}, mk);
      tt.textContent = m.text;
      el("line", { class: "evline", x1: x, x2: x, y1: top, y2: bottom }, mk);
      el("line", { class: "evhit", x1: x, x2: x, y1: top, y2: bottom }, mk);
      el("path", { class: "evhead", d: `M${x} ${top}l-4 -6h8z` }, mk);
      n++;
    }
    svg.setAttribute("data-markers", String(n));
  }
  /* series: [{name, points: [[t_seconds, value], ...]}];
     opts: {fmt, start, end, min0, markers: [{t, text, kind: "ok"|"warn"|"bad"|""}]} */
  function lineChart(box, series, opts) {
    opts = opts || {};
    const fmt = opts.fmt || (v => String(+v.toPrecision(3)));
    // Drawn at the box's own width, so that text keeps its size on a phone and on a wide screen.
    const W = Math.max(280, Math.round(box.clientWidth || 600)), H = opts.height || (W > 900 ? 280 : 200);
    const L = 56, R = 8, T = opts.markers ? 14 : 8, B = 22;
    let xs0 = opts.start, xs1 = opts.end, y0 = Infinity, y1 = -Infinity, count = 0;
    for (const s of series) for (const [t, v] of s.points) {
      if (!isFinite(v)) continue;
      if (xs0 === undefined || t < xs0) xs0 = t;
      if (xs1 === undefined || t > xs1) xs1 = t;
      y0 = Math.min(y0, v); y1 = Math.max(y1, v); count++;
    }
    box.textContent = "";
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-points": String(count) }, box);
    const title = el("title", {}, svg);
    title.textContent = (opts.title || "chart") + ": " + count + " points";
    if (xs0 !== undefined && xs1 !== undefined) { svg.setAttribute("data-start", String(xs0)); svg.setAttribute("data-end", String(xs1)); }
    if (!count) {
      const t = el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, svg);
      t.textContent = "no data";
      if (opts.markers && xs0 !== undefined && xs1 > xs0) drawMarkers(svg, opts.markers, t => L + (t - xs0) / (xs1 - xs0) * (W - L - R), xs0, xs1, T, H - B);
      return svg;
    }
    if (opts.min0 !== false) y0 = Math.min(0, y0);
    if (y1 === y0) y1 = y0 + (y0 === 0 ? 1 : Math.abs(y0));
    if (xs1 === xs0) xs1 = xs0 + 1;
    const step = niceStep(y1 - y0, 4);
    y1 = Math.ceil(y1 / step) * step;
    const X = t => L + (t - xs0) / (xs1 - xs0) * (W - L - R);
    const Y = v => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
    for (let v = Math.ceil(y0 / step) * step; v <= y1 + step / 1e6; v += step) {
      el("line", { class: "axis", x1: L, x2: W - R, y1: Y(v), y2: Y(v) }, svg);
      const lab = el("text", { x: L - 4, y: Y(v) + 3, "text-anchor": "end" }, svg);
      lab.textContent = fmt(v);
    }
    const span = xs1 - xs0;
    const tstep = TIME_STEPS.find(st => span / st <= Math.max(3, Math.floor(W / 110))) || 86400 * 7;
    // Ticks on round local times (the offset keeps hours aligned in zones that are not whole hours).
    const tz = -new Date(xs0 * 1000).getTimezoneOffset() * 60;
    for (let t = Math.ceil((xs0 + tz) / tstep) * tstep - tz; t <= xs1; t += tstep) {
      const lab = el("text", { x: X(t), y: H - 6, "text-anchor": "middle" }, svg);
      lab.textContent = fmtTime(t, span);
    }
    if (opts.markers) drawMarkers(svg, opts.markers, X, xs0, xs1, T, H - B);
    series.forEach((s, i) => {
      let d = "", pen = false, prev = null, run = [];
      const dots = [];
      const endRun = () => { if (run.length === 1) dots.push(run[0]); run = []; };
      for (const [t, v] of s.points) {
        // A gap longer than 3 steps breaks the line, as Prometheus's graph does.
        if (!isFinite(v) || (prev !== null && opts.gap && t - prev > opts.gap)) { pen = false; endRun(); }
        if (isFinite(v)) {
          d += (pen ? "L" : "M") + X(t).toFixed(1) + " " + Y(v).toFixed(1);
          pen = true; prev = t; run.push([X(t), Y(v)]);
        }
      }
      endRun();
      const p = el("path", { class: "series", d: d, stroke: color(i) }, svg);
      const tt = el("title", {}, p);
      tt.textContent = s.name;
      for (const [x, y] of dots) el("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5, fill: color(i) }, svg);
    });
    if (series.length > 1 || opts.legend) {
      const leg = document.createElement("div");
      leg.className = "legend";
      series.slice(0, 12).forEach((s, i) => {
        const item = document.createElement("span");
        const sw = document.createElement("i");
        sw.style.background = color(i);
        item.appendChild(sw);
        item.appendChild(document.createTextNode(s.name));
        leg.appendChild(item);
      });
      box.appendChild(leg);
    }
    return svg;
  }
  function sparkline(points) {
    const W = 100, H = 24;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "spark", "aria-hidden": "true", "data-points": String(points.length) });
    if (points.length < 2) return svg;
    const t0 = points[0][0], t1 = points[points.length - 1][0];
    let v1 = 0;
    for (const [, v] of points) if (isFinite(v)) v1 = Math.max(v1, v);
    v1 = v1 || 1;
    let d = "";
    points.forEach(([t, v], i) => {
      d += (i ? "L" : "M") + ((t - t0) / ((t1 - t0) || 1) * W).toFixed(1) + " " + (H - 1 - (isFinite(v) ? v : 0) / v1 * (H - 2)).toFixed(1);
    });
    el("path", { d: d }, svg);
    return svg;
  }
  window.pydockCharts = { lineChart, sparkline };
})();
