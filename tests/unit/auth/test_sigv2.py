"""SigV2: the AWS documentation examples, botocore round trips and rejections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from gateway.s3.auth import (
    UNSIGNED_PAYLOAD,
    AuthError,
    RequestView,
    authenticate,
    verify,
    verify_v2,
)
from gateway.s3.auth.sigv2 import canonical_resource, sign_v2, string_to_sign_v2

# ---------------------------------------------------------------- AWS documentation examples
# "Signing and authenticating REST requests (AWS signature version 2)", Authentication
# examples, with the documentation's example credentials.

DOC_AK = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def doc_lookup(access_key: str) -> str | None:
    return DOC_SECRET if access_key == DOC_AK else None


def _at(http_date: str) -> datetime:
    return parsedate_to_datetime(http_date)


# (name, method, path-style path, query, headers, signature). The virtual-hosted examples
# in the documentation sign "/awsexamplebucket1" + path, which is the path-style path.
DOC_EXAMPLES = [
    (
        "Object GET",
        "GET",
        "/awsexamplebucket1/photos/puppy.jpg",
        "",
        {"date": "Tue, 27 Mar 2007 19:36:42 +0000"},
        "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
    ),
    (
        "Object PUT",
        "PUT",
        "/awsexamplebucket1/photos/puppy.jpg",
        "",
        {
            "content-type": "image/jpeg",
            "content-length": "94328",
            "date": "Tue, 27 Mar 2007 21:15:45 +0000",
        },
        "iqRzw+ileNPu1fhspnRs8nOjjIA=",
    ),
    (
        "List",
        "GET",
        "/awsexamplebucket1/",
        "prefix=photos&max-keys=50&marker=puppy",
        {"user-agent": "Mozilla/5.0", "date": "Tue, 27 Mar 2007 19:42:41 +0000"},
        "m0WP8eCtspQl5Ahe6L1SozdX9YA=",
    ),
    (
        "Fetch (acl)",
        "GET",
        "/awsexamplebucket1/",
        "acl",
        {"date": "Tue, 27 Mar 2007 19:44:46 +0000"},
        "82ZHiFIjc+WbcwFKGUVEQspPn+0=",
    ),
    (
        "List all my buckets",
        "GET",
        "/",
        "",
        {"date": "Wed, 28 Mar 2007 01:29:59 +0000"},
        "qGdzdERIC03wnaRNKh6OqZehG9s=",
    ),
    (
        # The path is signed exactly as sent, mixed-case percent-encoding included.
        "Unicode keys",
        "GET",
        "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
        "",
        {"date": "Wed, 28 Mar 2007 01:49:49 +0000"},
        "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "query", "headers", "signature"),
    DOC_EXAMPLES,
    ids=[e[0] for e in DOC_EXAMPLES],
)
def test_documentation_examples(name, method, path, query, headers, signature):
    view = RequestView(
        method, path, query, {**headers, "authorization": f"AWS {DOC_AK}:{signature}"}
    )
    now = _at(headers["date"])
    result = verify_v2(view, doc_lookup, now)
    assert result is not None
    assert result.access_key == DOC_AK
    assert result.signature == signature
    assert result.presigned is False
    assert result.payload_hash == UNSIGNED_PAYLOAD
    assert result.signing_key == b"" and result.scope == "" and result.amz_date == ""
    assert authenticate(view, doc_lookup, now) == result


def test_documentation_string_to_sign_object_get():
    sts = string_to_sign_v2(
        "GET", "", "", "Tue, 27 Mar 2007 19:36:42 +0000", {}, "/awsexamplebucket1/photos/puppy.jpg"
    )
    assert sts == "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
    assert sign_v2(DOC_SECRET, sts) == "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="


def test_documentation_delete_with_x_amz_date():
    # The documented StringToSign: x-amz-date present, so the Date line is empty. (The
    # signature printed next to this example in the documentation does not match its own
    # StringToSign; the one below is HMAC-SHA1 of the documented string.)
    view = RequestView(
        "DELETE",
        "/awsexamplebucket1/photos/puppy.jpg",
        "",
        {
            "user-agent": "dotnet",
            "date": "Tue, 27 Mar 2007 21:20:27 +0000",
            "x-amz-date": "Tue, 27 Mar 2007 21:20:26 +0000",
        },
    )
    expected_sts = (
        "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n"
        "/awsexamplebucket1/photos/puppy.jpg"
    )
    assert (
        string_to_sign_v2("DELETE", "", "", "", view.headers, canonical_resource(view.raw_path, ""))
        == expected_sts
    )
    signature = sign_v2(DOC_SECRET, expected_sts)
    assert signature == "Ri1hpB1zpS9pGqR7y8kuNFCl4sE="
    signed = RequestView(
        view.method,
        view.raw_path,
        "",
        {**view.headers, "authorization": f"AWS {DOC_AK}:{signature}"},
    )
    assert verify_v2(signed, doc_lookup, _at("Tue, 27 Mar 2007 21:20:26 +0000")) is not None


def test_documentation_upload_amz_headers():
    # Repeated X-Amz-Meta-ReviewedBy arrive joined with "," (RequestView's contract).
    headers = {
        "user-agent": "curl/7.15.5",
        "date": "Tue, 27 Mar 2007 21:06:08 +0000",
        "x-amz-acl": "public-read",
        "content-type": "application/x-download",
        "content-md5": "4gJE4saaMU4BqNR0kLY+lw==",
        "x-amz-meta-reviewedby": "joe@example.com,jane@example.com",
        "x-amz-meta-filechecksum": "0x02661779",
        "x-amz-meta-checksumalgorithm": "crc32",
        "content-disposition": "attachment; filename=database.dat",
        "content-encoding": "gzip",
        "content-length": "5913339",
    }
    sts = string_to_sign_v2(
        "PUT",
        headers["content-md5"],
        headers["content-type"],
        headers["date"],
        headers,
        canonical_resource("/static.example.com/db-backup.dat.gz", ""),
    )
    assert sts == (
        "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\n"
        "Tue, 27 Mar 2007 21:06:08 +0000\n"
        "x-amz-acl:public-read\n"
        "x-amz-meta-checksumalgorithm:crc32\n"
        "x-amz-meta-filechecksum:0x02661779\n"
        "x-amz-meta-reviewedby:joe@example.com,jane@example.com\n"
        "/static.example.com/db-backup.dat.gz"
    )
    # As for Delete, the documentation's printed signature does not match its string.
    assert sign_v2(DOC_SECRET, sts) == "jtBQa0Aq+DkULFI8qrpwIjGEx0E="
    headers["authorization"] = f"AWS {DOC_AK}:jtBQa0Aq+DkULFI8qrpwIjGEx0E="
    view = RequestView("PUT", "/static.example.com/db-backup.dat.gz", "", headers)
    assert verify_v2(view, doc_lookup, _at(headers["date"])) is not None


def test_documentation_query_string_example():
    # "Query string request authentication": GET /photos/puppy.jpg on johnsmith, expiring
    # at 1175139620, StringToSign "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg".
    query = (
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
        "&Expires=1175139620"
    )
    view = RequestView("GET", "/johnsmith/photos/puppy.jpg", query, {"host": "s3.amazonaws.com"})
    before = datetime.fromtimestamp(1175139620 - 60, UTC)
    result = authenticate(view, doc_lookup, before)
    assert result is not None
    assert result.presigned is True
    assert result.signature == "NpgCjnDzrM+WFzoENXmpNDUsSn8="
    assert result.payload_hash == UNSIGNED_PAYLOAD
    assert _code(view, datetime.fromtimestamp(1175139621, UTC), doc_lookup) == "AccessDenied"


def test_canonical_resource_subresources():
    assert canonical_resource("", "") == "/"
    assert canonical_resource("/b/k", "uploadId=abc%2Fdef&partNumber=2&x-id=UploadPart") == (
        "/b/k?partNumber=2&uploadId=abc/def"
    )
    assert canonical_resource("/b/", "versioning&prefix=x&acl=") == "/b/?acl=&versioning"
    assert canonical_resource(
        "/b/k%20x", "response-content-type=text%2Fplain%3B%20charset%3Dutf-8&versionId=v1"
    ) == ("/b/k%20x?response-content-type=text/plain; charset=utf-8&versionId=v1")
    # Not a sub-resource: left out; a '+' in a value stays a plus.
    assert canonical_resource("/b", "list-type=2&tagging=a+b") == "/b?tagging=a+b"


# ---------------------------------------------------------------- botocore round trips

ACCESS = "AKTESSERA0001"
SECRET = "s3cr3t/with+odd=chars"
ENDPOINT = "http://tessera.test:9000"

KEYS = [
    "plain.txt",
    "dir/with space.txt",
    "ünïcødé/файл 😀.bin",
    "plus+sign",
    "amp&ersand=eq",
    "dollar$(paren)!*'quote,semi;colon:at@",
    "double  space/%percent",
]
QUERIES = [
    "",
    "acl",
    "uploads",
    "partNumber=1&uploadId=abc%2Bdef",
    "response-content-type=text%2Fplain%3B%20charset%3Dutf-8"
    "&response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22",
    "versionId=v%3D1&tagging",
    "list-type=2&prefix=a%20b&delimiter=%2F",
]


def lookup(access_key: str) -> str | None:
    return SECRET if access_key == ACCESS else None


def _now() -> datetime:
    return datetime.now(UTC)


def _view(method: str, url: str, headers) -> RequestView:
    """What the gateway would see on the wire for this URL and these headers."""
    parts = urlsplit(url)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        if isinstance(value, bytes):
            value = value.decode()
        lowered[name.lower()] = value
    lowered.setdefault("host", parts.netloc)
    return RequestView(method, parts.path, parts.query, lowered)


def _url(key: str, query: str) -> str:
    url = f"{ENDPOINT}/bucket/{percent_encode(key, safe='/~')}"
    return f"{url}?{query}" if query else url


def _header_signed(
    method: str, key: str, query: str, headers: dict | None = None, secret: str = SECRET
) -> RequestView:
    request = AWSRequest(method=method, url=_url(key, query), headers=headers or {})
    HmacV1Auth(Credentials(ACCESS, secret)).add_auth(request)
    return _view(method, request.url, request.headers)


def _presigned(
    method: str, key: str, query: str, headers: dict | None = None, expires: int = 300
) -> RequestView:
    request = AWSRequest(method=method, url=_url(key, query), headers=headers or {})
    HmacV1QueryAuth(Credentials(ACCESS, SECRET), expires=expires).add_auth(request)
    # A presigned URL is used on its own (browser, curl): no headers from the signer.
    return _view(method, request.url, {})


def _code(view: RequestView, now: datetime | None = None, lookup_fn=lookup) -> str:
    with pytest.raises(AuthError) as info:
        authenticate(view, lookup_fn, now or _now())
    return info.value.code


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_header_roundtrip(method, key, query):
    headers = {"Content-Type": "text/plain", "x-amz-meta-Note": "  hi there "}
    view = _header_signed(method, key, query, headers if method == "PUT" else None)
    assert view.headers["authorization"].startswith(f"AWS {ACCESS}:")
    result = authenticate(view, lookup, _now())
    assert result is not None
    assert result.access_key == ACCESS
    assert result.presigned is False
    assert result.payload_hash == UNSIGNED_PAYLOAD


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_presigned_roundtrip(key, query):
    view = _presigned("GET", key, query)
    assert "AWSAccessKeyId=" in view.raw_query and "Expires=" in view.raw_query
    result = authenticate(view, lookup, _now())
    assert result is not None
    assert result.access_key == ACCESS
    assert result.presigned is True
    assert result.payload_hash == UNSIGNED_PAYLOAD


def test_presigned_put_with_signed_headers_in_query():
    # botocore copies Content-Type and x-amz-* into the URL; with or without the client
    # also sending them as headers, the URL verifies.
    headers = {"Content-Type": "image/png", "x-amz-acl": "private"}
    view = _presigned("PUT", "up load+.png", "", headers)
    assert "content-type=image%2Fpng" in view.raw_query
    assert authenticate(view, lookup, _now()) is not None
    sent = RequestView(view.method, view.raw_path, view.raw_query, {"content-type": "image/png"})
    assert authenticate(sent, lookup, _now()) is not None
    other = RequestView(view.method, view.raw_path, view.raw_query, {"content-type": "text/html"})
    assert _code(other) == "SignatureDoesNotMatch"


def test_x_amz_date_with_date_header():
    # botocore signs its Date header even when x-amz-date is set; the documented form
    # (empty Date line) is accepted too.
    stamp = formatdate(usegmt=True)
    view = _header_signed("GET", "k", "", {"x-amz-date": stamp})
    assert "date" in view.headers
    assert authenticate(view, lookup, _now()) is not None
    resource = canonical_resource(view.raw_path, "")
    sts = string_to_sign_v2("GET", "", "", "", {"x-amz-date": stamp}, resource)
    documented = RequestView(
        "GET",
        view.raw_path,
        "",
        {"x-amz-date": stamp, "authorization": f"AWS {ACCESS}:{sign_v2(SECRET, sts)}"},
    )
    assert authenticate(documented, lookup, _now()) is not None


# ---------------------------------------------------------------- virtual-hosted style
# The bucket is in the Host; the CanonicalizedResource is "/" + bucket + the path as sent.


@pytest.mark.parametrize(
    ("name", "method", "path", "query", "headers", "signature"),
    [e for e in DOC_EXAMPLES if e[2].startswith("/awsexamplebucket1/")],
    ids=[e[0] for e in DOC_EXAMPLES if e[2].startswith("/awsexamplebucket1/")],
)
def test_documentation_examples_virtual_hosted(name, method, path, query, headers, signature):
    # As the documentation sends them: Host awsexamplebucket1.s3..., path without bucket.
    view = RequestView(
        method,
        path[len("/awsexamplebucket1") :],
        query,
        {
            **headers,
            "host": "awsexamplebucket1.us-west-1.s3.amazonaws.com",
            "authorization": f"AWS {DOC_AK}:{signature}",
        },
        bucket_from_host="awsexamplebucket1",
    )
    result = authenticate(view, doc_lookup, _at(headers["date"]))
    assert result is not None and result.signature == signature
    # The same request read as path style does not verify.
    path_style = RequestView(method, view.raw_path, query, view.headers)
    assert _code(path_style, _at(headers["date"]), doc_lookup) == "SignatureDoesNotMatch"


def test_documentation_query_string_example_virtual_hosted():
    query = (
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
        "&Expires=1175139620"
    )
    view = RequestView(
        "GET",
        "/photos/puppy.jpg",
        query,
        {"host": "johnsmith.s3.amazonaws.com"},
        bucket_from_host="johnsmith",
    )
    result = authenticate(view, doc_lookup, datetime.fromtimestamp(1175139620 - 60, UTC))
    assert result is not None and result.presigned is True


def test_canonical_resource_virtual_hosted():
    assert canonical_resource("/", "", "b") == "/b/"
    assert canonical_resource("", "", "b") == "/b/"
    assert canonical_resource("/k%20x", "acl", "my.b") == "/my.b/k%20x?acl"
    assert canonical_resource("//lead", "", "b") == "/b//lead"


class _Captured(Exception):
    """Raised from botocore's before-send hook: the request is captured, never sent."""


