// DOM building, the alert and status lines, the confirm dialog, number formats.
// Everything user-supplied reaches the page as text nodes, never as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "text") {
      el.textContent = value;
    } else if (name === "value" || name === "checked" || name === "selected") {
      el[name] = value; // properties, so they work after the element is shown
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// --- alert (errors) and status (confirmations) ------------------------------------------

export function errorText(err) {
  if (err && err.code) {
    const status = err.status ? ` (HTTP ${err.status})` : "";
    return `${err.code}: ${err.message || "request failed"}${status}`;
  }
  return String((err && err.message) || err);
}

export function showError(err, context) {
  const box = document.getElementById("alert");
  const text = errorText(err);
  document.getElementById("alert-message").textContent = context ? `${context}: ${text}` : text;
  box.hidden = false;
  if (!(err && err.code)) console.error(err); // a bug rather than a refusal: keep the trace
}

export function hideError() {
  document.getElementById("alert").hidden = true;
}

let statusTimer = 0;
export function showStatus(text) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { el.hidden = true; el.textContent = ""; }, 6000);
}

// --- confirm dialog ----------------------------------------------------------------------

// Resolves true when #confirm-yes is pressed; Escape and #confirm-no resolve false.
// `extra` is an element (say a select) shown inside the dialog; its caller reads it after.
export function confirmDialog({ title, message, yes = "Delete", danger = true, extra = null }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-message").textContent = message;
  clear(document.getElementById("confirm-extra"), extra);
  const yesButton = document.getElementById("confirm-yes");
  yesButton.textContent = yes;
  yesButton.className = danger ? "danger" : "primary";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    // The safe answer gets the focus, unless the dialog asks for something first.
    (extra && extra.querySelector("input, select")) ?
      extra.querySelector("input, select").focus() :
      document.getElementById("confirm-no").focus();
  });
}

// --- copying -----------------------------------------------------------------------------

export async function copyFrom(input, button) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // The clipboard API needs a secure context (HTTPS or localhost); the old way works anywhere.
    input.select();
    document.execCommand("copy");
  }
  if (button) {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  }
}

export function copyField({ id, value, label }) {
  const input = h("input", { id, type: "text", readonly: true, value, class: "mono wide", "aria-label": label });
  const button = h("button", { type: "button", onclick: () => copyFrom(input, button) }, "Copy");
  return h("div", { class: "copy-field" }, input, button);
}

// --- formats -----------------------------------------------------------------------------

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${UNITS[i]}`;
}

export function fmtCount(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

const pad = (n) => String(n).padStart(2, "0");

// Local time, sortable, the same width everywhere: 2024-05-01 14:03:22.
export function fmtDate(value) {
  if (value === null || value === undefined || value === "") return "—";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function dateTime(value) {
  const text = fmtDate(value);
  if (text === "—") return text;
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return h("time", { datetime: d.toISOString() }, text);
}

// --- small building blocks ---------------------------------------------------------------

// A state shown by word and colour together (never colour alone).
export function badge(text, tone) {
  return h("span", { class: `badge ${tone || ""}` }, text);
}

// head: column titles, or {text, class} for a styled one (class "num": right-aligned).
export function table({ caption, head, rows, empty = "Nothing here.", label }) {
  const body = rows.length ? rows :
    [h("tr", {}, h("td", { colspan: head.length, class: "empty" }, empty))];
  return h("div", { class: "table-wrap", tabindex: label ? 0 : null, role: label ? "region" : null, "aria-label": label },
    h("table", {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, head.map((c) => typeof c === "string" ?
        h("th", { scope: "col" }, c) : h("th", { scope: "col", class: c.class }, c.text)))),
      h("tbody", {}, body)));
}

export function field(labelText, input, hint) {
  const id = input.id || (input.id = `f-${Math.random().toString(36).slice(2, 9)}`);
  return h("div", { class: "field" },
    h("label", { for: id }, labelText), input,
    hint ? h("small", { class: "hint" }, hint) : null);
}

export function select(attrs, options, current) {
  return h("select", attrs, options.map(([value, text]) =>
    h("option", { value, selected: String(value) === String(current) }, text)));
}

export function busy(button, promise) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  return Promise.resolve(promise).finally(() => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  });
}

// --- links to pages (console.js parses them back) ----------------------------------------

export function hrefBrowse(bucket, prefix = "") {
  return `#/browse/${encodeURIComponent(bucket)}/` + prefix.split("/").map(encodeURIComponent).join("/");
}

export function hrefSettings(bucket) {
  return `#/bucket/${encodeURIComponent(bucket)}`;
}
