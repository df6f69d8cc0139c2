// #/bucket/<name>: a bucket's configurations, each shown and (for writers) edited on its own.

import {
  S3NS, api, child, childText, children, descendants, parseXml, prettyXml, s3, xmlEscape,
} from "../lib/api.js";
import { getOptional, getTags, putTags } from "../lib/s3.js";
import {
  badge, busy, clear, confirmDialog, field, fmtBytes, h, hrefBrowse, select, showError, showStatus, table,
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
  const acl = aclSection(bucket, ctx);
  sections.push(
    publicAccessSection(bucket, ctx),
    acl,
    ownershipSection(bucket, ctx, () => acl.load()), // ownership turns ACLs on and off
    objectLockSection(bucket, ctx),
  );
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

// --- public access block -----------------------------------------------------------------

const PAB_FLAGS = [
  ["BlockPublicAcls", "pab-block-public-acls", "Block public ACLs",
    "A new ACL that grants everyone or any signed-in key access is refused."],
  ["IgnorePublicAcls", "pab-ignore-public-acls", "Ignore public ACLs",
    "Public grants already set give no access."],
  ["BlockPublicPolicy", "pab-block-public-policy", "Block public bucket policies",
    "A bucket policy that grants public access is refused."],
  ["RestrictPublicBuckets", "pab-restrict-public-buckets", "Restrict public buckets",
    "A public bucket policy lets in only this cluster's keys."],
];

function publicAccessSection(bucket, ctx) {
  const now = current("pab");
  const boxes = {};
  const checks = PAB_FLAGS.map(([name, id, label, hint]) => {
    boxes[name] = h("input", { type: "checkbox", id, "aria-describedby": `${id}-hint` });
    return h("div", { class: "check" }, boxes[name],
      h("div", {}, h("label", { for: id }, label), h("small", { class: "hint", id: `${id}-hint` }, hint)));
  });
  const save = h("button", { type: "submit", id: "save-pab", class: "primary" }, "Save");
  const remove = h("button", { type: "button", id: "delete-pab", class: "danger", hidden: true }, "Remove");
  const form = ctx.canWrite ?
    h("form", { class: "flags" },
      h("fieldset", {}, h("legend", {}, "Block public access"), checks),
      h("div", { class: "actions" }, remove, save)) :
    null;
  const el = section("pab", "Public access block", now,
    h("p", { class: "muted small" }, "Keeps ACLs and bucket policies from making the bucket public."), form);
  const q = { publicAccessBlock: true };

  const load = async () => {
    try {
      const text = await getOptional(bucket, "", q);
      const root = text === null ? null : (parseXml(text) || {}).documentElement;
      const flags = {};
      for (const [name] of PAB_FLAGS) {
        flags[name] = childText(root, name).trim().toLowerCase() === "true";
        boxes[name].checked = flags[name];
      }
      if (text === null) {
        clear(now, badge("none", "muted"));
      } else {
        const on = PAB_FLAGS.filter(([name]) => flags[name]).map(([, , label]) => label);
        clear(now, badge("set", "ok"), on.length ? ` on: ${on.join(", ")}` : " every setting off");
      }
      remove.hidden = text === null;
    } catch (err) { failed(now, err, "Public access block"); }
  };

  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = `<PublicAccessBlockConfiguration xmlns="${S3NS}">` +
        PAB_FLAGS.map(([name]) => `<${name}>${boxes[name].checked ? "true" : "false"}</${name}>`).join("") +
        "</PublicAccessBlockConfiguration>";
      try {
        await busy(save, s3("PUT", bucket, "", { query: q, body, contentType: "application/xml" }));
        showStatus(`Public access block of ${bucket} saved.`);
        await load();
      } catch (err) { showError(err, "Could not save the public access block"); }
    });
    remove.addEventListener("click", async () => {
      const ok = await confirmDialog({
        title: "Remove the public access block",
        message: `Remove the public access block of ${bucket}? Public ACLs and policies will take effect again.`,
        yes: "Remove",
      });
      if (!ok) return;
      try {
        await busy(remove, s3("DELETE", bucket, "", { query: q }));
        showStatus(`Public access block of ${bucket} removed.`);
        await load();
      } catch (err) { showError(err, "Could not remove the public access block"); }
    });
  }
  return { el, load };
}

// --- object ownership --------------------------------------------------------------------

