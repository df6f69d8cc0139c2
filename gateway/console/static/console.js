// The console's entry: the session, the header, and the hash router that hands the
// page area to one module under pages/.

import { api, onSessionLost, setCsrf } from "./lib/api.js";
import { clear, h, hideError, showError, showStatus } from "./lib/ui.js";

const PAGES = {
  buckets: () => import("./pages/buckets.js"),
  browse: () => import("./pages/browse.js"),
  settings: () => import("./pages/settings.js"),
  cluster: () => import("./pages/cluster.js"),
  credentials: () => import("./pages/credentials.js"),
};
const ADMIN_ONLY = new Set(["cluster", "credentials"]);

let session = null;
let current = null; // the page on screen: its timers and cleanups
let expiryTimer = 0;

const main = document.getElementById("main");

function decode(part) {
  try { return decodeURIComponent(part); } catch { return part; }
}

// #/browse/<bucket>/<prefix...> keeps the prefix's own slashes: one hash segment per
// key segment, each encoded, so a trailing "/" survives.
export function parseRoute(hash) {
  const [head, ...rest] = hash.replace(/^#\/?/, "").split("/");
  switch (head) {
    case "":
    case "buckets": return { page: "buckets" };
    case "browse": return { page: "browse", bucket: decode(rest[0] || ""), prefix: rest.slice(1).map(decode).join("/") };
    case "bucket": return { page: "settings", bucket: decode(rest[0] || "") };
    case "cluster":
    case "credentials": return { page: head };
    default: return { page: null };
  }
}

function leavePage() {
  if (!current) return;
  current.alive = false;
  for (const fn of current.cleanups) {
    try { fn(); } catch (err) { console.error(err); }
  }
  current = null;
}

// What a page may use: the session, whether it may write, and timers that stop when the
// page is left (an answer arriving after that is dropped by checking live()).
function pageContext() {
  const page = { alive: true, cleanups: [] };
  current = page;
  return {
    session,
    admin: !!session.admin,
    canWrite: session.policy !== "readonly",
    live: () => page.alive,
    onLeave: (fn) => page.cleanups.push(fn),
    every(ms, fn) {
      const id = setInterval(() => { if (page.alive && !document.hidden) fn(); }, ms);
      page.cleanups.push(() => clearInterval(id));
    },
  };
}

async function route({ focus = false } = {}) {
  leavePage();
  if (!session) return showSignIn();
  const r = parseRoute(location.hash);
  for (const link of document.querySelectorAll("[data-nav]")) {
    const here = link.dataset.nav === r.page || (link.dataset.nav === "buckets" && (r.page === "browse" || r.page === "settings"));
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = h("div", { class: `page page-${r.page || "missing"}` });
  clear(main, view);
  const ctx = pageContext();
  if (!r.page) {
    view.append(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/buckets" }, "Go to the buckets")));
  } else if (ADMIN_ONLY.has(r.page) && !session.admin) {
    view.append(h("h1", {}, "Not allowed"),
      h("p", {}, `This page needs an admin key; ${session.access_key} has the ${session.policy} policy.`));
  } else {
    try {
      const mod = await PAGES[r.page]();
      if (!ctx.live()) return;
      await mod.render(view, r, ctx);
    } catch (err) {
      if (ctx.live()) showError(err);
    }
  }
  if (focus && ctx.live()) {
    // Move a screen reader (and the keyboard) to the new page's heading.
    const heading = view.querySelector("h1");
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
  }
}

// --- session -----------------------------------------------------------------------------

function setSession(data) {
  session = data;
  setCsrf(data ? data.csrf : "");
  document.getElementById("nav").hidden = !data;
  document.getElementById("whoami").hidden = !data;
  clearTimeout(expiryTimer);
  if (!data) return;
  const key = document.getElementById("session-key");
  key.textContent = data.access_key;
  key.title = data.display_name ? `${data.display_name} (${data.access_key})` : data.access_key;
  const policy = document.getElementById("session-policy");
  policy.textContent = data.policy;
  policy.className = `badge policy-${data.policy}`;
  for (const el of document.querySelectorAll("[data-admin]")) el.hidden = !data.admin;
  // setTimeout's delay overflows past ~24.8 days; a session lasts 12 hours.
  const ms = data.expires * 1000 - Date.now();
  if (ms > 0 && ms < 2 ** 31) expiryTimer = setTimeout(() => sessionLost("Your session expired; sign in again."), ms);
}

function sessionLost(message) {
  if (!session) return;
  leavePage();
  setSession(null);
  showSignIn();
  showError({ code: "NotSignedIn", message });
}

function showSignIn() {
  const access = h("input", { id: "access-key", name: "access_key", autocomplete: "username", required: true, spellcheck: "false", autocapitalize: "off", class: "mono" });
  const secret = h("input", { id: "secret-key", name: "secret_key", type: "password", autocomplete: "current-password", required: true, class: "mono" });
  const button = h("button", { id: "sign-in", type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", { class: "muted" }, "Use an S3 access key and its secret key."),
    h("div", { class: "field" }, h("label", { for: "access-key" }, "Access key"), access),
    h("div", { class: "field" }, h("label", { for: "secret-key" }, "Secret key"), secret),
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    try {
      const data = await api("POST", "/session", { access_key: access.value.trim(), secret_key: secret.value });
      hideError();
      setSession(data);
      if (!location.hash || location.hash === "#/" || location.hash === "#") location.hash = "#/buckets";
      else route({ focus: true });
    } catch (err) {
      showError(err.status === 401 ? { ...err, code: err.code, message: "The access key or secret key is wrong, or the key is disabled." } : err, "Sign-in failed");
      secret.select();
      secret.focus();
    } finally {
      button.disabled = false;
    }
  });
  clear(main, form);
  access.focus();
}

async function signOut() {
  try {
    await api("DELETE", "/session");
  } catch (err) {
    if (err.status !== 401) return showError(err, "Sign-out failed");
  }
  leavePage();
  setSession(null);
  hideError();
  showSignIn();
  showStatus("Signed out.");
}

async function start() {
  document.getElementById("sign-out").addEventListener("click", signOut);
  document.getElementById("alert-dismiss").addEventListener("click", hideError);
  onSessionLost(() => sessionLost("Your session ended (it expired, or the key was disabled); sign in again."));
  window.addEventListener("hashchange", () => { hideError(); route({ focus: true }); });
  try {
    setSession(await api("GET", "/session"));
  } catch (err) {
    if (err.status !== 401) showError(err, "Could not reach the gateway");
  }
  route();
}

start();
