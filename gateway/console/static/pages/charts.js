// Live charts of the gateways' counters (GET /console/api/metrics, every 2 s). The API
// gives totals since each gateway started; a point is the difference between two samples
// divided by the time between them. Latency quantiles come from the histogram's deltas.

import { api } from "../lib/api.js";
import { clear, fmtBytes, h } from "../lib/ui.js";

const POLL_MS = 2000;
const WINDOW_S = 300;
const PALETTE = ["#2458b3", "#c2410c", "#15803d", "#7e22ce", "#0e7490", "#a16207", "#be185d", "#4d7c0f"];
// Series of one gateway share its colour and differ by dash, so colour is never the only cue.
const DASHES = [[], [6, 4], [2, 3]];

let loading = null;
function loadUPlot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      document.head.append(h("link", { rel: "stylesheet", href: "/console/static/vendor/uPlot.min.css" }));
      const script = h("script", { src: "/console/static/vendor/uPlot.iife.min.js" });
      script.onload = () => resolve(window.uPlot);
      script.onerror = () => { loading = null; reject(new Error("could not load the chart library")); };
      document.head.append(script);
    });
  }
  return loading;
}

// Each chart: what one gateway contributes (a list of [label suffix, value of a sample]).
const CHARTS = [
  { id: "requests", title: "Requests per second", unit: (v) => `${fmt(v)}/s`, parts: [["", (d) => d.requests]] },
  { id: "errors", title: "Errors per second", unit: (v) => `${fmt(v)}/s`, parts: [["5xx", (d) => d.errors], ["4xx", (d) => d.clientErrors]] },
  { id: "latency", title: "Latency (ms)", unit: (v) => `${fmt(v)} ms`, parts: [["p50", (d) => d.p50], ["p90", (d) => d.p90], ["p99", (d) => d.p99]] },
  { id: "throughput", title: "Throughput (bytes per second)", unit: (v) => `${fmtBytes(Math.round(v))}/s`, parts: [["in", (d) => d.bytesIn], ["out", (d) => d.bytesOut]] },
];

function fmt(v) {
  if (v === null || v === undefined) return "—";
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

// The q-quantile of a histogram delta: counts per upper bound (cumulative, +Inf last),
// interpolated linearly inside the bucket it falls in, as Prometheus' histogram_quantile.
export function quantile(q, bounds, counts) {
  const total = counts[counts.length - 1];
  if (!total) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] >= rank) {
      const lower = i === 0 ? 0 : bounds[i - 1];
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = counts[i] - below;
      return inBucket ? lower + ((bounds[i] - lower) * (rank - below)) / inBucket : bounds[i];
    }
  }
  return bounds[bounds.length - 1]; // in the +Inf bucket: the largest bound is all we know
}

// Rates between two samples of one gateway; null when it restarted (counters went back).
function rates(prev, cur, dt) {
  if (cur.requests_total < prev.requests_total) return null;
  const rate = (name) => Math.max(0, cur[name] - prev[name]) / dt;
  const delta = (cur.latency_counts || []).map((c, i) => c - ((prev.latency_counts || [])[i] || 0));
  const bounds = cur.latency_bounds || [];
  const ms = (q) => {
    const v = delta.length === bounds.length + 1 ? quantile(q, bounds, delta) : null;
    return v === null ? null : v * 1000;
  };
  return {
    requests: rate("requests_total"), errors: rate("errors_total"), clientErrors: rate("client_errors_total"),
    bytesIn: rate("bytes_in"), bytesOut: rate("bytes_out"), p50: ms(0.5), p90: ms(0.9), p99: ms(0.99),
  };
}

