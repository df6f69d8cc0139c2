// The S3 operations the pages use, over /console/s3, as plain objects instead of XML.

import {
  ApiError, S3NS, child, childText, children, parseXml, s3, s3Error, s3Url, s3Xml, writeHeaders, xmlEscape,
} from "./api.js";

export async function listBuckets() {
  const doc = await s3Xml("GET", "", "");
  const list = child(doc.documentElement, "Buckets");
  return children(list, "Bucket").map((b) => ({
    name: childText(b, "Name"),
    created: childText(b, "CreationDate"),
  }));
}

function folders(root) {
  return children(root, "CommonPrefixes").map((p) => childText(p, "Prefix"));
}

function entry(el) {
  const size = childText(el, "Size", null);
  return {
    key: childText(el, "Key"),
    size: size === null ? null : Number(size),
    modified: childText(el, "LastModified"),
    etag: childText(el, "ETag"),
    storageClass: childText(el, "StorageClass", "STANDARD"),
  };
}

export async function listObjects(bucket, { prefix = "", token = null, maxKeys = 200 } = {}) {
  const doc = await s3Xml("GET", bucket, "", {
    query: { "list-type": "2", delimiter: "/", prefix: prefix || null, "continuation-token": token, "max-keys": String(maxKeys) },
  });
  const root = doc.documentElement;
  return {
    folders: folders(root),
    objects: children(root, "Contents").map(entry),
    next: childText(root, "IsTruncated") === "true" ? childText(root, "NextContinuationToken") : null,
  };
}

// Versions and delete markers in the order the server lists them (key, then newest first).
export async function listVersions(bucket, { prefix = "", marker = null, maxKeys = 200 } = {}) {
  const doc = await s3Xml("GET", bucket, "", {
    query: {
      versions: true, prefix: prefix || null, delimiter: "/", "max-keys": String(maxKeys),
      "key-marker": marker && marker.key, "version-id-marker": marker && marker.versionId,
    },
  });
  const root = doc.documentElement;
  const versions = Array.from(root.children)
    .filter((el) => el.localName === "Version" || el.localName === "DeleteMarker")
    .map((el) => ({
      ...entry(el),
      versionId: childText(el, "VersionId"),
      latest: childText(el, "IsLatest") === "true",
      deleteMarker: el.localName === "DeleteMarker",
    }));
  const truncated = childText(root, "IsTruncated") === "true";
  return {
    folders: folders(root),
    versions,
    next: truncated ? { key: childText(root, "NextKeyMarker"), versionId: childText(root, "NextVersionIdMarker") } : null,
  };
}