def _botocore_sent(operation: str, *, presign: bool = False, **params) -> RequestView:
    """What a real SigV2 boto3 client in virtual-hosted mode puts on the wire, as the
    gateway sees it (bucket_from_host filled in as the app does for domain tessera.test)."""
    import boto3
    from botocore.config import Config

    from gateway.s3.router import bucket_from_host

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3", s3={"addressing_style": "virtual"}),
    )
    if presign:
        url = client.generate_presigned_url(operation, Params=params, ExpiresIn=300)
        parts = urlsplit(url)
        headers = {"host": parts.netloc}
        if "ContentType" in params:
            headers["content-type"] = params["ContentType"]
        method = "PUT" if operation == "put_object" else "GET"
        return RequestView(
            method,
            parts.path,
            parts.query,
            headers,
            bucket_from_host=bucket_from_host(parts.netloc, ["tessera.test"]),
        )
    sent: list = []

    def capture(request, **_):
        sent.append(request)
        raise _Captured

    client.meta.events.register("before-send.s3", capture)
    with pytest.raises(_Captured):
        getattr(client, operation)(**params)
    request = sent[0]
    view = _view(request.method, request.url, dict(request.headers.items()))
    return RequestView(
        view.method,
        view.raw_path,
        view.raw_query,
        view.headers,
        bucket_from_host=bucket_from_host(view.headers["host"], ["tessera.test"]),
    )


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("list_objects", {"Bucket": "bkt", "Prefix": "a b"}),
        ("list_objects_v2", {"Bucket": "bkt"}),
        ("get_bucket_acl", {"Bucket": "bkt"}),
        ("put_object", {"Bucket": "bkt", "Key": "dir/ü x+y.txt", "Body": b"hi"}),
        ("put_object", {"Bucket": "bkt", "Key": "t", "Body": b"hi", "ContentType": "text/plain"}),
        ("get_object", {"Bucket": "bkt", "Key": "a/b", "VersionId": "v1"}),
        ("delete_object", {"Bucket": "bkt", "Key": "k"}),
        ("create_multipart_upload", {"Bucket": "bkt", "Key": "big"}),
    ],
)
def test_botocore_virtual_hosted_header_auth(operation, params):
    view = _botocore_sent(operation, **params)
    assert view.headers["host"] == "bkt.tessera.test:9000"
    assert view.bucket_from_host == "bkt" and not view.raw_path.startswith("/bkt")
    assert view.headers["authorization"].startswith(f"AWS {ACCESS}:")
    result = authenticate(view, lookup, _now())
    assert result is not None and result.access_key == ACCESS
    # The bucket is signed: the same signature does not open another bucket.
    other = RequestView(
        view.method, view.raw_path, view.raw_query, view.headers, bucket_from_host="other"
    )
    assert _code(other) == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("get_object", {"Bucket": "bkt", "Key": "dir/ü x.txt"}),
        ("put_object", {"Bucket": "bkt", "Key": "up", "ContentType": "text/plain"}),
    ],
)
def test_botocore_virtual_hosted_presigned(operation, params):
    view = _botocore_sent(operation, presign=True, **params)
    assert view.bucket_from_host == "bkt" and "AWSAccessKeyId=" in view.raw_query
    result = authenticate(view, lookup, _now())
    assert result is not None and result.presigned is True


