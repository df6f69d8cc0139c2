// #/credentials (admin): access keys; generate, disable/enable, rotate, delete. A new
// secret is shown once, in a box the admin dismisses after copying it.

import { api } from "../lib/api.js";
import {
  badge, busy, clear, confirmDialog, copyField, dateTime, field, fmtCount, fmtDate, h, select,
  showError, showStatus, table,
} from "../lib/ui.js";

const POLICIES = [["readonly", "readonly"], ["readwrite", "readwrite"], ["admin", "admin"]];
const GRACES = [["0", "none (the old secret stops now)"], ["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"]];

export async function render(view, _route, ctx) {
  const secretBox = h("div", { id: "secret-box" });
  const list = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  view.append(h("div", { class: "page-head" }, h("h1", {}, "Credentials")), secretBox, createForm(), list);

  const load = async () => {
    const data = await api("GET", "/credentials");
    if (!ctx.live()) return;
    clear(list, table({
      label: "Credentials",
      head: ["Access key", "Name", "Email", "Policy", "Status", "Created", "Last used", { text: "Requests", class: "num" }, { text: "Actions", class: "actions-col" }],
      rows: (data.credentials || []).map(row),
      empty: "No credentials.",
    }));
  };

  // The secret of a new or rotated key: shown here once, never again.
  function showSecret(title, res) {
    const dismiss = h("button", { type: "button", id: "dismiss-secret", onclick: () => clear(secretBox) }, "I have saved it");
    clear(secretBox, h("section", { class: "card secret-card", "aria-labelledby": "secret-title" },
      h("h2", { id: "secret-title" }, title),
      h("p", {}, h("strong", {}, "Copy the secret key now: it is not shown again.")),
      h("div", { class: "field" }, h("label", { for: "new-access-key" }, "Access key"), copyField({ id: "new-access-key", value: res.access_key })),
      h("div", { class: "field" }, h("label", { for: "new-secret" }, "Secret key"), copyField({ id: "new-secret", value: res.secret_key })),
      res.previous_secret_until ? h("p", { class: "muted" }, `The previous secret keeps working until ${fmtDate(res.previous_secret_until)}.`) : null,
      h("div", { class: "actions" }, dismiss)));
    secretBox.querySelector("#new-secret").focus();
    secretBox.querySelector("#new-secret").select();
  }

  function createForm() {
    const policy = select({ id: "new-credential-policy" }, POLICIES, "readwrite");
    const name = h("input", { id: "new-credential-name", autocomplete: "off" });
    const email = h("input", { id: "new-credential-email", type: "email", autocomplete: "off" });
    // Without patterns a non-admin key sees only the buckets it creates itself.
    const buckets = h("input", { id: "new-credential-buckets", autocomplete: "off", placeholder: "e.g. * or logs-*, photos" });
    const button = h("button", { type: "submit", id: "create-credential", class: "primary" }, "Generate key");
    const form = h("form", { class: "inline-form card", "aria-label": "Generate an access key" },
      field("Policy", policy), field("Display name (optional)", name), field("Email (optional)", email),
      field("Buckets it may use (comma-separated; * ends a prefix)", buckets), button);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { policy: policy.value };
      if (name.value.trim()) body.display_name = name.value.trim();
      if (email.value.trim()) body.email = email.value.trim();
      const patterns = buckets.value.split(",").map((p) => p.trim()).filter(Boolean);
      if (patterns.length) body.buckets = patterns;
      try {
        const res = await busy(button, api("POST", "/credentials", body));
        name.value = "";
        email.value = "";
        buckets.value = "";
        showSecret(`New ${res.policy} key ${res.access_key}`, res);
        await load();
      } catch (err) { showError(err, "Could not generate a key"); }
    });
    return form;
  }

  function row(c) {
    const ak = c.access_key;
    const mine = ak === ctx.session.access_key;
    const path = `/credentials/${encodeURIComponent(ak)}`;
    const act = (label, action, handler, cls) => h("button", {
      type: "button", "data-action": action, class: cls, "aria-label": `${label} ${ak}`, onclick: (e) => handler(e.currentTarget),
    }, label);
    const toggle = async (button) => {
      const verb = c.disabled ? "enable" : "disable";
      if (!c.disabled) {
        const ok = await confirmDialog({
          title: "Disable key",
          message: `Disable ${ak}? Requests signed with it are refused until it is enabled again.${mine ? " This is the key you are signed in with: you will be signed out." : ""}`,
          yes: "Disable",
        });
        if (!ok) return;
      }
      try {
        await busy(button, api("POST", `${path}/${verb}`));
        showStatus(`${ak} ${verb}d.`);
        await load();
      } catch (err) { showError(err, `Could not ${verb} ${ak}`); }
    };
    const rotate = async (button) => {
      const grace = select({ id: "rotate-grace" }, GRACES, "86400");
      const ok = await confirmDialog({
        title: "Rotate secret",
        message: `Give ${ak} a new secret key? Clients using the old one must be updated before the grace period ends.`,
        yes: "Rotate", danger: false, extra: field("Old secret keeps working for", grace),
      });
      if (!ok) return;
      try {
        const res = await busy(button, api("POST", `${path}/rotate`, { grace_seconds: Number(grace.value) }));
        showSecret(`New secret for ${ak}`, res);
        await load();
      } catch (err) { showError(err, `Could not rotate ${ak}`); }
    };
    const remove = async (button) => {
      const ok = await confirmDialog({
        title: "Delete key",
        message: `Delete ${ak} for good? Requests signed with it are refused and it cannot be restored.${mine ? " This is the key you are signed in with." : ""}`,
        yes: "Delete key",
      });
      if (!ok) return;
      try {
        await busy(button, api("DELETE", path));
        showStatus(`${ak} deleted.`);
        await load();
      } catch (err) { showError(err, `Could not delete ${ak}`); }
    };
    const status = [c.disabled ? badge("disabled", "bad") : badge("enabled", "ok")];
    if (c.previous_secret_until && c.previous_secret_until * 1000 > Date.now()) {
      status.push(h("div", { class: "muted small" }, `old secret until ${fmtDate(c.previous_secret_until)}`));
    }
    return h("tr", { "data-access-key": ak, class: c.disabled ? "disabled" : null },
      h("th", { scope: "row", class: "mono" }, ak, mine ? h("span", { class: "muted small" }, " (you)") : null),
      h("td", {}, c.display_name || "—"), h("td", {}, c.email || "—"),
      h("td", {}, badge(c.policy, `policy-${c.policy}`)), h("td", {}, status),
      h("td", {}, dateTime(c.created)), h("td", {}, dateTime(c.last_used)),
      h("td", { class: "num" }, fmtCount(c.requests)),
      h("td", {}, h("div", { class: "row-actions" },
        act(c.disabled ? "Enable" : "Disable", c.disabled ? "enable" : "disable", toggle),
        act("Rotate", "rotate", rotate),
        act("Delete", "delete", remove, "danger"))));
  }

  await load();
}
