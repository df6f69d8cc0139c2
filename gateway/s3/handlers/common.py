"""What the handler families share.

Each family module (bucket.py, bucket_config.py, list.py, object.py, multipart.py, post.py,
versioning.py) imports these helpers from here and never from another family: the bucket a
request names, the requester as an owner, the ACL a request asks for, changes to a bucket's
record, the rules for version ids, the source object of a copy, and writes made under a
condition on the key's current object.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import outcome
import trio

from coordinator import buckets
from coordinator.buckets import Bucket
from coordinator.clock import to_seconds
from coordinator.keylocks import DEFAULT_TTL as DEFAULT_LOCK_TTL
from coordinator.keylocks import KeyLock
from coordinator.storage_mode import STORAGE_CLASSES, StorageMode, class_modes
from gateway.cluster.store import ObjectVersion
from gateway.s3 import acl, conditions, lifecycle, object_lock, streams
from gateway.s3.copysource import CopySource, parse_copy_source
from gateway.s3.errors import S3Error
from gateway.s3.objectmeta import ObjectMeta
from gateway.s3.request import RequestContext

XML_TYPE = {"Content-Type": "application/xml"}
# How long a conditional write waits for a racing conditional write of the same key.
CONDITION_LOCK_WAIT = 15.0

T = TypeVar("T")
# The largest object S3 stores (5 TiB), by PutObject or PostObject.
MAX_OBJECT_SIZE = 5 * 1024**4


# -- the bucket and its owner --------------------------------------------------------------


def owner_of(ctx: RequestContext) -> tuple[str, str]:
    """(ID, DisplayName) of the requester, as listings and ListBuckets show."""
    if ctx.auth is None:
        return "anonymous", "anonymous"
    return ctx.auth.access_key, ctx.gateway.display_name(ctx.auth.access_key)


async def existing_bucket(ctx: RequestContext) -> Bucket:
    """The record of the bucket the request names; NoSuchBucket when there is none, and
    AccessDenied when x-amz-expected-bucket-owner names someone else (a client's guard
    against writing into a bucket that changed hands)."""
    assert ctx.bucket is not None
    record = await ctx.gateway.bucket(ctx.bucket)
    if record is None:
        raise S3Error("NoSuchBucket", extra={"BucketName": ctx.bucket})
    expected = ctx.headers.get("x-amz-expected-bucket-owner")
    if expected is not None and expected != record.owner:
        raise S3Error("AccessDenied")
    return record


def storage_of(record: Bucket) -> StorageMode | None:
    """How the bucket stores new objects, for the store: None when it never had a storage
    mode set (replicas only, and no coded object to look out for)."""
    return record.storage_mode if record.storage is not None else None


def requested_class(ctx: RequestContext) -> str | None:
    """The x-amz-storage-class a write asks for, checked; None for STANDARD (or none)."""
    value = ctx.headers.get("x-amz-storage-class")
    if value is None or value == "STANDARD":
        return None
    if value not in STORAGE_CLASSES:
        raise S3Error("InvalidStorageClass", extra={"StorageClassRequested": value})
    return value


def storage_for(
    ctx: RequestContext, record: Bucket, storage_class: str | None
) -> StorageMode | None:
    """How a write stores its object: the mode the cluster maps its storage class to
    (the `storage_classes` setting), else the bucket's."""
    if storage_class is not None:
        mapped = class_modes(ctx.gateway.setting("storage_classes")).get(storage_class)
        if mapped is not None:
            return mapped
    return storage_of(record)


def anonymous_may_list(ctx: RequestContext, record: Bucket) -> None:
    """Without a signature, a bucket can be listed (and a missing key told apart from a
    forbidden one) only if its ACL grants AllUsers READ."""
    if (
        ctx.auth is None
        and not ctx.policy_allowed
        and not acl.readable_by_anyone(acl_in_force(record, acl.decode(record.acl)))
    ):
        raise S3Error("AccessDenied")


async def update_record(ctx: RequestContext, change: Callable[[Bucket], Bucket]) -> Bucket:
    """Change the bucket's record with a compare-and-swap (coordinator.buckets.update; ``change``
    returns the new record, e.g. with ``dataclasses.replace``) and put the result into this
    gateway's cache, so a read through it sees the write at once."""
    assert ctx.bucket is not None
    try:
        record = await ctx.gateway.etcd_call(buckets.update, ctx.bucket, change)
    except buckets.NoSuchBucketRecord as exc:
        ctx.gateway.buckets.drop_local(ctx.bucket)
        raise S3Error("NoSuchBucket", extra={"BucketName": ctx.bucket}) from exc
    ctx.gateway.buckets.put_local(ctx.bucket, record)
    return record


# -- ACLs ----------------------------------------------------------------------------------

# Operations whose request is all about an ACL (the others set one as they create something).
_PUT_ACL = ("PutBucketAcl", "PutObjectAcl")


