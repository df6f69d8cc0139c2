// #/browse/<bucket>/<prefix>: one folder of a bucket (ListObjectsV2 with delimiter "/"),
// its versions, uploads by file picker or drag and drop, and an object's details.

import { s3 } from "../lib/api.js";
import { downloadUrl, listObjects, listVersions, uploadFile } from "../lib/s3.js";
import {
  badge, busy, clear, confirmDialog, dateTime, field, fmtBytes, h, hrefBrowse, hrefSettings,
  showError, showStatus, table,
} from "../lib/ui.js";
import { showDetails } from "./details.js";

const PARALLEL_FILES = 3;
let showVersions = false; // kept while moving between folders

export async function render(view, route, ctx) {
  const { bucket, prefix } = route;
  let search = "";
  let next = null; // continuation token, or {key, versionId} markers in version mode
  let seq = 0; // drops answers to listings that a newer one replaced

  const tbody = h("tbody");
  const headRow = h("tr");
  const more = h("button", { type: "button", id: "more", hidden: true, onclick: () => load(false) }, "More");
  const summary = h("p", { class: "muted", id: "listing-summary", "aria-live": "polite" });
  const details = h("aside", { id: "details", class: "details card", hidden: true, "aria-labelledby": "details-title" });
  const listing = h("section", { id: "listing", class: "listing", "aria-label": "Objects" },
    h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": "Object list" }, h("table", {}, h("thead", {}, headRow), tbody)),
    h("div", { class: "listing-foot" }, summary, more),
    ctx.canWrite ? h("div", { class: "drop-hint", "aria-hidden": "true" }, `Drop files to upload them to ${bucket}/${prefix}`) : null);
  const uploads = h("ul", { id: "uploads", class: "uploads", "aria-label": "Uploads" });

  const searchInput = h("input", { id: "prefix-search", type: "search", autocomplete: "off", spellcheck: "false" });
  let timer = 0;
  searchInput.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { search = searchInput.value; load(true); }, 250);
  });
  const versionsBox = h("input", { id: "show-versions", type: "checkbox", checked: showVersions });
  versionsBox.addEventListener("change", () => { showVersions = versionsBox.checked; load(true); });

  view.append(
    h("div", { class: "page-head" },
      h("h1", {}, h("span", { class: "muted" }, "Bucket "), bucket),
      h("a", { class: "button", href: hrefSettings(bucket) }, "Bucket settings")),
    breadcrumb(bucket, prefix),
    h("div", { class: "toolbar" },
      field("Filter by name prefix", searchInput),
      h("div", { class: "check" }, versionsBox, h("label", { for: "show-versions" }, "Show versions")),
      ctx.canWrite ? writeTools() : null),
    uploads,
    h("div", { class: "browse" }, listing, details));

  function writeTools() {
    const input = h("input", { id: "upload-input", type: "file", multiple: true });
    input.addEventListener("change", () => {
      startUploads(Array.from(input.files));
      input.value = ""; // so picking the same file again uploads it again
    });
    const folderName = h("input", { id: "new-folder-name", autocomplete: "off", spellcheck: "false" });
    const folderButton = h("button", { id: "create-folder", type: "submit" }, "Create folder");
    const folderForm = h("form", { class: "inline-form" }, field("New folder", folderName), folderButton);
    folderForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const name = folderName.value.trim().replace(/^\/+|\/+$/g, "");
      if (!name) return;
      try {
        // A folder is an empty object whose key ends in "/": S3 has no directories.
        await busy(folderButton, s3("PUT", bucket, `${prefix}${name}/`, { body: "" }));
        folderName.value = "";
        showStatus(`Folder ${name}/ created.`);
        load(true);
      } catch (err) {
        showError(err, `Could not create folder ${name}/`);
      }
    });
    return [h("div", { class: "field" }, h("label", { for: "upload-input" }, "Upload files"), input), folderForm];
  }

  // --- listing ---------------------------------------------------------------------------

  async function load(reset) {
    const mine = ++seq;
    if (reset) next = null;
    more.disabled = true;
    const listPrefix = prefix + search;
    let page;
    try {
      page = showVersions ?
        await listVersions(bucket, { prefix: listPrefix, marker: next }) :
        await listObjects(bucket, { prefix: listPrefix, token: next });
    } catch (err) {
      if (mine === seq && ctx.live()) {
        if (reset) clear(tbody, emptyRow(`Could not list: ${err.code || err.message}`));
        showError(err, `Listing ${bucket}/${listPrefix}`);
      }
      return;
    } finally {
      more.disabled = false;
    }
    if (mine !== seq || !ctx.live()) return;
    if (reset) {
      clear(headRow, (showVersions ?
        ["Name", "Version", { text: "Size", class: "num" }, "Last modified", "Storage class", { text: "Actions", class: "actions-col" }] :
        ["Name", { text: "Size", class: "num" }, "Last modified", "Storage class", { text: "Actions", class: "actions-col" }])
        .map((c) => h("th", { scope: "col", class: c.class }, c.text || c)));
      tbody.replaceChildren();
    }
    const rows = [
      ...page.folders.map(folderRow),
      // The folder's own marker object ("photos/" inside photos/) is the folder, not a row.
      ...(showVersions ? page.versions : page.objects).filter((o) => o.key !== prefix).map((o) => objectRow(o)),
    ];
    tbody.append(...rows);
    next = page.next;
    more.hidden = !next;
    const count = tbody.querySelectorAll("tr[data-key], tr[data-prefix]").length;
    if (!count) clear(tbody, emptyRow(search ? `Nothing here starts with “${search}”.` : "This folder is empty."));
    summary.textContent = `${count} ${count === 1 ? "entry" : "entries"} shown${next ? ", more to load" : ""}.`;
  }

  function emptyRow(text) {
    return h("tr", {}, h("td", { colspan: showVersions ? 6 : 5, class: "empty" }, text));
  }

  function folderRow(folder) {
    const name = folder.slice(prefix.length);
    return h("tr", { "data-prefix": folder },
      h("th", { scope: "row" }, h("a", { href: hrefBrowse(bucket, folder), class: "folder" },
        h("span", { class: "icon", "aria-hidden": "true" }, "▸ "), name)),
      showVersions ? h("td", {}, "") : null,
      h("td", { class: "num" }, "—"),
      h("td", {}, ""),
      h("td", {}, "Folder"),
      h("td", {}));
  }

  function objectRow(o) {
    const name = o.key.slice(prefix.length);
    const version = showVersions ? o.versionId : null;
    const label = version ? `${name} (version ${version})` : name;
    const actions = h("div", { class: "row-actions" });
    if (!o.deleteMarker) {
      actions.append(
        h("a", { class: "button", href: downloadUrl(bucket, o.key, version), "data-action": "download", "aria-label": `Download ${label}` }, "Download"),
        h("button", {
          type: "button", "data-action": "details", "aria-label": `Details of ${label}`,
          onclick: () => showDetails(details, { bucket, key: o.key, versionId: version, ctx, onChange: () => load(true) }),
        }, "Details"));
    }
    if (ctx.canWrite) {
      actions.append(h("button", {
        type: "button", class: "danger", "data-action": "delete", "aria-label": `Delete ${label}`,
        onclick: (e) => remove(e.currentTarget, o, version),
      }, "Delete"));
    }
    const nameCell = h("th", { scope: "row", class: "key" }, name);
    if (showVersions) {
      if (o.latest) nameCell.append(" ", badge("latest", "info"));
      if (o.deleteMarker) nameCell.append(" ", badge("delete marker", "warn"));
    }
    return h("tr", { "data-key": o.key, "data-version-id": version, class: o.deleteMarker ? "delete-marker" : null },
      nameCell,
      showVersions ? h("td", { class: "mono small" }, o.versionId) : null,
      h("td", { class: "num" }, o.deleteMarker ? "—" : fmtBytes(o.size)),
      h("td", {}, dateTime(o.modified)),
      h("td", {}, o.deleteMarker ? "—" : o.storageClass),
      h("td", {}, actions));
  }

  async function remove(button, o, versionId) {
    const ok = await confirmDialog(versionId ? {
      title: "Delete version",
      message: `Permanently delete ${o.deleteMarker ? "the delete marker" : "version"} ${versionId} of “${o.key}”? This cannot be undone.`,
      yes: "Delete version",
    } : {
      title: "Delete object",
      message: `Delete “${o.key}”? In a versioned bucket this adds a delete marker and older versions stay.`,
      yes: "Delete",
    });
    if (!ok) return;
    try {
      await busy(button, s3("DELETE", bucket, o.key, { query: { versionId } }));
      showStatus(`Deleted ${o.key}${versionId ? ` (version ${versionId})` : ""}.`);
      if (!details.hidden && details.dataset.key === o.key) details.hidden = true;
      load(true);
    } catch (err) {
      showError(err, `Could not delete ${o.key}`);
    }
  }

  // --- uploads ---------------------------------------------------------------------------

  function startUploads(files) {
    if (!files.length) return;
    const queue = files.map((file) => uploadItem(file));
    let running = 0;
    let finished = 0;
    const pump = () => {
      while (running < PARALLEL_FILES && queue.length) {
        const start = queue.shift();
        running++;
        start().finally(() => {
          running--;
          finished++;
          if (finished === files.length && ctx.live()) load(true);
          pump();
        });
      }
    };
    pump();
  }

  // One file's row with its progress bar; returns the function that starts it.
  function uploadItem(file) {
    const key = prefix + file.name;
    const bar = h("progress", { "data-upload": file.name, max: Math.max(file.size, 1), value: 0, "aria-label": `Upload of ${file.name}` });
    const text = h("span", { class: "upload-state" }, "waiting");
    const cancel = h("button", { type: "button", class: "link-button", "aria-label": `Cancel upload of ${file.name}` }, "Cancel");
    const item = h("li", { "data-upload": file.name }, h("span", { class: "upload-name" }, file.name), bar, text, cancel);
    uploads.append(item);
    let cancelled = false;
    let job = null;
    cancel.onclick = () => { cancelled = true; if (job) job.cancel(); };
    const finish = (state, tone) => {
      clear(text, badge(state, tone));
      cancel.textContent = "Dismiss";
      cancel.setAttribute("aria-label", `Dismiss upload of ${file.name}`);
      cancel.onclick = () => item.remove();
    };
    return async () => {
      if (cancelled) return finish("cancelled", "warn");
      text.textContent = `0 of ${fmtBytes(file.size)}`;
      job = uploadFile(bucket, key, file, (sent) => {
        bar.value = Math.min(sent, file.size);
        text.textContent = `${fmtBytes(Math.min(sent, file.size))} of ${fmtBytes(file.size)}`;
      });
      try {
        await job.promise;
        bar.value = bar.max;
        finish("done", "ok");
        setTimeout(() => item.remove(), 8000);
      } catch (err) {
        if (err.code === "Cancelled") return finish("cancelled", "warn");
        finish("failed", "bad");
        showError(err, `Upload of ${file.name} failed`);
      }
    };
  }

  if (ctx.canWrite) {
    // Dragging over the listing (not the whole page): the drop lands in this folder.
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files");
    listing.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth++;
      listing.classList.add("dragging");
    });
    listing.addEventListener("dragover", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    });
    listing.addEventListener("dragleave", () => {
      if (--depth <= 0) { depth = 0; listing.classList.remove("dragging"); }
    });
    listing.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      listing.classList.remove("dragging");
      startUploads(Array.from(e.dataTransfer.files));
    });
  }

  await load(true);
}

function breadcrumb(bucket, prefix) {
  const parts = prefix.split("/").filter((p, i, all) => p !== "" || i < all.length - 1);
  const items = [h("li", {}, h("a", { href: "#/buckets" }, "Buckets"))];
  const here = (text) => h("li", {}, h("span", { "aria-current": "page" }, text));
  items.push(parts.length ? h("li", {}, h("a", { href: hrefBrowse(bucket, "") }, bucket)) : here(bucket));
  let acc = "";
  parts.forEach((part, i) => {
    acc += `${part}/`;
    items.push(i === parts.length - 1 ? here(part) : h("li", {}, h("a", { href: hrefBrowse(bucket, acc) }, part)));
  });
  return h("nav", { class: "breadcrumb", "aria-label": "Folder" }, h("ol", {}, items));
}
