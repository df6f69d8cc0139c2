// #/buckets: ListBuckets joined with the storage nodes' counts; create and delete.

import { api, s3 } from "../lib/api.js";
import { listBuckets } from "../lib/s3.js";
import {
  busy, clear, confirmDialog, dateTime, field, fmtBytes, fmtCount, h, hrefBrowse, hrefSettings,
  showError, showStatus, table,
} from "../lib/ui.js";

export async function render(view, _route, ctx) {
  const list = h("div", { class: "list" }, h("p", { class: "loading" }, "Loading buckets…"));
  view.append(h("div", { class: "page-head" }, h("h1", {}, "Buckets")));
  if (ctx.canWrite) view.append(createForm(() => load()));
  view.append(list);

  async function load() {
    // Counts come from the storage nodes and may be slow or missing; the list must not wait on them failing.
    const [buckets, stats] = await Promise.all([
      listBuckets(),
      api("GET", "/bucket-stats").then((d) => d.buckets || {}, (err) => { showError(err, "Bucket statistics"); return {}; }),
    ]);
    if (!ctx.live()) return;
    clear(list, table({
      label: "Buckets",
      head: ["Name", { text: "Objects", class: "num" }, { text: "Size", class: "num" }, "Storage", "Created", { text: "Actions", class: "actions-col" }],
      rows: buckets.map((b) => row(b, stats[b.name] || {}, ctx, load)),
      empty: ctx.canWrite ? "No buckets yet: create one above." : "No buckets.",
    }));
  }
  await load();
}

function approx(value, stat, fmt) {
  if (value === null || value === undefined) return h("span", { title: "no storage node answered" }, "—");
  return stat.estimated ? h("span", { title: "estimated" }, `≈ ${fmt(value)}`) : fmt(value);
}

function row(bucket, stat, ctx, reload) {
  const name = bucket.name;
  const actions = h("div", { class: "row-actions" },
    h("a", { class: "button", href: hrefSettings(name), "data-action": "settings", "aria-label": `Settings of ${name}` }, "Settings"),
    ctx.canWrite ? h("button", {
      type: "button", class: "danger", "data-action": "delete", "aria-label": `Delete bucket ${name}`,
      onclick: (e) => remove(e.currentTarget, name, reload),
    }, "Delete") : null);
  return h("tr", { "data-bucket": name },
    h("th", { scope: "row" }, h("a", { href: hrefBrowse(name) }, name)),
    h("td", { class: "num" }, approx(stat.objects, stat, fmtCount)),
    h("td", { class: "num" }, approx(stat.bytes, stat, fmtBytes)),
    h("td", {}, stat.storage || "—"),
    h("td", {}, dateTime(bucket.created)),
    h("td", {}, actions));
}

async function remove(button, name, reload) {
  const ok = await confirmDialog({
    title: "Delete bucket",
    message: `Delete the bucket “${name}”? S3 only deletes empty buckets (no objects, versions or uploads).`,
    yes: "Delete bucket",
  });
  if (!ok) return;
  try {
    await busy(button, s3("DELETE", name, ""));
    showStatus(`Bucket ${name} deleted.`);
    await reload();
  } catch (err) {
    showError(err, `Could not delete bucket ${name}`);
  }
}

function createForm(reload) {
  const input = h("input", {
    // No pattern check here: the gateway's InvalidBucketName says precisely what is wrong.
    id: "new-bucket-name", required: true, autocomplete: "off", spellcheck: "false", class: "mono",
  });
  const button = h("button", { id: "create-bucket", type: "submit", class: "primary" }, "Create bucket");
  const form = h("form", { class: "inline-form card", "aria-label": "Create a bucket" },
    field("New bucket name", input, "3–63 characters: lowercase letters, digits, dots and hyphens."),
    button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    try {
      await busy(button, s3("PUT", name, ""));
      input.value = "";
      showStatus(`Bucket ${name} created.`);
      await reload();
    } catch (err) {
      showError(err, `Could not create bucket ${name}`);
    }
  });
  return form;
}