async def requested_acl(ctx: RequestContext) -> acl.ACL:
    """The ACL a request asks for.

    A PutBucketAcl or PutObjectAcl gives it in its body or its headers, with the Owner
    its document names: the handler stores it with :func:`acl.owned` once it knows the
    resource's owner. A request creating a bucket or an object gives it in x-amz-acl or
    x-amz-grant-* headers (private without them); the result is what to store: an object
    written by a key other than the bucket's owner is that key's. Grantees by ID must be
    keys Tessera knows.
    """
    if ctx.operation in _PUT_ACL:
        given: acl.ACL | None = acl.requested(ctx.headers, await ctx.read_small_body())
    else:
        given = acl.from_headers(ctx.headers)
    asked = given or acl.ACL()
    writer = ctx.auth.access_key if ctx.auth else None
    if ctx.operation == "CreateBucket":
        bucket_owner = writer or ""
    else:
        record = await existing_bucket(ctx)
        bucket_owner = record.owner
        # Ownership controls and the public access block refuse some ACLs outright.
        if (
            record.ownership == "BucketOwnerEnforced"
            and given is not None
            and given.canned != "bucket-owner-full-control"
        ):
            raise S3Error("AccessControlListNotSupported")
        if record.blocks("BlockPublicAcls") and acl.is_public(given):
            raise S3Error("AccessDenied", "The public access block forbids public ACLs")

    def known(canonical_id: str) -> bool:
        return (
            canonical_id in (bucket_owner, writer)
            or ctx.gateway.credentials.get(canonical_id) is not None
        )

    asked = acl.resolve_grantees(asked, known, ctx.gateway.account_by_email)
    if ctx.operation in _PUT_ACL:
        return asked
    return acl.owned(asked, writer, bucket_owner)


# -- versions ------------------------------------------------------------------------------
#
# A bucket's versioning (Bucket.versioning) is unset (never enabled), Enabled or Suspended.
# While Enabled, writes keep older versions; otherwise a write replaces the key's
# `null` version (see storage_node/index.py).

ENABLED = "Enabled"
SUSPENDED = "Suspended"
# Longer than any store's version ids (Tessera's are 32 hex digits, AWS's 32 characters).
MAX_VERSION_ID = 1024


def acl_in_force(record: Bucket, value: acl.ACL | None) -> acl.ACL | None:
    """An ACL of the bucket or of one of its objects as authorisation reads it: off under
    BucketOwnerEnforced, without public grants under IgnorePublicAcls."""
    return acl.in_force(
        value,
        record.owner,
        enforced=record.ownership == "BucketOwnerEnforced",
        ignore_public=record.blocks("IgnorePublicAcls"),
    )


def keeps_versions(record: Bucket) -> bool:
    """Whether a write to this bucket keeps the key's older versions."""
    return record.versioning == ENABLED


def version_headers(record: Bucket | None, version: ObjectVersion) -> dict[str, str]:
    """x-amz-version-id of a version, in buckets that have had versioning (None: a
    bucket deleted since the version was read)."""
    if (record is None or record.versioning is None) and not version.versioned:
        return {}
    return {"x-amz-version-id": version.s3_version_id}


def written_version_headers(version: ObjectVersion) -> dict[str, str]:
    """x-amz-version-id of a write: only a version with an id of its own (AWS
    names no version for writes while versioning is off or suspended)."""
    return {"x-amz-version-id": version.version_id} if version.versioned else {}


def requested_version(ctx: RequestContext) -> str | None:
    """The ?versionId= of a request, checked; None without one."""
    version_id = ctx.query.get("versionId")
    if version_id is not None:
        check_version_id(version_id)
    return version_id


def check_version_id(version_id: str) -> None:
    """Refuse ids no store hands out; others are simply looked up (and may not exist)."""
    if not version_id or len(version_id) > MAX_VERSION_ID or not version_id.isprintable():
        raise S3Error(
            "InvalidArgument",
            "Invalid version id specified",
            extra={"ArgumentName": "versionId", "ArgumentValue": version_id},
        )


# -- the source of CopyObject and UploadPartCopy -------------------------------------------


async def copy_source(ctx: RequestContext) -> tuple[CopySource, ObjectVersion, ObjectMeta]:
    """Find the version x-amz-copy-source names (its ?versionId=, else the
    newest) and check the x-amz-copy-source-if-* conditions against it."""
    source = parse_copy_source(ctx.headers["x-amz-copy-source"])
    if await ctx.gateway.bucket(source.bucket) is None:
        raise S3Error("NoSuchBucket", extra={"BucketName": source.bucket})
    if source.version_id is not None:
        check_version_id(source.version_id)
    version = await ctx.gateway.store.head_version(source.bucket, source.key, source.version_id)
    if version is None and source.version_id is not None:
        raise S3Error("NoSuchVersion", extra={"Key": source.key, "VersionId": source.version_id})
    if version is None or (version.deleted and source.version_id is None):
        raise S3Error("NoSuchKey", extra={"Key": source.key})
    if version.deleted:
        raise S3Error(
            "InvalidRequest",
            "The source of a copy request may not specifically refer to a delete marker "
            "by version id.",
        )
    meta = ObjectMeta.decode(version.meta)
    copy_conditions = {
        name.removeprefix("x-amz-copy-source-"): value
        for name, value in ctx.headers.items()
        if name.startswith("x-amz-copy-source-if-")
    }
    try:
        conditions.check(copy_conditions, meta.etag, to_seconds(version.timestamp))
    except S3Error as exc:
        raise S3Error("PreconditionFailed") from exc  # a copy answers 412, never 304
    return source, version, meta


