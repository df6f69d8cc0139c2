"""Bucket settings kept in etcd — tagging and CORS — through real gateways: boto3 for the
API, urllib for browser-like preflight and cross-origin requests."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

ORIGIN = "https://app.example.com"


def _error(info) -> tuple[int, str]:
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _eventually(fn, timeout: float = 3.0):
    """fn() once it stops raising AssertionError/ClientError (another gateway's watch)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (AssertionError, ClientError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _raw(method: str, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """An unsigned request: status, headers (lower-cased names) and body, errors included."""
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _code(body: bytes) -> str:
    return ET.fromstring(body).findtext("Code") or ""


# -- tagging -------------------------------------------------------------------------------


def test_bucket_tagging_round_trip(s3_clients, bucket):
    first, second = s3_clients[0], s3_clients[-1]
    with pytest.raises(ClientError) as info:
        first.get_bucket_tagging(Bucket=bucket)
    assert _error(info) == (404, "NoSuchTagSet")

    tag_set = [{"Key": "project", "Value": "tessera"}, {"Key": "empty", "Value": ""}]
    response = first.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    # Read-after-write on the gateway that wrote, and soon through the other one.
    assert first.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set
    _eventually(lambda: assert_tags(second, bucket, tag_set))

    replaced = [{"Key": "only", "Value": "one"}]
    second.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": replaced})
    assert second.get_bucket_tagging(Bucket=bucket)["TagSet"] == replaced
    _eventually(lambda: assert_tags(first, bucket, replaced))

    response = first.delete_bucket_tagging(Bucket=bucket)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        first.get_bucket_tagging(Bucket=bucket)
    assert _error(info) == (404, "NoSuchTagSet")


def assert_tags(client, bucket, expected) -> None:
    assert client.get_bucket_tagging(Bucket=bucket)["TagSet"] == expected


def test_bucket_tagging_errors(s3, bucket):
    cases = [
        ([{"Key": f"k{i}", "Value": "v"} for i in range(51)], "BadRequest"),
        ([{"Key": "k" * 129, "Value": "v"}], "InvalidTag"),
        ([{"Key": "k", "Value": "v" * 257}], "InvalidTag"),
        ([{"Key": "aws:reserved", "Value": "v"}], "InvalidTag"),
        ([{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}], "InvalidTag"),
    ]
    for tag_set, code in cases:
        with pytest.raises(ClientError) as info:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set})
        assert _error(info) == (400, code), tag_set
    with pytest.raises(ClientError) as info:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "b" * 257}]})
    assert info.value.response["Error"]["Message"] == "The TagValue you have provided is invalid"
    # Fifty tags are fine, and nothing was stored by the failures above.
    fifty = [{"Key": f"k{i:02d}", "Value": "v"} for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": fifty})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == fifty

    with pytest.raises(ClientError) as info:
        s3.get_bucket_tagging(Bucket=bucket + "-missing")
    assert _error(info) == (404, "NoSuchBucket")


def test_malformed_tagging_xml(s3, bucket):
    def send_garbage(request, **_):
        request.data = b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"
        for name in list(request.headers.keys()):
            if name.lower() in ("content-md5", "content-length") or "checksum" in name.lower():
                del request.headers[name]

    s3.meta.events.register("before-sign.s3.PutBucketTagging", send_garbage)
    try:
        with pytest.raises(ClientError) as info:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})
        assert _error(info) == (400, "MalformedXML")
    finally:
        s3.meta.events.unregister("before-sign.s3.PutBucketTagging", send_garbage)


# -- CORS ----------------------------------------------------------------------------------

RULES = [
    {
        "ID": "app",
        "AllowedOrigins": [ORIGIN, "https://*.tessera.test"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]


def test_bucket_cors_round_trip(s3_clients, bucket):
    first, second = s3_clients[0], s3_clients[-1]
    with pytest.raises(ClientError) as info:
        first.get_bucket_cors(Bucket=bucket)
    assert _error(info) == (404, "NoSuchCORSConfiguration")

    first.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert first.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    _eventually(lambda: assert_rules(second, bucket, RULES))

    response = second.delete_bucket_cors(Bucket=bucket)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        second.get_bucket_cors(Bucket=bucket)
    assert _error(info) == (404, "NoSuchCORSConfiguration")


def assert_rules(client, bucket, expected) -> None:
    assert client.get_bucket_cors(Bucket=bucket)["CORSRules"] == expected


@pytest.mark.parametrize(
    "rule, code",
    [
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}, "InvalidRequest"),
        ({"AllowedOrigins": ["https://*.*.com"], "AllowedMethods": ["GET"]}, "InvalidRequest"),
        (
            {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["x-*"]},
            "InvalidRequest",
        ),
    ],
)
def test_bucket_cors_errors(s3, bucket, rule, code):
    with pytest.raises(ClientError) as info:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    assert _error(info) == (400, code)


