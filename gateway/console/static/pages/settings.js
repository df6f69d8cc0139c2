// #/bucket/<name>: a bucket's configurations, each shown and (for writers) edited on its own.

import { S3NS, api, childText, descendants, parseXml, prettyXml, s3 } from "../lib/api.js";
import { getOptional, getTags, putTags } from "../lib/s3.js";
import {
  badge, busy, clear, confirmDialog, field, fmtBytes, h, hrefBrowse, select, showError, showStatus,
} from "../lib/ui.js";
import { tagEditor } from "./details.js";

const CORS_EXAMPLE = `<CORSConfiguration xmlns="${S3NS}">
  <CORSRule>
    <AllowedOrigin>https://example.com</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <MaxAgeSeconds>3600</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`;

const LIFECYCLE_EXAMPLE = `<LifecycleConfiguration xmlns="${S3NS}">
  <Rule>
    <ID>expire-tmp</ID>
    <Filter><Prefix>tmp/</Prefix></Filter>
    <Status>Enabled</Status>
    <Expiration><Days>7</Days></Expiration>
    <AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload>
  </Rule>
</LifecycleConfiguration>`;

const policyExample = (bucket) => JSON.stringify({
  Version: "2012-10-17",
  Statement: [{
    Sid: "PublicRead",
    Effect: "Allow",
    Principal: "*",
    Action: ["s3:GetObject"],
    Resource: [`arn:aws:s3:::${bucket}/*`],
  }],
}, null, 2);

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export async function render(view, { bucket }, ctx) {
  view.append(
    h("div", { class: "page-head" },
      h("h1", {}, h("span", { class: "muted" }, "Settings of "), bucket),
      h("a", { class: "button", href: hrefBrowse(bucket, "") }, "Browse objects")),
    h("nav", { class: "breadcrumb", "aria-label": "Location" }, h("ol", {},
      h("li", {}, h("a", { href: "#/buckets" }, "Buckets")),
      h("li", {}, h("a", { href: hrefBrowse(bucket, "") }, bucket)),
      h("li", {}, h("span", { "aria-current": "page" }, "Settings")))));
  const grid = h("div", { class: "settings-grid" });
  view.append(grid);
  const sections = [
    versioningSection(bucket, ctx),
    tagsSection(bucket, ctx),
    storageSection(bucket, ctx),
    documentSection(bucket, ctx, {
      id: "cors", title: "CORS", query: "cors", kind: "xml", example: CORS_EXAMPLE,
      summary: (text) => plural(descendants(parseXml(text), "CORSRule").length, "rule"),
    }),
    documentSection(bucket, ctx, {
      id: "lifecycle", title: "Lifecycle", query: "lifecycle", kind: "xml", example: LIFECYCLE_EXAMPLE,
      summary: (text) => plural(descendants(parseXml(text), "Rule").length, "rule"),
    }),
    documentSection(bucket, ctx, {
      id: "policy", title: "Bucket policy", query: "policy", kind: "json", example: policyExample(bucket),
      summary: (text) => {
        const doc = JSON.parse(text);
        return plural([].concat(doc.Statement || []).length, "statement");
      },
    }),
  ];
  grid.append(...sections.map((s) => s.el));
  await Promise.all(sections.map((s) => s.load()));
}

function section(id, title, ...content) {
  return h("section", { class: "card setting", id: `section-${id}`, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title), ...content);
}

function current(id) {
  return h("p", { class: "current", id: `${id}-current` }, "Loading…");
}

function failed(el, err, what) {
  clear(el, badge("error", "bad"), ` ${err.code || err.message}`);
  showError(err, what);
}

// --- versioning --------------------------------------------------------------------------

