"""Request routing: path splitting and method/query/header -> operation."""

from __future__ import annotations

from urllib.parse import parse_qsl

import botocore.session
import pytest

from gateway.s3.errors import S3Error
from gateway.s3.router import (
    ALL_OPERATIONS,
    IMPLEMENTED,
    PSEUDO_OPERATIONS,
    Route,
    bucket_from_host,
    normalize_domain,
    request_host,
    route,
    split_host_and_path,
    split_path,
)

COPY = {"x-amz-copy-source": "/src/key"}
FORM = {"content-type": "multipart/form-data; boundary=xyz"}


def q(query: str) -> dict[str, str]:
    return dict(parse_qsl(query, keep_blank_values=True))


def op(method: str, path: str, query: str = "", headers: dict[str, str] | None = None) -> str:
    bucket, key = split_path(path)
    return route(method, bucket, key, q(query), headers or {}).operation


# (method, path, query, headers, operation)
TABLE = [
    # Service
    ("GET", "/", "", None, "ListBuckets"),
    ("HEAD", "/", "", None, "ListBuckets"),
    ("PUT", "/", "", None, "MethodNotAllowed"),
    ("DELETE", "/", "", None, "MethodNotAllowed"),
    ("OPTIONS", "/", "", None, "PreflightRequest"),
    # Buckets
    ("PUT", "/b", "", None, "CreateBucket"),
    ("PUT", "/b/", "", None, "CreateBucket"),
    ("DELETE", "/b", "", None, "DeleteBucket"),
    ("HEAD", "/b", "", None, "HeadBucket"),
    ("HEAD", "/b", "acl", None, "HeadBucket"),
    ("GET", "/b", "location", None, "GetBucketLocation"),
    ("GET", "/b", "", None, "ListObjects"),
    ("GET", "/b", "prefix=&delimiter=%2F&encoding-type=url", None, "ListObjects"),
    ("GET", "/b", "list-type=1", None, "ListObjects"),
    ("GET", "/b", "list-type=2", None, "ListObjectsV2"),
    ("GET", "/b", "list-type=2&prefix=a&continuation-token=x", None, "ListObjectsV2"),
    ("GET", "/b", "versions", None, "ListObjectVersions"),
    ("GET", "/b", "versions&list-type=2", None, "ListObjectVersions"),
    ("GET", "/b", "uploads", None, "ListMultipartUploads"),
    ("GET", "/b", "uploads&prefix=p", None, "ListMultipartUploads"),
    ("POST", "/b", "delete", None, "DeleteObjects"),
    ("POST", "/b", "delete=", None, "DeleteObjects"),
    ("POST", "/b", "", FORM, "PostObject"),
    ("POST", "/b", "", None, "PostObject"),
    ("POST", "/b", "uploads", None, "MethodNotAllowed"),
    ("GET", "/b", "acl", None, "GetBucketAcl"),
    ("PUT", "/b", "acl", None, "PutBucketAcl"),
    ("GET", "/b", "tagging", None, "GetBucketTagging"),
    ("PUT", "/b", "tagging", None, "PutBucketTagging"),
    ("DELETE", "/b", "tagging", None, "DeleteBucketTagging"),
    ("GET", "/b", "versioning", None, "GetBucketVersioning"),
    ("PUT", "/b", "versioning", None, "PutBucketVersioning"),
    ("DELETE", "/b", "versioning", None, "MethodNotAllowed"),
    ("GET", "/b", "cors", None, "GetBucketCors"),
    ("PUT", "/b", "cors", None, "PutBucketCors"),
    ("DELETE", "/b", "cors", None, "DeleteBucketCors"),
    ("GET", "/b", "policy", None, "GetBucketPolicy"),
    ("PUT", "/b", "policy", None, "PutBucketPolicy"),
    ("DELETE", "/b", "policy", None, "DeleteBucketPolicy"),
    ("GET", "/b", "policyStatus", None, "GetBucketPolicyStatus"),
    ("GET", "/b", "lifecycle", None, "GetBucketLifecycleConfiguration"),
    ("PUT", "/b", "lifecycle", None, "PutBucketLifecycleConfiguration"),
    ("DELETE", "/b", "lifecycle", None, "DeleteBucketLifecycle"),
    ("GET", "/b", "encryption", None, "GetBucketEncryption"),
    ("PUT", "/b", "encryption", None, "PutBucketEncryption"),
    ("DELETE", "/b", "encryption", None, "DeleteBucketEncryption"),
    ("GET", "/b", "notification", None, "GetBucketNotificationConfiguration"),
    ("PUT", "/b", "notification", None, "PutBucketNotificationConfiguration"),
    ("GET", "/b", "logging", None, "GetBucketLogging"),
    ("PUT", "/b", "logging", None, "PutBucketLogging"),
    ("GET", "/b", "website", None, "GetBucketWebsite"),
    ("PUT", "/b", "website", None, "PutBucketWebsite"),
    ("DELETE", "/b", "website", None, "DeleteBucketWebsite"),
    ("GET", "/b", "requestPayment", None, "GetBucketRequestPayment"),
    ("PUT", "/b", "requestPayment", None, "PutBucketRequestPayment"),
    ("GET", "/b", "accelerate", None, "GetBucketAccelerateConfiguration"),
    ("PUT", "/b", "accelerate", None, "PutBucketAccelerateConfiguration"),
    ("GET", "/b", "replication", None, "GetBucketReplication"),
    ("PUT", "/b", "replication", None, "PutBucketReplication"),
    ("DELETE", "/b", "replication", None, "DeleteBucketReplication"),
    ("GET", "/b", "publicAccessBlock", None, "GetPublicAccessBlock"),
    ("PUT", "/b", "publicAccessBlock", None, "PutPublicAccessBlock"),
    ("DELETE", "/b", "publicAccessBlock", None, "DeletePublicAccessBlock"),
    ("GET", "/b", "ownershipControls", None, "GetBucketOwnershipControls"),
    ("PUT", "/b", "ownershipControls", None, "PutBucketOwnershipControls"),
    ("DELETE", "/b", "ownershipControls", None, "DeleteBucketOwnershipControls"),
    ("GET", "/b", "object-lock", None, "GetObjectLockConfiguration"),
    ("PUT", "/b", "object-lock", None, "PutObjectLockConfiguration"),
    ("GET", "/b", "metrics", None, "ListBucketMetricsConfigurations"),
    ("GET", "/b", "metrics&id=m1", None, "GetBucketMetricsConfiguration"),
    ("GET", "/b", "analytics&id=a", None, "GetBucketAnalyticsConfiguration"),
    ("GET", "/b", "inventory", None, "ListBucketInventoryConfigurations"),
    ("GET", "/b", "intelligent-tiering&id=x", None, "GetBucketIntelligentTieringConfiguration"),
    ("PUT", "/b", "location", None, "MethodNotAllowed"),
    ("GET", "/b", "delete", None, "MethodNotAllowed"),
    ("GET", "/b", "torrent", None, "MethodNotAllowed"),
    ("PATCH", "/b", "", None, "MethodNotAllowed"),
    ("OPTIONS", "/b", "", None, "PreflightRequest"),
    # Objects
    ("PUT", "/b/k", "", None, "PutObject"),
    ("PUT", "/b/k", "x-id=PutObject", None, "PutObject"),
    ("PUT", "/b/k", "", COPY, "CopyObject"),
    ("GET", "/b/k", "", None, "GetObject"),
    ("GET", "/b/k", "versionId=v&response-content-type=a", None, "GetObject"),
    ("GET", "/b/k", "partNumber=2", None, "GetObject"),
    ("HEAD", "/b/k", "", None, "HeadObject"),
    ("HEAD", "/b/k", "partNumber=1&versionId=v", None, "HeadObject"),
    ("DELETE", "/b/k", "", None, "DeleteObject"),
    ("DELETE", "/b/k", "versionId=v", None, "DeleteObject"),
    ("POST", "/b/k", "uploads", None, "CreateMultipartUpload"),
    ("POST", "/b/k", "uploads=", None, "CreateMultipartUpload"),
    ("PUT", "/b/k", "partNumber=1&uploadId=u", None, "UploadPart"),
    ("PUT", "/b/k", "partNumber=1&uploadId=u", COPY, "UploadPartCopy"),
    ("PUT", "/b/k", "uploadId=u", None, "UploadPart"),
    ("PUT", "/b/k", "partNumber=1", COPY, "UploadPartCopy"),
    ("POST", "/b/k", "uploadId=u", None, "CompleteMultipartUpload"),
    ("DELETE", "/b/k", "uploadId=u", None, "AbortMultipartUpload"),
    ("GET", "/b/k", "uploadId=u", None, "ListParts"),
    ("GET", "/b/k", "uploadId=u&max-parts=2&part-number-marker=1", None, "ListParts"),
    ("GET", "/b/k", "tagging", None, "GetObjectTagging"),
    ("GET", "/b/k", "tagging&versionId=v", None, "GetObjectTagging"),
    ("PUT", "/b/k", "tagging", None, "PutObjectTagging"),
    ("PUT", "/b/k", "tagging", COPY, "PutObjectTagging"),
    ("DELETE", "/b/k", "tagging", None, "DeleteObjectTagging"),
    ("GET", "/b/k", "acl", None, "GetObjectAcl"),
    ("PUT", "/b/k", "acl", None, "PutObjectAcl"),
    ("DELETE", "/b/k", "acl", None, "MethodNotAllowed"),
    ("GET", "/b/k", "retention", None, "GetObjectRetention"),
    ("PUT", "/b/k", "retention", None, "PutObjectRetention"),
    ("GET", "/b/k", "legal-hold", None, "GetObjectLegalHold"),
    ("PUT", "/b/k", "legal-hold", None, "PutObjectLegalHold"),
    ("GET", "/b/k", "attributes", None, "GetObjectAttributes"),
    ("POST", "/b/k", "restore", None, "RestoreObject"),
    ("POST", "/b/k", "select&select-type=2", None, "SelectObjectContent"),
    ("GET", "/b/k", "torrent", None, "GetObjectTorrent"),
    ("POST", "/b/k", "", None, "MethodNotAllowed"),
    ("GET", "/b/k", "location", None, "MethodNotAllowed"),
    ("PATCH", "/b/k", "", None, "MethodNotAllowed"),
    ("OPTIONS", "/b/k", "", None, "PreflightRequest"),
    ("get", "/b/k", "", None, "GetObject"),  # method case does not matter
    # Keys that look like sub-resources are still keys.
    ("GET", "/b/acl", "", None, "GetObject"),
    ("GET", "/b/%3Facl", "", None, "GetObject"),
    ("PUT", "/b/dir/", "", None, "PutObject"),
]


