"""Authorisation, once a request is authenticated.

The bucket's policy (gateway/s3/bucket_policy.py) speaks first: an explicit Deny
refuses anyone (an admin key, like AWS's root, may still manage the policy itself),
and an Allow lets the request through (a key still only within the kinds of operation
its own policy has). Then a key's policy (gateway/s3/policy.py): an admin key may do
anything, another key what its policy allows on the buckets it lets it use.
Where the policy says no, and for anonymous requests, ACL grants may still allow
the request (gateway/s3/acl.py): the bucket's grants decide bucket operations and
writes into the bucket, the object's grants decide reading the object and its
ACL, and a copy needs READ on its source too. Grants open buckets to a key, never
more kinds of operation than its policy has: a readonly key only ever reads.
"""

from __future__ import annotations

import functools
import time
import urllib.parse

from coordinator.buckets import Bucket
from coordinator.credentials import Credential
from gateway.http.connection import peer_host
from gateway.s3 import acl, bucket_policy, policy
from gateway.s3.copysource import parse_copy_source
from gateway.s3.errors import S3Error
from gateway.s3.handlers.common import acl_in_force
from gateway.s3.object_lock import BYPASS_HEADER
from gateway.s3.objectmeta import ObjectMeta
from gateway.s3.request import RequestContext

BYPASS_ACTION = "s3:BypassGovernanceRetention"

_COPIES = ("CopyObject", "UploadPartCopy")
# Reads whose handler checks an anonymous requester against the object's ACL as it
# loads the object (see handlers/object.py), which saves a second lookup here.
_CHECKED_BY_HANDLER = ("GetObject", "HeadObject")


# What an admin key may still do on a bucket whose policy denies it everything.
_POLICY_OPERATIONS = ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy")


async def authorize(ctx: RequestContext) -> None:
    """Raise AccessDenied unless the bucket policy, the credential's policy or an ACL
    allows this request."""
    credential = None
    if ctx.auth is not None:
        credential = ctx.gateway.credentials.get(ctx.auth.access_key)
        if credential is None:
            return
    elif ctx.operation == "PostObject":
        return  # the form carries its own signed policy, checked by the handler
    elif ctx.operation == "PreflightRequest":
        return  # a browser's CORS preflight is answered from the bucket's CORS rules
    version_id = ctx.query.get("versionId") or None
    admin = credential is not None and credential.policy == "admin"
    decision = await _policy_decision(ctx, ctx.operation, ctx.bucket, ctx.key, version_id)
    if decision == "Deny" and not (admin and ctx.operation in _POLICY_OPERATIONS):
        raise S3Error("AccessDenied")
    if admin:
        pass
    elif decision == "Allow" and (
        credential is None or policy.may_perform(credential.policy, ctx.operation)
    ):
        ctx.policy_allowed = True
    elif not await _allowed(ctx, credential, ctx.operation, ctx.bucket, ctx.key, version_id):
        raise S3Error("AccessDenied")
    if ctx.operation in _COPIES and "x-amz-copy-source" in ctx.headers:
        source = parse_copy_source(ctx.headers["x-amz-copy-source"])
        decision = await _policy_decision(
            ctx, "GetObject", source.bucket, source.key, source.version_id
        )
        if decision == "Deny":
            raise S3Error("AccessDenied")
        if admin or decision == "Allow":
            return
        if not await _allowed(
            ctx, credential, "GetObject", source.bucket, source.key, source.version_id, True
        ):
            raise S3Error("AccessDenied")


async def anonymous_may_write(ctx: RequestContext, key: str) -> bool:
    """Whether an unsigned request may write ``key`` into the request's bucket (a form
    upload without a signature): the bucket policy allows it, or does not deny it and
    the bucket's ACL grants WRITE to everyone."""
    decision = await _policy_decision(ctx, "PutObject", ctx.bucket, key, None)
    if decision is not None:
        return decision == "Allow"
    return await _allowed(ctx, None, "PutObject", ctx.bucket, key)


