"""Authorisation: after a request is authenticated, its key's policy must
allow the operation on the bucket (and on a copy's source bucket)."""

from __future__ import annotations

from gateway.s3 import policy
from gateway.s3.copysource import parse_copy_source
from gateway.s3.errors import S3Error
from gateway.s3.request import RequestContext

_COPIES = ("CopyObject", "UploadPartCopy")


async def authorize(ctx: RequestContext) -> None:
    """Raise AccessDenied unless the credential's policy allows this request."""
    if ctx.auth is None:
        return  # anonymous reads are decided by ACLs in the handlers
    credential = ctx.gateway.credentials.get(ctx.auth.access_key)
    if credential is None or credential.policy == "admin":
        return
    if not await _allowed(ctx, credential, ctx.operation, ctx.bucket):
        raise S3Error("AccessDenied")
    if ctx.operation in _COPIES and "x-amz-copy-source" in ctx.headers:
        source = parse_copy_source(ctx.headers["x-amz-copy-source"])
        if not await _allowed(ctx, credential, "GetObject", source.bucket):
            raise S3Error("AccessDenied")


async def _allowed(ctx: RequestContext, credential, operation: str, bucket: str | None) -> bool:
    owner = None
    if bucket is not None:
        record = await ctx.gateway.bucket(bucket)
        owner = record.get("owner") if record else None
    return policy.permits(
        credential.policy, credential.buckets, credential.access_key, operation, bucket, owner
    )


def visible_buckets(ctx: RequestContext, records: list[dict]) -> list[dict]:
    """The buckets ListBuckets shows to this key."""
    if ctx.auth is None:
        return []
    credential = ctx.gateway.credentials.get(ctx.auth.access_key)
    if credential is None or credential.policy == "admin":
        return records
    return [
        r
        for r in records
        if policy.may_use_bucket(
            credential.policy,
            credential.buckets,
            credential.access_key,
            r["name"],
            r.get("owner"),
        )
    ]