@pytest.mark.parametrize(("method", "path", "query", "headers", "expected"), TABLE)
def test_route_table(method, path, query, headers, expected):
    assert op(method, path, query, headers) == expected
    assert expected in ALL_OPERATIONS


def test_route_carries_bucket_and_key():
    assert route("GET", "b", "a/b c", {}, {}) == Route("GetObject", "b", "a/b c")
    assert route("GET", "b", "", {}, {}) == Route("ListObjects", "b", None)
    assert route("GET", None, None, {}, {}) == Route("ListBuckets", None, None)
    assert route("OPTIONS", "b", "k", {}, {}) == Route("PreflightRequest", "b", "k")


def test_operation_lists():
    assert IMPLEMENTED <= set(ALL_OPERATIONS)
    assert len(set(ALL_OPERATIONS)) == len(ALL_OPERATIONS)
    assert PSEUDO_OPERATIONS <= set(ALL_OPERATIONS)


# -- against botocore's S3 model -----------------------------------------------------------

_MODEL = botocore.session.get_session().get_service_model("s3")
# Legacy operations served by the same request as their successor.
_ALIASES = {
    "GetBucketLifecycle": "GetBucketLifecycleConfiguration",
    "PutBucketLifecycle": "PutBucketLifecycleConfiguration",
    "GetBucketNotification": "GetBucketNotificationConfiguration",
    "PutBucketNotification": "PutBucketNotificationConfiguration",
}