const OWNERSHIP = [
  ["BucketOwnerEnforced", "BucketOwnerEnforced (ACLs off)", "ACLs are off: access comes from policies alone, and the bucket's owner owns every object."],
  ["BucketOwnerPreferred", "BucketOwnerPreferred", "ACLs apply; the bucket's owner is preferred as the owner of new objects."],
  ["ObjectWriter", "ObjectWriter", "ACLs apply; the key that writes an object owns it."],
];

function ownershipSection(bucket, ctx, changed) {
  const now = current("ownership");
  const choice = select({ id: "ownership", "aria-describedby": "ownership-hint" },
    OWNERSHIP.map(([value, label]) => [value, label]), "BucketOwnerEnforced");
  const hint = h("p", { class: "hint", id: "ownership-hint" });
  const describe = () => { hint.textContent = OWNERSHIP.find(([v]) => v === choice.value)[2]; };
  choice.addEventListener("change", describe);
  describe();
  const save = h("button", { type: "submit", id: "save-ownership", class: "primary" }, "Save");
  const remove = h("button", { type: "button", id: "delete-ownership", class: "danger", hidden: true }, "Remove");
  const form = ctx.canWrite ?
    h("form", { class: "hinted-form" },
      h("div", { class: "inline-form" }, field("Object ownership", choice), remove, save), hint) :
    null;
  const el = section("ownership", "Object ownership", now, form);
  const q = { ownershipControls: true };

  const load = async () => {
    try {
      const text = await getOptional(bucket, "", q);
      const rule = text === null ? null : child((parseXml(text) || {}).documentElement, "Rule");
      const value = childText(rule, "ObjectOwnership");
      if (!value) {
        clear(now, badge("none", "muted"), " (ACLs apply)");
      } else {
        const known = OWNERSHIP.find(([v]) => v === value);
        clear(now, h("strong", {}, value), known ? ` — ${known[2]}` : "");
        if (known) { choice.value = value; describe(); }
      }
      remove.hidden = !value;
    } catch (err) { failed(now, err, "Object ownership"); }
  };

  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = `<OwnershipControls xmlns="${S3NS}"><Rule><ObjectOwnership>${xmlEscape(choice.value)}` +
        "</ObjectOwnership></Rule></OwnershipControls>";
      try {
        await busy(save, s3("PUT", bucket, "", { query: q, body, contentType: "application/xml" }));
        showStatus(`Object ownership of ${bucket}: ${choice.value}.`);
        await Promise.all([load(), changed()]);
      } catch (err) { showError(err, "Could not change the object ownership"); }
    });
    remove.addEventListener("click", async () => {
      const ok = await confirmDialog({
        title: "Remove the object ownership setting",
        message: `Remove the object ownership setting of ${bucket}? ACLs will apply.`,
        yes: "Remove",
      });
      if (!ok) return;
      try {
        await busy(remove, s3("DELETE", bucket, "", { query: q }));
        showStatus(`Object ownership setting of ${bucket} removed.`);
        await Promise.all([load(), changed()]);
      } catch (err) { showError(err, "Could not remove the object ownership setting"); }
    });
  }
  return { el, load };
}

// --- object lock -------------------------------------------------------------------------

function objectLockSection(bucket, ctx) {
  const now = current("lock");
  const editor = h("div");
  const el = section("lock", "Object lock", now,
    h("p", { class: "muted small" },
      "A locked version cannot be deleted until its retention ends; new versions get the default retention."),
    editor);

  const load = async () => {
    try {
      const text = await getOptional(bucket, "", { "object-lock": true });
      const root = text === null ? null : (parseXml(text) || {}).documentElement;
      const enabled = childText(root, "ObjectLockEnabled") === "Enabled";
      if (!enabled) {
        clear(now, badge("not enabled", "muted"), " (at bucket creation, or with an S3 client once versioning is on)");
        clear(editor);
        return;
      }
      const retention = child(child(root, "Rule"), "DefaultRetention");
      const rule = retention && {
        mode: childText(retention, "Mode"),
        period: childText(retention, "Days") || childText(retention, "Years"),
        unit: child(retention, "Days") ? "days" : "years",
      };
      clear(now, badge("enabled", "ok"), rule ?
        ` default retention: ${rule.mode}, ${rule.period} ${Number(rule.period) === 1 ? rule.unit.slice(0, -1) : rule.unit}` :
        " no default retention");
      if (ctx.canWrite) clear(editor, lockForm(bucket, rule, load));
    } catch (err) { failed(now, err, "Object lock"); }
  };
  return { el, load };
}

