"""Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.

Upload state lives in etcd (coordinator/uploads.py) under a lease. Parts are
stored on the replicas of the final object, in a namespace of their own, so
completing an upload composes them on each node without copying bytes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from coordinator import uploads
from coordinator.clock import to_seconds
from coordinator.storage_mode import StorageMode
from gateway.cluster.erasure import Layout, layout_of
from gateway.cluster.namespaces import part_key, parts_namespace
from gateway.cluster.store import ObjectVersion, StoreUnavailable
from gateway.s3 import conditions, multipart, tagging, xml
from gateway.s3.body import BodyPipeline
from gateway.s3.checksums import ALGORITHMS, header_name
from gateway.s3.checksums import requested as requested_checksums
from gateway.s3.copysource import parse_copy_range
from gateway.s3.errors import S3Error
from gateway.s3.handlers.common import (
    XML_TYPE,
    copy_source,
    existing_bucket,
    expiration_headers,
    keeps_versions,
    lock_new_version,
    locked_write,
    owner_of,
    requested_acl,
    requested_class,
    storage_for,
    store_copy,
    written_version_headers,
)
from gateway.s3.names import check_key
from gateway.s3.objectmeta import ObjectMeta, from_request_headers
from gateway.s3.request import Reply, RequestContext


@dataclass
class PartVersion:
    """A stored part and the exact version that holds it."""

    part: multipart.StoredPart
    version_id: str
    # Where its fragments are, for a part of an upload to an erasure-coded bucket.
    layout: Layout | None = None


async def _upload(ctx: RequestContext, *, allow_completing: bool = False) -> uploads.Upload:
    upload_id = ctx.query.get("uploadId", "")
    assert ctx.bucket is not None
    found = await ctx.gateway.etcd_call(uploads.get, ctx.bucket, upload_id) if upload_id else None
    if (
        found is None
        or found.record["key"] != ctx.key
        or (found.state != "open" and not allow_completing)
    ):
        raise S3Error("NoSuchUpload", extra={"UploadId": upload_id})
    return found


async def _renew(ctx: RequestContext, upload: uploads.Upload) -> None:
    """Keep an upload alive while parts arrive (at most once a minute or a
    tenth of its TTL per gateway)."""
    ttl = ctx.gateway.setting("multipart_upload_ttl")
    upload_id = upload.record["upload_id"]
    now = time.monotonic()
    if now - ctx.gateway.upload_renewals.get(upload_id, 0.0) < min(60.0, ttl / 10):
        return
    ctx.gateway.upload_renewals[upload_id] = now
    try:
        await ctx.gateway.etcd_call(uploads.renew, upload.record["lease"])
    except StoreUnavailable:
        pass  # the part is stored; the lease is renewed by a later part


async def _stored_parts(ctx: RequestContext, upload_id: str) -> dict[int, PartVersion]:
    assert ctx.bucket is not None
    listing = ctx.gateway.store.list_objects(parts_namespace(ctx.bucket), f"{upload_id}/", "")
    parts: dict[int, PartVersion] = {}
    while (entry := await listing.next()) is not None:
        number = int(entry.key.rsplit("/", 1)[1])
        meta = ObjectMeta.decode(entry.meta)
        stored = multipart.StoredPart(
            part_number=number,
            etag=meta.etag,
            size=entry.size,
            last_modified=to_seconds(entry.timestamp),
            checksums=meta.checksums,
        )
        parts[number] = PartVersion(stored, entry.version_id, entry.layout)
    return parts


async def create_multipart_upload(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    bucket = await existing_bucket(ctx)
    check_key(ctx.key)
    meta = from_request_headers(ctx.headers)
    meta.acl = await requested_acl(ctx)
    lock_new_version(ctx, bucket, meta)
    algorithm = ctx.headers.get("x-amz-checksum-algorithm", "").lower() or None
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest", f"Checksum algorithm {algorithm} is not supported")
    tagging.parse_header(ctx.headers.get("x-amz-tagging"))  # reject bad tags now, not at Complete
    checksum_type = _checksum_type(algorithm, ctx.headers.get("x-amz-checksum-type"))
    owner, _ = owner_of(ctx)
    record: dict[str, Any] = {
        "bucket": ctx.bucket,
        "key": ctx.key,
        "upload_id": uploads.new_upload_id(),
        "owner": owner,
        "meta": meta.encode(),
        "tagging": ctx.headers.get("x-amz-tagging", ""),
        "checksum_algorithm": algorithm,
        "checksum_type": checksum_type,
    }
    storage_class = requested_class(ctx)
    mode = storage_for(ctx, bucket, storage_class)
    if mode is not None:
        # Every part is stored the way objects were when the upload began, so that
        # Complete joins parts alike.
        record["storage"] = mode.to_record()
    if storage_class is not None:
        record["storage_class"] = storage_class
    ttl = int(ctx.gateway.setting("multipart_upload_ttl"))
    record = await ctx.gateway.etcd_call(uploads.create, record, ttl)
    headers = dict(XML_TYPE)
    if algorithm:
        headers["x-amz-checksum-algorithm"] = algorithm.upper()
        headers["x-amz-checksum-type"] = checksum_type or "COMPOSITE"
    body = xml.initiate_multipart(ctx.bucket, ctx.key, record["upload_id"])
    return Reply(200, headers, body)


def _checksum_type(algorithm: str | None, asked: str | None) -> str | None:
    """The upload's checksum type: as asked where the algorithm allows it (only CRCs
    combine into a FULL_OBJECT value, CRC64NVME into nothing else), else its default."""
    asked = (asked or "").upper() or None
    if algorithm is None:
        if asked is not None:
            raise S3Error(
                "InvalidRequest",
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header.",
            )
        return None
    if asked is None:
        return "FULL_OBJECT" if algorithm == "crc64nvme" else "COMPOSITE"
    if asked not in ("COMPOSITE", "FULL_OBJECT"):
        raise S3Error("InvalidRequest", f"Value for x-amz-checksum-type header is invalid: {asked}")
    if asked == "FULL_OBJECT" and not algorithm.startswith("crc"):
        raise S3Error(
            "InvalidRequest",
            f"The FULL_OBJECT checksum type cannot be used with the {algorithm} checksum algorithm.",
        )
    if asked == "COMPOSITE" and algorithm == "crc64nvme":
        raise S3Error(
            "InvalidRequest",
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.",
        )
    return asked


def _part_headers(headers: dict[str, str], algorithm: str | None) -> dict[str, str]:
    """Request headers, asking the pipeline for the upload's checksum too."""
    if algorithm and "x-amz-sdk-checksum-algorithm" not in headers:
        return {**headers, "x-amz-sdk-checksum-algorithm": algorithm}
    return headers


