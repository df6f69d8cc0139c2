"""Requests signed by botocore itself must verify; tampered ones must not."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from gateway.s3.auth import (
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    AuthError,
    ChunkedDecoder,
    RequestView,
    verify,
)

ACCESS = "AKTESSERA0001"
SECRET = "s3cr3t/with+odd=chars"
ENDPOINT = "http://tessera.test:9000"

KEYS = [
    "plain.txt",
    "dir/with space.txt",
    "ünïcødé/файл 😀.bin",
    "plus+sign",
    "amp&ersand=eq",
    "tilde~and-dot.",
    "dollar$(paren)!*'quote,semi;colon:at@",
    "double  space/%percent",
]
QUERIES = [
    "",
    "uploads",
    "partNumber=1&uploadId=abc%2Bdef",
    "list-type=2&prefix=a%20b&delimiter=/",
    "list-type=2&prefix=a%20b&delimiter=%2F&encoding-type=url",
    "tagging=&versionId=v%3D1",
]


def lookup(access_key: str) -> str | None:
    return SECRET if access_key == ACCESS else None


def _now() -> datetime:
    return datetime.now(UTC)


def _view(method: str, url: str, headers) -> RequestView:
    """What the gateway would see on the wire for this URL and these headers."""
    parts = urlsplit(url)
    lowered = {}
    for name, value in headers.items():
        if isinstance(value, bytes):
            value = value.decode()
        lowered[name.lower()] = value
    lowered.setdefault("host", parts.netloc)
    return RequestView(method, parts.path, parts.query, lowered)


def _url(key: str, query: str) -> str:
    # botocore's REST serializer quotes keys like this.
    url = f"{ENDPOINT}/bucket/{percent_encode(key, safe='/~')}"
    return f"{url}?{query}" if query else url


def _header_signed(method: str, key: str, query: str, body: bytes = b"", secret: str = SECRET):
    request = AWSRequest(method=method, url=_url(key, query), data=body)
    if body:
        request.headers["Content-Type"] = "application/octet-stream"
    S3SigV4Auth(Credentials(ACCESS, secret), "s3", "eu-central-1").add_auth(request)
    return _view(method, request.url, request.headers)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_header_auth_roundtrip(method, key, query):
    body = b"payload bytes" if method == "PUT" else b""
    view = _header_signed(method, key, query, body)
    result = verify(view, lookup, _now())
    assert result is not None
    assert result.access_key == ACCESS
    assert result.scope.endswith("/eu-central-1/s3/aws4_request")
    assert result.presigned is False


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_presigned_roundtrip(key, query):
    # S3SigV4QueryAuth is the SigV4QueryAuth subclass botocore uses for S3; the generic
    # class signs sha256("") instead of UNSIGNED-PAYLOAD, which S3 does not accept.
    request = AWSRequest(method="GET", url=_url(key, query))
    S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", "ap-south-2", expires=300).add_auth(request)
    result = verify(_view("GET", request.url, request.headers), lookup, _now())
    assert result is not None
    assert result.presigned is True
    assert result.payload_hash == UNSIGNED_PAYLOAD


def _error_code(view: RequestView, now: datetime | None = None) -> str:
    with pytest.raises(AuthError) as info:
        verify(view, lookup, now or _now())
    return info.value.code


def test_rejections():
    assert _error_code(_header_signed("GET", KEYS[2], QUERIES[3], secret="nope")) == (
        "SignatureDoesNotMatch"
    )
    view = _header_signed("GET", KEYS[1], "")
    assert _error_code(view, _now() + timedelta(minutes=20)) == "RequestTimeTooSkewed"
    unknown = RequestView(
        view.method,
        view.raw_path,
        view.raw_query,
        {**view.headers, "authorization": view.headers["authorization"].replace(ACCESS, "AKOTHER")},
    )
    assert _error_code(unknown) == "InvalidAccessKeyId"
    moved = RequestView(view.method, view.raw_path + "x", view.raw_query, view.headers)
    assert _error_code(moved) == "SignatureDoesNotMatch"
    # A PUT body hash is bound to the signature: a different declared hash fails.
    put = _header_signed("PUT", KEYS[0], "", b"abc")
    forged = dict(put.headers, **{"x-amz-content-sha256": "0" * 64})
    assert _error_code(RequestView("PUT", put.raw_path, "", forged)) == "SignatureDoesNotMatch"


def test_expired_presign():
    request = AWSRequest(method="GET", url=_url("k", ""))
    S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1", expires=60).add_auth(request)
    view = _view("GET", request.url, request.headers)
    assert verify(view, lookup, _now() + timedelta(seconds=30)) is not None
    assert _error_code(view, _now() + timedelta(seconds=120)) == "AccessDenied"


# --------------------------------------------------------------------------- real clients


class _Captured(Exception):
    pass


def _client(endpoint: str):
    session = botocore.session.Session()
    client = session.create_client(
        "s3",
        region_name="eu-west-3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0}),
    )
    sent = []

    def before_send(request, **_kwargs):
        sent.append(request)
        raise _Captured

    client.meta.events.register("before-send.s3", before_send)
    return client, sent


def _send(call):
    with pytest.raises(_Captured):
        call()


def test_client_put_object_with_unsigned_trailer():
    client, sent = _client("https://tessera.test")
    data = b"hello tessera " * 5000
    _send(lambda: client.put_object(Bucket="bkt", Key="dir/a b+&~ü$.txt", Body=data))
    request = sent[-1]
    view = _view(request.method, request.url, request.headers)
    result = verify(view, lookup, _now())
    assert result is not None and result.payload_hash == STREAMING_UNSIGNED_TRAILER
    assert view.headers["content-encoding"] == "aws-chunked"

    wire = request.body.read()
    decoder = ChunkedDecoder(signed=False, trailer=True)
    out = []
    for i in range(0, len(wire), 1000):
        out.extend(decoder.feed(wire[i : i + 1000]))
    decoder.finish()
    assert b"".join(out) == data
    assert decoder.decoded_length == int(view.headers["x-amz-decoded-content-length"])
    expected = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert decoder.trailers == {"x-amz-checksum-crc32": expected}


@pytest.mark.parametrize("endpoint", ["http://tessera.test:8080", "https://tessera.test"])
def test_client_operations(endpoint):
    client, sent = _client(endpoint)
    calls = [
        lambda: client.put_object(Bucket="bkt", Key="k with space", Body=b"x" * 10),
        lambda: client.list_objects_v2(Bucket="bkt", Prefix="a b", Delimiter="/"),
        lambda: client.get_object(Bucket="bkt", Key="ünï+code", Range="bytes=0-3"),
        lambda: client.delete_objects(
            Bucket="bkt", Delete={"Objects": [{"Key": "a"}, {"Key": "b c"}]}
        ),
        lambda: client.create_multipart_upload(Bucket="bkt", Key="big/file~1"),
        lambda: client.upload_part(
            Bucket="bkt", Key="big/file~1", UploadId="u/+=", PartNumber=3, Body=b"p"
        ),
        lambda: client.put_object_tagging(
            Bucket="bkt", Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        ),
    ]
    for call in calls:
        _send(call)
        request = sent[-1]
        view = _view(request.method, request.url, request.headers)
        assert verify(view, lookup, _now()) is not None, request.url


def test_client_generate_presigned_url():
    client, _ = _client("https://tessera.test")
    for method, op, params in [
        ("GET", "get_object", {"Bucket": "bkt", "Key": "a b/ü+&~"}),
        ("PUT", "put_object", {"Bucket": "bkt", "Key": "up load.bin"}),
        ("GET", "list_objects_v2", {"Bucket": "bkt", "Prefix": "x y", "Delimiter": "/"}),
        (
            "GET",
            "get_object",
            {
                "Bucket": "bkt",
                "Key": "k",
                "ResponseContentDisposition": 'attachment; filename="a b.txt"',
            },
        ),
    ]:
        url = client.generate_presigned_url(op, Params=params, ExpiresIn=120)
        result = verify(_view(method, url, {}), lookup, _now())
        assert result is not None and result.presigned, url
        assert _error_code(_view(method, url, {}), _now() + timedelta(minutes=3)) == "AccessDenied"


def test_presign_with_declared_payload_hash():
    digest = "a" * 64
    request = AWSRequest(method="PUT", url=_url("k", ""), headers={"X-Amz-Content-SHA256": digest})
    S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1").add_auth(request)
    view = _view("PUT", request.url, request.headers)
    result = verify(view, lookup, _now())
    assert result is not None and result.payload_hash == digest
    headers = dict(view.headers, **{"x-amz-content-sha256": "b" * 64})
    altered = RequestView("PUT", view.raw_path, view.raw_query, headers)
    assert _error_code(altered) == "SignatureDoesNotMatch"
