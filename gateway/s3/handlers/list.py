"""ListObjects (v1) and ListObjectsV2 (ListObjectVersions: handlers/versioning.py)."""

from __future__ import annotations

from coordinator.clock import to_seconds
from gateway.cluster.store import ObjectVersion
from gateway.s3 import xml
from gateway.s3.handlers.common import XML_TYPE, anonymous_may_list, existing_bucket, owner_of
from gateway.s3.listing import (
    collect,
    decode_token,
    encode_token,
    parse_max_keys,
    url_encoding,
)
from gateway.s3.objectmeta import listing_fields
from gateway.s3.request import Reply, RequestContext


def _entries(contents: list[ObjectVersion]) -> list[xml.ObjectEntry]:
    entries = []
    for v in contents:
        etag, storage_class = listing_fields(v.meta)
        entries.append(
            xml.ObjectEntry(
                key=v.key,
                last_modified=to_seconds(v.timestamp),
                etag=etag,
                size=v.size,
                storage_class=storage_class,
            )
        )
    return entries


async def list_objects(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    anonymous_may_list(ctx, await existing_bucket(ctx))
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter", "")
    marker = ctx.query.get("marker", "")
    max_keys = parse_max_keys(ctx.query.get("max-keys"))
    encoding = url_encoding(ctx.query)
    listing = ctx.gateway.store.list_objects(ctx.bucket, prefix, marker)
    page = await collect(listing, prefix, delimiter, max_keys, marker)
    body = xml.list_objects_v1(
        bucket=ctx.bucket,
        prefix=prefix,
        marker=marker,
        delimiter=delimiter or None,
        max_keys=max_keys,
        is_truncated=page.is_truncated,
        next_marker=page.last if page.is_truncated else None,
        contents=_entries(page.contents),
        common_prefixes=page.common_prefixes,
        encoding_type=encoding,
        owner=owner_of(ctx),
    )
    return Reply(200, dict(XML_TYPE), body)


async def list_objects_v2(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    anonymous_may_list(ctx, await existing_bucket(ctx))
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter", "")
    max_keys = parse_max_keys(ctx.query.get("max-keys"))
    encoding = url_encoding(ctx.query)
    token = ctx.query.get("continuation-token")
    start_after = ctx.query.get("start-after", "")
    begin = decode_token(token) if token is not None else start_after
    listing = ctx.gateway.store.list_objects(ctx.bucket, prefix, begin)
    page = await collect(listing, prefix, delimiter, max_keys, begin)
    fetch_owner = ctx.query.get("fetch-owner", "").lower() == "true"
    body = xml.list_objects_v2(
        bucket=ctx.bucket,
        prefix=prefix,
        delimiter=delimiter or None,
        max_keys=max_keys,
        is_truncated=page.is_truncated,
        key_count=len(page.contents) + len(page.common_prefixes),
        continuation_token=token,
        next_continuation_token=encode_token(page.last)
        if page.is_truncated and page.last
        else None,
        start_after=start_after or None,
        contents=_entries(page.contents),
        common_prefixes=page.common_prefixes,
        encoding_type=encoding,
        owner=owner_of(ctx) if fetch_owner else None,
    )
    return Reply(200, dict(XML_TYPE), body)
