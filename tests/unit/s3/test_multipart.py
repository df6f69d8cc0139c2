"""Multipart upload rules and XML, checked by hand, with etree and through a real botocore
client (see conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import random
import xml.etree.ElementTree as ET
import zlib
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import pytest
from awscrt import checksums as crt
from botocore.awsrequest import AWSResponse

from gateway.s3 import multipart as mp
from gateway.s3 import xml as s3xml
from gateway.s3 import xmlcore
from gateway.s3.checksums import Checksum
from gateway.s3.errors import S3Error, error_xml
from gateway.s3.multipart import CompletedPart, StoredPart
from gateway.s3.xml import UploadEntry

from .conftest import _Raw

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
TS = 1255369830.123456  # 2009-10-12T17:50:30.123Z
MiB = 1024 * 1024
OWNER = ("owner-id", "Owner & <Co>")

ODD_KEYS = [
    "plain.txt",
    "with space/and more",
    "ünïcödé/日本語/файл",
    "emoji-😀",
    "&<>\"'",
    "&amp; not an entity",
    "tab\there",
    "plus+sign %41",
    " leading and trailing ",
    "é" * 512,
]


def parse(body: bytes) -> ET.Element:
    assert body.startswith(DECL)
    return ET.fromstring(body)


def children(elem: ET.Element) -> list[str]:
    return [c.tag.removeprefix(NS) for c in elem]


def ms(ts: float) -> datetime:
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def crc_b64(algorithm: str, data: bytes) -> str:
    checksum = Checksum(algorithm)
    checksum.update(data)
    return checksum.b64()


def raises(code: str, func, *args, **kwargs) -> S3Error:
    with pytest.raises(S3Error) as exc:
        func(*args, **kwargs)
    assert exc.value.code == code
    return exc.value


# -- part numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "number"), [("1", 1), ("10000", 10000), ("0042", 42)])
def test_parse_part_number(value, number):
    assert mp.parse_part_number(value) == number


@pytest.mark.parametrize(
    "value", [None, "", "0", "10001", "-1", "+1", "1_0", "1.0", "abc", "٣", "9" * 30, "0x10"]
)
def test_parse_part_number_invalid(value):
    err = raises("InvalidArgument", mp.parse_part_number, value)
    assert err.status == 400
    assert err.message == "Part number must be an integer between 1 and 10000, inclusive"
    assert err.extra == {"ArgumentName": "partNumber", "ArgumentValue": value or ""}


def test_constants():
    assert mp.MIN_PART_SIZE == 5 * MiB
    assert mp.MAX_PART_NUMBER == 10000
    assert mp.MAX_PARTS_LISTED == 1000


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 1000), ("", 1000), ("0", 0), ("7", 7), ("5000", 1000)]
)
def test_parse_max_count(value, expected):
    assert mp.parse_max_count(value, "max-parts") == expected


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "99999999999", "2147483648"])
def test_parse_max_count_invalid(value):
    err = raises("InvalidArgument", mp.parse_max_count, value, "max-uploads")
    assert err.message == "Provided max-uploads not an integer or within integer range"
    assert err.extra == {"ArgumentName": "max-uploads", "ArgumentValue": value}


def test_parse_part_number_marker():
    assert mp.parse_part_number_marker(None) == 0
    assert mp.parse_part_number_marker("") == 0
    assert mp.parse_part_number_marker("12") == 12
    err = raises("InvalidArgument", mp.parse_part_number_marker, "x")
    assert err.extra["ArgumentName"] == "part-number-marker"


# -- CompleteMultipartUpload bodies --------------------------------------------------------


def complete_body(*parts: str, ns: bool = True) -> bytes:
    xmlns = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"' if ns else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload{xmlns}>'
        + "".join(parts)
        + "</CompleteMultipartUpload>"
    ).encode()


def part(number: str | int, etag: str, extra: str = "") -> str:
    return f"<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag>{extra}</Part>"


@pytest.mark.parametrize("ns", [True, False])
def test_parse_complete(ns):
    body = complete_body(
        part(1, "&quot;aaa&quot;"),
        "\n  ",
        part(" 2 ", "  bbb  ", "<ChecksumCRC32>AAAAAA==</ChecksumCRC32>"),
        part(
            10000,
            '"ccc"',
            "<ChecksumSHA256>c2hh</ChecksumSHA256><ChecksumCRC64NVME>Y3JjNjQ=</ChecksumCRC64NVME>"
            "<ChecksumCRC32C>Y3Jj</ChecksumCRC32C><ChecksumSHA1>c2hhMQ==</ChecksumSHA1>",
        ),
        ns=ns,
    )
    assert mp.parse_complete(body) == [
        CompletedPart(1, "aaa", {}),
        CompletedPart(2, "bbb", {"crc32": "AAAAAA=="}),
        CompletedPart(
            10000,
            "ccc",
            {"sha256": "c2hh", "crc64nvme": "Y3JjNjQ=", "crc32c": "Y3Jj", "sha1": "c2hhMQ=="},
        ),
    ]


def test_parse_complete_etag_forms():
    # Quoted, unquoted, XML-escaped quotes, and quotes escaped twice (some old clients).
    body = complete_body(
        part(1, '"a1"'), part(2, "a2"), part(3, "&quot;a3&quot;"), part(4, "&amp;quot;a4&amp;quot;")
    )
    assert [p.etag for p in mp.parse_complete(body)] == ["a1", "a2", "a3", "a4"]
    assert mp.normalize_etag('  "x"  ') == "x"
    assert mp.normalize_etag('"') == '"'
    assert mp.normalize_etag("") == ""


def test_parse_complete_from_botocore(fake_s3):
    fake_s3.reply(s3xml.complete_multipart("/b/k", "b", "k", '"e-2"', {}, None))
    fake_s3.client.complete_multipart_upload(
        Bucket="b",
        Key="k",
        UploadId="u",
        MultipartUpload={
            "Parts": [
                {"ETag": '"abc"', "PartNumber": 1, "ChecksumCRC32": "AAAAAA=="},
                {"ETag": "def", "PartNumber": 3},
            ]
        },
    )
    body = fake_s3.requests[-1].body
    assert mp.parse_complete(body) == [
        CompletedPart(1, "abc", {"crc32": "AAAAAA=="}),
        CompletedPart(3, "def", {}),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        complete_body(),
        complete_body("<Other/>"),
        b"<CompleteMultipartUpload><Part>",
        b"<Other>" + part(1, "a").encode() + b"</Other>",
        complete_body("<Part><ETag>a</ETag></Part>"),
        complete_body("<Part><PartNumber>1</PartNumber></Part>"),
        b'<!DOCTYPE r [<!ENTITY x "y">]><CompleteMultipartUpload>'
        + part(1, "&x;").encode()
        + b"</CompleteMultipartUpload>",
    ],
)
def test_parse_complete_malformed(body):
    err = raises("MalformedXML", mp.parse_complete, body)
    assert err.message == (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


@pytest.mark.parametrize("numbers", [(2, 1), (1, 1), (1, 3, 2), (5, 5, 6)])
def test_parse_complete_order(numbers):
    body = complete_body(*(part(n, f"e{n}") for n in numbers))
    err = raises("InvalidPartOrder", mp.parse_complete, body, upload_id="up")
    assert err.status == 400
    assert err.extra["UploadId"] == "up"


@pytest.mark.parametrize("number", ["0", "10001", "x", "", "-3"])
def test_parse_complete_bad_part_number(number):
    raises("InvalidArgument", mp.parse_complete, complete_body(part(number, "e")))


# -- validate_parts ------------------------------------------------------------------------


def stored(*sizes: int) -> dict[int, StoredPart]:
    return {
        n: StoredPart(n, f"etag{n}", size, TS, {"crc32": f"crc{n}"})
        for n, size in enumerate(sizes, start=1)
    }


def wanted(*numbers: int, **overrides: str) -> list[CompletedPart]:
    return [CompletedPart(n, overrides.get(f"etag{n}", f"etag{n}"), {}) for n in numbers]


def test_validate_parts_ok_in_order():
    have = stored(5 * MiB, 6 * MiB, 1, 5 * MiB, 0)
    chosen = mp.validate_parts(wanted(1, 2, 4, 5), have)
    assert [p.part_number for p in chosen] == [1, 2, 4, 5]
    assert chosen[0] is have[1]


def test_validate_parts_small_last_part_ok():
    assert len(mp.validate_parts(wanted(1, 2), stored(5 * MiB, 1))) == 2
    assert len(mp.validate_parts(wanted(1, 2), stored(5 * MiB, 0))) == 2


@pytest.mark.parametrize("size", [0, 1, 5 * MiB - 1, 6 * MiB])
def test_validate_parts_single_part_any_size(size):
    assert mp.validate_parts(wanted(1), stored(size)) == [stored(size)[1]]


def test_validate_parts_small_middle_part():
    err = raises(
        "EntityTooSmall", mp.validate_parts, wanted(1, 2, 3), stored(5 * MiB, 5 * MiB - 1, 9)
    )
    assert err.status == 400
    assert err.message == "Your proposed upload is smaller than the minimum allowed size"
    assert err.extra == {
        "ProposedSize": str(5 * MiB - 1),
        "MinSizeAllowed": "5242880",
        "PartNumber": "2",
        "ETag": "etag2",
    }


def test_validate_parts_missing_part():
    err = raises("InvalidPart", mp.validate_parts, wanted(1, 3), stored(5 * MiB, 1), upload_id="u")
    assert err.extra == {"UploadId": "u", "PartNumber": "3", "ETag": "etag3"}
    assert err.message.startswith("One or more of the specified parts could not be found.")


def test_validate_parts_etag_mismatch():
    err = raises("InvalidPart", mp.validate_parts, wanted(1, 2, etag2="nope"), stored(5 * MiB, 1))
    assert err.extra == {"PartNumber": "2", "ETag": "nope"}
    # A stored ETag kept with its quotes still matches.
    have = {1: StoredPart(1, '"etag1"', 1, TS, {})}
    assert mp.validate_parts(wanted(1), have) == [have[1]]


def test_validate_parts_checksums():
    have = stored(5 * MiB, 1)
    ok = [CompletedPart(1, "etag1", {"crc32": "crc1"}), CompletedPart(2, "etag2", {})]
    assert len(mp.validate_parts(ok, have)) == 2
    bad = [CompletedPart(1, "etag1", {"crc32": "other"})]
    raises("InvalidPart", mp.validate_parts, bad, have)
    missing = [CompletedPart(1, "etag1", {"sha256": "x"})]
    raises("InvalidPart", mp.validate_parts, missing, have)


def test_error_rendering_has_aws_details():
    err = raises("EntityTooSmall", mp.validate_parts, wanted(1, 2), stored(1, 1))
    body = error_xml(err, "req")
    assert (
        b"<ProposedSize>1</ProposedSize><MinSizeAllowed>5242880</MinSizeAllowed>"
        b"<PartNumber>1</PartNumber><ETag>etag1</ETag>" in body
    )


# -- ETag and checksums --------------------------------------------------------------------


def test_multipart_etag_rule():
    data = [b"a" * (5 * MiB), b"bc"]
    hexes = [hashlib.md5(d).hexdigest() for d in data]
    by_hand = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in data)).hexdigest()
    assert mp.multipart_etag(hexes) == f"{by_hand}-2"
    assert mp.multipart_etag([f'"{h}"' for h in hexes]) == f"{by_hand}-2"


def test_multipart_etag_known_values():
    # MD5 of MD5("") -- a one-part upload of an empty part.
    assert mp.multipart_etag(["d41d8cd98f00b204e9800998ecf8427e"]) == (
        "59adb24ef3cdbe0297f05b395827453f-1"
    )
    hello, world = hashlib.md5(b"hello").hexdigest(), hashlib.md5(b"world").hexdigest()
    assert mp.multipart_etag([hello, world]) == "065947336a2f2a95ba8899f3675c3be6-2"  # md5sum + xxd


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"])
def test_composite_checksum_rule(algorithm):
    parts = [b"part one", b"", b"part three" * 1000]
    values = [crc_b64(algorithm, p) for p in parts]
    by_hand = Checksum(algorithm)
    for value in values:
        by_hand.update(base64.b64decode(value))
    assert mp.composite_checksum(algorithm, values) == f"{by_hand.b64()}-3"


def test_composite_crc32_known_parts():
    crcs = [zlib.crc32(b"hello"), zlib.crc32(b" "), zlib.crc32(b"world")]
    values = [b64(c.to_bytes(4, "big")) for c in crcs]
    concatenated = b"".join(c.to_bytes(4, "big") for c in crcs)
    expected = b64(zlib.crc32(concatenated).to_bytes(4, "big"))
    assert mp.composite_checksum("crc32", values) == f"{expected}-3"
    # Not the CRC of the data itself: that is what FULL_OBJECT is for.
    assert not mp.composite_checksum("crc32", values).startswith(crc_b64("crc32", b"hello world"))


def test_composite_checksum_rejects_bad_base64():
    with pytest.raises(ValueError):
        mp.composite_checksum("crc32", ["not base64!"])


_WHOLE = {
    "crc32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "crc32c": lambda data: crt.crc32c(data).to_bytes(4, "big"),
    "crc64nvme": lambda data: crt.crc64nvme(data).to_bytes(8, "big"),
}


@pytest.mark.parametrize("algorithm", sorted(_WHOLE))
@pytest.mark.parametrize("seed", range(5))
def test_full_object_crc_equals_crc_of_concatenation(algorithm, seed):
    rng = random.Random(seed)
    sizes = [
        rng.choice([0, 1, 7, 4096, rng.randrange(1, 300_000)]) for _ in range(rng.randint(1, 6))
    ]
    parts = [rng.randbytes(size) for size in sizes]
    combined = mp.full_object_crc(algorithm, [(crc_b64(algorithm, p), len(p)) for p in parts])
    assert combined == b64(_WHOLE[algorithm](b"".join(parts)))


def test_full_object_crc_edge_cases():
    assert mp.full_object_crc("crc32", []) == b64(bytes(4))
    assert mp.full_object_crc("crc64nvme", [(crc_b64("crc64nvme", b"x"), 1)]) == crc_b64(
        "crc64nvme", b"x"
    )
    with pytest.raises(ValueError):
        mp.full_object_crc("sha256", [(crc_b64("sha256", b"x"), 1)])


# -- XML: CreateMultipartUpload, CompleteMultipartUpload, copies ----------------------------


@pytest.mark.parametrize("key", ODD_KEYS)
def test_initiate_multipart(fake_s3, key):
    body = s3xml.initiate_multipart("bkt", key, "up&id")
    root = parse(body)
    assert root.tag == f"{NS}InitiateMultipartUploadResult"
    assert children(root) == ["Bucket", "Key", "UploadId"]
    fake_s3.reply(body)
    out = fake_s3.client.create_multipart_upload(Bucket="bkt", Key=key)
    assert (out["Bucket"], out["Key"], out["UploadId"]) == ("bkt", key, "up&id")


@pytest.mark.parametrize("key", ODD_KEYS)
def test_complete_multipart(fake_s3, key):
    checksums = {"crc32": "AAAAAA==-2", "sha256": "c2hh-2"}
    body = s3xml.complete_multipart(
        "http://h/bkt/k%20", "bkt", key, '"abc-2"', checksums, "COMPOSITE"
    )
    root = parse(body)
    assert root.tag == f"{NS}CompleteMultipartUploadResult"
    assert children(root) == [
        "Location",
        "Bucket",
        "Key",
        "ETag",
        "ChecksumCRC32",
        "ChecksumSHA256",
        "ChecksumType",
    ]
    assert b"<ETag>&quot;abc-2&quot;</ETag>" in body
    fake_s3.reply(body)
    out = fake_s3.client.complete_multipart_upload(
        Bucket="bkt",
        Key=key,
        UploadId="u",
        MultipartUpload={"Parts": [{"ETag": '"x"', "PartNumber": 1}]},
    )
    assert out["Location"] == "http://h/bkt/k%20"
    assert (out["Bucket"], out["Key"], out["ETag"]) == ("bkt", key, '"abc-2"')
    assert out["ChecksumCRC32"] == "AAAAAA==-2"
    assert out["ChecksumSHA256"] == "c2hh-2"
    assert out["ChecksumType"] == "COMPOSITE"


def test_complete_multipart_minimal():
    root = parse(s3xml.complete_multipart("/b/k", "b", "k", '"e-1"', {}, None))
    assert children(root) == ["Location", "Bucket", "Key", "ETag"]


def test_copy_part_result(fake_s3):
    body = s3xml.copy_part_result('"etag"', TS, {"crc32c": "Y3Jj", "CRC64NVME": "Y3JjNjQ="})
    root = parse(body)
    assert root.tag == f"{NS}CopyPartResult"
    assert children(root) == ["LastModified", "ETag", "ChecksumCRC32C", "ChecksumCRC64NVME"]
    assert root.findtext(f"{NS}LastModified") == "2009-10-12T17:50:30.123Z"
    fake_s3.reply(body)
    out = fake_s3.client.upload_part_copy(
        Bucket="bkt", Key="k", UploadId="u", PartNumber=2, CopySource="src/key"
    )
    assert out["CopyPartResult"] == {
        "ETag": '"etag"',
        "LastModified": ms(TS),
        "ChecksumCRC32C": "Y3Jj",
        "ChecksumCRC64NVME": "Y3JjNjQ=",
    }


def test_copy_object_result(fake_s3):
    body = s3xml.copy_object_result('"etag"', TS, {"sha1": "c2hhMQ=="}, "FULL_OBJECT")
    root = parse(body)
    assert root.tag == f"{NS}CopyObjectResult"
    assert children(root) == ["LastModified", "ETag", "ChecksumType", "ChecksumSHA1"]
    fake_s3.reply(body)
    out = fake_s3.client.copy_object(Bucket="bkt", Key="k", CopySource="src/key")
    assert out["CopyObjectResult"] == {
        "ETag": '"etag"',
        "LastModified": ms(TS),
        "ChecksumSHA1": "c2hhMQ==",
        "ChecksumType": "FULL_OBJECT",
    }
    assert children(parse(s3xml.copy_object_result('"e"', TS, {}))) == ["LastModified", "ETag"]


# -- XML: ListParts ------------------------------------------------------------------------


def parts_body(key: str = "k", **overrides) -> bytes:
    args = dict(
        bucket="bkt",
        key=key,
        upload_id="up-1",
        part_number_marker=0,
        next_part_number_marker=2,
        max_parts=1000,
        is_truncated=False,
        parts=[
            StoredPart(1, "aaa", 5 * MiB, TS, {"crc32": "AAAAAA=="}),
            StoredPart(2, '"bbb"', 3, TS + 1, {}),
        ],
        initiator=("init-id", "Init"),
        owner=OWNER,
        checksum_algorithm="crc32",
        checksum_type="COMPOSITE",
    )
    args.update(overrides)
    return s3xml.list_parts(**args)


def test_list_parts_etree():
    root = parse(parts_body())
    assert root.tag == f"{NS}ListPartsResult"
    assert children(root) == [
        "Bucket",
        "Key",
        "UploadId",
        "Initiator",
        "Owner",
        "StorageClass",
        "PartNumberMarker",
        "NextPartNumberMarker",
        "MaxParts",
        "IsTruncated",
        "ChecksumAlgorithm",
        "ChecksumType",
        "Part",
        "Part",
    ]
    first = root.find(f"{NS}Part")
    assert children(first) == ["PartNumber", "LastModified", "ETag", "Size", "ChecksumCRC32"]
    assert [p.findtext(f"{NS}ETag") for p in root.iterfind(f"{NS}Part")] == ['"aaa"', '"bbb"']
    assert root.findtext(f"{NS}ChecksumAlgorithm") == "CRC32"
    assert children(root.find(f"{NS}Initiator")) == ["ID", "DisplayName"]


def test_list_parts_minimal():
    root = parse(
        parts_body(
            next_part_number_marker=None, parts=[], checksum_algorithm=None, checksum_type=None
        )
    )
    assert "NextPartNumberMarker" not in children(root)
    assert "Part" not in children(root)
    assert root.findtext(f"{NS}PartNumberMarker") == "0"


@pytest.mark.parametrize("key", ODD_KEYS)
def test_list_parts_botocore(fake_s3, key):
    fake_s3.reply(parts_body(key, part_number_marker=3, is_truncated=True, max_parts=2))
    out = fake_s3.client.list_parts(Bucket="bkt", Key=key, UploadId="up-1")
    assert (out["Bucket"], out["Key"], out["UploadId"]) == ("bkt", key, "up-1")
    assert out["PartNumberMarker"] == 3
    assert out["NextPartNumberMarker"] == 2
    assert out["MaxParts"] == 2
    assert out["IsTruncated"] is True
    assert out["Initiator"] == {"ID": "init-id", "DisplayName": "Init"}
    assert out["Owner"] == {"ID": "owner-id", "DisplayName": "Owner & <Co>"}
    assert out["StorageClass"] == "STANDARD"
    assert out["ChecksumAlgorithm"] == "CRC32"
    assert out["ChecksumType"] == "COMPOSITE"
    assert out["Parts"] == [
        {
            "PartNumber": 1,
            "LastModified": ms(TS),
            "ETag": '"aaa"',
            "Size": 5 * MiB,
            "ChecksumCRC32": "AAAAAA==",
        },
        {"PartNumber": 2, "LastModified": ms(TS + 1), "ETag": '"bbb"', "Size": 3},
    ]


# -- XML: ListMultipartUploads -------------------------------------------------------------


def uploads_body(**overrides) -> bytes:
    args = dict(
        bucket="bkt",
        key_marker=None,
        upload_id_marker=None,
        next_key_marker=None,
        next_upload_id_marker=None,
        max_uploads=1000,
        is_truncated=False,
        uploads=[],
        common_prefixes=[],
        prefix=None,
        delimiter=None,
        encoding_type=None,
        owner=OWNER,
    )
    args.update(overrides)
    return s3xml.list_uploads(**args)


def test_list_uploads_etree():
    body = uploads_body(
        key_marker="a",
        upload_id_marker="u0",
        next_key_marker="p/b",
        next_upload_id_marker="u2",
        max_uploads=2,
        is_truncated=True,
        uploads=[UploadEntry("p/b", "u2", TS, checksum_algorithm="sha256")],
        common_prefixes=["p/c/"],
        prefix="p/",
        delimiter="/",
        encoding_type="url",
    )
    root = parse(body)
    assert root.tag == f"{NS}ListMultipartUploadsResult"
    assert children(root) == [
        "Bucket",
        "KeyMarker",
        "UploadIdMarker",
        "NextKeyMarker",
        "NextUploadIdMarker",
        "Delimiter",
        "Prefix",
        "MaxUploads",
        "EncodingType",
        "IsTruncated",
        "Upload",
        "CommonPrefixes",
    ]
    upload = root.find(f"{NS}Upload")
    assert children(upload) == [
        "Key",
        "UploadId",
        "Initiator",
        "Owner",
        "StorageClass",
        "Initiated",
        "ChecksumAlgorithm",
    ]
    assert upload.findtext(f"{NS}Initiated") == "2009-10-12T17:50:30.123Z"
    assert upload.findtext(f"{NS}ChecksumAlgorithm") == "SHA256"


def test_list_uploads_minimal():
    root = parse(uploads_body())
    assert children(root) == [
        "Bucket",
        "KeyMarker",
        "UploadIdMarker",
        "NextKeyMarker",
        "NextUploadIdMarker",
        "MaxUploads",
        "IsTruncated",
    ]
    # The handler passes empty strings for absent query parameters.
    assert children(parse(uploads_body(prefix="", delimiter=""))) == children(root)


def test_list_uploads_botocore_raw(fake_s3):
    keys = sorted(ODD_KEYS)
    fake_s3.reply(
        uploads_body(
            key_marker="&<",
            upload_id_marker="id&0",
            next_key_marker=keys[-1],
            next_upload_id_marker="id9",
            max_uploads=50,
            is_truncated=True,
            uploads=[UploadEntry(k, f"id{i}", TS + i) for i, k in enumerate(keys)],
            common_prefixes=["dir & co|", "ü|"],
            prefix="",
            delimiter="|",
        )
    )
    out = fake_s3.client.list_multipart_uploads(Bucket="bkt", Delimiter="|")
    assert [u["Key"] for u in out["Uploads"]] == keys
    assert [u["UploadId"] for u in out["Uploads"]] == [f"id{i}" for i in range(len(keys))]
    first = out["Uploads"][0]
    assert first["Initiated"] == ms(TS)
    assert first["StorageClass"] == "STANDARD"
    assert first["Owner"] == {"ID": "owner-id", "DisplayName": "Owner & <Co>"}
    assert first["Initiator"] == {"ID": "owner-id", "DisplayName": "Owner & <Co>"}
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir & co|", "ü|"]
    assert (out["KeyMarker"], out["UploadIdMarker"]) == ("&<", "id&0")
    assert (out["NextKeyMarker"], out["NextUploadIdMarker"]) == (keys[-1], "id9")
    assert (out["Delimiter"], out["Prefix"]) == ("|", "")
    assert out["MaxUploads"] == 50
    assert out["IsTruncated"] is True
    assert "EncodingType" not in out


@pytest.mark.parametrize("key", ODD_KEYS + ["ctrl\x01\x1f", "cr\rlf\n"])
def test_list_uploads_url_encoding(fake_s3, key):
    fake_s3.reply(
        uploads_body(
            key_marker=key,
            upload_id_marker="id+/=",
            next_key_marker=key + "~",
            next_upload_id_marker="nid+",
            uploads=[UploadEntry(key, "id+", TS)],
            common_prefixes=[key + "\x02"],
            prefix=key[:3],
            delimiter="\x02",
            encoding_type="url",
        )
    )
    # botocore neither asks for nor decodes encoding-type=url here: clients see the wire form.
    out = fake_s3.client.list_multipart_uploads(Bucket="bkt", EncodingType="url")
    assert out["EncodingType"] == "url"
    assert out["Uploads"][0]["Key"] == xmlcore.url_encode(key)
    assert unquote_plus(out["Uploads"][0]["Key"]) == key
    assert unquote_plus(out["CommonPrefixes"][0]["Prefix"]) == key + "\x02"
    assert unquote_plus(out["KeyMarker"]) == key
    assert unquote_plus(out["NextKeyMarker"]) == key + "~"
    assert unquote_plus(out["Prefix"]) == key[:3]
    assert unquote_plus(out["Delimiter"]) == "\x02"
    # Upload ids are opaque: never encoded.
    assert out["Uploads"][0]["UploadId"] == "id+"
    assert (out["UploadIdMarker"], out["NextUploadIdMarker"]) == ("id+/=", "nid+")


# -- paging --------------------------------------------------------------------------------


def make_uploads(rng: random.Random) -> list[UploadEntry]:
    names = ["a", "a/b", "a/b/c", "a/c", "a/", "b", "b/x", "b/y/z", "c|d", "c", "ü/x", "z/"]
    uploads = [
        UploadEntry(
            rng.choice(names) + rng.choice(["", "1", "/2", "|3"]), f"u{rng.randrange(99):02d}", TS
        )
        for _ in range(60)
    ]
    unique = {(u.key, u.upload_id): u for u in uploads}
    return [unique[k] for k in sorted(unique)]


def expected_listing(
    uploads: list[UploadEntry], prefix: str, delimiter: str
) -> tuple[list[tuple[str, str]], list[str]]:
    entries, prefixes = [], []
    for u in uploads:
        if not u.key.startswith(prefix):
            continue
        at = u.key.find(delimiter, len(prefix)) if delimiter else -1
        if at >= 0:
            rolled = u.key[: at + len(delimiter)]
            if rolled not in prefixes:
                prefixes.append(rolled)
        else:
            entries.append((u.key, u.upload_id))
    return entries, prefixes


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("prefix", ["", "a", "a/", "b/", "nothing"])
@pytest.mark.parametrize("delimiter", ["", "/", "|", "/b"])
def test_page_uploads_never_skips_or_repeats(seed, prefix, delimiter):
    uploads = make_uploads(random.Random(seed))
    want_entries, want_prefixes = expected_listing(uploads, prefix, delimiter)
    for max_uploads in (1, 2, 3, 7, 1000, 5000):
        got_entries, got_prefixes = [], []
        key_marker = upload_id_marker = ""
        for _ in range(200):
            entries, prefixes, truncated, next_key, next_id = mp.page_uploads(
                uploads,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                upload_id_marker=upload_id_marker,
                max_uploads=max_uploads,
            )
            assert len(entries) + len(prefixes) <= min(max_uploads, 1000)
            got_entries += [(u.key, u.upload_id) for u in entries]
            got_prefixes += prefixes
            if not truncated:
                break
            assert len(entries) + len(prefixes) == min(max_uploads, 1000)
            key_marker, upload_id_marker = next_key, next_id or ""
        else:
            pytest.fail("paging did not end")
        assert got_entries == want_entries
        assert got_prefixes == want_prefixes


def test_page_uploads_markers():
    uploads = [
        UploadEntry(k, i, TS)
        for k, i in [("a", "1"), ("a", "2"), ("b", "1"), ("b", "3"), ("c", "0")]
    ]

    def listed(**kw):
        args = dict(prefix=None, delimiter=None, key_marker=None, upload_id_marker=None)
        args.update(kw)
        entries, *_ = mp.page_uploads(uploads, max_uploads=1000, **args)
        return [(u.key, u.upload_id) for u in entries]

    # key-marker alone: keys after it only.
    assert listed(key_marker="a") == [("b", "1"), ("b", "3"), ("c", "0")]
    # with upload-id-marker: later uploads of that key, then later keys.
    assert listed(key_marker="b", upload_id_marker="1") == [("b", "3"), ("c", "0")]
    assert listed(key_marker="b", upload_id_marker="0") == [("b", "1"), ("b", "3"), ("c", "0")]
    assert listed(key_marker="aa", upload_id_marker="9") == [("b", "1"), ("b", "3"), ("c", "0")]
    # upload-id-marker without key-marker is ignored.
    assert len(listed(upload_id_marker="2")) == 5
    assert listed(key_marker="c") == []


def test_page_uploads_next_markers_and_rollup_counts():
    uploads = [
        UploadEntry(k, i, TS)
        for k, i in [("a", "1"), ("d/1", "1"), ("d/2", "1"), ("d/3", "2"), ("e", "5"), ("f", "6")]
    ]
    entries, prefixes, truncated, next_key, next_id = mp.page_uploads(
        uploads, prefix="", delimiter="/", key_marker="", upload_id_marker="", max_uploads=2
    )
    assert [u.key for u in entries] == ["a"]
    assert prefixes == ["d/"]  # three uploads, one slot of max-uploads
    assert truncated is True
    assert (next_key, next_id) == ("d/", None)
    entries, prefixes, truncated, next_key, next_id = mp.page_uploads(
        uploads, prefix="", delimiter="/", key_marker="d/", upload_id_marker="", max_uploads=2
    )
    assert [u.key for u in entries] == ["e", "f"]
    assert prefixes == []
    # Exactly max-uploads left: not truncated (no further entry exists).
    assert truncated is False
    assert (next_key, next_id) == ("f", "6")
    # Without a delimiter, "d/" is an ordinary key marker.
    entries, *_ = mp.page_uploads(
        uploads, prefix="", delimiter="", key_marker="d/", upload_id_marker="", max_uploads=9
    )
    assert [u.key for u in entries] == ["d/1", "d/2", "d/3", "e", "f"]


def test_page_uploads_empty_and_zero():
    assert mp.page_uploads(
        [], prefix="", delimiter="", key_marker="", upload_id_marker="", max_uploads=10
    ) == ([], [], False, None, None)
    one = [UploadEntry("k", "u", TS)]
    assert mp.page_uploads(
        one, prefix="", delimiter="", key_marker="", upload_id_marker="", max_uploads=0
    ) == ([], [], True, None, None)


def numbered(*numbers: int) -> list[StoredPart]:
    return [StoredPart(n, f"e{n}", n, TS, {}) for n in numbers]


def test_page_parts():
    parts = numbered(1, 2, 5, 9, 10)
    page, truncated, marker = mp.page_parts(parts, 0, 2)
    assert ([p.part_number for p in page], truncated, marker) == ([1, 2], True, 2)
    page, truncated, marker = mp.page_parts(parts, 2, 2)
    assert ([p.part_number for p in page], truncated, marker) == ([5, 9], True, 9)
    page, truncated, marker = mp.page_parts(parts, 9, 2)
    assert ([p.part_number for p in page], truncated, marker) == ([10], False, 10)
    assert mp.page_parts(parts, 3, 1000)[0] == parts[2:]
    assert mp.page_parts(parts, 10, 1000) == ([], False, None)
    assert mp.page_parts(parts, 0, 0) == ([], True, None)
    assert mp.page_parts([], 0, 5) == ([], False, None)


@pytest.mark.parametrize("max_parts", [1, 2, 3, 999, 1000, 5000])
def test_page_parts_never_skips_or_repeats(max_parts):
    parts = numbered(*sorted(random.Random(max_parts).sample(range(1, 10001), 2345)))
    seen: list[int] = []
    marker = 0
    while True:
        page, truncated, next_marker = mp.page_parts(parts, marker, max_parts)
        assert len(page) <= min(max_parts, 1000)
        seen += [p.part_number for p in page]
        if not truncated:
            break
        marker = next_marker
    assert seen == [p.part_number for p in parts]


# -- botocore paginators against a fake server made of page_* and the renderers -------------


def serve(fake_s3, operation: str, handler) -> None:
    def before_send(request, **_: object) -> AWSResponse:
        fake_s3.requests.append(request)
        query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
        return AWSResponse(request.url, 200, {}, _Raw(handler(query)))

    fake_s3.client.meta.events.register_first(f"before-send.s3.{operation}", before_send)


def test_list_multipart_uploads_paginator(fake_s3):
    uploads = make_uploads(random.Random(7))
    want_entries, want_prefixes = expected_listing(uploads, "", "/")

    def handler(query: dict[str, str]) -> bytes:
        max_uploads = mp.parse_max_count(query.get("max-uploads"), "max-uploads")
        entries, prefixes, truncated, next_key, next_id = mp.page_uploads(
            uploads,
            prefix=query.get("prefix", ""),
            delimiter=query.get("delimiter", ""),
            key_marker=query.get("key-marker", ""),
            upload_id_marker=query.get("upload-id-marker", ""),
            max_uploads=max_uploads,
        )
        return uploads_body(
            key_marker=query.get("key-marker"),
            upload_id_marker=query.get("upload-id-marker"),
            next_key_marker=next_key,
            next_upload_id_marker=next_id,
            max_uploads=max_uploads,
            is_truncated=truncated,
            uploads=entries,
            common_prefixes=prefixes,
            prefix=query.get("prefix"),
            delimiter=query.get("delimiter"),
        )

    serve(fake_s3, "ListMultipartUploads", handler)
    pages = list(
        fake_s3.client.get_paginator("list_multipart_uploads").paginate(
            Bucket="bkt", Delimiter="/", PaginationConfig={"PageSize": 3}
        )
    )
    assert len(pages) > 3
    got = [(u["Key"], u["UploadId"]) for p in pages for u in p.get("Uploads", [])]
    got_prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert got == want_entries
    assert got_prefixes == want_prefixes


def test_list_parts_paginator(fake_s3):
    parts = numbered(*range(1, 2501, 3))

    def handler(query: dict[str, str]) -> bytes:
        marker = mp.parse_part_number_marker(query.get("part-number-marker"))
        max_parts = mp.parse_max_count(query.get("max-parts"), "max-parts")
        page, truncated, next_marker = mp.page_parts(parts, marker, max_parts)
        return parts_body(
            part_number_marker=marker,
            next_part_number_marker=next_marker,
            max_parts=max_parts,
            is_truncated=truncated,
            parts=page,
        )

    serve(fake_s3, "ListParts", handler)
    paginator = fake_s3.client.get_paginator("list_parts")
    pages = list(paginator.paginate(Bucket="bkt", Key="k", UploadId="u"))
    assert len(pages) == 1  # 834 parts fit one page of 1000
    pages = list(
        paginator.paginate(Bucket="bkt", Key="k", UploadId="u", PaginationConfig={"PageSize": 100})
    )
    assert len(pages) == 9
    assert [p["PartNumber"] for page in pages for p in page["Parts"]] == list(range(1, 2501, 3))