async def store_copy(
    ctx: RequestContext,
    source_bucket: str,
    version: ObjectVersion,
    start: int,
    length: int,
    meta: ObjectMeta,
    *,
    versioned: bool = False,
    stored_as: tuple[str, str] | None = None,
    mode: StorageMode | None = None,
) -> ObjectVersion:
    """Store ``length`` bytes of the source ``version`` from ``start`` on as the request's
    object (or as ``stored_as``), streamed from the source replicas through this gateway;
    ``meta.etag`` becomes the MD5 of the bytes copied."""
    assert ctx.bucket is not None and ctx.key is not None
    md5 = hashlib.md5()

    def make_meta(size: int) -> bytes:
        meta.etag = md5.hexdigest()
        return meta.encode()

    if length > 0 and version.size > 0:
        stream = await ctx.gateway.store.get_object(source_bucket, version, start, length)
    else:
        stream = streams.empty()
    return await ctx.gateway.store.put_object(
        ctx.bucket,
        ctx.key,
        streams.hashed(stream, md5),
        make_meta,
        size_hint=max(length, 0),
        stored_as=stored_as,
        versioned=versioned,
        mode=mode,
    )


# -- conditional writes --------------------------------------------------------------------


async def locked_write(
    ctx: RequestContext,
    key: str,
    condition: conditions.WriteCondition,
    write: Callable[[], Awaitable[T]],
    version_id: str | None = None,
) -> T:
    """Check condition against the key's current object (or version_id) and write,
    holding the key's etcd lock throughout. Errors come out as they are (not in an
    exception group), so DeleteObjects can report them per key."""
    assert ctx.bucket is not None
    lock = KeyLock(ctx.gateway.etcd, ctx.bucket, key)
    if not await ctx.gateway.etcd_call(lambda _: lock.acquire(CONDITION_LOCK_WAIT)):
        raise S3Error("ConditionalRequestConflict")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_keep_locked, ctx, lock)
            try:
                done = await outcome.acapture(
                    _checked_write, ctx, key, condition, write, version_id
                )
            finally:
                nursery.cancel_scope.cancel()
        return done.unwrap()
    finally:
        with trio.CancelScope(shield=True):
            await ctx.gateway.etcd_call(lambda _: lock.release())


async def _checked_write(
    ctx: RequestContext,
    key: str,
    condition: conditions.WriteCondition,
    write: Callable[[], Awaitable[T]],
    version_id: str | None,
) -> T:
    assert ctx.bucket is not None
    current = await ctx.gateway.store.head_version(ctx.bucket, key, version_id)
    facts = None
    if current is not None and not current.deleted:
        etag = ObjectMeta.decode(current.meta).etag
        facts = conditions.Current(etag, to_seconds(current.timestamp), current.size)
    try:
        condition.check(facts)
    except S3Error as exc:
        if exc.code == "NoSuchKey":
            exc.extra.setdefault("Key", key)
        raise
    return await write()


async def _keep_locked(ctx: RequestContext, lock: KeyLock) -> None:
    """Refresh the lock's lease while a long upload is still arriving."""
    while True:
        await trio.sleep(DEFAULT_LOCK_TTL / 3)
        await ctx.gateway.etcd_call(lambda _: lock.refresh())


def lock_new_version(ctx: RequestContext, record: Bucket, meta: ObjectMeta) -> None:
    """Give a new version (PUT, copy, multipart upload) the retention and legal hold its
    headers (or the bucket's default retention) ask for; InvalidRequest on a bucket
    without object lock."""
    if record.object_lock is None:
        if object_lock.asks_lock(ctx.headers):
            raise S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration")
        return
    mode, until, hold = object_lock.from_headers(
        ctx.headers, record.object_lock.get("rule"), dt.datetime.now(dt.UTC)
    )
    meta.lock_mode, meta.lock_until, meta.legal_hold = mode, until, hold


def expiration_headers(
    record: Bucket, key: str, size: int, meta: ObjectMeta, timestamp: int
) -> dict[str, str]:
    """x-amz-expiration for a current version, when a lifecycle rule expires it."""
    if not record.lifecycle:
        return {}
    rules = list(record.lifecycle)
    return lifecycle.expiration_header(rules, key, size, meta.tags, to_seconds(timestamp))