// A plain link: the browser streams the download itself; the gateway names the file.
export function downloadUrl(bucket, key, versionId) {
  const name = key.split("/").pop() || "download";
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const disposition = `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
  return s3Url(bucket, key, { versionId, "response-content-disposition": disposition });
}

// --- configurations that may be absent ---------------------------------------------------

// S3 answers 404 with a specific code when a configuration was never set; that is
// "none", not an error. Other 404s (NoSuchBucket) still are.
const ABSENT = new Set([
  "NoSuchTagSet", "NoSuchCORSConfiguration", "NoSuchLifecycleConfiguration",
  "NoSuchBucketPolicy", "NoSuchConfiguration", "ServerSideEncryptionConfigurationNotFoundError",
  "NoSuchPublicAccessBlockConfiguration", "OwnershipControlsNotFoundError",
  "ObjectLockConfigurationNotFoundError",
]);

export async function getOptional(bucket, key, query) {
  try {
    const res = await s3("GET", bucket, key, { query });
    return await res.text();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && ABSENT.has(err.code)) return null;
    throw err;
  }
}

// --- tags --------------------------------------------------------------------------------

export async function getTags(bucket, key, versionId) {
  const text = await getOptional(bucket, key, { tagging: true, versionId });
  if (text === null) return [];
  const doc = parseXml(text);
  const set = child(doc && doc.documentElement, "TagSet");
  return children(set, "Tag").map((t) => ({ key: childText(t, "Key"), value: childText(t, "Value") }));
}

export async function putTags(bucket, key, tags, versionId) {
  const query = { tagging: true, versionId };
  if (!tags.length) {
    await s3("DELETE", bucket, key, { query });
    return;
  }
  const body = `<Tagging xmlns="${S3NS}"><TagSet>` +
    tags.map((t) => `<Tag><Key>${xmlEscape(t.key)}</Key><Value>${xmlEscape(t.value)}</Value></Tag>`).join("") +
    "</TagSet></Tagging>";
  await s3("PUT", bucket, key, { query, body, contentType: "application/xml" });
}

// --- uploads -----------------------------------------------------------------------------

export const SINGLE_PUT_MAX = 16 * 1024 * 1024;
export const PART_SIZE = 8 * 1024 * 1024;
const PARALLEL_PARTS = 3; // enough to fill a LAN link without hogging the gateway

// XMLHttpRequest rather than fetch: only it reports upload progress.
function send(method, url, body, { headers = {}, onProgress, track } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(writeHeaders(method, headers))) xhr.setRequestHeader(name, value);
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
      else reject(await s3Error(xhr.status, xhr.statusText, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, "NetworkError", "the connection to the gateway failed"));
    xhr.onabort = () => reject(new ApiError(0, "Cancelled", "upload cancelled"));
    if (track) track(xhr);
    xhr.send(body);
  });
}

// Uploads one file; onProgress(bytesSent) as it goes. Returns {promise, cancel}.
export function uploadFile(bucket, key, file, onProgress) {
  const live = new Set();
  let cancelled = false;
  const track = (xhr) => {
    live.add(xhr);
    xhr.addEventListener("loadend", () => live.delete(xhr));
  };
  const headers = { "Content-Type": file.type || "application/octet-stream" };
  const cancel = () => {
    cancelled = true;
    for (const xhr of live) xhr.abort();
  };
  const promise = file.size <= SINGLE_PUT_MAX ?
    send("PUT", s3Url(bucket, key), file, { headers, onProgress, track }) :
    multipart(bucket, key, file, headers, onProgress, track, () => cancelled);
  return { promise, cancel };
}

async function multipart(bucket, key, file, headers, onProgress, track, isCancelled) {
  const created = await send("POST", s3Url(bucket, key, { uploads: true }), null, { headers, track });
  const uploadId = childText(created.responseXML && created.responseXML.documentElement, "UploadId");
  if (!uploadId) throw new ApiError(created.status, "InvalidResponse", "no UploadId in the CreateMultipartUpload answer");
  try {
    const count = Math.ceil(file.size / PART_SIZE);
    const sent = new Array(count).fill(0);
    const etags = new Array(count);
    let nextPart = 0;
    const worker = async () => {
      while (nextPart < count) {
        if (isCancelled()) throw new ApiError(0, "Cancelled", "upload cancelled");
        const i = nextPart++;
        const blob = file.slice(i * PART_SIZE, Math.min(file.size, (i + 1) * PART_SIZE));
        const xhr = await send("PUT", s3Url(bucket, key, { partNumber: String(i + 1), uploadId }), blob, {
          track,
          onProgress: (loaded) => {
            sent[i] = loaded;
            onProgress(sent.reduce((a, b) => a + b, 0));
          },
        });
        sent[i] = blob.size;
        etags[i] = xhr.getResponseHeader("ETag");
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, count) }, worker));
    const body = `<CompleteMultipartUpload xmlns="${S3NS}">` +
      etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`).join("") +
      "</CompleteMultipartUpload>";
    const done = await send("POST", s3Url(bucket, key, { uploadId }), body, { headers: { "Content-Type": "application/xml" }, track });
    // A 200 may still carry an <Error>: the completion failed after the headers went out.
    if (done.responseXML && done.responseXML.documentElement.localName === "Error") {
      throw await s3Error(done.status, "", done.responseText);
    }
    return done;
  } catch (err) {
    // Leave no parts behind on the storage nodes; the abort's own failure is secondary.
    await send("DELETE", s3Url(bucket, key, { uploadId }), null).catch(() => {});
    throw err;
  }
}