function versioningSection(bucket, ctx) {
  const now = current("versioning");
  const choice = select({ id: "versioning-status" }, [["Enabled", "Enabled"], ["Suspended", "Suspended"]], "Enabled");
  const save = h("button", { type: "submit", id: "save-versioning", class: "primary" }, "Save");
  const form = ctx.canWrite ? h("form", { class: "inline-form" }, field("Versioning", choice), save) : null;
  const el = section("versioning", "Versioning", now,
    h("p", { class: "muted small" }, "Once enabled, versioning can be suspended but never turned off."), form);
  const load = async () => {
    try {
      const doc = parseXml(await (await s3("GET", bucket, "", { query: { versioning: true } })).text());
      const status = childText(doc && doc.documentElement, "Status");
      clear(now, status ?
        badge(status, status === "Enabled" ? "ok" : "warn") :
        badge("never enabled", "muted"));
      if (status) choice.value = status;
    } catch (err) { failed(now, err, "Versioning"); }
  };
  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = `<VersioningConfiguration xmlns="${S3NS}"><Status>${choice.value}</Status></VersioningConfiguration>`;
      try {
        await busy(save, s3("PUT", bucket, "", { query: { versioning: true }, body, contentType: "application/xml" }));
        showStatus(`Versioning of ${bucket}: ${choice.value}.`);
        await load();
      } catch (err) { showError(err, "Could not change versioning"); }
    });
  }
  return { el, load };
}

// --- tags --------------------------------------------------------------------------------

function tagsSection(bucket, ctx) {
  const body = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  const el = section("tags", "Tags", body);
  const load = async () => {
    try {
      const tags = await getTags(bucket, "");
      clear(body, tagEditor(tags, ctx.canWrite, async (next, button) => {
        await busy(button, putTags(bucket, "", next));
        showStatus(`Tags of ${bucket} saved.`);
      }, "bucket"));
    } catch (err) { failed(body, err, "Bucket tags"); }
  };
  return { el, load };
}

// --- storage mode (a Tessera setting, not S3) ------------------------------------------

function storageSection(bucket, ctx) {
  const now = current("storage");
  const editor = h("div");
  const el = section("storage", "Storage mode", now,
    h("p", { class: "muted small" }, "How new objects are stored; objects already written keep their way."),
    editor);
  const show = (stat) => {
    clear(now, h("strong", {}, stat.storage || stat.mode || "unknown"),
      stat.mode === "hybrid" && stat.threshold !== null ? ` (erasure from ${fmtBytes(stat.threshold)} up)` : "");
    if (ctx.admin) clear(editor, storageForm(bucket, stat, show));
  };
  const load = async () => {
    try {
      const stats = await api("GET", "/bucket-stats");
      const stat = (stats.buckets || {})[bucket];
      if (stat) return show(stat);
      // A bucket made moments ago may not be counted yet; its mode can still be set.
      clear(now, badge("unknown", "muted"), " (not in the bucket statistics yet)");
      if (ctx.admin) clear(editor, storageForm(bucket, { mode: "replica" }, show));
    } catch (err) { failed(now, err, "Storage mode"); }
  };
  return { el, load };
}

function storageForm(bucket, stat, show) {
  const mode = select({ id: "storage-mode" }, [["replica", "Replica (full copies)"], ["erasure", "Erasure coding"], ["hybrid", "Hybrid (replica when small)"]], stat.mode || "replica");
  const data = h("input", { id: "storage-data", type: "number", min: 1, max: 15, value: stat.data ?? 4, required: true });
  const parity = h("input", { id: "storage-parity", type: "number", min: 1, max: 15, value: stat.parity ?? 2, required: true });
  const threshold = h("input", { id: "storage-threshold", type: "number", min: 0, step: 1, value: stat.threshold ?? 1048576, required: true });
  const coded = h("div", { class: "inline-form" },
    field("Data fragments (k)", data), field("Parity fragments (m)", parity));
  const thresholdField = field("Threshold (bytes)", threshold, "Objects from this size up are erasure coded.");
  const save = h("button", { type: "submit", id: "save-storage", class: "primary" }, "Save storage mode");
  const sync = () => {
    coded.hidden = mode.value === "replica";
    thresholdField.hidden = mode.value !== "hybrid";
    for (const input of [data, parity]) input.disabled = mode.value === "replica";
    threshold.disabled = mode.value !== "hybrid";
  };
  mode.addEventListener("change", sync);
  sync();
  const form = h("form", { class: "storage-form", "aria-label": "Change the storage mode" },
    field("Mode", mode), coded, thresholdField, save);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { mode: mode.value };
    if (mode.value !== "replica") { body.data = Number(data.value); body.parity = Number(parity.value); }
    if (mode.value === "hybrid") body.threshold = Number(threshold.value);
    try {
      const next = await busy(save, api("PUT", `/buckets/${encodeURIComponent(bucket)}/storage`, body));
      showStatus(`Storage mode of ${bucket}: ${next.storage || next.mode}.`);
      show(next);
    } catch (err) { showError(err, "Could not change the storage mode"); }
  });
  return form;
}

