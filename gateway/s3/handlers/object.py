"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import trio

from coordinator.buckets import Bucket
from coordinator.clock import to_seconds
from gateway.cluster.store import ObjectVersion, StoreUnavailable, VersionGone
from gateway.s3 import acl, conditions, multipart, object_lock, tagging, xml
from gateway.s3.body import BodyPipeline
from gateway.s3.checksums import header_name
from gateway.s3.errors import S3Error
from gateway.s3.handlers.access import may_bypass_governance
from gateway.s3.handlers.common import (
    MAX_OBJECT_SIZE,
    XML_TYPE,
    acl_in_force,
    anonymous_may_list,
    check_version_id,
    copy_source,
    existing_bucket,
    expiration_headers,
    keeps_versions,
    lock_new_version,
    locked_write,
    requested_acl,
    requested_class,
    requested_version,
    storage_for,
    store_copy,
    version_headers,
    written_version_headers,
)
from gateway.s3.names import check_key
from gateway.s3.objectmeta import USER_META_PREFIX, ObjectMeta, from_request_headers
from gateway.s3.ranges import content_range, parse_range
from gateway.s3.request import Reply, RequestContext

# GET ?response-<name>=value overrides these response headers.
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


async def put_object(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    record = await existing_bucket(ctx)
    check_key(ctx.key)
    condition = conditions.WriteCondition.for_write(ctx.headers)
    if condition is not None:
        # If-None-Match (* or ETags) or If-Match: checked and written under the key's
        # lock, so racing conditional writers through any gateways serialise: exactly
        # one of two If-None-Match: * creators wins.
        return await locked_write(ctx, ctx.key, condition, lambda: _put(ctx, record))
    return await _put(ctx, record)


async def _put(ctx: RequestContext, record: Bucket) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    meta = from_request_headers(ctx.headers)
    meta.tags = tagging.parse_header(ctx.headers.get("x-amz-tagging"))
    meta.acl = await requested_acl(ctx)
    meta.storage_class = requested_class(ctx)
    lock_new_version(ctx, record, meta)
    pipeline = BodyPipeline(ctx.headers, ctx.auth)
    declared = pipeline.declared_length
    if declared is not None and declared > MAX_OBJECT_SIZE:
        raise S3Error("EntityTooLarge")

    def make_meta(size: int) -> bytes:
        meta.etag = pipeline.md5_hex
        meta.checksums = pipeline.checksums
        return meta.encode()

    stored = await ctx.gateway.store.put_object(
        ctx.bucket,
        ctx.key,
        ctx.body(pipeline),
        make_meta,
        size_hint=declared,
        versioned=keeps_versions(record),
        mode=storage_for(ctx, record, meta.storage_class),
    )
    headers = {
        "ETag": meta.quoted_etag,
        **written_version_headers(stored),
        **expiration_headers(record, ctx.key, pipeline.size, meta, stored.timestamp),
    }
    for algo, value in pipeline.checksums.items():
        headers[header_name(algo)] = value
    return Reply(200, headers)


async def _current(ctx: RequestContext, with_data: bool = False) -> ObjectVersion:
    """The version a read names (see `_located`)."""
    _, version = await _located(ctx, with_data)
    return version


async def _located(ctx: RequestContext, with_data: bool = False) -> tuple[Bucket, ObjectVersion]:
    """The bucket record and the version a read names: ?versionId=, else the
    newest. Delete markers and missing versions raise the errors S3 gives."""
    assert ctx.bucket is not None and ctx.key is not None
    record = await existing_bucket(ctx)
    version_id = requested_version(ctx)
    version = await ctx.gateway.store.head_version(ctx.bucket, ctx.key, version_id, with_data)
    if version is None or version.deleted:
        # Without a signature, "missing" is only told to those who may list.
        anonymous_may_list(ctx, record)
    if version is None:
        if version_id is not None:
            raise S3Error("NoSuchVersion", extra={"Key": ctx.key, "VersionId": version_id})
        raise S3Error("NoSuchKey", extra={"Key": ctx.key})
    if version.deleted:
        headers = {"x-amz-delete-marker": "true", **version_headers(record, version)}
        if version_id is not None:
            headers["Last-Modified"] = xml.http_date(to_seconds(version.timestamp))
            raise S3Error(
                "MethodNotAllowed",
                headers=headers,
                extra={"Method": ctx.method, "ResourceType": "DeleteMarker"},
            )
        raise S3Error("NoSuchKey", headers=headers, extra={"Key": ctx.key})
    if ctx.auth is None and not ctx.policy_allowed:
        # Reads of the bytes need READ, of the ACL READ_ACP (see gateway/s3/acl.py).
        permission = acl.OBJECT_OPERATIONS.get(ctx.operation, acl.READ)
        object_acl = acl_in_force(record, ObjectMeta.decode(version.meta).acl)
        if not acl.allows(object_acl, record.owner, acl.ANONYMOUS, permission):
            raise S3Error("AccessDenied")
    return record, version


def _object_headers(
    ctx: RequestContext, record: Bucket, version: ObjectVersion, meta: ObjectMeta
) -> dict[str, str]:
    headers = {
        "ETag": meta.quoted_etag,
        "Last-Modified": xml.http_date(to_seconds(version.timestamp)),
        "Content-Type": meta.content_type,
        "Accept-Ranges": "bytes",
        **version_headers(record, version),
    }
    for name, value in meta.headers.items():
        headers[name.title()] = value
    for name, value in meta.user.items():
        headers[USER_META_PREFIX + name] = value
    if meta.tags:
        headers["x-amz-tagging-count"] = str(len(meta.tags))
    if meta.storage_class is not None:  # S3 names no class for STANDARD
        headers["x-amz-storage-class"] = meta.storage_class
    if meta.lock_mode is not None and meta.lock_until is not None:
        headers["x-amz-object-lock-mode"] = meta.lock_mode
        headers["x-amz-object-lock-retain-until-date"] = meta.lock_until
    if record.object_lock is not None:
        headers["x-amz-object-lock-legal-hold"] = "ON" if meta.legal_hold else "OFF"
    if ctx.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED" and meta.checksums:
        for algo, value in meta.checksums.items():
            headers[header_name(algo)] = value
        headers["x-amz-checksum-type"] = meta.checksum_type or "FULL_OBJECT"
    if record.lifecycle and "versionId" not in ctx.query:
        assert ctx.key is not None
        headers.update(expiration_headers(record, ctx.key, version.size, meta, version.timestamp))
    return headers


def _check_conditions(ctx: RequestContext, version: ObjectVersion, meta: ObjectMeta) -> None:
    try:
        conditions.check(ctx.headers, meta.etag, to_seconds(version.timestamp))
    except S3Error as exc:
        if exc.code == "NotModified":
            exc.headers.update(
                {
                    "ETag": meta.quoted_etag,
                    "Last-Modified": xml.http_date(to_seconds(version.timestamp)),
                }
            )
        raise


def _part_range(
    ctx: RequestContext, meta: ObjectMeta, size: int, headers: dict[str, str]
) -> tuple[int, int] | None:
    """The byte range of ?partNumber=N (a simple object is one part)."""
    if "partNumber" not in ctx.query:
        return None
    number = multipart.parse_part_number(ctx.query["partNumber"])
    sizes = meta.parts or [size]
    if number > len(sizes):
        # AWS documents 416 InvalidPartNumber, but answers 400 InvalidPart (what the
        # S3 conformance suites check).
        raise S3Error("InvalidPart", "The requested part number does not exist in the object.")
    if meta.parts:
        headers["x-amz-mp-parts-count"] = str(len(meta.parts))
    start = sum(sizes[: number - 1])
    if sizes[number - 1] == 0:
        return None
    return start, start + sizes[number - 1] - 1


# A GET that loses a race with overwrites starts over this many times.
GET_ATTEMPTS = 3


async def get_object(ctx: RequestContext) -> Reply:
    for _ in range(GET_ATTEMPTS - 1):
        try:
            return await _get_object(ctx)
        except VersionGone:
            continue  # overwritten while we opened it: read the newest again
    return await _get_object(ctx)


async def _get_object(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    record, version = await _located(ctx, with_data=True)
    meta = ObjectMeta.decode(version.meta)
    _check_conditions(ctx, version, meta)
    headers = _object_headers(ctx, record, version, meta)
    for param, header in _RESPONSE_OVERRIDES.items():
        if param in ctx.query:
            headers[header] = ctx.query[param]
    byte_range = _part_range(ctx, meta, version.size, headers)
    if byte_range is None:
        byte_range = parse_range(ctx.headers.get("range"), version.size)
    status = 200
    start, length = 0, version.size
    if byte_range is not None:
        start, end = byte_range
        length = end - start + 1
        status = 206
        headers["Content-Range"] = content_range(start, end, version.size)
        for algo in meta.checksums:  # a checksum describes the whole object only
            headers.pop(header_name(algo), None)
        headers.pop("x-amz-checksum-type", None)
    headers["Content-Length"] = str(length)
    if length == 0:
        return Reply(status, headers, b"")
    if version.data is not None:  # came with the quorum head: sent in one write, no stream
        return Reply(status, headers, version.data[start : start + length])
    stream = await ctx.gateway.store.get_object(ctx.bucket, version, start, length)
    return Reply(status, headers, stream)


async def head_object(ctx: RequestContext) -> Reply:
    record, version = await _located(ctx)
    meta = ObjectMeta.decode(version.meta)
    _check_conditions(ctx, version, meta)
    headers = _object_headers(ctx, record, version, meta)
    byte_range = _part_range(ctx, meta, version.size, headers)
    if byte_range is None:
        byte_range = parse_range(ctx.headers.get("range"), version.size)
    status, length = 200, version.size
    if byte_range is not None:
        start, end = byte_range
        status, length = 206, end - start + 1
        headers["Content-Range"] = content_range(start, end, version.size)
    headers["Content-Length"] = str(length)
    return Reply(status, headers)


async def delete_object(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None and ctx.key is not None
    record = await existing_bucket(ctx)
    condition = conditions.WriteCondition.for_delete(ctx.headers)
    entry = xml.DeleteRequestEntry(ctx.key, requested_version(ctx), condition=condition)
    await _delete(ctx, record, entry)
    headers = {}
    if entry.version_id is not None:
        headers["x-amz-version-id"] = entry.version_id
    if entry.delete_marker_version_id is not None:
        headers["x-amz-delete-marker"] = "true"
        headers.setdefault("x-amz-version-id", entry.delete_marker_version_id)
    return Reply(204, headers)


async def _delete(ctx: RequestContext, record: Bucket, entry: xml.DeleteRequestEntry) -> None:
    """Delete one key or one version of it; note on entry any delete marker
    it made or removed. Deleting a version that does not exist changes nothing."""
    assert ctx.bucket is not None
    if entry.version_id is not None and record.object_lock is not None:
        await _check_unlocked(ctx, entry.key, entry.version_id)
    if entry.condition is not None:
        condition, entry.condition = entry.condition, None
        await locked_write(
            ctx, entry.key, condition, lambda: _delete(ctx, record, entry), entry.version_id
        )
        return
    if entry.version_id is not None:
        removed = await ctx.gateway.store.delete_version(ctx.bucket, entry.key, entry.version_id)
        if removed is not None and removed.deleted:
            entry.delete_marker_version_id = entry.version_id
        return
    marker = await ctx.gateway.store.delete_object(
        ctx.bucket, entry.key, versioned=keeps_versions(record)
    )
    if record.versioning is not None:
        entry.delete_marker_version_id = marker.s3_version_id


# Keys of one DeleteObjects request deleted at the same time.
DELETE_CONCURRENCY = 16


async def delete_objects(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    record = await existing_bucket(ctx)
    entries, quiet = xml.parse_delete(await ctx.read_small_body(2 << 20))
    deleted: list[xml.DeleteRequestEntry] = []
    errors: list[tuple[xml.DeleteRequestEntry, str, str]] = []
    limiter = trio.Semaphore(DELETE_CONCURRENCY)

    plain: list[xml.DeleteRequestEntry] = []  # no version id: one batch per storage node

    async def one(entry: xml.DeleteRequestEntry) -> None:
        async with limiter:
            try:
                await _delete(ctx, record, entry)
                deleted.append(entry)
            except S3Error as exc:
                errors.append((entry, exc.code, exc.message))
            except StoreUnavailable as exc:
                errors.append((entry, "ServiceUnavailable", str(exc)))

    async with trio.open_nursery() as nursery:
        for entry in entries:
            try:
                check_key(entry.key)
                if entry.version_id is not None:
                    check_version_id(entry.version_id)
            except S3Error as exc:
                errors.append((entry, exc.code, exc.message))
                continue
            if entry.version_id is None and entry.condition is None:
                plain.append(entry)
            else:
                nursery.start_soon(one, entry)
        if plain:
            try:
                outcome = await ctx.gateway.store.delete_objects(
                    ctx.bucket,
                    [e.key for e in plain],
                    versioned=keeps_versions(record),
                )
            except StoreUnavailable as exc:
                outcome = {e.key: exc for e in plain}
            for entry in plain:
                result = outcome[entry.key]
                if isinstance(result, StoreUnavailable):
                    errors.append((entry, "ServiceUnavailable", str(result)))
                    continue
                if record.versioning is not None:
                    entry.delete_marker_version_id = result.s3_version_id
                deleted.append(entry)
    order = {id(e): i for i, e in enumerate(entries)}
    deleted.sort(key=lambda e: order[id(e)])
    errors.sort(key=lambda item: order[id(item[0])])
    body = xml.delete_result([] if quiet else deleted, errors)
    return Reply(200, {"Content-Type": "application/xml"}, body)


# -- object lock ---------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _check_unlocked(ctx: RequestContext, key: str, version_id: str) -> None:
    """AccessDenied unless the version may be deleted now (see gateway/s3/object_lock.py)."""
    assert ctx.bucket is not None
    version = await ctx.gateway.store.head_version(ctx.bucket, key, version_id)
    if version is None or version.deleted:
        return
    meta = ObjectMeta.decode(version.meta)
    bypass = await may_bypass_governance(ctx)
    object_lock.check_delete(meta.lock_mode, meta.lock_until, meta.legal_hold, bypass, _now())


async def _locked_bucket(ctx: RequestContext) -> Bucket:
    record = await existing_bucket(ctx)
    if record.object_lock is None:
        raise S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration")
    return record


async def get_object_retention(ctx: RequestContext) -> Reply:
    await _locked_bucket(ctx)
    meta = ObjectMeta.decode((await _current(ctx)).meta)
    if meta.lock_mode is None or meta.lock_until is None:
        raise S3Error("NoSuchObjectLockConfiguration")
    return Reply(200, dict(XML_TYPE), object_lock.render_retention(meta.lock_mode, meta.lock_until))


async def put_object_retention(ctx: RequestContext) -> Reply:
    await _locked_bucket(ctx)
    now = _now()
    mode, until = object_lock.parse_retention(xml.parse_xml(await ctx.read_small_body()), now)
    bypass = await may_bypass_governance(ctx)

    def change(meta: ObjectMeta) -> None:
        object_lock.check_change(meta.lock_mode, meta.lock_until, mode, until, bypass, now)
        meta.lock_mode, meta.lock_until = mode, until

    await _rewrite_meta(ctx, change)
    return Reply(200)


async def get_object_legal_hold(ctx: RequestContext) -> Reply:
    await _locked_bucket(ctx)
    meta = ObjectMeta.decode((await _current(ctx)).meta)
    return Reply(200, dict(XML_TYPE), object_lock.render_legal_hold(meta.legal_hold))


async def put_object_legal_hold(ctx: RequestContext) -> Reply:
    await _locked_bucket(ctx)
    on = object_lock.parse_legal_hold(xml.parse_xml(await ctx.read_small_body()))

    def change(meta: ObjectMeta) -> None:
        meta.legal_hold = on

    await _rewrite_meta(ctx, change)
    return Reply(200)


OBJECT_ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


def _part_checksum(meta: ObjectMeta, algorithm: str | None, number: int) -> dict[str, str]:
    """The checksum of part ``number`` of a multipart object, where its upload kept one."""
    if algorithm is None or len(meta.part_checksums) < number:
        return {}
    return {algorithm: meta.part_checksums[number - 1]}


async def get_object_attributes(ctx: RequestContext) -> Reply:
    """GetObjectAttributes: the attributes x-amz-object-attributes names, without the
    object's bytes."""
    asked = [a.strip() for a in ctx.headers.get("x-amz-object-attributes", "").split(",")]
    asked = [a for a in asked if a]
    unknown = [a for a in asked if a not in OBJECT_ATTRIBUTES]
    if not asked or unknown:
        raise S3Error(
            "InvalidArgument",
            "Invalid attribute name specified.",
            extra={"ArgumentName": "x-amz-object-attributes", "ArgumentValue": ",".join(unknown)},
        )
    max_parts = _whole_number(ctx.headers.get("x-amz-max-parts"), "x-amz-max-parts", 1000)
    marker = _whole_number(
        ctx.headers.get("x-amz-part-number-marker"), "x-amz-part-number-marker", 0
    )
    record, version = await _located(ctx)
    meta = ObjectMeta.decode(version.meta)
    found = xml.ObjectAttributes(max_parts=max_parts, part_marker=marker)
    if "ETag" in asked:
        found.etag = meta.etag
    if "Checksum" in asked and meta.checksums:
        found.checksums = meta.checksums
        found.checksum_type = meta.checksum_type or "FULL_OBJECT"
    if "ObjectParts" in asked and meta.parts:
        algorithm = next(iter(meta.checksums), None)
        numbered = [
            (n, size, _part_checksum(meta, algorithm, n))
            for n, size in enumerate(meta.parts, 1)
            if n > marker
        ]
        found.parts = numbered[:max_parts]
        found.total_parts = len(meta.parts)
        if len(numbered) > max_parts:
            found.next_part_marker = found.parts[-1][0]
    if "StorageClass" in asked:
        found.storage_class = meta.storage_class_name
    if "ObjectSize" in asked:
        found.size = version.size
    headers = {
        **XML_TYPE,
        "Last-Modified": xml.http_date(to_seconds(version.timestamp)),
        **version_headers(record, version),
    }
    return Reply(200, headers, xml.object_attributes(found))


def _whole_number(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise S3Error(
            "InvalidArgument",
            f"{name} must be a whole number",
            extra={"ArgumentName": name, "ArgumentValue": value},
        )
    return int(value)


async def get_object_acl(ctx: RequestContext) -> Reply:
    record, version = await _located(ctx)
    stored = ObjectMeta.decode(version.meta).acl
    enforced = record.ownership == "BucketOwnerEnforced"  # ACLs off: the owner's alone
    body = acl.render(acl.ACL() if enforced else stored, record.owner, ctx.gateway.display_name)
    return Reply(200, {"Content-Type": "application/xml"}, body)


async def put_object_acl(ctx: RequestContext) -> Reply:
    asked = await requested_acl(ctx)
    bucket_owner = (await existing_bucket(ctx)).owner

    def change(meta: ObjectMeta) -> None:
        # The object keeps its owner; a policy document naming another is refused.
        meta.acl = acl.owned(asked, meta.acl.owner if meta.acl else None, bucket_owner)

    await _rewrite_meta(ctx, change)
    return Reply(200)


# CopyObject metadata directive values.
_DIRECTIVES = ("COPY", "REPLACE")


def _directive(ctx: RequestContext, header: str, what: str) -> str:
    """COPY (the default) or REPLACE, from a CopyObject directive header."""
    value = ctx.headers.get(header, "COPY").upper()
    if value not in _DIRECTIVES:
        raise S3Error(
            "InvalidArgument",
            f"Unknown {what} directive.",
            extra={"ArgumentName": header, "ArgumentValue": value},
        )
    return value


async def copy_object(ctx: RequestContext) -> Reply:
    """Server-side copy: bytes go from the source replicas to the destination
    replicas through this gateway, never through the client."""
    assert ctx.bucket is not None and ctx.key is not None
    record = await existing_bucket(ctx)
    check_key(ctx.key)
    source, version, source_meta = await copy_source(ctx)
    directive = _directive(ctx, "x-amz-metadata-directive", "metadata")
    if (
        (source.bucket, source.key) == (ctx.bucket, ctx.key)
        and directive == "COPY"
        and (source.version_id is None)
    ):
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes.",
        )
    if directive == "REPLACE":
        meta = from_request_headers(ctx.headers)
    else:
        meta = ObjectMeta(
            etag="",
            content_type=source_meta.content_type,
            user=dict(source_meta.user),
            headers=dict(source_meta.headers),
        )
    tag_directive = _directive(ctx, "x-amz-tagging-directive", "tagging")
    meta.acl = await requested_acl(ctx)  # a copy does not inherit the source's ACL
    lock_new_version(ctx, record, meta)  # nor its retention or legal hold
    meta.storage_class = requested_class(ctx)  # nor its storage class
    if tag_directive == "REPLACE":
        meta.tags = tagging.parse_header(ctx.headers.get("x-amz-tagging"))
    else:
        meta.tags = dict(source_meta.tags)
    stored = await store_copy(
        ctx,
        source.bucket,
        version,
        0,
        version.size,
        meta,
        versioned=keeps_versions(record),
        mode=storage_for(ctx, record, meta.storage_class),
    )
    body = xml.copy_object_result(meta.quoted_etag, to_seconds(stored.timestamp), {})
    headers = {
        "Content-Type": "application/xml",
        **written_version_headers(stored),
        **expiration_headers(record, ctx.key, version.size, meta, stored.timestamp),
    }
    source_version = version_headers(await ctx.gateway.bucket(source.bucket), version)
    if source_version:
        headers["x-amz-copy-source-version-id"] = source_version["x-amz-version-id"]
    return Reply(200, headers, body)


async def get_object_tagging(ctx: RequestContext) -> Reply:
    version = await _current(ctx)
    tags = ObjectMeta.decode(version.meta).tags
    return Reply(200, {"Content-Type": "application/xml"}, tagging.render(tags))


async def put_object_tagging(ctx: RequestContext) -> Reply:
    tags = tagging.parse_document(await ctx.read_small_body())
    await _set_tags(ctx, tags)
    return Reply(200)


async def delete_object_tagging(ctx: RequestContext) -> Reply:
    await _set_tags(ctx, {})
    return Reply(204)


async def _set_tags(ctx: RequestContext, tags: dict[str, str]) -> None:
    def change(meta: ObjectMeta) -> None:
        meta.tags = tags

    await _rewrite_meta(ctx, change)


async def _rewrite_meta(ctx: RequestContext, change: Callable[[ObjectMeta], None]) -> None:
    """Change the current version's metadata (tags, ACL) without new bytes;
    start over if the object is overwritten meanwhile."""
    assert ctx.bucket is not None
    for attempt in range(GET_ATTEMPTS):
        version = await _current(ctx)
        meta = ObjectMeta.decode(version.meta)
        change(meta)
        try:
            await ctx.gateway.store.update_meta(ctx.bucket, version, meta.encode())
            return
        except VersionGone:
            if attempt == GET_ATTEMPTS - 1:
                raise S3Error("ConditionalRequestConflict") from None
