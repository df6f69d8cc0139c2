// One session of the AWS SDK for JavaScript v3 against a Tessera gateway, with the SDK's
// defaults (CRC32 checksums on every upload, aws-chunked bodies with trailers for streams).
// Driven by tests/clients/test_js_sdk.py: TESSERA_ENDPOINT, TESSERA_ACCESS_KEY,
// TESSERA_SECRET_KEY, TESSERA_REGION and TESSERA_BUCKET say where; it prints one JSON
// object of what it saw, and exits non-zero on the first failure.
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";

import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const env = process.env;
const Bucket = env.TESSERA_BUCKET;
const client = new S3Client({
  endpoint: env.TESSERA_ENDPOINT,
  region: env.TESSERA_REGION,
  forcePathStyle: true,
  credentials: { accessKeyId: env.TESSERA_ACCESS_KEY, secretAccessKey: env.TESSERA_SECRET_KEY },
});

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const seen = {};

// A small object from a string, and back.
const small = "hello from the JavaScript SDK\n";
const put = await client.send(
  new PutObjectCommand({ Bucket, Key: "js/small.txt", Body: small, ContentType: "text/plain" }),
);
seen.small_put_checksum = put.ChecksumCRC32 ?? null;
const got = await client.send(new GetObjectCommand({ Bucket, Key: "js/small.txt" }));
seen.small_body_matches = (await got.Body.transformToString()) === small;
seen.small_content_type = got.ContentType;
const head = await client.send(
  new HeadObjectCommand({ Bucket, Key: "js/small.txt", ChecksumMode: "ENABLED" }),
);
seen.small_head_checksum = head.ChecksumCRC32 ?? null;

// A stream of unknown length: the SDK sends it aws-chunked with a checksum trailer.
const streamed = randomBytes(300 * 1024);
await client.send(
  new PutObjectCommand({
    Bucket,
    Key: "js/streamed.bin",
    Body: Readable.from([streamed.subarray(0, 100000), streamed.subarray(100000)]),
    ContentLength: streamed.length,
  }),
);
const streamedBack = await client.send(new GetObjectCommand({ Bucket, Key: "js/streamed.bin" }));
seen.streamed_matches = sha256(await streamedBack.Body.transformToByteArray()) === sha256(streamed);

// A multipart upload through lib-storage: 12 MiB in 5 MiB parts, two at a time.
const large = randomBytes(12 * 1024 * 1024);
const upload = new Upload({
  client,
  params: { Bucket, Key: "js/large.bin", Body: large },
  partSize: 5 * 1024 * 1024,
  queueSize: 2,
});
const parts = [];
upload.on("httpUploadProgress", (progress) => parts.push(progress.part));
const done = await upload.done();
seen.large_etag = done.ETag;
seen.large_parts_reported = new Set(parts).size;
const largeBack = await client.send(new GetObjectCommand({ Bucket, Key: "js/large.bin" }));
seen.large_matches = sha256(await largeBack.Body.transformToByteArray()) === sha256(large);
seen.large_length = Number(largeBack.ContentLength);

// Listing.
const listed = await client.send(new ListObjectsV2Command({ Bucket, Prefix: "js/" }));
seen.listed = (listed.Contents ?? []).map((entry) => [entry.Key, entry.Size]);

// Presigned GET and PUT, used with plain fetch.
const getUrl = await getSignedUrl(
  client,
  new GetObjectCommand({ Bucket, Key: "js/small.txt" }),
  { expiresIn: 300 },
);
const fetched = await fetch(getUrl);
seen.presigned_get = [fetched.status, await fetched.text()];
const putUrl = await getSignedUrl(
  client,
  new PutObjectCommand({ Bucket, Key: "js/presigned.txt" }),
  { expiresIn: 300 },
);
const uploaded = await fetch(putUrl, { method: "PUT", body: "put through a presigned URL" });
seen.presigned_put_status = uploaded.status;
const presignedBack = await client.send(new GetObjectCommand({ Bucket, Key: "js/presigned.txt" }));
seen.presigned_put_body = await presignedBack.Body.transformToString();

// DeleteObjects (the SDK adds its own checksum of the request body).
const removed = await client.send(
  new DeleteObjectsCommand({
    Bucket,
    Delete: {
      Objects: ["small.txt", "streamed.bin", "large.bin", "presigned.txt"].map((name) => ({
        Key: `js/${name}`,
      })),
    },
  }),
);
seen.deleted = (removed.Deleted ?? []).map((entry) => entry.Key).sort();
seen.delete_errors = removed.Errors ?? [];
const after = await client.send(new ListObjectsV2Command({ Bucket, Prefix: "js/" }));
seen.left_after_delete = after.KeyCount;

console.log(JSON.stringify(seen));