def _model_request(name: str) -> tuple[str, str | None, str | None, dict, dict]:
    """Method, bucket, key, query and headers of a minimal request for a model operation."""
    model = _MODEL.operation_model(name)
    uri = model.http["requestUri"]
    path, _, query_text = uri.partition("?")
    query = q(query_text)
    headers: dict[str, str] = {}
    shape = model.input_shape
    required = set(shape.required_members) if shape is not None else set()
    for member, mshape in shape.members.items() if shape is not None else ():
        location = mshape.serialization.get("location")
        wire = mshape.serialization.get("name", member)
        if member not in required:
            continue
        if location == "querystring":
            query[wire] = "1"
        elif location == "header":
            headers[wire.lower()] = "x"
    bucket = "bkt" if "{Bucket}" in path else None
    key = "some/key" if "{Key+}" in path else None
    return model.http["method"], bucket, key, query, headers


_ROUTED_MODEL_OPS = sorted(
    n for n in _MODEL.operation_names if n in ALL_OPERATIONS or n in _ALIASES
)


def test_model_covers_requested_operations():
    # Every real operation name we return exists in botocore's model, so generated
    # compatibility tables use AWS's names.
    ours = set(ALL_OPERATIONS) - PSEUDO_OPERATIONS - {"PostObject"}
    assert ours <= set(_MODEL.operation_names)
    assert len(_ROUTED_MODEL_OPS) >= 90


