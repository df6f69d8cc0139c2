"""What a credential's policy lets it do (sans-IO).

admin: everything. readwrite: every operation on the buckets it may use.
readonly: only reading operations there. The buckets a non-admin key may
use are those matching its patterns (`logs-*` is a prefix), or, without
patterns, the buckets it owns (created).
"""

from __future__ import annotations

from collections.abc import Iterable

READ_OPERATIONS = frozenset(
    {
        "ListBuckets",
        "HeadBucket",
        "GetBucketLocation",
        "GetBucketAcl",
        "GetBucketTagging",
        "GetBucketCors",
        "GetBucketVersioning",
        "GetBucketPolicy",
        "GetBucketPolicyStatus",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "ListMultipartUploads",
        "ListParts",
        "GetObject",
        "HeadObject",
        "GetObjectAcl",
        "GetObjectTagging",
        "GetObjectAttributes",
        "GetBucketLifecycleConfiguration",
        "GetObjectLockConfiguration",
        "GetObjectRetention",
        "GetObjectLegalHold",
    }
)


def bucket_matches(bucket: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("*"):
            if bucket.startswith(pattern[:-1]):
                return True
        elif bucket == pattern:
            return True
    return False


def may_use_bucket(
    policy: str, patterns: tuple[str, ...], access_key: str, bucket: str, owner: str | None
) -> bool:
    """Whether the key may see and touch bucket (owner None: it does not exist yet)."""
    if policy == "admin":
        return True
    if patterns:
        return bucket_matches(bucket, patterns)
    return owner is None or owner == access_key


def may_perform(policy: str, operation: str) -> bool:
    """Whether the policy lets a key do this kind of operation at all, on any bucket
    (an ACL grant may open buckets to a key, never more than this)."""
    if policy in ("admin", "readwrite"):
        return True
    return policy == "readonly" and operation in READ_OPERATIONS


def permits(
    policy: str,
    patterns: tuple[str, ...],
    access_key: str,
    operation: str,
    bucket: str | None,
    owner: str | None,
) -> bool:
    """Whether a request of operation on bucket (owned by owner) is allowed."""
    if policy == "admin":
        return True
    if policy == "readonly" and operation not in READ_OPERATIONS:
        return False
    if policy not in ("readwrite", "readonly"):
        return False
    if bucket is None:
        return operation == "ListBuckets"  # filtered to the visible buckets
    if operation == "CreateBucket":
        # Judged as if the name were free: a taken one is BucketAlreadyExists, as in S3.
        owner = None
    return may_use_bucket(policy, patterns, access_key, bucket, owner)
