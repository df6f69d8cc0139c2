"""Authentication against a real gateway: wrong keys, tampering, skew,
anonymous requests and presigned URLs fetched with urllib."""

import datetime
import hashlib
import urllib.error
import urllib.request
import uuid
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.helpers import aws_chunked_request, error_code, make_client


def test_wrong_secret_is_refused(cluster, bucket):
    bad = make_client(
        cluster.endpoints[0], cluster.access_key, "wrong" + cluster.secret_key, cluster.region
    )
    with pytest.raises(ClientError) as info:
        bad.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_code(info) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as info:
        bad.list_buckets()
    assert error_code(info) == (403, "SignatureDoesNotMatch")


def test_unknown_access_key_is_refused(cluster):
    stranger = make_client(cluster.endpoints[0], "AKIDONTEXIST00000000", "x" * 40, cluster.region)
    with pytest.raises(ClientError) as info:
        stranger.list_buckets()
    assert error_code(info) == (403, "InvalidAccessKeyId")


def _raw(method: str, url: str, body: bytes = b"", headers: dict | None = None):
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_anonymous_request_is_denied(cluster, bucket):
    status, body, headers = _raw("GET", f"{cluster.endpoints[0]}/{bucket}")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert headers.get("x-amz-request-id")


def _signed(cluster, method: str, path: str, body: bytes, when: datetime.datetime | None = None):
    request = AWSRequest(method=method, url=f"{cluster.endpoints[0]}{path}", data=body)
    credentials = Credentials(cluster.access_key, cluster.secret_key)
    if when is None:
        S3SigV4Auth(credentials, "s3", cluster.region).add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            S3SigV4Auth(credentials, "s3", cluster.region).add_auth(request)
    return dict(request.headers.items())


def test_payload_hash_mismatch_stores_nothing(s3, cluster, bucket):
    headers = _signed(cluster, "PUT", f"/{bucket}/tampered", b"original body")
    status, body, _ = _raw(
        "PUT", f"{cluster.endpoints[0]}/{bucket}/tampered", b"evil!! body", headers
    )
    assert status == 400 and b"XAmzContentSHA256Mismatch" in body
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="tampered")
    assert error_code(info)[0] == 404


def test_signed_payload_is_accepted(s3, cluster, bucket):
    headers = _signed(cluster, "PUT", f"/{bucket}/signed", b"signed body")
    status, _, _ = _raw("PUT", f"{cluster.endpoints[0]}/{bucket}/signed", b"signed body", headers)
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == b"signed body"
    assert headers["X-Amz-Content-SHA256"] == hashlib.sha256(b"signed body").hexdigest()


def test_clock_skew_is_refused(cluster, bucket):
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    headers = _signed(cluster, "GET", f"/{bucket}", b"", when=past)
    status, body, _ = _raw("GET", f"{cluster.endpoints[0]}/{bucket}", headers=headers)
    assert status == 403 and b"RequestTimeTooSkewed" in body


def test_presigned_get_and_put_with_urllib(s3, bucket):
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "via-url"}, ExpiresIn=300
    )
    status, _, _ = _raw("PUT", put_url, b"uploaded by url")
    assert status == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "via-url"}, ExpiresIn=300
    )
    status, body, _ = _raw("GET", get_url)
    assert (status, body) == (200, b"uploaded by url")
    # Changing the signed URL breaks it.
    status, body, _ = _raw("GET", get_url.replace("via-url", "via-urk"))
    assert status == 403 and b"SignatureDoesNotMatch" in body


def _presigned(cluster, path: str, when: datetime.datetime, expires: int) -> str:
    request = AWSRequest(method="GET", url=f"{cluster.endpoints[0]}{path}")
    credentials = Credentials(cluster.access_key, cluster.secret_key)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        S3SigV4QueryAuth(credentials, "s3", cluster.region, expires=expires).add_auth(request)
    return request.url


