"""Authorisation, once a request is authenticated.

A key's policy (gateway/s3/policy.py) decides first: an admin key may do
anything, another key what its policy allows on the buckets it lets it use.
Where the policy says no, and for anonymous requests, ACL grants may still allow
the request (gateway/s3/acl.py): the bucket's grants decide bucket operations and
writes into the bucket, the object's grants decide reading the object and its
ACL, and a copy needs READ on its source too. Grants open buckets to a key, never
more kinds of operation than its policy has: a readonly key only ever reads.
"""

from __future__ import annotations

from coordinator.buckets import Bucket
from coordinator.credentials import Credential
from gateway.s3 import acl, policy
from gateway.s3.copysource import parse_copy_source
from gateway.s3.errors import S3Error
from gateway.s3.objectmeta import ObjectMeta
from gateway.s3.request import RequestContext

_COPIES = ("CopyObject", "UploadPartCopy")
# Reads whose handler checks an anonymous requester against the object's ACL as it
# loads the object (see handlers/object.py), which saves a second lookup here.
_CHECKED_BY_HANDLER = ("GetObject", "HeadObject")


async def authorize(ctx: RequestContext) -> None:
    """Raise AccessDenied unless the credential's policy or an ACL allows this request."""
    credential = None
    if ctx.auth is not None:
        credential = ctx.gateway.credentials.get(ctx.auth.access_key)
        if credential is None or credential.policy == "admin":
            return
    elif ctx.operation == "PostObject":
        return  # the form carries its own signed policy, checked by the handler
    elif ctx.operation == "PreflightRequest":
        return  # a browser's CORS preflight is answered from the bucket's CORS rules
    version_id = ctx.query.get("versionId") or None
    if not await _allowed(ctx, credential, ctx.operation, ctx.bucket, ctx.key, version_id):
        raise S3Error("AccessDenied")
    if ctx.operation in _COPIES and "x-amz-copy-source" in ctx.headers:
        source = parse_copy_source(ctx.headers["x-amz-copy-source"])
        if not await _allowed(
            ctx, credential, "GetObject", source.bucket, source.key, source.version_id, True
        ):
            raise S3Error("AccessDenied")


async def _allowed(
    ctx: RequestContext,
    credential: Credential | None,
    operation: str,
    bucket: str | None,
    key: str | None,
    version_id: str | None = None,
    source: bool = False,
) -> bool:
    record = await ctx.gateway.bucket(bucket) if bucket is not None else None
    if credential is not None:
        owner = record.owner if record else None
        if policy.permits(
            credential.policy, credential.buckets, credential.access_key, operation, bucket, owner
        ):
            return True
        if not policy.may_perform(credential.policy, operation):
            return False
    if bucket is None or record is None:
        # A missing bucket: anonymous requests learn so from the handler (NoSuchBucket),
        # as in AWS; a key's policy has already said no.
        return credential is None and bucket is not None and operation in acl.GRANTABLE_OPERATIONS
    who = acl.principals(ctx.auth.access_key if ctx.auth else None)
    bucket_owner = record.owner
    bucket_acl = acl.decode(record.acl)
    permission = acl.BUCKET_OPERATIONS.get(operation)
    if permission is not None:
        return acl.allows(bucket_acl, bucket_owner, who, permission)
    permission = acl.OBJECT_OPERATIONS.get(operation)
    if permission is None or key is None:
        return False
    if credential is None and operation in _CHECKED_BY_HANDLER and not source:
        return True
    # The ACL of the version the request names (?versionId=), else of the newest.
    version = await ctx.gateway.store.head_version(bucket, key, version_id)
    if version is None or version.deleted:
        # That a key is missing is told only to those who may list the bucket.
        return acl.allows(bucket_acl, bucket_owner, who, acl.READ)
    object_acl = ObjectMeta.decode(version.meta).acl
    return acl.allows(object_acl, bucket_owner, who, permission)


def visible_buckets(ctx: RequestContext, records: list[Bucket]) -> list[Bucket]:
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
            r.name,
            r.owner,
        )
    ]