export function startCharts(container, ctx) {
  const grid = h("div", { class: "chart-grid" });
  const note = h("p", { class: "muted small", id: "charts-note" }, "Collecting the first samples…");
  container.append(note, grid);
  const figures = CHARTS.map((c) => {
    const plot = h("div", { class: "chart-plot" });
    const latest = h("figcaption", { class: "small", id: `chart-${c.id}-latest` }, "");
    const fig = h("figure", { class: "chart card", id: `chart-${c.id}`, "data-chart": c.id },
      h("h3", {}, c.title), plot, latest);
    grid.append(fig);
    return { ...c, fig, plot, latest, chart: null, seriesKey: "" };
  });

  const times = [];
  const points = new Map(); // gateway id -> list of rates (or null) aligned with times
  const last = new Map(); // gateway id -> its previous raw sample
  let uPlotLib = null;

  const resize = new ResizeObserver(() => {
    for (const f of figures) if (f.chart) f.chart.setSize(size(f.plot));
  });
  figures.forEach((f) => resize.observe(f.plot));
  ctx.onLeave(() => {
    resize.disconnect();
    for (const f of figures) if (f.chart) f.chart.destroy();
  });

  const poll = async () => {
    let data;
    try {
      data = await api("GET", "/metrics");
    } catch (err) {
      note.textContent = `Metrics unavailable: ${err.code || err.message}`;
      return;
    }
    if (!ctx.live()) return;
    const t = data.time || Date.now() / 1000;
    const row = new Map();
    const failing = [];
    for (const gw of data.gateways || []) {
      if (gw.error) { failing.push(`${gw.id}: ${gw.error}`); continue; }
      const prev = last.get(gw.id);
      last.set(gw.id, { ...gw, t });
      if (prev && t > prev.t) row.set(gw.id, rates(prev, gw, t - prev.t));
    }
    if (!row.size && !times.length) {
      note.textContent = failing.length ? `No metrics: ${failing.join("; ")}` : "Collecting the first samples…";
      return;
    }
    times.push(t);
    for (const id of row.keys()) if (!points.has(id)) points.set(id, new Array(times.length - 1).fill(null));
    for (const [id, list] of points) list.push(row.get(id) || null);
    while (times.length && times[0] < t - WINDOW_S) {
      times.shift();
      for (const list of points.values()) list.shift();
    }
    note.textContent = failing.length ? `Not answering: ${failing.join("; ")}` : "";
    note.hidden = !failing.length;
    try {
      uPlotLib = uPlotLib || await loadUPlot();
    } catch (err) {
      note.hidden = false;
      note.textContent = err.message;
      return;
    }
    if (ctx.live()) draw();
  };

  function draw() {
    const ids = [...points.keys()].sort();
    for (const f of figures) {
      const series = [];
      const columns = [];
      ids.forEach((id, gi) => {
        f.parts.forEach(([suffix, pick], pi) => {
          series.push({
            label: suffix ? `${id} ${suffix}` : id,
            stroke: PALETTE[gi % PALETTE.length],
            dash: DASHES[pi % DASHES.length],
            width: 1.5,
            value: (_u, v) => (v === null || v === undefined ? "—" : f.unit(v)),
          });
          columns.push(points.get(id).map((p) => (p ? pick(p) : null)));
        });
      });
      const key = series.map((s) => s.label).join("|");
      const data = [times.slice(), ...columns];
      if (!f.chart || f.seriesKey !== key) {
        // A gateway came or went: its series change, so the chart is built again.
        if (f.chart) f.chart.destroy();
        clear(f.plot);
        f.seriesKey = key;
        f.chart = new uPlotLib({
          ...size(f.plot),
          series: [{}, ...series],
          // The x axis always spans the window, ending at the newest sample: one or two
          // samples alone would otherwise stretch it over years.
          scales: { x: { time: true, range: (_u, _min, max) => [max - WINDOW_S, max] }, y: { range: (_u, min, max) => [0, Math.max(max || 0, f.id === "latency" ? 10 : 1) * 1.1] } },
          axes: [{}, { size: 70, values: (_u, ticks) => ticks.map((v) => f.unit(v)) }],
          legend: { live: true },
          cursor: { drag: { x: false, y: false } },
        }, data, f.plot);
      } else {
        f.chart.setData(data);
      }
      // The text alternative of the chart: the latest value of every series.
      f.latest.textContent = "Latest: " + (series.map((s, i) => {
        const col = columns[i];
        return `${s.label} ${s.value(null, col[col.length - 1])}`;
      }).join(", ") || "no data");
    }
  }

  poll();
  ctx.every(POLL_MS, poll);
}

function size(el) {
  return { width: Math.max(240, Math.floor(el.clientWidth || 500)), height: 200 };
}