function lockForm(bucket, rule, load) {
  const mode = select({ id: "lock-mode", "aria-describedby": "lock-mode-hint" }, [
    ["", "No default retention"],
    ["GOVERNANCE", "GOVERNANCE"],
    ["COMPLIANCE", "COMPLIANCE"],
  ], rule ? rule.mode : "");
  const period = h("input", { id: "lock-period", type: "number", min: 1, step: 1, value: rule ? rule.period : 1, required: true });
  const unit = select({ id: "lock-unit" }, [["days", "days"], ["years", "years"]], rule ? rule.unit : "days");
  const save = h("button", { type: "submit", id: "save-lock", class: "primary" }, "Save");
  const sync = () => {
    const none = mode.value === "";
    period.disabled = none;
    unit.disabled = none;
  };
  mode.addEventListener("change", sync);
  sync();
  const periodField = field("Period", period);
  const unitField = field("Unit", unit);
  periodField.classList.add("narrow");
  unitField.classList.add("narrow");
  const form = h("form", { class: "hinted-form", "aria-label": "Change the default retention" },
    h("div", { class: "inline-form" }, field("Default retention", mode), periodField, unitField, save),
    h("p", { class: "hint", id: "lock-mode-hint" },
      "GOVERNANCE: an admin key or the bucket's owner may delete early (bypassing governance retention). " +
      "COMPLIANCE: nobody may, and the retention can only be lengthened."));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let rulePart = "";
    if (mode.value) {
      const n = Number(period.value);
      if (!Number.isInteger(n) || n < 1) {
        return showError({ code: "InvalidRetentionPeriod", message: "The period must be a whole number from 1 up." }, "Object lock");
      }
      const tag = unit.value === "years" ? "Years" : "Days";
      rulePart = `<Rule><DefaultRetention><Mode>${xmlEscape(mode.value)}</Mode><${tag}>${n}</${tag}>` +
        "</DefaultRetention></Rule>";
      if (mode.value === "COMPLIANCE") {
        const ok = await confirmDialog({
          title: "Default COMPLIANCE retention",
          message: `Every new version in ${bucket} will be undeletable by anyone, admins included, for ${n} ${unit.value}. Continue?`,
          yes: "Save",
        });
        if (!ok) return;
      }
    }
    const body = `<ObjectLockConfiguration xmlns="${S3NS}"><ObjectLockEnabled>Enabled</ObjectLockEnabled>` +
      `${rulePart}</ObjectLockConfiguration>`;
    try {
      await busy(save, s3("PUT", bucket, "", { query: { "object-lock": true }, body, contentType: "application/xml" }));
      showStatus(`Default retention of ${bucket} saved.`);
      await load();
    } catch (err) { showError(err, "Could not change the default retention"); }
  });
  return form;
}

// --- access control list -----------------------------------------------------------------

const XSI = "http://www.w3.org/2001/XMLSchema-instance";
const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const GROUPS = {
  [ALL_USERS]: "Everyone (AllUsers)",
  [AUTHENTICATED_USERS]: "Any signed-in key (AuthenticatedUsers)",
  "http://acs.amazonaws.com/groups/s3/LogDelivery": "Log delivery (LogDelivery)",
};
const CANNED = [
  ["private", "private", "Only the owner has access."],
  ["public-read", "public-read", "Anyone, without a key, may list the bucket."],
  ["public-read-write", "public-read-write", "Anyone, without a key, may list the bucket and write into it."],
  ["authenticated-read", "authenticated-read", "Any key of this cluster may list the bucket."],
];

function grantsOf(root) {
  return children(child(root, "AccessControlList"), "Grant").map((g) => {
    const grantee = child(g, "Grantee");
    const type = (grantee && (grantee.getAttributeNS(XSI, "type") || grantee.getAttribute("xsi:type"))) ||
      (child(grantee, "URI") ? "Group" : child(grantee, "EmailAddress") ? "AmazonCustomerByEmail" : "CanonicalUser");
    return {
      type,
      id: childText(grantee, "ID"),
      name: childText(grantee, "DisplayName"),
      uri: childText(grantee, "URI"),
      email: childText(grantee, "EmailAddress"),
      permission: childText(g, "Permission"),
    };
  });
}

