// #/cluster (admin): `tessera admin status` and `admin jobs` as tables, refreshed every
// 10 s, and live charts of the gateways' metrics (charts.js).

import { api } from "../lib/api.js";
import {
  badge, clear, fmtBytes, fmtCount, fmtDate, fmtDuration, h, showError, table,
} from "../lib/ui.js";
import { startCharts } from "./charts.js";

const REFRESH_MS = 10000;

const TONES = {
  ok: "ok", up: "ok", active: "ok", idle: "muted", done: "ok", running: "info", ready: "ok",
  degraded: "warn", draining: "warn", paused: "warn", unplaced: "warn",
  unavailable: "bad", down: "bad", failed: "bad", error: "bad", removed: "muted",
};
const state = (s) => badge(s || "unknown", TONES[s] || "muted");

export async function render(view, _route, ctx) {
  const updated = h("span", { class: "muted small", id: "cluster-updated", "aria-live": "off" });
  const refresh = h("button", { type: "button", id: "cluster-refresh" }, "Refresh now");
  const body = h("div", { class: "cluster-body" }, h("p", { class: "loading" }, "Loading…"));
  const charts = h("section", { class: "charts", "aria-labelledby": "charts-title" },
    h("h2", { id: "charts-title" }, "Live traffic ", h("span", { class: "muted small" }, "(last 5 minutes, sampled every 2 s)")));
  view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Cluster"), h("div", { class: "head-tools" }, updated, refresh)),
    body, charts);

  let busy = false;
  const load = async () => {
    if (busy) return; // a slow cluster must not pile up requests
    busy = true;
    try {
      const data = await api("GET", "/cluster");
      if (!ctx.live()) return;
      clear(body, ...overview(data.status || {}, data.jobs || []));
      updated.textContent = `Updated ${fmtDate(Date.now() / 1000).slice(11)}`;
    } catch (err) {
      if (ctx.live()) showError(err, "Cluster status");
    } finally {
      busy = false;
    }
  };
  refresh.addEventListener("click", load);
  ctx.every(REFRESH_MS, load);
  startCharts(charts, ctx);
  await load();
}

function overview(s, jobs) {
  const totals = s.totals || {};
  const nodes = s.nodes || [];
  const gateways = s.gateways || [];
  const placement = s.placement || {};
  const etcd = s.etcd || {};
  return [
    health(s),
    h("ul", { class: "tiles", "aria-label": "Totals" },
      tile("Storage nodes up", `${totals.nodes_up ?? "?"} of ${nodes.length}`),
      tile("Gateways up", `${totals.gateways_up ?? gateways.length}`),
      tile("Disk used", `${fmtBytes(totals.used_bytes)} of ${fmtBytes(totals.capacity_bytes)}`),
      tile("Objects", fmtCount(totals.objects)),
      tile("Bytes stored", fmtBytes(totals.bytes_stored)),
      tile("Placement epoch", placement.epoch ?? "—",
        `${placement.active ?? 0} active, ${placement.draining ?? 0} draining, ${placement.removed ?? 0} removed`),
      tile("Buckets", fmtCount((s.buckets || {}).count), codedSummary(s.buckets))),
    h("section", { "aria-labelledby": "nodes-title" }, h("h2", { id: "nodes-title" }, "Storage nodes"), nodesTable(nodes)),
    h("section", { "aria-labelledby": "gateways-title" }, h("h2", { id: "gateways-title" }, "Gateways"), gatewaysTable(gateways)),
    h("section", { "aria-labelledby": "jobs-title" }, h("h2", { id: "jobs-title" }, "Background jobs"), jobsTable(jobs)),
    (s.drains || []).length ?
      h("section", { "aria-labelledby": "drains-title" }, h("h2", { id: "drains-title" }, "Drains"), drainsTable(s.drains)) : null,
    h("div", { class: "two-col" },
      h("section", { "aria-labelledby": "redundancy-title" }, h("h2", { id: "redundancy-title" }, "Redundancy"), redundancy(s.redundancy)),
      h("section", { "aria-labelledby": "etcd-title" }, h("h2", { id: "etcd-title" }, "etcd"), etcdView(etcd))),
  ];
}