@pytest.mark.parametrize("name", _ROUTED_MODEL_OPS)
def test_route_every_model_operation(name):
    method, bucket, key, query, headers = _model_request(name)
    assert route(method, bucket, key, query, headers).operation == _ALIASES.get(name, name)


# -- what a real botocore client sends -----------------------------------------------------

WEIRD_KEYS = [
    "plain",
    "a b/c d",
    "a+b",
    "100%",
    "%2F",
    "a%2Fb",
    "/leading",
    "double//slash",
    "trailing/",
    "q?uery#frag&amp=1",
    "ünïcödé/日本語",
    "emoji😀",
    "tab\tcr\rlf\n",
    "~!$'()*,;=:@[]",
    "..",
    "../up",
    "é" * 512,
]


def _sent(fake_s3) -> tuple[Route, str]:
    method, path, query, headers = fake_s3.last()
    bucket, key = split_path(path)
    return route(method, bucket, key, query, headers), path


@pytest.mark.parametrize("key", WEIRD_KEYS)
def test_botocore_object_requests(fake_s3, key):
    c = fake_s3.client
    calls = [
        ("GetObject", lambda: c.get_object(Bucket="bkt", Key=key)),
        ("HeadObject", lambda: c.head_object(Bucket="bkt", Key=key)),
        ("PutObject", lambda: c.put_object(Bucket="bkt", Key=key, Body=b"x")),
        ("DeleteObject", lambda: c.delete_object(Bucket="bkt", Key=key)),
        ("CopyObject", lambda: c.copy_object(Bucket="bkt", Key=key, CopySource="s/k")),
        ("GetObjectTagging", lambda: c.get_object_tagging(Bucket="bkt", Key=key)),
        ("GetObjectAcl", lambda: c.get_object_acl(Bucket="bkt", Key=key)),
        ("ListParts", lambda: c.list_parts(Bucket="bkt", Key=key, UploadId="u")),
        (
            "UploadPart",
            lambda: c.upload_part(Bucket="bkt", Key=key, UploadId="u", PartNumber=1, Body=b"x"),
        ),
        (
            "UploadPartCopy",
            lambda: c.upload_part_copy(
                Bucket="bkt", Key=key, UploadId="u", PartNumber=1, CopySource="s/k"
            ),
        ),
        (
            "AbortMultipartUpload",
            lambda: c.abort_multipart_upload(Bucket="bkt", Key=key, UploadId="u"),
        ),
    ]
    for expected, call in calls:
        fake_s3.reply(b"", status=200, headers={"ETag": '"e"'} if expected != "CopyObject" else {})
        try:
            call()
        except Exception:  # bodies are empty: only the request matters
            pass
        got, path = _sent(fake_s3)
        assert got == Route(expected, "bkt", key), path


