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
    assert ctx.bucket is not None
    check_bucket_name(ctx.bucket)
    constraint = xml.parse_create_bucket(await ctx.read_small_body())
    region = constraint or ctx.gateway.region
    owner, _ = owner_of(ctx)
    canned = acl.from_headers(ctx.headers)
    try:
        record = await ctx.gateway.etcd_call(
            lambda client: buckets.create(
                client, ctx.bucket, owner=owner, region=region, acl=canned
            )
        )
    except buckets.BucketExists as exc:
        code = (
            "BucketAlreadyOwnedByYou" if exc.record.get("owner") == owner else "BucketAlreadyExists"
        )
        raise S3Error(code, extra={"BucketName": ctx.bucket}) from exc
    ctx.gateway.buckets.put_local(ctx.bucket, record)
    return Reply(200, {"Location": f"/{ctx.bucket}"})


async def delete_bucket(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    listing = ctx.gateway.store.list_objects(ctx.bucket, "", "")
    if await listing.next() is not None:
        raise S3Error("BucketNotEmpty", extra={"BucketName": ctx.bucket})
    await ctx.gateway.etcd_call(lambda client: buckets.delete(client, ctx.bucket))
    ctx.gateway.buckets.drop_local(ctx.bucket)
    return Reply(204)


async def head_bucket(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    return Reply(200, {"x-amz-bucket-region": record.get("region", ctx.gateway.region)})


async def get_bucket_location(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    return Reply(200, dict(XML_TYPE), xml.location_constraint(record.get("region", "")))


async def get_bucket_versioning(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    return Reply(200, dict(XML_TYPE), xml.versioning_configuration(None))


async def put_bucket_versioning(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    root = xml.parse_xml(await ctx.read_small_body())
    status = next((c.text for c in root if c.tag.rsplit("}", 1)[-1] == "Status"), None)
    if status not in ("Enabled", "Suspended"):
        raise S3Error("MalformedXML")
    if status == "Enabled":
        raise S3Error("NotImplemented", "Tessera does not keep object versions yet")
    return Reply(200)  # Suspended: what a never-versioned bucket already is


async def get_bucket_acl(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    owner = record.get("owner", "")
    return Reply(200, dict(XML_TYPE), acl.render((owner, owner), record.get("acl")))


async def requested_acl(ctx: RequestContext) -> str:
    """The canned ACL of a Put*Acl: an AccessControlPolicy body, else x-amz-acl."""
    body = await ctx.read_small_body()
    return acl.from_policy(body) if body.strip() else acl.from_headers(ctx.headers)


async def put_bucket_acl(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    canned = await requested_acl(ctx)

    def change(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "acl": canned}

    try:
        record = await ctx.gateway.etcd_call(buckets.update, ctx.bucket, change)
    except buckets.NoSuchBucketRecord as exc:
        raise S3Error("NoSuchBucket", extra={"BucketName": ctx.bucket or ""}) from exc
    ctx.gateway.buckets.put_local(ctx.bucket, record)
    return Reply(200)


def anonymous_may_list(ctx: RequestContext, record: dict[str, Any]) -> None:
    """Without a signature, only a public-read bucket can be listed."""
    if ctx.auth is None and not acl.readable_by_anyone(record.get("acl")):
        raise S3Error("AccessDenied")