function health(s) {
  const problems = s.problems || [];
  const notes = s.notes || [];
  return h("section", { class: `card health health-${s.health || "unknown"}`, id: "cluster-health", "aria-label": "Health" },
    h("p", { class: "health-line" }, "Health: ", state(s.health),
      problems.length ? ` ${problems.length} problem${problems.length === 1 ? "" : "s"}` : " no problems"),
    problems.length ? h("ul", { class: "problems" }, problems.map((p) => h("li", {}, p))) : null,
    notes.length ? h("ul", { class: "notes muted" }, notes.map((n) => h("li", {}, n))) : null);
}

function tile(label, value, hint) {
  return h("li", { class: "tile" },
    h("span", { class: "tile-label" }, label),
    h("span", { class: "tile-value" }, String(value)),
    hint ? h("span", { class: "tile-hint muted small" }, hint) : null);
}

function codedSummary(buckets) {
  if (!buckets) return null;
  const coded = Object.keys(buckets.coded || {}).length;
  return coded ? `${coded} erasure coded` : "all replicated";
}

const num = (text) => ({ text, class: "num" });
const td = (v, cls) => h("td", { class: cls }, v);

function nodesTable(nodes) {
  return table({
    label: "Storage nodes",
    head: ["ID", "State", "Zone", "Placement", num("Disk used"), num("Disk free"), num("Objects"), num("Stored"), num("Uptime"), num("Requests"), num("Errors"), "Problem"],
    rows: nodes.map((n) => h("tr", { "data-node": n.id },
      h("th", { scope: "row" }, n.id),
      td(state(n.state)), td(n.zone || "—"), td(state(n.placement)),
      td(fmtBytes(n.used_bytes), "num"), td(fmtBytes(n.free_bytes), "num"),
      td(fmtCount(n.objects), "num"), td(fmtBytes(n.bytes_stored), "num"),
      td(fmtDuration(n.uptime_seconds), "num"), td(fmtCount(n.requests), "num"),
      td(fmtCount(n.errors), "num"), td(n.error || "", "wrap"))),
    empty: "No storage nodes.",
  });
}

function gatewaysTable(gateways) {
  return table({
    label: "Gateways",
    head: ["ID", "State", "Ready", "Address", num("Uptime"), num("Requests"), num("5xx"), num("4xx"), num("In"), num("Out"), num("RPC errors"), "Problem"],
    rows: gateways.map((g) => h("tr", { "data-gateway": g.id },
      h("th", { scope: "row" }, g.id),
      td(state(g.state)), td(g.ready === undefined ? "—" : g.ready ? badge("ready", "ok") : badge("not ready", "bad")),
      td(g.address || "—", "mono"), td(fmtDuration(g.uptime_seconds), "num"),
      td(fmtCount(g.requests), "num"), td(fmtCount(g.errors), "num"), td(fmtCount(g.client_errors), "num"),
      td(fmtBytes(g.bytes_in), "num"), td(fmtBytes(g.bytes_out), "num"),
      td(fmtCount(g.storage_rpc_errors), "num"), td(g.error || "", "wrap"))),
    empty: "No gateway is up.",
  });
}

function progressCell(done, total, unit, running) {
  if (total) {
    const pct = Math.min(100, Math.round((100 * done) / total));
    return h("div", { class: "progress-cell" },
      h("progress", { max: total, value: Math.min(done, total), "aria-label": `${pct}% done` }),
      h("span", { class: "small" }, `${fmtCount(done)} / ${fmtCount(total)} ${unit || ""} (${pct}%)`));
  }
  // No total known: a running job shows the indeterminate bar, and the count so far.
  return h("div", { class: "progress-cell" },
    running ? h("progress", { "aria-label": "in progress, total unknown" }) : null,
    h("span", { class: "small" }, `${fmtCount(done)} ${unit || ""}`));
}

