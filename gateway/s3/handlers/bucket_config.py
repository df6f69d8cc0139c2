"""Bucket settings kept in the bucket's etcd record: tagging, CORS, the bucket policy, the
public access block, object ownership, the lifecycle configuration and the object lock
configuration.

Put*/Delete* change the record with a compare-and-swap (common.update_record) and put
the result into this gateway's cache, so a read through the same gateway sees the write at
once; other gateways get it from their watch. Get* read the cache.

``OPTIONS`` preflights (PreflightRequest) arrive without credentials, so they read only the
cache: an anonymous request must not be able to make the gateway query etcd.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from coordinator.buckets import Bucket
from gateway.s3 import acl, bucket_policy, cors, lifecycle, object_lock, tagging, xml
from gateway.s3.errors import S3Error
from gateway.s3.handlers.common import XML_TYPE, acl_in_force, existing_bucket, update_record
from gateway.s3.request import Reply, RequestContext

if TYPE_CHECKING:
    from gateway.state import Gateway


async def _clear(ctx: RequestContext, **unset: object) -> Reply:
    """Delete*: the bucket's record without the setting (its fields set to unset)."""
    await existing_bucket(ctx)
    await update_record(ctx, lambda record: replace(record, **unset))  # type: ignore[arg-type]
    return Reply(204)


# -- tagging -------------------------------------------------------------------------------


