"""Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket,
GetBucketLocation."""

from __future__ import annotations

from dataclasses import replace

from coordinator import buckets
from coordinator.namespaces import fragments_namespace
from gateway.s3 import acl, xml
from gateway.s3.errors import S3Error
from gateway.s3.handlers.access import visible_buckets
from gateway.s3.handlers.common import (
    XML_TYPE,
    existing_bucket,
    owner_of,
    requested_acl,
    update_record,
)
from gateway.s3.names import check_bucket_name
from gateway.s3.request import Reply, RequestContext

# Where creating a bucket its owner already has answers 200, not BucketAlreadyOwnedByYou.
LEGACY_REGION = "us-east-1"

# ListBuckets pages: at most this many buckets per page (max-buckets), the AWS bound.
MAX_BUCKETS = 10_000


async def list_buckets(ctx: RequestContext) -> Reply:
    """ListBuckets, in name order, filtered by prefix and bucket-region, in pages of
    max-buckets; the continuation token is the last name of the page (opaque to clients)."""
    query = ctx.query
    prefix = query.get("prefix")
    region = query.get("bucket-region")
    after = query.get("continuation-token")
    if after == "":
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            extra={"ArgumentName": "continuation-token", "ArgumentValue": after},
        )
    limit = _max_buckets(query.get("max-buckets"))
    records = visible_buckets(
        ctx, sorted(ctx.gateway.buckets.items().values(), key=lambda r: r.name)
    )
    default_region = ctx.gateway.region
    rows = [
        (r.name, r.created, r.region or default_region)
        for r in records
        if (prefix is None or r.name.startswith(prefix))
        and (region is None or (r.region or default_region) == region)
        and (after is None or r.name > after)
    ]
    token = rows[limit - 1][0] if limit is not None and len(rows) > limit else None
    page = rows if limit is None else rows[:limit]
    owner_id, owner_name = owner_of(ctx)
    body = xml.list_buckets(page, owner_id, owner_name, token, prefix)
    return Reply(200, dict(XML_TYPE), body)


def _max_buckets(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_BUCKETS:
        raise S3Error(
            "InvalidArgument",
            f"max-buckets must be an integer from 1 to {MAX_BUCKETS}",
            extra={"ArgumentName": "max-buckets", "ArgumentValue": value},
        )
    return int(value)


async def create_bucket(ctx: RequestContext) -> Reply:
    bucket = ctx.bucket
    assert bucket is not None
    check_bucket_name(bucket)
    constraint = xml.parse_create_bucket(await ctx.read_small_body())
    region = constraint or ctx.gateway.region
    owner, _ = owner_of(ctx)
    stored = acl.encode(await requested_acl(ctx))
    ownership = ctx.headers.get("x-amz-object-ownership")
    if ownership is not None and ownership not in xml.OBJECT_OWNERSHIP:
        raise S3Error(
            "InvalidArgument",
            "Invalid x-amz-object-ownership header",
            extra={"ArgumentName": "x-amz-object-ownership", "ArgumentValue": ownership},
        )
    if ownership == "BucketOwnerEnforced" and stored not in (
        "private",
        "bucket-owner-full-control",
    ):
        raise S3Error("InvalidBucketAclWithObjectOwnership")
    locked = ctx.headers.get("x-amz-bucket-object-lock-enabled", "").lower() == "true"
    try:
        record = await ctx.gateway.etcd_call(
            lambda client: buckets.create(
                client,
                bucket,
                owner=owner,
                region=region,
                acl=stored,
                ownership=ownership,
                object_lock=locked,
            )
        )
    except buckets.BucketExists as exc:
        if exc.record.owner != owner:
            raise S3Error("BucketAlreadyExists", extra={"BucketName": bucket}) from exc
        if (exc.record.region or ctx.gateway.region) != LEGACY_REGION:
            raise S3Error("BucketAlreadyOwnedByYou", extra={"BucketName": bucket}) from exc
        # us-east-1 keeps S3's legacy answer: the owner creating it again as it is gets
        # 200; a re-creation that would change its ACL is refused (as S3-compatible
        # stores answer, and the S3 conformance suites expect), so nothing changes.
        if exc.record.acl != stored:
            raise S3Error("BucketAlreadyExists", extra={"BucketName": bucket}) from exc
        return Reply(200, {"Location": f"/{bucket}"})
    ctx.gateway.buckets.put_local(bucket, record)
    return Reply(200, {"Location": f"/{bucket}"})


async def delete_bucket(ctx: RequestContext) -> Reply:
    bucket = ctx.bucket
    assert bucket is not None
    record = await existing_bucket(ctx)
    # Older versions and delete markers keep a versioned bucket from being empty.
    if record.versioning is None:
        listing = ctx.gateway.store.list_objects(bucket, "", "")
    else:
        listing = ctx.gateway.store.list_versions(bucket, "", None)
    if await listing.next() is not None:
        raise S3Error("BucketNotEmpty", extra={"BucketName": bucket})
    if record.storage is not None:
        # Fragments whose drop a node missed: none belongs to an object any more. Swept
        # before the record goes, so a bucket made again under the name keeps its own.
        await ctx.gateway.store.delete_prefix(fragments_namespace(bucket), "")
    await ctx.gateway.etcd_call(lambda client: buckets.delete(client, bucket))
    ctx.gateway.buckets.drop_local(bucket)
    return Reply(204)


async def head_bucket(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    region = record.region if record.region is not None else ctx.gateway.region
    return Reply(200, {"x-amz-bucket-region": region})


async def get_bucket_location(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    return Reply(200, dict(XML_TYPE), xml.location_constraint(record.region or ""))


async def get_bucket_acl(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    enforced = record.ownership == "BucketOwnerEnforced"  # ACLs off: the owner's alone
    body = acl.render(
        acl.ACL() if enforced else acl.decode(record.acl), record.owner, ctx.gateway.display_name
    )
    return Reply(200, dict(XML_TYPE), body)


async def put_bucket_acl(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    owner = record.owner
    stored = acl.encode(acl.owned(await requested_acl(ctx), owner, owner))
    await update_record(ctx, lambda record: replace(record, acl=stored))
    return Reply(200)