function jobsTable(jobs) {
  return table({
    label: "Background jobs",
    head: ["Process", "Job", "State", "Progress", num("ETA"), "Detail"],
    rows: jobs.map((j) => h("tr", { "data-job": `${j.process}/${j.job}` },
      h("th", { scope: "row" }, j.process, h("span", { class: "muted small" }, ` ${j.kind || ""}`)),
      td(j.job || "—"), td(state(j.error ? "error" : j.state)),
      td(progressCell(j.done || 0, j.total, j.unit, j.state === "running")),
      td(j.eta_seconds ? fmtDuration(j.eta_seconds) : "—", "num"),
      td(j.error || j.detail || "", "wrap"))),
    empty: "No background jobs.",
  });
}

function drainsTable(drains) {
  return table({
    label: "Drains",
    head: ["Node", "Placement", "State", "Progress", num("Versions"), num("Bytes"), num("Copied"), num("Errors"), "Detail"],
    rows: drains.map((d) => h("tr", { "data-drain": d.node },
      h("th", { scope: "row" }, d.node), td(state(d.placement)), td(state(d.state)),
      td(h("div", { class: "progress-cell" },
        h("progress", { max: 100, value: d.percent || 0, "aria-label": `${d.percent || 0}% drained` }),
        h("span", { class: "small" }, `${d.percent ?? 0}%`))),
      td(`${fmtCount(d.versions_done)} / ${fmtCount(d.versions_total)}`, "num"),
      td(`${fmtBytes(d.bytes_done)} / ${fmtBytes(d.bytes_total)}`, "num"),
      td(fmtCount(d.copied), "num"), td(fmtCount(d.errors), "num"), td(d.detail || "", "wrap"))),
  });
}

function redundancy(r) {
  if (!r) return h("p", { class: "muted" }, "No report.");
  return [
    h("p", {}, r.in_sync ? badge("in sync", "ok") : badge("repairing", "warn"),
      ` ${fmtCount(r.missing)} missing cop${r.missing === 1 ? "y" : "ies"}`,
      r.eta_seconds ? `, about ${fmtDuration(r.eta_seconds)} to go` : "",
      r.oldest_pass ? `; oldest pass ${fmtDate(r.oldest_pass)}` : ""),
    table({
      label: "Redundancy by node",
      head: ["Node", "State", num("Missing"), num("Copied"), "Peers in sync", "Last pass", "Detail"],
      rows: (r.nodes || []).map((n) => h("tr", {},
        h("th", { scope: "row" }, n.node), td(state(n.state)),
        td(fmtCount(n.missing), "num"), td(fmtCount(n.copied), "num"),
        td(`${n.peers_in_sync ?? "?"} of ${n.peers ?? "?"}`), td(fmtDate(n.last_pass)), td(n.detail || "", "wrap"))),
    }),
  ];
}

function etcdView(e) {
  return [
    h("p", {}, e.healthy ? badge("healthy", "ok") : badge("unhealthy", "bad"),
      ` version ${e.version || "?"}, leader ${e.leader || "?"}, raft term ${e.raft_term ?? "?"}, database ${fmtBytes(e.db_size_bytes)}`),
    table({
      label: "etcd members",
      head: ["Name", "ID", "Client URLs", "Role", "Health"],
      rows: (e.members || []).map((m) => h("tr", {},
        h("th", { scope: "row" }, m.name || "—"), td(m.id, "mono small"),
        td((m.client_urls || []).join(" "), "mono small"),
        td(m.leader ? "leader" : "follower"),
        td(m.healthy ? badge("healthy", "ok") : h("span", {}, badge("unhealthy", "bad"), ` ${m.error || ""}`)))),
    }),
  ];
}