# ---------------------------------------------------------------- rejections


def test_wrong_secret():
    assert _code(_header_signed("GET", KEYS[2], QUERIES[4], secret="nope")) == (
        "SignatureDoesNotMatch"
    )


def test_unknown_key():
    view = _header_signed("GET", "k", "")
    auth = view.headers["authorization"].replace(ACCESS, "AKOTHER")
    assert _code(
        RequestView("GET", view.raw_path, "", {**view.headers, "authorization": auth})
    ) == ("InvalidAccessKeyId")
    presigned = _presigned("GET", "k", "")
    query = presigned.raw_query.replace(ACCESS, "AKOTHER")
    assert _code(RequestView("GET", presigned.raw_path, query, {})) == "InvalidAccessKeyId"


def test_tampering():
    view = _header_signed("GET", KEYS[1], "")
    moved = RequestView("GET", view.raw_path + "x", "", view.headers)
    assert _code(moved) == "SignatureDoesNotMatch"
    # An unsigned sub-resource selects a different operation: it must be signed.
    assert _code(RequestView("GET", view.raw_path, "acl", view.headers)) == (
        "SignatureDoesNotMatch"
    )
    assert _code(RequestView("DELETE", view.raw_path, "", view.headers)) == (
        "SignatureDoesNotMatch"
    )
    extra = {**view.headers, "x-amz-meta-new": "1"}
    assert _code(RequestView("GET", view.raw_path, "", extra)) == "SignatureDoesNotMatch"
    # Other query parameters are not signed in SigV2.
    assert authenticate(RequestView("GET", view.raw_path, "prefix=z", view.headers), lookup, _now())

    presigned = _presigned("GET", "k", "versionId=1")
    swapped = presigned.raw_query.replace("versionId=1", "versionId=2")
    assert _code(RequestView("GET", presigned.raw_path, swapped, {})) == "SignatureDoesNotMatch"