def test_bucket_cors_rule_count(s3, bucket):
    for rules in ([], [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101):
        with pytest.raises(ClientError) as info:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        assert _error(info) == (400, "MalformedXML")
    with pytest.raises(ClientError) as info:
        s3.get_bucket_cors(Bucket=bucket)
    assert _error(info) == (404, "NoSuchCORSConfiguration")


def test_preflight_and_cross_origin_requests(s3, cluster, bucket):
    endpoint = cluster.endpoints[0]
    url = f"{endpoint}/{bucket}/photo.jpg"
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "Content-Type, X-Amz-Date",
    }
    # No CORS configuration yet.
    status, _, body = _raw("OPTIONS", url, preflight)
    assert (status, _code(body)) == (403, "AccessForbidden")

    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})

    status, headers, body = _raw("OPTIONS", url, preflight)
    assert status == 200 and body == b""
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-methods"] == "GET, PUT"
    assert headers["access-control-allow-headers"] == "content-type, x-amz-date"
    assert headers["access-control-expose-headers"] == "ETag"
    assert headers["access-control-max-age"] == "600"
    assert headers["access-control-allow-credentials"] == "true"
    assert (
        headers["vary"] == "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
    )

    # The literal * rule answers *.
    status, headers, _ = _raw(
        "OPTIONS", url, {"Origin": "https://else.where", "Access-Control-Request-Method": "HEAD"}
    )
    assert (status, headers["access-control-allow-origin"]) == (200, "*")

    # Not allowed: another origin, a method or a header no rule names.
    for denied in (
        {**preflight, "Origin": "https://evil.example"},
        {**preflight, "Access-Control-Request-Method": "DELETE"},
        {**preflight, "Access-Control-Request-Headers": "authorization"},
    ):
        status, headers, body = _raw("OPTIONS", url, denied)
        assert (status, _code(body)) == (403, "AccessForbidden"), denied
        assert "access-control-allow-origin" not in headers
        assert b"CORSResponse: This CORS request is not allowed." in body

    # Preflight errors that do not depend on the rules.
    status, _, body = _raw("OPTIONS", url, {"Access-Control-Request-Method": "GET"})
    assert (status, _code(body)) == (400, "BadRequest")
    status, _, body = _raw("OPTIONS", f"{endpoint}/{bucket}-missing/k", preflight)
    assert (status, _code(body)) == (403, "AccessForbidden")

    # An actual cross-origin request gets the headers, on success and on error.
    s3.put_object(Bucket=bucket, Key="photo.jpg", Body=b"jpeg")
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "photo.jpg"}, ExpiresIn=60
    )
    status, headers, body = _raw("GET", get_url, {"Origin": "https://x.tessera.test"})
    assert (status, body) == (200, b"jpeg")
    assert headers["access-control-allow-origin"] == "https://x.tessera.test"
    assert headers["access-control-expose-headers"] == "ETag"
    assert "Origin" in headers["vary"]
    missing_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "missing"}, ExpiresIn=60
    )
    status, headers, body = _raw("GET", missing_url, {"Origin": ORIGIN})
    assert (status, _code(body)) == (404, "NoSuchKey")
    assert headers["access-control-allow-origin"] == ORIGIN
    # An unsigned request is still refused, with the CORS headers a browser needs to read it.
    status, headers, body = _raw("GET", f"{endpoint}/{bucket}/photo.jpg", {"Origin": ORIGIN})
    assert (status, _code(body)) == (403, "AccessDenied")
    assert headers["access-control-allow-origin"] == ORIGIN
    # A request naming Access-Control-Request-Method is matched by that method (a rule for
    # HEAD answers this unsigned DELETE), as RGW and the S3 conformance suites do.
    status, headers, _ = _raw(
        "DELETE",
        f"{endpoint}/{bucket}/photo.jpg",
        {"Origin": "https://else.where", "Access-Control-Request-Method": "HEAD"},
    )
    assert (status, headers["access-control-allow-origin"]) == (403, "*")
    status, headers, _ = _raw(
        "DELETE", f"{endpoint}/{bucket}/photo.jpg", {"Origin": "https://else.where"}
    )
    assert status == 403 and "access-control-allow-origin" not in headers
    # No header for an origin no rule allows, nor without Origin.
    status, headers, _ = _raw("GET", get_url, {"Origin": "https://evil.example"})
    assert status == 200 and "access-control-allow-origin" not in headers
    status, headers, _ = _raw("GET", get_url, {})
    assert status == 200 and "access-control-allow-origin" not in headers
