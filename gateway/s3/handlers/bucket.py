"""Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket,
GetBucketLocation."""

from __future__ import annotations

from typing import Any

from coordinator import buckets
from gateway.s3 import acl, xml
from gateway.s3.errors import S3Error
from gateway.s3.handlers.access import visible_buckets
from gateway.s3.names import check_bucket_name
from gateway.s3.request import Reply, RequestContext

XML_TYPE = {"Content-Type": "application/xml"}


def owner_of(ctx: RequestContext) -> tuple[str, str]:
    """(ID, DisplayName) of the requester, as listings and ListBuckets show."""
    access_key = ctx.auth.access_key if ctx.auth else "anonymous"
    return access_key, access_key


async def existing_bucket(ctx: RequestContext) -> dict[str, Any]:
    assert ctx.bucket is not None
    record = await ctx.gateway.bucket(ctx.bucket)
    if record is None:
        raise S3Error("NoSuchBucket", extra={"BucketName": ctx.bucket})
    return record


async def list_buckets(ctx: RequestContext) -> Reply:
    records = visible_buckets(
        ctx, sorted(ctx.gateway.buckets.items().values(), key=lambda r: r["name"])
    )
    owner_id, owner_name = owner_of(ctx)
    body = xml.list_buckets([(r["name"], r["created"]) for r in records], owner_id, owner_name)
    return Reply(200, dict(XML_TYPE), body)


async def create_bucket(ctx: RequestContext) -> Reply:
    bucket = ctx.bucket
    assert bucket is not None
    check_bucket_name(bucket)
    constraint = xml.parse_create_bucket(await ctx.read_small_body())
    region = constraint or ctx.gateway.region
    owner, _ = owner_of(ctx)
    stored = acl.encode(await requested_acl(ctx))
    try:
        record = await ctx.gateway.etcd_call(
            lambda client: buckets.create(client, bucket, owner=owner, region=region, acl=stored)
        )
    except buckets.BucketExists as exc:
        code = (
            "BucketAlreadyOwnedByYou" if exc.record.get("owner") == owner else "BucketAlreadyExists"
        )
        raise S3Error(code, extra={"BucketName": bucket}) from exc
    ctx.gateway.buckets.put_local(bucket, record)
    return Reply(200, {"Location": f"/{bucket}"})


async def delete_bucket(ctx: RequestContext) -> Reply:
    bucket = ctx.bucket
    assert bucket is not None
    record = await existing_bucket(ctx)
    # Older versions and delete markers keep a versioned bucket from being empty.
    if record.get("versioning") is None:
        listing = ctx.gateway.store.list_objects(bucket, "", "")
    else:
        listing = ctx.gateway.store.list_versions(bucket, "", None)
    if await listing.next() is not None:
        raise S3Error("BucketNotEmpty", extra={"BucketName": bucket})
    await ctx.gateway.etcd_call(lambda client: buckets.delete(client, bucket))
    ctx.gateway.buckets.drop_local(bucket)
    return Reply(204)


async def head_bucket(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    return Reply(200, {"x-amz-bucket-region": record.get("region", ctx.gateway.region)})


async def get_bucket_location(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    return Reply(200, dict(XML_TYPE), xml.location_constraint(record.get("region", "")))


async def get_bucket_acl(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    body = acl.render(acl.decode(record.get("acl")), record.get("owner", ""))
    return Reply(200, dict(XML_TYPE), body)


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
        asked = acl.requested(ctx.headers, await ctx.read_small_body())
    else:
        asked = acl.from_headers(ctx.headers) or acl.ACL()
    writer = ctx.auth.access_key if ctx.auth else None
    if ctx.operation == "CreateBucket":
        bucket_owner = writer or ""
    else:
        bucket_owner = (await existing_bucket(ctx)).get("owner", "")

    def known(canonical_id: str) -> bool:
        return (
            canonical_id in (bucket_owner, writer)
            or ctx.gateway.credentials.get(canonical_id) is not None
        )

    acl.check_ids(asked, known)
    if ctx.operation in _PUT_ACL:
        return asked
    return acl.owned(asked, writer, bucket_owner)


async def put_bucket_acl(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    record = await existing_bucket(ctx)
    owner = record.get("owner", "")
    stored = acl.encode(acl.owned(await requested_acl(ctx), owner, owner))

    def change(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "acl": stored}

    try:
        record = await ctx.gateway.etcd_call(buckets.update, ctx.bucket, change)
    except buckets.NoSuchBucketRecord as exc:
        raise S3Error("NoSuchBucket", extra={"BucketName": ctx.bucket}) from exc
    ctx.gateway.buckets.put_local(ctx.bucket, record)
    return Reply(200)


def anonymous_may_list(ctx: RequestContext, record: dict[str, Any]) -> None:
    """Without a signature, a bucket can be listed (and a missing key told apart from a
    forbidden one) only if its ACL grants AllUsers READ."""
    if ctx.auth is None and not acl.readable_by_anyone(acl.decode(record.get("acl"))):
        raise S3Error("AccessDenied")
