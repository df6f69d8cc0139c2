"""The source object of CopyObject and UploadPartCopy."""

from __future__ import annotations

from coordinator.clock import to_seconds
from gateway.cluster.store import ObjectVersion
from gateway.s3 import conditions
from gateway.s3.copysource import CopySource, parse_copy_source
from gateway.s3.errors import S3Error
from gateway.s3.handlers.versioning import check_version_id
from gateway.s3.objectmeta import ObjectMeta
from gateway.s3.request import RequestContext


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
