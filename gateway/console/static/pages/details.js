// The details panel of one object (or one version): HEAD metadata, tags, a presigned link.

import { api, s3 } from "../lib/api.js";
import { downloadUrl, getTags, putTags } from "../lib/s3.js";
import {
  busy, clear, copyField, dateTime, fmtBytes, h, select, showError, showStatus,
} from "../lib/ui.js";

const EXPIRIES = [["900", "15 minutes"], ["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"]];

export async function showDetails(panel, { bucket, key, versionId, ctx, onChange }) {
  panel.dataset.key = key;
  const close = h("button", { type: "button", id: "close-details", class: "link-button", "aria-label": "Close details" }, "Close");
  close.onclick = () => { panel.hidden = true; };
  const meta = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  const tags = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  clear(panel,
    h("div", { class: "details-head" },
      h("h2", { id: "details-title", tabindex: -1 }, "Details"),
      close),
    h("p", { class: "key mono" }, key),
    versionId ? h("p", { class: "muted small" }, `Version ${versionId}`) : null,
    h("a", { class: "button", href: downloadUrl(bucket, key, versionId) }, "Download"),
    h("h3", {}, "Metadata"), meta,
    h("h3", {}, "Tags"), tags,
    h("h3", {}, "Share a link"), presignForm(bucket, key, versionId));
  panel.hidden = false;
  panel.querySelector("h2").focus();

  const query = { versionId };
  try {
    const res = await s3("HEAD", bucket, key, { query });
    if (panel.dataset.key !== key) return;
    clear(meta, metadataList(res.headers));
  } catch (err) {
    clear(meta, h("p", {}, `Could not read: ${err.code}`));
    showError(err, `HEAD ${key}`);
  }
  try {
    const current = await getTags(bucket, key, versionId);
    if (panel.dataset.key !== key) return;
    clear(tags, tagEditor(current, ctx.canWrite, async (next, button) => {
      await busy(button, putTags(bucket, key, next, versionId));
      showStatus(`Tags of ${key} saved.`);
      if (onChange) onChange();
    }, "object"));
  } catch (err) {
    clear(tags, h("p", {}, `Could not read: ${err.code}`));
    showError(err, `Tags of ${key}`);
  }
}

function metadataList(headers) {
  const rows = [
    ["Size", fmtBytes(Number(headers.get("content-length")))],
    ["Content type", headers.get("content-type") || "—"],
    ["ETag", headers.get("etag") || "—"],
    ["Last modified", dateTime(headers.get("last-modified"))],
    ["Storage class", headers.get("x-amz-storage-class") || "STANDARD"],
    ["Version ID", headers.get("x-amz-version-id") || "—"],
  ];
  for (const name of ["cache-control", "content-encoding", "content-disposition", "content-language", "expires"]) {
    if (headers.get(name)) rows.push([name, headers.get(name)]);
  }
  const user = [];
  headers.forEach((value, name) => {
    if (name.startsWith("x-amz-meta-")) user.push([name.slice("x-amz-meta-".length), value]);
  });
  user.sort((a, b) => a[0].localeCompare(b[0]));
  return [
    h("dl", { class: "props", id: "object-metadata" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("h4", {}, "User metadata (x-amz-meta-*)"),
    user.length ?
      h("dl", { class: "props", id: "user-metadata" }, user.map(([k, v]) => [h("dt", { class: "mono" }, k), h("dd", {}, v)])) :
      h("p", { class: "muted" }, "none"),
  ];
}

// Key/value rows for object and bucket tags; save(tags, button) does the PUT.
export function tagEditor(tags, canWrite, save, what) {
  if (!canWrite) {
    return tags.length ?
      h("dl", { class: "props tags-view" }, tags.map((t) => [h("dt", {}, t.key), h("dd", {}, t.value)])) :
      h("p", { class: "muted" }, "none");
  }
  const rows = h("div", { class: "tag-rows" });
  const addRow = (t = { key: "", value: "" }) => {
    const n = rows.children.length + 1;
    const row = h("div", { class: "tag-row" },
      h("input", { "aria-label": `Tag ${n} key`, value: t.key, class: "tag-key", autocomplete: "off", maxlength: 128 }),
      h("input", { "aria-label": `Tag ${n} value`, value: t.value, class: "tag-value", autocomplete: "off", maxlength: 256 }),
      h("button", { type: "button", class: "link-button", "aria-label": `Remove tag ${n}`, onclick: () => row.remove() }, "Remove"));
    rows.append(row);
    return row;
  };
  tags.forEach((t) => addRow(t));
  const saveButton = h("button", { type: "submit", class: "primary", "data-action": "save-tags" }, "Save tags");
  const form = h("form", { class: "tag-editor", "aria-label": `Tags of the ${what}` },
    tags.length ? null : h("p", { class: "muted none" }, "none"),
    rows,
    h("div", { class: "actions" },
      h("button", { type: "button", "data-action": "add-tag", onclick: () => addRow().querySelector("input").focus() }, "Add tag"),
      saveButton));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const next = Array.from(rows.children)
      .map((r) => ({ key: r.querySelector(".tag-key").value.trim(), value: r.querySelector(".tag-value").value }))
      .filter((t) => t.key);
    try {
      await save(next, saveButton);
      const none = form.querySelector(".none");
      if (none) none.hidden = next.length > 0;
    } catch (err) {
      showError(err, "Could not save the tags");
    }
  });
  return form;
}

function presignForm(bucket, key, versionId) {
  const expiry = select({ id: "presign-expiry" }, EXPIRIES, "3600");
  const button = h("button", { type: "submit", id: "presign" }, "Create link");
  const out = h("div", { class: "presign-out" });
  const form = h("form", { class: "presign", "aria-label": "Presigned link" },
    h("div", { class: "inline-form" },
      h("div", { class: "field" }, h("label", { for: "presign-expiry" }, "Link valid for"), expiry),
      button),
    out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { bucket, key, expires_seconds: Number(expiry.value) };
    if (versionId) body.version_id = versionId;
    try {
      const res = await busy(button, api("POST", "/presign", body));
      clear(out,
        h("label", { for: "presign-url" }, "Presigned URL"),
        copyField({ id: "presign-url", value: res.url }),
        h("p", { class: "muted small" }, "Anyone with this link can download the object until ", dateTime(res.expires), "."));
      out.querySelector("input").select();
    } catch (err) {
      showError(err, "Could not create the link");
    }
  });
  return form;
}