def test_botocore_bucket_requests(fake_s3):
    c = fake_s3.client
    calls = [
        ("ListBuckets", c.list_buckets, {}),
        ("CreateBucket", c.create_bucket, {"Bucket": "bkt"}),
        ("DeleteBucket", c.delete_bucket, {"Bucket": "bkt"}),
        ("HeadBucket", c.head_bucket, {"Bucket": "bkt"}),
        ("GetBucketLocation", c.get_bucket_location, {"Bucket": "bkt"}),
        ("ListObjects", c.list_objects, {"Bucket": "bkt", "Prefix": "a b", "Delimiter": "/"}),
        ("ListObjectsV2", c.list_objects_v2, {"Bucket": "bkt", "StartAfter": "x"}),
        ("ListObjectVersions", c.list_object_versions, {"Bucket": "bkt"}),
        ("ListMultipartUploads", c.list_multipart_uploads, {"Bucket": "bkt"}),
        ("GetBucketVersioning", c.get_bucket_versioning, {"Bucket": "bkt"}),
        ("GetBucketTagging", c.get_bucket_tagging, {"Bucket": "bkt"}),
        ("GetBucketPolicy", c.get_bucket_policy, {"Bucket": "bkt"}),
        ("DeleteBucketCors", c.delete_bucket_cors, {"Bucket": "bkt"}),
        (
            "DeleteObjects",
            c.delete_objects,
            {"Bucket": "bkt", "Delete": {"Objects": [{"Key": "a"}]}},
        ),
    ]
    for expected, call, kwargs in calls:
        fake_s3.reply(b"")
        try:
            call(**kwargs)
        except Exception:  # bodies are empty: only the request matters
            pass
        got, path = _sent(fake_s3)
        assert got.operation == expected, path
        assert got.bucket == kwargs.get("Bucket")
        assert got.key is None


# -- split_path ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", (None, None)),
        ("", (None, None)),
        ("/bucket", ("bucket", None)),
        ("/bucket/", ("bucket", None)),
        ("/bucket/key", ("bucket", "key")),
        ("/bucket/a/b/c", ("bucket", "a/b/c")),
        ("/bucket//a", ("bucket", "/a")),
        ("/bucket///", ("bucket", "//")),
        ("/bucket/dir/", ("bucket", "dir/")),
        ("/bucket/a%2Fb", ("bucket", "a/b")),
        ("/bucket/a%2fb", ("bucket", "a/b")),
        ("/bucket/a%20b", ("bucket", "a b")),
        ("/bucket/a+b", ("bucket", "a+b")),  # a path, not a form: '+' is a plus
        ("/bucket/%C3%BC%F0%9F%98%80", ("bucket", "ü😀")),
        ("/bucket/ü", ("bucket", "ü")),
        ("/bucket/%25", ("bucket", "%")),
        ("/bucket/%3Facl", ("bucket", "?acl")),
        ("/bucket/..", ("bucket", "..")),
        ("/bucket/key?acl", ("bucket", "key")),
        ("bucket/key", ("bucket", "key")),
        ("/my.bucket-1/k", ("my.bucket-1", "k")),
    ],
)
def test_split_path(raw, expected):
    assert split_path(raw) == expected


@pytest.mark.parametrize("raw", ["//key", "/bucket/%FF", "/bucket/%C3"])
def test_split_path_invalid(raw):
    with pytest.raises(S3Error) as exc:
        split_path(raw)
    assert exc.value.code == "InvalidURI"


# -- split_host_and_path (virtual-hosted style) ---------------------------------------------

DOMAINS = ("s3.example.com", "example.com", "localhost")


