"""Object metadata, name rules and conditional requests."""

import pytest

from gateway.s3 import conditions
from gateway.s3.errors import S3Error
from gateway.s3.names import bucket_name_problem, check_key
from gateway.s3.objectmeta import ObjectMeta, from_request_headers


def test_meta_round_trip_and_aws_chunked_is_not_stored():
    meta = from_request_headers(
        {
            "content-type": "text/plain",
            "content-encoding": "aws-chunked,gzip",
            "cache-control": "no-cache",
            "x-amz-meta-Owner": "ä",
            "authorization": "secret",
        }
    )
    meta.etag = "abc"
    again = ObjectMeta.decode(meta.encode())
    assert again == meta
    assert again.headers == {"content-encoding": "gzip", "cache-control": "no-cache"}
    assert again.user == {"Owner": "ä"} and again.quoted_etag == '"abc"'
    assert (
        "content-encoding" not in from_request_headers({"content-encoding": "aws-chunked"}).headers
    )
    # Any other list comes back exactly as sent.
    listed = from_request_headers({"content-encoding": "gzip, identity"}).headers
    assert listed == {"content-encoding": "gzip, identity"}


def test_user_metadata_limit():
    with pytest.raises(S3Error) as info:
        from_request_headers({"x-amz-meta-big": "x" * 2100})
    assert info.value.code == "MetadataTooLarge"


@pytest.mark.parametrize("name", ["abc", "my-bucket.logs", "a" * 63, "0bucket9"])
def test_valid_bucket_names(name):
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Upper",
        "under_score",
        "-start",
        "end-",
        "a..b",
        "192.168.1.1",
        "xn--abc",
        "x-s3alias",
    ],
)
def test_invalid_bucket_names(name):
    assert bucket_name_problem(name) is not None


def test_key_length_limit_counts_bytes():
    check_key("k" * 1024)
    with pytest.raises(S3Error) as info:
        check_key("ä" * 513)
    assert info.value.code == "KeyTooLongError"


MODIFIED = 1_700_000_000.0
BEFORE = "Mon, 13 Nov 2023 00:00:00 GMT"  # earlier than MODIFIED
AFTER = "Fri, 01 Jan 2100 00:00:00 GMT"


@pytest.mark.parametrize(
    "headers,code",
    [
        ({"if-match": '"etag"'}, None),
        ({"if-match": '"other"'}, "PreconditionFailed"),
        ({"if-match": "*"}, None),
        ({"if-none-match": '"etag"'}, "NotModified"),
        ({"if-none-match": '"other"'}, None),
        ({"if-modified-since": AFTER}, "NotModified"),
        ({"if-modified-since": BEFORE}, None),
        ({"if-unmodified-since": BEFORE}, "PreconditionFailed"),
        ({"if-unmodified-since": AFTER}, None),
        # If-Match wins over If-Unmodified-Since; If-None-Match over If-Modified-Since.
        ({"if-match": '"etag"', "if-unmodified-since": BEFORE}, None),
        ({"if-none-match": '"other"', "if-modified-since": AFTER}, None),
        ({"if-modified-since": "garbage"}, None),
    ],
)
def test_conditions(headers, code):
    if code is None:
        conditions.check(headers, "etag", MODIFIED)
    else:
        with pytest.raises(S3Error) as info:
            conditions.check(headers, "etag", MODIFIED)
        assert info.value.code == code