def test_expired_presign():
    view = _presigned("GET", "k", "", expires=60)
    assert authenticate(view, lookup, _now() + timedelta(seconds=30)) is not None
    assert _code(view, _now() + timedelta(seconds=120)) == "AccessDenied"
    with pytest.raises(AuthError) as info:
        authenticate(view, lookup, _now() + timedelta(seconds=120))
    assert info.value.message == "Request has expired"


def test_skewed_header_request():
    view = _header_signed("GET", "k", "")
    assert _code(view, _now() + timedelta(minutes=20)) == "RequestTimeTooSkewed"
    assert _code(view, _now() - timedelta(minutes=20)) == "RequestTimeTooSkewed"
    assert authenticate(view, lookup, _now() + timedelta(minutes=14)) is not None


@pytest.mark.parametrize(
    ("stamp", "code"),
    [
        ("Tue, 07 Jul 1950 21:53:04 GMT", "AccessDenied"),  # before the epoch: no date
        ("Tue, 07 Jul 2010 21:53:04 GMT", "RequestTimeTooSkewed"),
        ("Tue, 07 Jul 9999 21:53:04 GMT", "RequestTimeTooSkewed"),
        ("Bad Date", "AccessDenied"),
        ("", "AccessDenied"),
    ],
)
def test_dates_far_off_or_not_dates(stamp, code):
    view = _header_signed("GET", "k", "")
    headers = {**view.headers, "x-amz-date": stamp}
    assert _code(RequestView("GET", view.raw_path, "", headers)) == code


