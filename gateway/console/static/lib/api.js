// Talking to the gateway: the JSON API under /console/api and the S3 API under /console/s3.
// Both are authenticated by the session cookie; state-changing calls also carry the CSRF
// token from the session JSON (the cookie alone would let another site's form act for us).

export const API = "/console/api";
export const S3 = "/console/s3";

// An answer other than 2xx, with the server's own code and message (S3 XML or JSON).
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

let csrf = "";
let onSignedOut = () => {};

export function setCsrf(token) { csrf = token || ""; }
export function csrfToken() { return csrf; }
// Called when the gateway says the session is gone (expired, key disabled, signed out elsewhere).
export function onSessionLost(fn) { onSignedOut = fn; }

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export function writeHeaders(method, headers = {}) {
  return SAFE.has(method) ? headers : { ...headers, "X-Tessera-CSRF": csrf };
}

// --- JSON API ----------------------------------------------------------------------------

export async function api(method, path, body) {
  const headers = writeHeaders(method, { Accept: "application/json" });
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, init);
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: a proxy's page, say */ }
  if (!res.ok) {
    const err = new ApiError(res.status, (data && data.error) || `HTTP${res.status}`,
      (data && data.message) || res.statusText || text.slice(0, 200));
    if (res.status === 401 && path !== "/session") onSignedOut(err);
    throw err;
  }
  return data;
}

// --- S3 ----------------------------------------------------------------------------------

// Path-style S3 URL. The key is encoded whole ("/" as %2F, which S3 decodes back): a
// browser resolves "." and ".." segments in a path before sending it, so a key like
// "x/../../other-bucket/k" sent segment by segment would name another object, or a
// console API path. A key that is exactly "." or ".." cannot be sent at all.
export function s3Url(bucket, key, query) {
  let url = `${S3}/`;
  if (bucket) url += encodeURIComponent(bucket);
  if (key !== undefined && key !== null && key !== "") {
    if (key === "." || key === "..") {
      throw new ApiError(400, "UnsupportedKey", `A key named "${key}" cannot be reached from a browser; use an S3 client.`);
    }
    url += "/" + encodeURIComponent(key);
  }
  const qs = queryString(query);
  return qs ? `${url}?${qs}` : url;
}

// true (or "") gives a bare subresource (?versions); null/undefined are left out.
export function queryString(query) {
  if (!query) return "";
  const parts = [];
  for (const [name, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === false) continue;
    parts.push(value === true ? encodeURIComponent(name) :
      `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  }
  return parts.join("&");
}

// Throws ApiError for anything but 2xx (and for a 200 carrying an <Error> body, which
// CompleteMultipartUpload may send when it fails after the headers went out).
export async function s3(method, bucket, key, { query, body, headers, contentType } = {}) {
  const h = writeHeaders(method, { ...(headers || {}) });
  if (contentType) h["Content-Type"] = contentType;
  const res = await fetch(s3Url(bucket, key, query), { method, headers: h, body, credentials: "same-origin" });
  if (!res.ok) throw await s3Error(res.status, res.statusText, method === "HEAD" ? "" : await res.text());
  return res;
}

export async function s3Xml(method, bucket, key, options) {
  const res = await s3(method, bucket, key, options);
  const text = await res.text();
  const doc = text ? parseXml(text) : null;
  if (doc && doc.documentElement.localName === "Error") throw await s3Error(res.status, "", text);
  return doc;
}

export async function s3Error(status, statusText, text) {
  let code = "";
  let message = "";
  if (text) {
    const doc = parseXml(text);
    const root = doc && doc.documentElement;
    if (root && root.localName === "Error") {
      code = childText(root, "Code");
      message = childText(root, "Message");
    }
  }
  if (!code) code = { 403: "AccessDenied", 404: "NotFound" }[status] || `HTTP${status}`;
  if (!message) message = statusText || (text ? text.slice(0, 200) : "request failed");
  // The S3 side says 403 both for "not allowed" and "not signed in": ask which.
  if (status === 403) checkSession();
  return new ApiError(status, code, message);
}

let checking = null;
function checkSession() {
  if (checking) return;
  checking = api("GET", "/session").catch((err) => {
    if (err.status === 401) onSignedOut(err);
  }).finally(() => { checking = null; });
}

// --- XML (namespace-aware: S3 answers in its namespace, so match local names) ------------

export function parseXml(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  return doc.getElementsByTagName("parsererror").length ? null : doc;
}

export function children(el, name) {
  return Array.from(el ? el.children : []).filter((c) => c.localName === name);
}

export function child(el, name) {
  return children(el, name)[0] || null;
}

export function childText(el, name, fallback = "") {
  const c = child(el, name);
  return c ? c.textContent : fallback;
}

// Every element with that local name under el, at any depth, in any namespace.
export function descendants(el, name) {
  return el ? Array.from(el.getElementsByTagNameNS("*", name)) : [];
}

export function xmlEscape(s) {
  return String(s).replace(/[<>&"']/g, (c) =>
    ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]);
}

export const S3NS = "http://s3.amazonaws.com/doc/2006-03-01/";

// Indented XML for the textareas (the gateway may answer on one line).
export function prettyXml(text) {
  const doc = parseXml(text);
  if (!doc) return text;
  const out = [];
  const walk = (el, depth) => {
    const pad = "  ".repeat(depth);
    const attrs = Array.from(el.attributes).map((a) => ` ${a.name}="${xmlEscape(a.value)}"`).join("");
    const kids = Array.from(el.children);
    if (!kids.length) {
      const t = el.textContent;
      out.push(t ? `${pad}<${el.tagName}${attrs}>${xmlEscape(t)}</${el.tagName}>` : `${pad}<${el.tagName}${attrs}/>`);
      return;
    }
    out.push(`${pad}<${el.tagName}${attrs}>`);
    kids.forEach((k) => walk(k, depth + 1));
    out.push(`${pad}</${el.tagName}>`);
  };
  walk(doc.documentElement, 0);
  return out.join("\n");
}