async def get_bucket_tagging(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    if not record.tags:
        raise S3Error("NoSuchTagSet", extra={"BucketName": ctx.bucket or ""})
    return Reply(200, dict(XML_TYPE), xml.tagging(list(record.tags)))


async def put_bucket_tagging(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    tags = xml.parse_tagging(await ctx.read_small_body())
    tagging.check(tags, tagging.BUCKET_RULES)
    # An empty TagSet leaves the bucket without tags, as DeleteBucketTagging does.
    await update_record(ctx, lambda record: replace(record, tags=tuple(tags)))
    return Reply(204)


async def delete_bucket_tagging(ctx: RequestContext) -> Reply:
    return await _clear(ctx, tags=())


# -- CORS ----------------------------------------------------------------------------------


async def get_bucket_cors(ctx: RequestContext) -> Reply:
    rules = cors.rules_of((await existing_bucket(ctx)).cors)
    if rules is None:
        raise S3Error("NoSuchCORSConfiguration", extra={"BucketName": ctx.bucket or ""})
    return Reply(200, dict(XML_TYPE), cors.cors_configuration(rules))


async def put_bucket_cors(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    rules = cors.parse_cors_configuration(await ctx.read_small_body())
    stored = tuple(rule.to_record() for rule in rules)
    await update_record(ctx, lambda record: replace(record, cors=stored))
    return Reply(200)


async def delete_bucket_cors(ctx: RequestContext) -> Reply:
    return await _clear(ctx, cors=())


async def preflight_request(ctx: RequestContext) -> Reply:
    """``OPTIONS /bucket[/key]``: answer a browser's CORS preflight from the bucket's rules."""
    record = ctx.gateway.buckets.get(ctx.bucket) if ctx.bucket else None
    headers = cors.preflight(
        cors.rules_of(record.cors if record else None),
        ctx.headers,
        bucket_exists=record is not None,
        resource_type="OBJECT" if ctx.key else "BUCKET",
    )
    return Reply(200, headers)


def cors_response_headers(
    gateway: Gateway, bucket: str | None, method: str, headers: Mapping[str, str]
) -> dict[str, str]:
    """CORS headers for an actual request (any operation, success or error) that carries an
    Origin header, from the cached rules of its bucket; ``{}`` when none applies. A rule is
    matched by Access-Control-Request-Method where the request has one (as RGW does, and
    the S3 conformance suites check), else by the request's own method."""
    origin = headers.get("origin")
    if not bucket or not origin:
        return {}
    record = gateway.buckets.get(bucket)
    method = headers.get("access-control-request-method") or method
    return cors.response_headers(cors.rules_of(record.cors if record else None), origin, method)


# -- policy --------------------------------------------------------------------------------


async def get_bucket_policy(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    if record.policy is None:
        raise S3Error("NoSuchBucketPolicy", extra={"BucketName": ctx.bucket or ""})
    return Reply(200, {"Content-Type": "application/json"}, record.policy.encode())


async def put_bucket_policy(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    record = await existing_bucket(ctx)
    body = await ctx.read_small_body(bucket_policy.MAX_POLICY_BYTES + 1)
    parsed = bucket_policy.parse(body, ctx.bucket)  # MalformedPolicy unless valid
    if parsed.is_public() and record.blocks("BlockPublicPolicy"):
        raise S3Error("AccessDenied", "The public access block forbids a public policy")
    text = body.decode()
    await update_record(ctx, lambda record: replace(record, policy=text))
    return Reply(204)


async def delete_bucket_policy(ctx: RequestContext) -> Reply:
    return await _clear(ctx, policy=None)


async def get_bucket_policy_status(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    record = await existing_bucket(ctx)
    # Public by its policy or by its ACL (in force): what S3-compatible stores answer
    # and the S3 conformance suites expect, also for a bucket with no policy at all.
    public = (
        record.policy is not None and bucket_policy.parse(record.policy, ctx.bucket).is_public()
    )
    public = public or acl.is_public(acl_in_force(record, acl.decode(record.acl)))
    return Reply(200, dict(XML_TYPE), xml.policy_status(public))


# -- public access block and object ownership ----------------------------------------------


async def get_public_access_block(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    if record.public_access_block is None:
        raise S3Error("NoSuchPublicAccessBlockConfiguration", extra={"BucketName": record.name})
    return Reply(200, dict(XML_TYPE), xml.public_access_block(dict(record.public_access_block)))


async def put_public_access_block(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    flags = xml.parse_public_access_block(await ctx.read_small_body())
    await update_record(ctx, lambda record: replace(record, public_access_block=flags))
    return Reply(200)


async def delete_public_access_block(ctx: RequestContext) -> Reply:
    return await _clear(ctx, public_access_block=None)


async def get_bucket_ownership_controls(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    if record.ownership is None:
        raise S3Error("OwnershipControlsNotFoundError", extra={"BucketName": record.name})
    return Reply(200, dict(XML_TYPE), xml.ownership_controls(record.ownership))


async def put_bucket_ownership_controls(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    ownership = xml.parse_ownership_controls(await ctx.read_small_body())
    await update_record(ctx, lambda record: replace(record, ownership=ownership))
    return Reply(200)


async def delete_bucket_ownership_controls(ctx: RequestContext) -> Reply:
    return await _clear(ctx, ownership=None)


# -- lifecycle -----------------------------------------------------------------------------


async def get_bucket_lifecycle_configuration(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    if not record.lifecycle:
        raise S3Error("NoSuchLifecycleConfiguration", extra={"BucketName": record.name})
    return Reply(200, dict(XML_TYPE), lifecycle.render(list(record.lifecycle)))


async def put_bucket_lifecycle_configuration(ctx: RequestContext) -> Reply:
    await existing_bucket(ctx)
    rules = tuple(lifecycle.parse(xml.parse_xml(await ctx.read_small_body())))
    await update_record(ctx, lambda record: replace(record, lifecycle=rules))
    return Reply(200)


async def delete_bucket_lifecycle(ctx: RequestContext) -> Reply:
    return await _clear(ctx, lifecycle=())


# -- object lock ---------------------------------------------------------------------------


async def get_object_lock_configuration(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    if record.object_lock is None:
        raise S3Error("ObjectLockConfigurationNotFoundError", extra={"BucketName": record.name})
    body = object_lock.render_configuration(record.object_lock.get("rule"))
    return Reply(200, dict(XML_TYPE), body)


async def put_object_lock_configuration(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    rule = object_lock.parse_configuration(xml.parse_xml(await ctx.read_small_body()))
    # An existing bucket can turn object lock on once it keeps versions (as S3 allows
    # since 2023); it can never be turned off.
    if record.object_lock is None and record.versioning != "Enabled":
        raise S3Error(
            "InvalidBucketState",
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
        )

    def locked(current: Bucket) -> Bucket:
        if current.object_lock is None and current.versioning != "Enabled":
            raise S3Error("InvalidBucketState", "Versioning was suspended meanwhile")
        return replace(current, object_lock={"rule": rule})

    await update_record(ctx, locked)
    return Reply(200)
