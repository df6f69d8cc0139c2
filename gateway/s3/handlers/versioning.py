"""Bucket versioning: Get/PutBucketVersioning and ListObjectVersions.

The rules every handler follows for versions and version ids (a bucket's status,
x-amz-version-id headers, ?versionId=) are in handlers/common.py.
"""

from __future__ import annotations

from dataclasses import replace

from coordinator.clock import to_seconds
from gateway.cluster.store import ObjectVersion
from gateway.s3 import xml
from gateway.s3.errors import S3Error
from gateway.s3.handlers.common import (
    ENABLED,
    SUSPENDED,
    XML_TYPE,
    anonymous_may_list,
    check_version_id,
    existing_bucket,
    owner_of,
    update_record,
)
from gateway.s3.listing import parse_max_keys, url_encoding
from gateway.s3.objectmeta import ObjectMeta
from gateway.s3.request import Reply, RequestContext
from gateway.s3.xmlcore import local_name


async def get_bucket_versioning(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    return Reply(200, dict(XML_TYPE), xml.versioning_configuration(record.versioning))


async def put_bucket_versioning(ctx: RequestContext) -> Reply:
    record = await existing_bucket(ctx)
    root = xml.parse_xml(await ctx.read_small_body())
    if local_name(root.tag) != "VersioningConfiguration":
        raise S3Error("MalformedXML")
    fields = {local_name(c.tag): (c.text or "").strip() for c in root}
    wanted = fields.get("Status")
    if wanted not in (ENABLED, SUSPENDED):
        raise S3Error("MalformedXML")
    if fields.get("MfaDelete", "Disabled") != "Disabled":
        raise S3Error("NotImplemented", "MFA delete is not supported")
    if wanted == SUSPENDED and record.object_lock is not None:
        raise S3Error(
            "InvalidBucketState",
            "An Object Lock configuration is present on this bucket, so the versioning "
            "state cannot be changed.",
        )

    await update_record(ctx, lambda record: replace(record, versioning=wanted))
    return Reply(200)


async def list_object_versions(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    record = await existing_bucket(ctx)
    anonymous_may_list(ctx, record)
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter", "")
    key_marker = ctx.query.get("key-marker", "")
    version_id_marker = ctx.query.get("version-id-marker", "")
    if version_id_marker and not key_marker:
        raise S3Error(
            "InvalidArgument",
            "A version-id marker cannot be specified without a key marker.",
            extra={"ArgumentName": "version-id-marker", "ArgumentValue": version_id_marker},
        )
    max_keys = parse_max_keys(ctx.query.get("max-keys"))
    encoding = url_encoding(ctx.query)
    after = await _start(ctx, key_marker, version_id_marker)
    listing = ctx.gateway.store.list_versions(ctx.bucket, prefix, after)
    if delimiter and key_marker.startswith(prefix) and key_marker.endswith(delimiter):
        if delimiter not in key_marker[len(prefix) : -len(delimiter)]:
            listing.skip_prefix(key_marker)  # continuing after a common prefix
    hide_markers = record.versioning is None
    # Resuming inside a key: its newest version was on an earlier page.
    previous_key = key_marker if version_id_marker else None
    entries: list[xml.VersionEntry] = []
    prefixes: list[str] = []
    next_marker: tuple[str, str | None] | None = None
    truncated = False
    while max_keys > 0:  # max-keys=0 lists nothing and is not truncated
        version = await listing.next()
        if version is None:
            break
        is_latest = version.key != previous_key
        previous_key = version.key
        if hide_markers and version.deleted:
            continue  # without versioning a delete leaves no marker
        rolled_up = _rolled_up(version.key, prefix, delimiter)
        if len(entries) + len(prefixes) == max_keys:
            truncated = True
            break
        if rolled_up is not None:
            prefixes.append(rolled_up)
            listing.skip_prefix(rolled_up)
            next_marker = (rolled_up, None)
        else:
            entries.append(_entry(version, is_latest))
            next_marker = (version.key, version.s3_version_id)
    next_key, next_version = next_marker if truncated and next_marker else (None, None)
    body = xml.list_object_versions(
        bucket=ctx.bucket or "",
        prefix=prefix,
        key_marker=key_marker,
        version_id_marker=version_id_marker,
        next_key_marker=next_key,
        next_version_id_marker=next_version,
        delimiter=delimiter or None,
        max_keys=max_keys,
        is_truncated=truncated,
        versions=entries,
        common_prefixes=prefixes,
        encoding_type=encoding,
        owner=owner_of(ctx),
    )
    return Reply(200, dict(XML_TYPE), body)


# A stamp newer than any: the position just before every version of a key.
BEFORE_EVERY_VERSION = 2**63 - 1


async def _start(
    ctx: RequestContext, key_marker: str, version_id_marker: str
) -> tuple[str, int, str] | None:
    """The listing position the markers name."""
    if not key_marker:
        return None
    if not version_id_marker:
        return key_marker, 0, ""  # after every version of key_marker
    check_version_id(version_id_marker)
    marker = await ctx.gateway.store.head_version(ctx.bucket or "", key_marker, version_id_marker)
    if marker is None:
        # The version was deleted since it ended the last page (a client deleting page
        # by page): go on from the newest version of its key that is left.
        return key_marker, BEFORE_EVERY_VERSION, ""
    return key_marker, marker.timestamp, marker.version_id


def _rolled_up(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return key[: at + len(delimiter)] if at >= 0 else None


def _entry(version: ObjectVersion, is_latest: bool) -> xml.VersionEntry:
    meta = ObjectMeta.decode(version.meta) if not version.deleted else None
    return xml.VersionEntry(
        key=version.key,
        version_id=version.s3_version_id,
        is_latest=is_latest,
        last_modified=to_seconds(version.timestamp),
        delete_marker=version.deleted,
        etag=meta.quoted_etag if meta else "",
        size=version.size,
        storage_class=meta.storage_class_name if meta else "STANDARD",
    )