def test_malformed_requests():
    view = _header_signed("GET", "k", "")
    no_date = {k: v for k, v in view.headers.items() if k != "date"}
    assert _code(RequestView("GET", view.raw_path, "", no_date)) == "AccessDenied"
    for bad in ("AWS ", "AWS AKONLY", f"AWS {ACCESS}:", "AWS :sig"):
        headers = {**view.headers, "authorization": bad}
        assert _code(RequestView("GET", "/b/k", "", headers)) == "InvalidArgument"
    assert _code(RequestView("GET", "/b/k", "AWSAccessKeyId=AK&Signature=x", {})) == (
        "AccessDenied"
    )
    assert _code(
        RequestView("GET", "/b/k", f"AWSAccessKeyId={ACCESS}&Expires=soon&Signature=x")
    ) == ("AccessDenied")


def test_mixed_mechanisms():
    presigned = _presigned("GET", "k", "")
    header = _header_signed("GET", "k", "")
    both = RequestView("GET", presigned.raw_path, presigned.raw_query, header.headers)
    assert _code(both) == "InvalidArgument"
    v4 = AWSRequest(method="GET", url=_url("k", ""))
    S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1").add_auth(v4)
    mixed = RequestView(
        "GET", presigned.raw_path, presigned.raw_query + "&" + urlsplit(v4.url).query
    )
    assert _code(mixed) == "InvalidArgument"


