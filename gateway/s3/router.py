"""Maps an S3 request to its AWS operation name (sans-IO), in the manner of Garage's router.

Path-style addressing is decoded by :func:`split_path`, virtual-hosted-style addressing
(``Host: <bucket>.<domain>``) by :func:`split_host_and_path`; :func:`route` takes the bucket
and key already extracted.

S3 selects most operations by a *sub-resource* query key (``?acl``, ``?tagging``,
``?uploads``...) whose value is ignored. The key is looked for in the whole query whatever
its value, and when a request carries several, the first in ``_KEYWORDS`` wins. A known
sub-resource that has no operation for the method and level (bucket or object) yields the
``MethodNotAllowed`` pseudo-operation, like an unknown method does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from .errors import S3Error


@dataclass(frozen=True)
class Route:
    """The operation a request asks for, and the bucket/key it names (``None`` if absent)."""

    operation: str
    bucket: str | None
    key: str | None


# Sub-resources on a bucket: keyword -> {method: operation}. Keywords whose GET lists
# configurations without ``id`` and gets one with it are handled by _ID_KEYWORDS.
_BUCKET: dict[str, dict[str, str]] = {
    "accelerate": {
        "GET": "GetBucketAccelerateConfiguration",
        "PUT": "PutBucketAccelerateConfiguration",
    },
    "acl": {"GET": "GetBucketAcl", "PUT": "PutBucketAcl"},
    "analytics": {
        "PUT": "PutBucketAnalyticsConfiguration",
        "DELETE": "DeleteBucketAnalyticsConfiguration",
    },
    "cors": {"GET": "GetBucketCors", "PUT": "PutBucketCors", "DELETE": "DeleteBucketCors"},
    "delete": {"POST": "DeleteObjects"},
    "encryption": {
        "GET": "GetBucketEncryption",
        "PUT": "PutBucketEncryption",
        "DELETE": "DeleteBucketEncryption",
    },
    "intelligent-tiering": {
        "PUT": "PutBucketIntelligentTieringConfiguration",
        "DELETE": "DeleteBucketIntelligentTieringConfiguration",
    },
    "inventory": {
        "PUT": "PutBucketInventoryConfiguration",
        "DELETE": "DeleteBucketInventoryConfiguration",
    },
    "lifecycle": {
        "GET": "GetBucketLifecycleConfiguration",
        "PUT": "PutBucketLifecycleConfiguration",
        "DELETE": "DeleteBucketLifecycle",
    },
    "location": {"GET": "GetBucketLocation"},
    "logging": {"GET": "GetBucketLogging", "PUT": "PutBucketLogging"},
    "metrics": {
        "PUT": "PutBucketMetricsConfiguration",
        "DELETE": "DeleteBucketMetricsConfiguration",
    },
    "notification": {
        "GET": "GetBucketNotificationConfiguration",
        "PUT": "PutBucketNotificationConfiguration",
    },
    "object-lock": {"GET": "GetObjectLockConfiguration", "PUT": "PutObjectLockConfiguration"},
    "ownershipControls": {
        "GET": "GetBucketOwnershipControls",
        "PUT": "PutBucketOwnershipControls",
        "DELETE": "DeleteBucketOwnershipControls",
    },
    "policy": {
        "GET": "GetBucketPolicy",
        "PUT": "PutBucketPolicy",
        "DELETE": "DeleteBucketPolicy",
    },
    "policyStatus": {"GET": "GetBucketPolicyStatus"},
    "publicAccessBlock": {
        "GET": "GetPublicAccessBlock",
        "PUT": "PutPublicAccessBlock",
        "DELETE": "DeletePublicAccessBlock",
    },
    "replication": {
        "GET": "GetBucketReplication",
        "PUT": "PutBucketReplication",
        "DELETE": "DeleteBucketReplication",
    },
    "requestPayment": {"GET": "GetBucketRequestPayment", "PUT": "PutBucketRequestPayment"},
    "session": {"GET": "CreateSession"},
    "tagging": {
        "GET": "GetBucketTagging",
        "PUT": "PutBucketTagging",
        "DELETE": "DeleteBucketTagging",
    },
    "uploads": {"GET": "ListMultipartUploads"},
    "versioning": {"GET": "GetBucketVersioning", "PUT": "PutBucketVersioning"},
    "versions": {"GET": "ListObjectVersions"},
    "website": {
        "GET": "GetBucketWebsite",
        "PUT": "PutBucketWebsite",
        "DELETE": "DeleteBucketWebsite",
    },
}

# GET ?keyword alone lists configurations; GET ?keyword&id=... fetches one.
_ID_KEYWORDS: dict[str, tuple[str, str]] = {
    "analytics": ("ListBucketAnalyticsConfigurations", "GetBucketAnalyticsConfiguration"),
    "intelligent-tiering": (
        "ListBucketIntelligentTieringConfigurations",
        "GetBucketIntelligentTieringConfiguration",
    ),
    "inventory": ("ListBucketInventoryConfigurations", "GetBucketInventoryConfiguration"),
    "metrics": ("ListBucketMetricsConfigurations", "GetBucketMetricsConfiguration"),
}

# Sub-resources on an object. uploadId/partNumber are parameters, not sub-resources: they are
# looked at only when no sub-resource matched.
_OBJECT: dict[str, dict[str, str]] = {
    "acl": {"GET": "GetObjectAcl", "PUT": "PutObjectAcl"},
    "attributes": {"GET": "GetObjectAttributes"},
    "legal-hold": {"GET": "GetObjectLegalHold", "PUT": "PutObjectLegalHold"},
    "restore": {"POST": "RestoreObject"},
    "retention": {"GET": "GetObjectRetention", "PUT": "PutObjectRetention"},
    "select": {"POST": "SelectObjectContent"},
    "tagging": {
        "GET": "GetObjectTagging",
        "PUT": "PutObjectTagging",
        "DELETE": "DeleteObjectTagging",
    },
    "torrent": {"GET": "GetObjectTorrent"},
    "uploads": {"POST": "CreateMultipartUpload"},
}

# Every sub-resource keyword, in precedence order when a request carries several.
_KEYWORDS: tuple[str, ...] = tuple(sorted(set(_BUCKET) | set(_OBJECT) | set(_ID_KEYWORDS)))

METHOD_NOT_ALLOWED = "MethodNotAllowed"
PREFLIGHT = "PreflightRequest"
PSEUDO_OPERATIONS: frozenset[str] = frozenset({METHOD_NOT_ALLOWED, PREFLIGHT})

# Operations reached without a sub-resource keyword.
_PLAIN_OPERATIONS = (
    "ListBuckets",
    "CreateBucket",
    "DeleteBucket",
    "HeadBucket",
    "ListObjects",
    "ListObjectsV2",
    "PostObject",
    "PutObject",
    "CopyObject",
    "GetObject",
    "HeadObject",
    "DeleteObject",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
)


def _all_operations() -> tuple[str, ...]:
    names: dict[str, None] = dict.fromkeys(_PLAIN_OPERATIONS)
    for table in (_BUCKET, _OBJECT):
        for ops in table.values():
            names.update(dict.fromkeys(ops.values()))
    for pair in _ID_KEYWORDS.values():
        names.update(dict.fromkeys(pair))
    names.update(dict.fromkeys(sorted(PSEUDO_OPERATIONS)))
    return tuple(names)


ALL_OPERATIONS: tuple[str, ...] = _all_operations()

IMPLEMENTED: frozenset[str] = frozenset(
    {
        "ListBuckets",
        "CreateBucket",
        "DeleteBucket",
        "HeadBucket",
        "GetBucketLocation",
        "ListObjects",
        "ListObjectsV2",
        "PostObject",
        "PutObject",
        "GetObject",
        "HeadObject",
        "DeleteObject",
        "DeleteObjects",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "ListParts",
        "ListMultipartUploads",
        "ListObjectVersions",
        "GetBucketVersioning",
        "PutBucketVersioning",
        "GetBucketAcl",
        "PutBucketAcl",
        "GetObjectAcl",
        "PutObjectAcl",
        "CopyObject",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
        "GetBucketTagging",
        "PutBucketTagging",
        "DeleteBucketTagging",
        "GetBucketCors",
        "PutBucketCors",
        "DeleteBucketCors",
        "GetBucketPolicy",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "GetBucketPolicyStatus",
        "GetPublicAccessBlock",
        "GetObjectAttributes",
        "GetObjectLockConfiguration",
        "PutObjectLockConfiguration",
        "GetObjectRetention",
        "PutObjectRetention",
        "GetObjectLegalHold",
        "PutObjectLegalHold",
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
        PREFLIGHT,
    }
)

# Features Tessera does not offer, by the words in the names of their operations (which
# answer 501 NotImplemented saying so). Every other operation is implemented.
OUT_OF_SCOPE: tuple[tuple[str, str], ...] = (
    ("Analytics", "storage class analysis"),
    ("Inventory", "inventory reports"),
    ("Metrics", "CloudWatch request metrics"),
    ("IntelligentTiering", "intelligent tiering"),
    ("Encryption", "server-side encryption (SSE-S3, SSE-KMS)"),
    ("Replication", "cross-region replication (a cluster keeps its own replicas)"),
    ("Website", "static website hosting"),
    ("Accelerate", "transfer acceleration"),
    ("Logging", "server access logging"),
    ("Notification", "event notifications"),
    ("RequestPayment", "requester pays"),
    ("CreateSession", "S3 Express One Zone sessions"),
    ("Torrent", "BitTorrent"),
    ("RestoreObject", "archive storage classes (restore from Glacier)"),
    ("SelectObjectContent", "S3 Select"),
)


def out_of_scope(operation: str) -> str | None:
    """The feature an operation Tessera does not serve belongs to, or None."""
    return next((feature for word, feature in OUT_OF_SCOPE if word in operation), None)


def _keyword(query: Mapping[str, str]) -> str | None:
    for name in _KEYWORDS:
        if name in query:
            return name
    return None


def _bucket_operation(method: str, query: Mapping[str, str]) -> str:
    keyword = _keyword(query)
    if keyword is not None:
        if method == "HEAD":
            # HEAD returns GET's headers; S3 answers HeadBucket whatever the sub-resource.
            return "HeadBucket"
        if method == "GET" and keyword in _ID_KEYWORDS:
            listing, single = _ID_KEYWORDS[keyword]
            return single if "id" in query else listing
        return _BUCKET.get(keyword, {}).get(method, METHOD_NOT_ALLOWED)
    match method:
        case "GET":
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        case "HEAD":
            return "HeadBucket"
        case "PUT":
            return "CreateBucket"
        case "DELETE":
            return "DeleteBucket"
        case "POST":
            # Browser-based upload. AWS routes every keyword-less bucket POST here and answers
            # a non-form body with 412 "Bucket POST must be of the enclosure-type
            # multipart/form-data", so the handler, not the router, checks the content type.
            return "PostObject"
    return METHOD_NOT_ALLOWED


def _object_operation(method: str, query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    keyword = _keyword(query)
    if keyword is not None:
        if method == "HEAD":
            return "HeadObject"
        return _OBJECT.get(keyword, {}).get(method, METHOD_NOT_ALLOWED)
    upload = "uploadId" in query
    match method:
        case "GET":
            return "ListParts" if upload else "GetObject"
        case "HEAD":
            return "HeadObject"
        case "PUT":
            copy = "x-amz-copy-source" in headers
            # Either multipart parameter makes it a part upload; the handler rejects the other
            # one missing rather than silently overwriting the whole object.
            if upload or "partNumber" in query:
                return "UploadPartCopy" if copy else "UploadPart"
            return "CopyObject" if copy else "PutObject"
        case "POST":
            return "CompleteMultipartUpload" if upload else METHOD_NOT_ALLOWED
        case "DELETE":
            return "AbortMultipartUpload" if upload else "DeleteObject"
    return METHOD_NOT_ALLOWED


def route(
    method: str,
    bucket: str | None,
    key: str | None,
    query: Mapping[str, str],
    headers: Mapping[str, str],
) -> Route:
    """Name the S3 operation of a request.

    ``query`` maps decoded parameter names to values (``''`` for a bare ``?acl``), ``headers``
    has lower-cased names. ``key`` ``''`` or ``None`` means the request targets the bucket.
    """
    method = method.upper()
    key = key or None
    bucket = bucket or None
    if method == "OPTIONS":
        return Route(PREFLIGHT, bucket, key)
    if bucket is None:
        # HEAD / is what load balancers probe with; it gets GET's answer without a body.
        op = "ListBuckets" if method in ("GET", "HEAD") else METHOD_NOT_ALLOWED
        return Route(op, None, None)
    if key is None:
        return Route(_bucket_operation(method, query), bucket, None)
    return Route(_object_operation(method, query, headers), bucket, key)


def _decode(segment: str) -> str:
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        # S3 names are UTF-8; a replacement character would silently alias distinct keys.
        raise S3Error("InvalidURI") from exc


def split_path(raw_path: str) -> tuple[str | None, str | None]:
    """``(bucket, key)`` of a still percent-encoded path-style request path.

    ``/`` -> ``(None, None)``; ``/b`` and ``/b/`` -> ``('b', None)``; ``/b//a`` -> ``('b',
    '/a')``; ``/b/a%2Fb`` -> ``('b', 'a/b')``. ``+`` stays a plus: this is a path, not a form.
    Raises ``S3Error('InvalidURI')`` for an empty bucket segment or invalid UTF-8.
    """
    path = raw_path.split("?", 1)[0]
    if path.startswith("/"):
        path = path[1:]
    if not path:
        return None, None
    bucket_raw, _, key_raw = path.partition("/")
    if not bucket_raw:
        raise S3Error("InvalidURI")
    bucket = _decode(bucket_raw)
    if not key_raw:
        return bucket, None
    return bucket, _decode(key_raw)


def request_host(headers: Mapping[str, str], *, trust_proxy: bool = False) -> str:
    """The host the client addressed: ``Host``, or with ``trust_proxy`` the first
    ``X-Forwarded-Host`` a reverse proxy set. Without ``trust_proxy`` that header is ignored,
    so a client cannot choose the host that addressing and SigV4 verification see."""
    if trust_proxy:
        forwarded = headers.get("x-forwarded-host", "").split(",", 1)[0].strip()
        if forwarded:
            return forwarded
    return headers.get("host", "")


def normalize_domain(name: str) -> str:
    """A host or domain compared case-insensitively, without port or trailing dot."""
    name = name.strip().lower()
    if name.startswith("["):  # IPv6 literal: [::1]:9000
        return name.partition("]")[0] + "]"
    return name.rpartition(":")[0].rstrip(".") if ":" in name else name.rstrip(".")


def bucket_from_host(host: str | None, domains: Collection[str]) -> str | None:
    """The bucket a virtual-hosted-style ``Host`` names: ``b.s3.example.com`` with domain
    ``s3.example.com`` -> ``'b'`` (the bucket may itself contain dots). The domain itself,
    or any other host (an IP address, a load balancer name), -> None: path style."""
    if not host:
        return None
    name = normalize_domain(host)
    if name in domains:  # even when it is also <bucket>.<another served domain>
        return None
    # The longest domain first: with s3.example.com and example.com both served,
    # b.s3.example.com is bucket 'b', not 'b.s3'.
    for domain in sorted(domains, key=len, reverse=True):
        if domain and name.endswith("." + domain) and len(name) > len(domain) + 1:
            return name[: -len(domain) - 1]
    return None


def split_host_and_path(
    host: str | None, raw_path: str, domains: Collection[str]
) -> tuple[str | None, str | None]:
    """``(bucket, key)`` of a request by its ``Host`` and still percent-encoded path.

    A host ``<bucket>.<domain>`` for one of ``domains`` (normalized, see
    :func:`normalize_domain`) names the bucket and the whole path is the key: ``/`` ->
    ``(bucket, None)``, ``/a%2Fb`` -> ``(bucket, 'a/b')``, ``//a`` -> ``(bucket, '/a')``.
    Any other host is path style (:func:`split_path`).
    """
    bucket = bucket_from_host(host, domains)
    if bucket is None:
        return split_path(raw_path)
    path = raw_path.split("?", 1)[0]
    key_raw = path[1:] if path.startswith("/") else path
    return bucket, _decode(key_raw) if key_raw else None