// The canned ACL the grants amount to, or null for custom grants.
function cannedOf(grants, ownerId) {
  const others = grants
    .filter((g) => !(g.type === "CanonicalUser" && g.id === ownerId && g.permission === "FULL_CONTROL"))
    .map((g) => `${g.uri || g.id || g.email} ${g.permission}`)
    .sort()
    .join("|");
  return {
    "": "private",
    [`${ALL_USERS} READ`]: "public-read",
    [`${ALL_USERS} READ|${ALL_USERS} WRITE`]: "public-read-write",
    [`${AUTHENTICATED_USERS} READ`]: "authenticated-read",
  }[others] || null;
}

function granteeCell(g) {
  const main = g.type === "Group" ? (GROUPS[g.uri] || g.uri) :
    g.type === "CanonicalUser" ? (g.name || g.id) : g.email;
  const detail = g.type === "Group" ? g.uri : g.type === "CanonicalUser" && g.name && g.name !== g.id ? g.id : "";
  return h("th", { scope: "row", class: "wrap-anywhere" }, main,
    detail && detail !== main ? h("div", { class: "mono small muted" }, detail) : null);
}

function aclSection(bucket, ctx) {
  const now = h("div", { class: "current", id: "acl-current" }, "Loading…");
  const canned = select({ id: "acl-canned", "aria-describedby": "acl-canned-hint" },
    CANNED.map(([value, label]) => [value, label]), "private");
  const hint = h("small", { class: "hint", id: "acl-canned-hint" });
  const describe = () => { hint.textContent = CANNED.find(([v]) => v === canned.value)[2]; };
  canned.addEventListener("change", describe);
  describe();
  const save = h("button", { type: "submit", id: "save-acl", class: "primary" }, "Apply");
  const form = ctx.canWrite ?
    h("form", { class: "inline-form acl-form" },
      h("div", { class: "field" }, h("label", { for: "acl-canned" }, "Canned ACL"), canned, hint), save) :
    null;
  const el = section("acl", "Access control list", now, form);

  const load = async () => {
    try {
      const [text, ownership] = await Promise.all([
        s3("GET", bucket, "", { query: { acl: true } }).then((res) => res.text()),
        getOptional(bucket, "", { ownershipControls: true }).catch(() => null),
      ]);
      const root = (parseXml(text) || {}).documentElement;
      const owner = child(root, "Owner");
      const ownerId = childText(owner, "ID");
      const ownerName = childText(owner, "DisplayName");
      const grants = grantsOf(root);
      const enforced = ownership !== null && childText(
        child((parseXml(ownership) || {}).documentElement, "Rule"), "ObjectOwnership") === "BucketOwnerEnforced";
      const matches = cannedOf(grants, ownerId);
      clear(now,
        h("p", { class: "acl-owner" }, "Owner: ", h("strong", {}, ownerName || ownerId || "unknown"),
          ownerName && ownerId && ownerName !== ownerId ? h("span", { class: "mono small muted" }, ` ${ownerId}`) : null),
        enforced ?
          h("p", {}, badge("ACLs off", "muted"), " object ownership is BucketOwnerEnforced") :
          h("p", {}, matches ? ["Same as the canned ACL ", h("strong", {}, matches)] : badge("custom grants", "info")),
        table({
          head: ["Grantee", "Type", "Permission"],
          rows: grants.map((g) => h("tr", { "data-grantee": g.uri || g.id || g.email, "data-permission": g.permission },
            granteeCell(g),
            h("td", {}, g.type === "Group" ? "group" : g.type === "CanonicalUser" ? "key" : "email"),
            h("td", { class: "mono" }, g.permission))),
          empty: "No grants.",
          label: `Grants on ${bucket}`,
        }));
      if (matches) { canned.value = matches; describe(); }
      canned.disabled = enforced;
      save.disabled = enforced;
      if (enforced) hint.textContent = "ACLs cannot be changed while object ownership is BucketOwnerEnforced.";
      else describe();
    } catch (err) { failed(now, err, "Access control list"); }
  };

  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const value = canned.value;
      if (value.startsWith("public-")) {
        const ok = await confirmDialog({
          title: "Make the bucket public",
          message: `With ${value}, anyone, without a key, may list ${bucket}` +
            `${value === "public-read-write" ? " and write into it" : ""}. Apply it?`,
          yes: "Make public",
        });
        if (!ok) return;
      }
      try {
        await busy(save, s3("PUT", bucket, "", { query: { acl: true }, headers: { "x-amz-acl": value } }));
        showStatus(`ACL of ${bucket}: ${value}.`);
        await load();
      } catch (err) { showError(err, "Could not change the ACL"); }
    });
  }
  return { el, load };
}