@pytest.mark.parametrize(
    ("host", "raw", "expected"),
    [
        # <bucket>.<domain>: the whole path is the key.
        ("b.s3.example.com", "/", ("b", None)),
        ("b.s3.example.com", "", ("b", None)),
        ("b.s3.example.com", "/key", ("b", "key")),
        ("b.s3.example.com", "/a/b/c", ("b", "a/b/c")),
        ("b.s3.example.com", "//a", ("b", "/a")),
        ("b.s3.example.com", "/dir/", ("b", "dir/")),
        ("b.s3.example.com", "/a%2Fb?acl", ("b", "a/b")),
        ("b.s3.example.com", "/%C3%BC", ("b", "ü")),
        ("b.s3.example.com:9000", "/k", ("b", "k")),
        ("B.S3.Example.COM.", "/k", ("b", "k")),
        ("my.dotted.bucket.s3.example.com", "/k", ("my.dotted.bucket", "k")),
        # The longest domain wins: not bucket 'b.s3' of example.com.
        ("b.example.com", "/k", ("b", "k")),
        ("b.localhost:8080", "/", ("b", None)),
        # The domain itself, other hosts, IPs: path style.
        ("s3.example.com", "/b/k", ("b", "k")),
        ("s3.example.com:443", "/", (None, None)),
        ("127.0.0.1:9000", "/b/k", ("b", "k")),
        ("[::1]:9000", "/b", ("b", None)),
        ("notexample.com", "/b/k", ("b", "k")),
        ("", "/b/k", ("b", "k")),
        (None, "/b/k", ("b", "k")),
    ],
)
def test_split_host_and_path(host, raw, expected):
    assert split_host_and_path(host, raw, DOMAINS) == expected


def test_split_host_and_path_without_domains_is_path_style():
    assert split_host_and_path("b.s3.example.com", "/x/y", ()) == ("x", "y")


def test_split_host_and_path_invalid_key():
    with pytest.raises(S3Error) as exc:
        split_host_and_path("b.localhost", "/%FF", DOMAINS)
    assert exc.value.code == "InvalidURI"


def test_bucket_from_host():
    assert bucket_from_host("b.localhost", ["localhost"]) == "b"
    assert bucket_from_host(".localhost", ["localhost"]) is None
    assert bucket_from_host("localhost", ["localhost"]) is None
    assert bucket_from_host("b.localhost", []) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("S3.Example.com", "s3.example.com"),
        ("s3.example.com:9000", "s3.example.com"),
        ("s3.example.com.", "s3.example.com"),
        (" s3.example.com ", "s3.example.com"),
        ("[::1]:9000", "[::1]"),
        ("[::1]", "[::1]"),
    ],
)
def test_normalize_domain(raw, expected):
    assert normalize_domain(raw) == expected


def test_request_host_trusts_x_forwarded_host_only_when_told():
    headers = {"host": "10.0.0.5:9000", "x-forwarded-host": "b.s3.example.com, proxy2"}
    assert request_host(headers) == "10.0.0.5:9000"
    assert request_host(headers, trust_proxy=True) == "b.s3.example.com"
    assert request_host({"host": "h"}, trust_proxy=True) == "h"
    assert request_host({"host": "h", "x-forwarded-host": " "}, trust_proxy=True) == "h"
    assert request_host({}) == ""


def test_virtual_hosted_botocore_requests_route_like_path_style():
    """botocore's virtual-hosted URLs split into the same (bucket, key) as path style."""
    from botocore.utils import percent_encode

    for key in ("k", "a/b", "sp ace", "/lead", "dir/", "ü+%"):
        path = "/" + percent_encode(key, safe="/~")
        assert split_host_and_path("bkt.localhost:1234", path, DOMAINS) == ("bkt", key)
        assert split_path(f"/bkt{path}") == ("bkt", key)


def test_every_operation_is_served_or_named_out_of_scope():
    from gateway.s3.router import ALL_OPERATIONS, IMPLEMENTED, PSEUDO_OPERATIONS, out_of_scope

    for operation in set(ALL_OPERATIONS) - IMPLEMENTED - PSEUDO_OPERATIONS:
        assert out_of_scope(operation), operation
    assert not any(out_of_scope(operation) for operation in IMPLEMENTED)