// --- CORS, lifecycle, policy: a document shown and edited as text -----------------------

function documentSection(bucket, ctx, { id, title, query, kind, example, summary }) {
  const now = current(id);
  const text = h("textarea", {
    id: `${id}-${kind}`, rows: 10, spellcheck: "false", class: "mono", readonly: !ctx.canWrite,
    placeholder: ctx.canWrite ? "none: write one, or start from the example" : "none",
  });
  const save = h("button", { type: "submit", id: `save-${id}`, class: "primary" }, "Save");
  const remove = h("button", { type: "button", id: `delete-${id}`, class: "danger" }, "Remove");
  const fill = h("button", { type: "button", id: `example-${id}` }, "Start from an example");
  const label = `${title} (${kind === "xml" ? "XML" : "JSON"})`;
  const form = h("form", { class: "doc-editor" },
    h("label", { for: text.id }, label), text,
    ctx.canWrite ? h("div", { class: "actions" }, fill, remove, save) : null);
  const el = section(id, title, now, form);
  const q = { [query]: true };
  let present = false;

  const load = async () => {
    try {
      const body = await getOptional(bucket, "", q);
      present = body !== null;
      if (!present) {
        clear(now, badge("none", "muted"));
        text.value = "";
      } else {
        let detail = "";
        try { detail = summary(body); } catch { /* a document we cannot read is still shown */ }
        clear(now, badge("set", "ok"), detail ? ` ${detail}` : "");
        text.value = kind === "xml" ? prettyXml(body) : prettyJson(body);
      }
      remove.hidden = !present;
      fill.hidden = present;
      form.hidden = !present && !ctx.canWrite; // nothing to read, nothing to write
    } catch (err) { failed(now, err, title); }
  };

  fill.addEventListener("click", () => { text.value = example; text.focus(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = text.value.trim();
    // Catch a typo here rather than send it: the server's MalformedXML says less.
    const problem = kind === "xml" ?
      (parseXml(body) ? null : "The text is not well-formed XML.") :
      jsonProblem(body);
    if (problem) return showError({ code: kind === "xml" ? "MalformedXML" : "MalformedPolicy", message: problem }, title);
    try {
      await busy(save, s3("PUT", bucket, "", {
        query: q, body, contentType: kind === "xml" ? "application/xml" : "application/json",
      }));
      showStatus(`${title} of ${bucket} saved.`);
      await load();
    } catch (err) { showError(err, `Could not save the ${title.toLowerCase()}`); }
  });
  remove.addEventListener("click", async () => {
    const ok = await confirmDialog({ title: `Remove ${title.toLowerCase()}`, message: `Remove the ${title.toLowerCase()} of ${bucket}?`, yes: "Remove" });
    if (!ok) return;
    try {
      await busy(remove, s3("DELETE", bucket, "", { query: q }));
      showStatus(`${title} of ${bucket} removed.`);
      await load();
    } catch (err) { showError(err, `Could not remove the ${title.toLowerCase()}`); }
  });
  return { el, load };
}

function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

function jsonProblem(text) {
  try { JSON.parse(text); return null; } catch (err) { return `The text is not valid JSON: ${err.message}`; }
}