def test_expired_presigned_url(s3, cluster, bucket):
    s3.put_object(Bucket=bucket, Key="old", Body=b"x")
    now = datetime.datetime.now(datetime.UTC)
    fresh = _presigned(cluster, f"/{bucket}/old", now, 60)
    assert _raw("GET", fresh)[:2] == (200, b"x")
    expired = _presigned(cluster, f"/{bucket}/old", now - datetime.timedelta(hours=2), 60)
    status, body, _ = _raw("GET", expired)
    assert status == 403 and b"AccessDenied" in body
    # No time at all, or more than a week: never valid.
    for expires, code in ((0, b"AccessDenied"), (609901, b"AuthorizationQueryParametersError")):
        status, body, _ = _raw("GET", _presigned(cluster, f"/{bucket}/old", now, expires))
        assert status == 403 and code in body, (expires, body)


def _chunked_request(cluster, path: str, data: bytes, chunk: int, tamper: bool = False):
    return aws_chunked_request(
        cluster.endpoints[0],
        cluster.region,
        cluster.access_key,
        cluster.secret_key,
        path,
        data,
        chunk,
        tamper=tamper,
    )


def test_streaming_signed_upload(cluster, bucket, s3):
    """aws-chunked bodies with per-chunk signatures (what the Java/Go SDKs send)."""
    data = uuid.uuid4().bytes * 20_000
    headers, body = _chunked_request(cluster, f"/{bucket}/chunked", data, 64 * 1024)
    status, reply, _ = _raw("PUT", f"{cluster.endpoints[0]}/{bucket}/chunked", body, headers)
    assert status == 200, reply
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["Body"].read() == data
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'

    headers, body = _chunked_request(cluster, f"/{bucket}/bad-chunk", data, 64 * 1024, tamper=True)
    status, reply, _ = _raw("PUT", f"{cluster.endpoints[0]}/{bucket}/bad-chunk", body, headers)
    assert status == 403 and b"SignatureDoesNotMatch" in reply
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="bad-chunk")
    assert error_code(info)[0] == 404


def test_default_boto3_checksums_work(s3, bucket):
    """Current boto3 sends CRC32 checksums by default; they are verified and kept."""
    put = s3.put_object(Bucket=bucket, Key="crc", Body=b"checksummed")
    assert put.get("ChecksumCRC32")
    got = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"checksummed"
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"]


def test_sigv2_bucket_operations_by_path(cluster, s3):
    """botocore's SigV2 signs a bucket addressed by path as /bucket/ though it sends
    /bucket: both forms are accepted."""
    v2 = make_client(
        cluster.endpoints[0],
        cluster.access_key,
        cluster.secret_key,
        cluster.region,
        signature_version="s3",
    )
    name = f"sigv2-{uuid.uuid4().hex[:12]}"
    v2.create_bucket(Bucket=name, ACL="public-read")
    try:
        v2.head_bucket(Bucket=name)
        assert v2.get_bucket_acl(Bucket=name)["Grants"][0]["Permission"] == "READ"
        v2.put_object(Bucket=name, Key="k", Body=b"v")
        assert [o["Key"] for o in v2.list_objects(Bucket=name)["Contents"]] == ["k"]
        v2.delete_object(Bucket=name, Key="k")
    finally:
        v2.delete_bucket(Bucket=name)


def test_utf8_metadata_is_signed_as_sent(s3, bucket):
    """A header value in UTF-8 (metadata with an accent, sent raw by some clients) is
    signed as the client's text: the signature checks."""

    def accented(params, **_):
        params["headers"]["x-amz-meta-greeting"] = "Hello World\xe9"

    s3.meta.events.register("before-call.s3.PutObject", accented)
    try:
        s3.put_object(Bucket=bucket, Key="accent", Body=b"x")
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", accented)
    sent = s3.head_object(Bucket=bucket, Key="accent")["Metadata"]["greeting"]
    assert sent.encode("latin-1") == "Hello World\xe9".encode()  # the UTF-8 bytes, as sent