async def may_bypass_governance(ctx: RequestContext) -> bool:
    """Whether the request says x-amz-bypass-governance-retention: true and may: the
    bucket policy allows it s3:BypassGovernanceRetention, or (unless the policy denies
    it) its key is an admin key or the bucket's owner, who hold every permission on the
    bucket like an AWS account's root."""
    if ctx.headers.get(BYPASS_HEADER, "").lower() != "true" or ctx.auth is None:
        return False
    decision = await _policy_decision(
        ctx, ctx.operation, ctx.bucket, ctx.key, None, action=BYPASS_ACTION
    )
    if decision is not None:
        return decision == "Allow"
    credential = ctx.gateway.credentials.get(ctx.auth.access_key)
    record = await ctx.gateway.bucket(ctx.bucket) if ctx.bucket else None
    return (credential is not None and credential.policy == "admin") or (
        record is not None and record.owner == ctx.auth.access_key
    )


async def _policy_decision(
    ctx: RequestContext,
    operation: str,
    bucket: str | None,
    key: str | None,
    version_id: str | None,
    *,
    action: str | None = None,
) -> str | None:
    """What the bucket's policy says of this request (as ``action`` when given, else as
    the operation's action): "Deny", "Allow" or None."""
    record = await ctx.gateway.bucket(bucket) if bucket is not None else None
    if record is None or record.policy is None:
        return None
    action = action or bucket_policy.action_of(operation, version_id)
    if action is None:
        return None
    parsed = _parsed_policy(record.policy, record.name)
    resource = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")
    context = policy_context(ctx, version_id)
    if key is not None and "existingobjecttag/" in record.policy.lower():
        version = await ctx.gateway.store.head_version(record.name, key, version_id)
        if version is not None and not version.deleted:
            for tag, value in ObjectMeta.decode(version.meta).tags.items():
                context[f"s3:ExistingObjectTag/{tag}"] = value
    principal = ctx.auth.access_key if ctx.auth else None
    decision = parsed.evaluate(bucket_policy.Facts(principal, action, resource, context))
    if (
        decision == "Allow"
        and principal is None
        and record.blocks("RestrictPublicBuckets")
        and parsed.is_public()
    ):
        return None  # a public policy lets in only the cluster's own keys
    return decision


@functools.lru_cache(maxsize=256)
def _parsed_policy(text: str, bucket: str) -> bucket_policy.Policy:
    """Policies are parsed once per text (checked when put; read on every request)."""
    return bucket_policy.parse(text, bucket)


def policy_context(ctx: RequestContext, version_id: str | None) -> dict[str, str | list[str]]:
    """The condition keys of a request (aws:* and s3:*)."""
    now = time.time()
    principal = ctx.auth.access_key if ctx.auth else None
    context: dict[str, str | list[str]] = {
        "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "aws:EpochTime": str(int(now)),
        "aws:SecureTransport": "true" if ctx.gateway.secure_transport else "false",
        "aws:PrincipalType": "User" if principal else "Anonymous",
    }
    source = peer_host()
    if source:
        context["aws:SourceIp"] = source
    if principal:
        context["aws:username"] = context["aws:userid"] = principal
        context["s3:signatureversion"] = ctx.auth.signature_version if ctx.auth else "AWS"
        presigned = "X-Amz-Signature" in ctx.query or "Signature" in ctx.query
        context["s3:authType"] = "REST-QUERY-STRING" if presigned else "REST-HEADER"
    for name in ("prefix", "delimiter", "max-keys"):
        if name in ctx.query:
            context[f"s3:{name}"] = ctx.query[name]
    if version_id is not None:
        context["s3:VersionId"] = version_id
    if "referer" in ctx.headers:
        context["aws:Referer"] = ctx.headers["referer"]
    for header in (
        "x-amz-acl",
        "x-amz-grant-read",
        "x-amz-grant-write",
        "x-amz-grant-read-acp",
        "x-amz-grant-write-acp",
        "x-amz-grant-full-control",
        "x-amz-server-side-encryption",
        "x-amz-copy-source",
        "x-amz-metadata-directive",
        "x-amz-storage-class",
    ):
        if header in ctx.headers:
            context[f"s3:{header}"] = ctx.headers[header]
    tagging_header = ctx.headers.get("x-amz-tagging")
    if tagging_header:
        tags = dict(urllib.parse.parse_qsl(tagging_header, keep_blank_values=True))
        context["s3:RequestObjectTagKeys"] = list(tags)
        for tag, value in tags.items():
            context[f"s3:RequestObjectTag/{tag}"] = value
    return context


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
    bucket_acl = acl_in_force(record, acl.decode(record.acl))
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
    object_acl = acl_in_force(record, ObjectMeta.decode(version.meta).acl)
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