# ---------------------------------------------------------------- dispatch


def test_anonymous_request_is_none():
    view = RequestView("GET", "/b/k", "list-type=2", {"host": "h"})
    assert authenticate(view, lookup, _now()) is None
    assert verify_v2(view, lookup, _now()) is None


def test_sigv4_header_still_goes_through_authenticate():
    request = AWSRequest(method="GET", url=_url("dir/with space.txt", "acl"))
    S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "eu-central-1").add_auth(request)
    view = _view("GET", request.url, request.headers)
    assert verify_v2(view, lookup, _now()) is None
    now = _now()
    result = authenticate(view, lookup, now)
    assert result is not None
    assert result == verify(view, lookup, now)
    assert result.scope.endswith("/eu-central-1/s3/aws4_request")


def test_sigv4_presigned_still_goes_through_authenticate():
    request = AWSRequest(method="GET", url=_url("k", ""))
    S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1", expires=60).add_auth(request)
    view = _view("GET", request.url, {})
    now = _now()
    result = authenticate(view, lookup, now)
    assert result is not None and result.presigned is True
    assert result == verify(view, lookup, now)


def test_sigv4_verify_still_rejects_v2_directly():
    # sigv4.verify is unchanged: callers that bypass authenticate cannot be fooled.
    view = _header_signed("GET", "k", "")
    with pytest.raises(AuthError) as info:
        verify(view, lookup, _now())
    assert info.value.code == "InvalidRequest"