async def upload_part(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    number = multipart.parse_part_number(ctx.query.get("partNumber"))
    upload = await _upload(ctx)
    algorithm = upload.record.get("checksum_algorithm")
    pipeline = BodyPipeline(_part_headers(ctx.headers, algorithm), ctx.auth)
    meta = ObjectMeta(etag="")

    def make_meta(size: int) -> bytes:
        meta.etag = pipeline.md5_hex
        meta.checksums = pipeline.checksums
        return meta.encode()

    await ctx.gateway.store.put_object(
        ctx.bucket,
        ctx.key,
        ctx.body(pipeline),
        make_meta,
        size_hint=pipeline.declared_length,
        stored_as=(parts_namespace(ctx.bucket), part_key(upload.record["upload_id"], number)),
        mode=_upload_mode(upload),
    )
    await _renew(ctx, upload)
    headers = {"ETag": meta.quoted_etag}
    for algo, value in meta.checksums.items():
        headers[header_name(algo)] = value
    return Reply(200, headers)


async def upload_part_copy(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    number = multipart.parse_part_number(ctx.query.get("partNumber"))
    upload = await _upload(ctx)
    source, version, _ = await copy_source(ctx)
    start, end = 0, version.size - 1
    if "x-amz-copy-source-range" in ctx.headers:
        start, end = parse_copy_range(ctx.headers["x-amz-copy-source-range"], version.size)
    meta = ObjectMeta(etag="")
    stored = await store_copy(
        ctx,
        source.bucket,
        version,
        start,
        end - start + 1,
        meta,
        stored_as=(parts_namespace(ctx.bucket), part_key(upload.record["upload_id"], number)),
        mode=_upload_mode(upload),
    )
    await _renew(ctx, upload)
    body = xml.copy_part_result(meta.quoted_etag, to_seconds(stored.timestamp), {})
    return Reply(200, dict(XML_TYPE), body)


def _upload_mode(upload: uploads.Upload) -> StorageMode | None:
    """How the upload's parts are stored (its bucket's mode when it began)."""
    stored = upload.record.get("storage")
    return StorageMode.from_record(stored) if stored is not None else None


def _joined_layout(parts: list[PartVersion]) -> Layout | None:
    """The layout of the object the parts make: their segments in order (an empty part
    adds none), or None when they were stored as replicas."""
    if not any(p.layout for p in parts):
        return None
    if any(p.layout is None and p.part.size for p in parts):
        raise S3Error("InternalError", "The upload's parts were stored in different ways.")
    return Layout(tuple(s for p in parts if p.layout for s in p.layout.segments))


def _final_meta(upload: uploads.Upload, chosen: list[multipart.StoredPart]) -> ObjectMeta:
    record = upload.record
    meta = ObjectMeta.decode(record["meta"])
    meta.tags = tagging.parse_header(record.get("tagging"))
    meta.storage_class = record.get("storage_class")
    meta.etag = multipart.multipart_etag([p.etag for p in chosen])
    meta.parts = [p.size for p in chosen]
    checksums: dict[str, str] = {}
    algorithm = record.get("checksum_algorithm")
    if algorithm and all(algorithm in p.checksums for p in chosen):
        if record.get("checksum_type") == "FULL_OBJECT" and algorithm.startswith("crc"):
            checksums[algorithm] = multipart.full_object_crc(
                algorithm, [(p.checksums[algorithm], p.size) for p in chosen]
            )
        else:
            checksums[algorithm] = multipart.composite_checksum(
                algorithm, [p.checksums[algorithm] for p in chosen]
            )
        meta.checksum_type = record.get("checksum_type")
        meta.part_checksums = [p.checksums[algorithm] for p in chosen]
    meta.checksums = checksums
    return meta


def _check_object_checksums(
    headers: dict[str, str], upload: uploads.Upload, meta: ObjectMeta
) -> None:
    """A Complete's x-amz-checksum-* header states the finished object's checksum: it
    must be the upload's algorithm and match what the parts combine to (a COMPOSITE value
    with or without its ``-N``). An upload created without a checksum algorithm has no
    object checksum to compare with: a value stated anyway is let be, as clients that
    checksum every request by default may send one."""
    algorithm = upload.record.get("checksum_algorithm")
    if algorithm is None:
        return
    for algo, value in requested_checksums(headers).items():
        if algo != algorithm:
            raise S3Error(
                "InvalidRequest",
                f"The upload was created using the {algorithm} checksum algorithm; "
                f"the complete request specified {algo}.",
            )
        computed = meta.checksums.get(algo)
        if computed is None or value not in (computed, computed.rsplit("-", 1)[0]):
            raise S3Error(
                "BadDigest",
                f"The {algo.upper()} you specified did not match the calculated checksum.",
            )


async def complete_multipart_upload(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    upload = await _upload(ctx, allow_completing=True)
    upload_id = upload.record["upload_id"]
    body = await ctx.read_small_body(4 << 20, object_checksums=True)
    requested = multipart.parse_complete(body, upload_id=upload_id)
    condition = conditions.WriteCondition.for_write(ctx.headers)
    if condition is not None and upload.state == "open":
        # If-Match / If-None-Match on the key: checked and completed under its lock. A
        # retry of a Complete that already happened answers as before, unchecked.
        return await locked_write(
            ctx, ctx.key, condition, lambda: _complete(ctx, upload, requested)
        )
    return await _complete(ctx, upload, requested)


async def _complete(
    ctx: RequestContext, upload: uploads.Upload, requested: list[multipart.CompletedPart]
) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    upload_id = upload.record["upload_id"]
    if upload.state == "open":
        stored = await _stored_parts(ctx, upload_id)
        try:
            chosen = multipart.validate_parts(
                requested, {n: p.part for n, p in stored.items()}, upload_id=upload_id
            )
        except S3Error:
            # A racing Complete may have consumed the parts since we read the
            # upload: if so, its outcome is the answer, not a missing part.
            latest = await ctx.gateway.etcd_call(uploads.get, ctx.bucket, upload_id)
            if latest is None:
                raise S3Error("NoSuchUpload", extra={"UploadId": upload_id}) from None
            if latest.state == "open":
                raise
            return await _finish_completion(ctx, latest, requested, latest.record["completion"])
        meta = _final_meta(upload, chosen)
        _check_object_checksums(ctx.headers, upload, meta)
        joined = _joined_layout([stored[p.part_number] for p in chosen])
        if joined is not None:  # composed from parts with no bytes of their own
            meta.layout = joined.to_record()
        # Stamped now but stored later: first learn the key's newest stamp.
        await ctx.gateway.store.observe_newest(ctx.bucket, ctx.key)
        completion = {
            "version_id": uuid.uuid4().hex,
            "timestamp": ctx.gateway.clock.now(),
            "sources": [
                [part_key(upload_id, p.part_number), stored[p.part_number].version_id]
                for p in chosen
            ],
            "meta": meta.encode(),
            "requested": [[p.part_number, p.etag] for p in requested],
            # Decided once, so a retried or racing Complete stores the same version.
            "versioned": keeps_versions(await existing_bucket(ctx)),
        }
        if not await ctx.gateway.etcd_call(uploads.begin_complete, upload, completion):
            # Someone else aborted or completed it first.
            upload = await _upload(ctx, allow_completing=True)
            if upload.state == "open":
                raise S3Error("NoSuchUpload", extra={"UploadId": upload_id})
    completion = upload.record["completion"] if upload.state != "open" else completion
    return await _finish_completion(ctx, upload, requested, completion)


async def _finish_completion(
    ctx: RequestContext,
    upload: uploads.Upload,
    requested: list[multipart.CompletedPart],
    completion: dict,
) -> Reply:
    """Compose the parts as decided in completion (idempotent: a retry or a
    racing Complete of the same parts does the same work) and forget the upload."""
    assert ctx.bucket is not None and ctx.key is not None
    upload_id = upload.record["upload_id"]
    if upload.state != "open" and completion["requested"] != [
        [p.part_number, p.etag] for p in requested
    ]:
        raise S3Error("NoSuchUpload", "The upload is being completed with other parts.")
    if upload.state != "completed":  # a retry of a finished Complete only answers again
        await ctx.gateway.store.compose_object(
            ctx.bucket,
            ctx.key,
            parts_namespace(ctx.bucket),
            [(k, v) for k, v in completion["sources"]],
            completion["meta"],
            completion["version_id"],
            completion["timestamp"],
            versioned=completion.get("versioned", False),
        )
        try:  # parts uploaded but not named in the request
            await ctx.gateway.store.delete_prefix(parts_namespace(ctx.bucket), f"{upload_id}/")
        except StoreUnavailable:
            pass  # the reaper finds them later
        joined = layout_of(completion["meta"])
        if joined is not None:  # fragments of parts uploaded but not named
            kept = {segment.set_id for segment in joined.segments}
            await ctx.gateway.store.coded.sweep_upload(ctx.bucket, upload_id, kept)
        await ctx.gateway.etcd_call(uploads.finish, upload, completion)
        ctx.gateway.upload_renewals.pop(upload_id, None)
    meta = ObjectMeta.decode(completion["meta"])
    stored = ObjectVersion(
        ctx.key,
        completion["version_id"],
        completion["timestamp"],
        0,
        False,
        completion["meta"],
        versioned=completion.get("versioned", False),
    )
    record = await ctx.gateway.bucket(ctx.bucket)
    size = sum(meta.parts)
    headers = {
        **XML_TYPE,
        **written_version_headers(stored),
        **(expiration_headers(record, ctx.key, size, meta, stored.timestamp) if record else {}),
    }
    for algo, value in meta.checksums.items():
        headers[header_name(algo)] = value
    body = xml.complete_multipart(
        f"/{ctx.bucket}/{ctx.key}",
        ctx.bucket,
        ctx.key,
        meta.quoted_etag,
        meta.checksums,
        meta.checksum_type,
    )
    return Reply(200, headers, body)


async def abort_multipart_upload(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    upload = await _upload(ctx)
    if not await ctx.gateway.etcd_call(uploads.abort, upload):
        raise S3Error("NoSuchUpload", extra={"UploadId": upload.record["upload_id"]})
    upload_id = upload.record["upload_id"]
    ctx.gateway.upload_renewals.pop(upload_id, None)
    try:
        await ctx.gateway.store.delete_upload_parts(ctx.bucket, upload_id)
    except StoreUnavailable:
        pass  # the reaper removes what is left
    return Reply(204)


async def list_parts(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    upload = await _upload(ctx)
    record = upload.record
    marker = multipart.parse_part_number_marker(ctx.query.get("part-number-marker"))
    max_parts = multipart.parse_max_count(ctx.query.get("max-parts"), "max-parts")
    stored = await _stored_parts(ctx, record["upload_id"])
    ordered = [stored[n].part for n in sorted(stored)]
    page, truncated, next_marker = multipart.page_parts(ordered, marker, max_parts)
    owner = (record["owner"], ctx.gateway.display_name(record["owner"]))
    body = xml.list_parts(
        bucket=ctx.bucket,
        key=ctx.key,
        upload_id=record["upload_id"],
        part_number_marker=marker,
        next_part_number_marker=next_marker,
        max_parts=max_parts,
        is_truncated=truncated,
        parts=page,
        initiator=owner,
        owner=owner,
        checksum_algorithm=record.get("checksum_algorithm"),
        checksum_type=record.get("checksum_type"),
        storage_class=record.get("storage_class") or "STANDARD",
    )
    return Reply(200, dict(XML_TYPE), body)


async def list_multipart_uploads(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    await existing_bucket(ctx)
    records = await ctx.gateway.etcd_call(uploads.list_bucket, ctx.bucket)
    entries = [
        xml.UploadEntry(
            key=r["key"],
            upload_id=r["upload_id"],
            initiated=r["initiated"],
            checksum_algorithm=r.get("checksum_algorithm"),
            storage_class=r.get("storage_class") or "STANDARD",
            initiator=(r["owner"], ctx.gateway.display_name(r["owner"])),
        )
        for r in records
        if r["state"] == "open"
    ]
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter", "")
    key_marker = ctx.query.get("key-marker", "")
    upload_id_marker = ctx.query.get("upload-id-marker", "")
    max_uploads = multipart.parse_max_count(ctx.query.get("max-uploads"), "max-uploads")
    page, prefixes, truncated, next_key, next_upload = multipart.page_uploads(
        entries,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        max_uploads=max_uploads,
    )
    encoding = ctx.query.get("encoding-type")
    body = xml.list_uploads(
        bucket=ctx.bucket,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        next_key_marker=next_key,
        next_upload_id_marker=next_upload,
        max_uploads=max_uploads,
        is_truncated=truncated,
        uploads=page,
        common_prefixes=prefixes,
        prefix=prefix,
        delimiter=delimiter,
        encoding_type=encoding if encoding == "url" else None,
        owner=owner_of(ctx),
    )
    return Reply(200, dict(XML_TYPE), body)
