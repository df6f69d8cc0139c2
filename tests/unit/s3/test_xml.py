"""Rendering of S3 XML bodies, checked with xml.etree and through a real botocore client."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import unquote, unquote_plus

import pytest

from gateway.s3 import xml as s3xml
from gateway.s3 import xmlcore
from gateway.s3.errors import S3Error
from gateway.s3.xml import ObjectEntry

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
TS = 1255369830.123456  # 2009-10-12T17:50:30.123456Z

# Keys XML 1.0 can carry (with escaping): every one must survive a botocore round trip.
KEYS = [
    "plain.txt",
    "with space/and more",
    "ünïcödé/日本語/файл",
    "emoji-😀-🚀",
    "&<>\"'",
    "&amp; not an entity",
    "cr\rcrlf\r\nlf\n",
    "tab\there",
    "é" * 512,  # 1024 bytes of UTF-8: the longest key S3 accepts
    "a" * 1024,
    "plus+sign",
    "%41-percent",
    "~tilde*star",
    "/leading//double/",
    " leading and trailing ",
]
# Not XML 1.0 characters: representable only with encoding-type=url.
CONTROL_KEYS = ["ctrl\x01\x02\x1f", "nul\x00byte", "bell\x07", "\ufffe"]


def parse(body: bytes) -> ET.Element:
    assert body.startswith(DECL)
    return ET.fromstring(body)


def entries(keys: list[str]) -> list[ObjectEntry]:
    return [
        ObjectEntry(key=k, last_modified=TS + i, etag=f'"etag{i}"', size=i)
        for i, k in enumerate(keys)
    ]


def ms(ts: float) -> datetime:
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


# -- helpers -------------------------------------------------------------------------------


def test_iso8601_has_milliseconds_and_z():
    assert xmlcore.iso8601(TS) == "2009-10-12T17:50:30.123Z"
    assert xmlcore.iso8601(0) == "1970-01-01T00:00:00.000Z"
    assert xmlcore.iso8601(1255369830.9999) == "2009-10-12T17:50:30.999Z"  # truncated


def test_http_date_is_rfc7231():
    assert s3xml.http_date(1255369800.7) == "Mon, 12 Oct 2009 17:50:00 GMT"
    assert s3xml.http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_xml_escape():
    assert xmlcore.xml_escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&apos;f"
    assert xmlcore.xml_escape("x\r\ny\tz") == "x&#13;&#10;y\tz"
    assert xmlcore.xml_escape("\x01\x00\ufffe") == "&#x1;&#x0;&#xFFFE;"
    assert xmlcore.xml_escape("ü😀") == "ü😀"
    # A lone surrogate cannot be UTF-8 encoded; the reference keeps the document encodable.
    assert xmlcore.xml_escape("\udc80") == "&#xDC80;"


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("dir/file-1_x.txt*", "dir/file-1_x.txt*"),
        ("~", "%7E"),
        ("é", "%C3%A9"),
        ("\x01\r\n", "%01%0D%0A"),
        ("%", "%25"),
        ("&=?#", "%26%3D%3F%23"),
    ],
)
def test_url_encode_matches_s3(text, encoded):
    assert xmlcore.url_encode(text) == encoded
    assert unquote_plus(encoded) == text
    assert unquote(encoded) == text  # clients that only percent-decode read it too


# -- ListBuckets ---------------------------------------------------------------------------


def test_list_buckets_etree():
    body = s3xml.list_buckets([("alpha", TS), ("beta", 0.0)], "owner-id", "owner & co")
    root = parse(body)
    assert root.tag == f"{NS}ListAllMyBucketsResult"
    assert root.findtext(f"{NS}Owner/{NS}ID") == "owner-id"
    assert root.findtext(f"{NS}Owner/{NS}DisplayName") == "owner & co"
    names = [b.findtext(f"{NS}Name") for b in root.iterfind(f"{NS}Buckets/{NS}Bucket")]
    dates = [b.findtext(f"{NS}CreationDate") for b in root.iterfind(f"{NS}Buckets/{NS}Bucket")]
    assert names == ["alpha", "beta"]
    assert dates == ["2009-10-12T17:50:30.123Z", "1970-01-01T00:00:00.000Z"]


def test_list_buckets_botocore(fake_s3):
    fake_s3.reply(s3xml.list_buckets([("alpha", TS), ("b-2", TS + 1)], "oid", "Owner"))
    out = fake_s3.client.list_buckets()
    assert [b["Name"] for b in out["Buckets"]] == ["alpha", "b-2"]
    assert out["Buckets"][0]["CreationDate"] == ms(TS)
    assert out["Owner"] == {"ID": "oid", "DisplayName": "Owner"}


def test_list_buckets_empty(fake_s3):
    fake_s3.reply(s3xml.list_buckets([], "oid", "Owner"))
    assert fake_s3.client.list_buckets()["Buckets"] == []


# -- ListObjects v1 ------------------------------------------------------------------------


def v1(**overrides) -> bytes:
    args = dict(
        bucket="bkt",
        prefix="",
        marker="",
        delimiter=None,
        max_keys=1000,
        is_truncated=False,
        next_marker=None,
        contents=[],
        common_prefixes=[],
        encoding_type=None,
        owner=("oid", "Owner"),
    )
    args.update(overrides)
    return s3xml.list_objects_v1(**args)


def test_v1_etree_structure():
    body = v1(
        prefix="p/",
        marker="p/a",
        delimiter="/",
        max_keys=2,
        is_truncated=True,
        next_marker="p/sub/",
        contents=entries(["p/b"]),
        common_prefixes=["p/sub/"],
    )
    root = parse(body)
    assert root.tag == f"{NS}ListBucketResult"
    children = [c.tag.removeprefix(NS) for c in root]
    assert children == [
        "Name",
        "Prefix",
        "Marker",
        "NextMarker",
        "MaxKeys",
        "Delimiter",
        "IsTruncated",
        "Contents",
        "CommonPrefixes",
    ]
    assert root.findtext(f"{NS}NextMarker") == "p/sub/"
    assert root.findtext(f"{NS}IsTruncated") == "true"
    c = root.find(f"{NS}Contents")
    assert [x.tag.removeprefix(NS) for x in c] == [
        "Key",
        "LastModified",
        "ETag",
        "Size",
        "Owner",
        "StorageClass",
    ]
    assert c.findtext(f"{NS}ETag") == '"etag0"'
    assert b"<ETag>&quot;etag0&quot;</ETag>" in body  # as AWS writes it
    assert c.findtext(f"{NS}LastModified") == "2009-10-12T17:50:30.123Z"
    assert c.findtext(f"{NS}StorageClass") == "STANDARD"


def test_v1_next_marker_only_with_delimiter():
    assert b"NextMarker" not in v1(is_truncated=True, next_marker="x", contents=entries(["x"]))
    assert b"NextMarker" not in v1(delimiter="/", next_marker="x")
    # Derived from the last entry when the caller gives none.
    body = v1(
        delimiter="/", is_truncated=True, contents=entries(["a", "c"]), common_prefixes=["b/"]
    )
    assert parse(body).findtext(f"{NS}NextMarker") == "c"


def test_v1_minimal_has_empty_prefix_and_marker():
    root = parse(v1(owner=None, contents=entries(["k"])))
    assert root.find(f"{NS}Prefix").text is None
    assert root.find(f"{NS}Marker").text is None
    assert root.find(f"{NS}Delimiter") is None
    assert root.find(f"{NS}EncodingType") is None
    assert root.find(f"{NS}Contents/{NS}Owner") is None


def test_v1_botocore_round_trip(fake_s3):
    keys = sorted(KEYS)
    fake_s3.reply(
        v1(
            prefix="",
            delimiter="|",
            contents=entries(keys),
            common_prefixes=["dir & co|", "ü|"],
        )
    )
    # EncodingType given explicitly: botocore then leaves values as they are on the wire.
    out = fake_s3.client.list_objects(Bucket="bkt", Delimiter="|", EncodingType="url")
    # ... but our body has no EncodingType, so nothing was URL-encoded: raw values.
    assert [o["Key"] for o in out["Contents"]] == keys
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir & co|", "ü|"]
    first = out["Contents"][0]
    assert first["ETag"] == '"etag0"'
    assert first["Size"] == 0
    assert first["LastModified"] == ms(TS)
    assert first["Owner"] == {"ID": "oid", "DisplayName": "Owner"}
    assert first["StorageClass"] == "STANDARD"
    assert out["Delimiter"] == "|"
    assert out["IsTruncated"] is False
    assert out["MaxKeys"] == 1000


@pytest.mark.parametrize("key", KEYS + CONTROL_KEYS)
def test_v1_url_encoding_decoded_by_botocore(fake_s3, key):
    fake_s3.reply(
        v1(
            prefix=key[:3],
            marker=key[:2],
            delimiter="\x01" if "\x01" not in key else "/",
            is_truncated=True,
            next_marker=key,
            contents=entries([key]),
            common_prefixes=[key + "\x01"],
            encoding_type="url",
        )
    )
    # botocore adds encoding-type=url itself and decodes what it documents for v1.
    out = fake_s3.client.list_objects(Bucket="bkt")
    assert fake_s3.last()[2]["encoding-type"] == "url"
    assert out["EncodingType"] == "url"
    assert out["Contents"][0]["Key"] == key
    assert out["CommonPrefixes"][0]["Prefix"] == key + "\x01"
    assert out["Marker"] == key[:2]
    assert out["NextMarker"] == key
    # botocore does not decode v1's Prefix (boto/boto3#3534); AWS encodes it all the same.
    assert unquote_plus(out["Prefix"]) == key[:3]


def test_v1_url_encoding_wire_format():
    body = v1(prefix="a b", delimiter="/", contents=entries(["a b/c+d"]), encoding_type="url")
    assert b"<Key>a%20b/c%2Bd</Key>" in body
    assert b"<Prefix>a%20b</Prefix>" in body
    assert b"<EncodingType>url</EncodingType>" in body


# -- ListObjectsV2 -------------------------------------------------------------------------


def v2(**overrides) -> bytes:
    args = dict(
        bucket="bkt",
        prefix="",
        delimiter=None,
        max_keys=1000,
        is_truncated=False,
        key_count=0,
        continuation_token=None,
        next_continuation_token=None,
        start_after=None,
        contents=[],
        common_prefixes=[],
        encoding_type=None,
        owner=None,
    )
    args.update(overrides)
    return s3xml.list_objects_v2(**args)


def test_v2_etree_structure():
    body = v2(
        prefix="p/",
        delimiter="/",
        max_keys=2,
        is_truncated=True,
        key_count=2,
        continuation_token="tok+/=",
        next_continuation_token="next&tok",
        start_after="p/0",
        contents=entries(["p/a"]),
        common_prefixes=["p/s/"],
        encoding_type="url",
    )
    root = parse(body)
    assert [c.tag.removeprefix(NS) for c in root] == [
        "Name",
        "Prefix",
        "StartAfter",
        "ContinuationToken",
        "NextContinuationToken",
        "KeyCount",
        "MaxKeys",
        "Delimiter",
        "EncodingType",
        "IsTruncated",
        "Contents",
        "CommonPrefixes",
    ]
    # Tokens are opaque: never URL-encoded.
    assert root.findtext(f"{NS}ContinuationToken") == "tok+/="
    assert root.findtext(f"{NS}NextContinuationToken") == "next&tok"
    assert root.findtext(f"{NS}KeyCount") == "2"
    # No Owner unless fetch-owner asked for it.
    assert root.find(f"{NS}Contents/{NS}Owner") is None


def test_v2_minimal():
    root = parse(v2())
    assert [c.tag.removeprefix(NS) for c in root] == [
        "Name",
        "Prefix",
        "KeyCount",
        "MaxKeys",
        "IsTruncated",
    ]
    assert root.findtext(f"{NS}IsTruncated") == "false"


def test_v2_botocore_raw_round_trip(fake_s3):
    keys = sorted(KEYS)
    fake_s3.reply(
        v2(
            prefix="",
            key_count=len(keys),
            contents=entries(keys),
            owner=("oid", "Ow<n>er"),
        )
    )
    out = fake_s3.client.list_objects_v2(Bucket="bkt", EncodingType="url", FetchOwner=True)
    assert [o["Key"] for o in out["Contents"]] == keys
    assert out["KeyCount"] == len(keys)
    assert out["Contents"][0]["Owner"] == {"ID": "oid", "DisplayName": "Ow<n>er"}
    assert "EncodingType" not in out


@pytest.mark.parametrize("key", KEYS + CONTROL_KEYS)
def test_v2_url_encoding_decoded_by_botocore(fake_s3, key):
    fake_s3.reply(
        v2(
            prefix=key[:4],
            delimiter="\x02",
            key_count=2,
            is_truncated=True,
            continuation_token="ct",
            next_continuation_token="nct",
            start_after=key[:5],
            contents=entries([key]),
            common_prefixes=[key + "\x02"],
            encoding_type="url",
        )
    )
    out = fake_s3.client.list_objects_v2(Bucket="bkt")
    assert fake_s3.last()[2]["encoding-type"] == "url"
    assert out["Contents"][0]["Key"] == key
    assert out["CommonPrefixes"][0]["Prefix"] == key + "\x02"
    assert out["Prefix"] == key[:4]
    assert out["StartAfter"] == key[:5]
    assert out["Delimiter"] == "\x02"
    assert out["ContinuationToken"] == "ct"
    assert out["NextContinuationToken"] == "nct"
    assert out["IsTruncated"] is True


def test_v2_paginator_follows_tokens(fake_s3):
    pages = [
        v2(key_count=1, is_truncated=True, next_continuation_token="t1", contents=entries(["a"])),
        v2(key_count=1, continuation_token="t1", contents=entries(["b c"]), encoding_type="url"),
    ]
    bodies = iter(pages)
    fake_s3.client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda **_: fake_s3.reply(next(bodies))
    )
    keys = [
        o["Key"]
        for p in fake_s3.client.get_paginator("list_objects_v2").paginate(Bucket="bkt")
        for o in p["Contents"]
    ]
    assert keys == ["a", "b c"]
    assert fake_s3.last()[2]["continuation-token"] == "t1"


def test_control_characters_render_as_references():
    body = v2(contents=entries(["a\x01b"]), key_count=1)
    assert b"<Key>a&#x1;b</Key>" in body
    body = v2(contents=entries(["a\rb"]), key_count=1)
    assert parse(body).findtext(f"{NS}Contents/{NS}Key") == "a\rb"


# -- GetBucketLocation / CreateBucket ------------------------------------------------------


@pytest.mark.parametrize(("region", "expected"), [("us-east-1", None), ("eu-west-3", "eu-west-3")])
def test_location_constraint(fake_s3, region, expected):
    body = s3xml.location_constraint(region)
    root = parse(body)
    assert root.tag == f"{NS}LocationConstraint"
    assert root.text == expected
    fake_s3.reply(body)
    assert fake_s3.client.get_bucket_location(Bucket="bkt").get("LocationConstraint") == expected


def test_parse_create_bucket_from_botocore(fake_s3):
    fake_s3.reply(b"")
    fake_s3.client.create_bucket(
        Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    body = fake_s3.requests[-1].body
    assert s3xml.parse_create_bucket(body) == "eu-west-3"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", None),
        (b"  \r\n", None),
        (b"<CreateBucketConfiguration/>", None),
        (b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>", None),
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<CreateBucketConfiguration '
            b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n  <LocationConstraint> '
            b"ap-south-1 </LocationConstraint>\n</CreateBucketConfiguration>",
            "ap-south-1",
        ),
    ],
)
def test_parse_create_bucket(body, expected):
    assert s3xml.parse_create_bucket(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"<CreateBucketConfiguration>",
        b"not xml at all",
        b"<Other><LocationConstraint>x</LocationConstraint></Other>",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]>'
        b"<CreateBucketConfiguration><LocationConstraint>&x;</LocationConstraint>"
        b"</CreateBucketConfiguration>",
        b'<!doctype r SYSTEM "file:///etc/passwd"><CreateBucketConfiguration/>',
        b"\xff\xfe garbage",
    ],
)
def test_parse_create_bucket_malformed(body):
    with pytest.raises(S3Error) as exc:
        s3xml.parse_create_bucket(body)
    assert exc.value.code == "MalformedXML"
    assert exc.value.status == 400


@pytest.mark.parametrize("body", [b"<a", b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', b"\xff"])
def test_xmlcore_parse_raises_its_own_error(body):
    # The bottom module knows nothing of S3Error; gateway.s3.xml.parse_xml maps it.
    with pytest.raises(xmlcore.MalformedXML):
        xmlcore.parse(body)


def test_doc_writes_attributes_in_order_and_escaped():
    doc = xmlcore.Doc()
    doc.open("Grantee", attrs={"xmlns:xsi": "urn:x", "xsi:type": 'a"b'})
    doc.close("Grantee")
    written = doc.to_bytes().decode().removeprefix(xmlcore.XML_DECLARATION)
    assert written == '<Grantee xmlns:xsi="urn:x" xsi:type="a&quot;b"></Grantee>'
