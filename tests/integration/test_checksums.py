"""Checksums end to end through boto3: a PUT's checksum checked and kept, multipart uploads
with COMPOSITE and FULL_OBJECT checksums (each part checked, the object's value combined
at Complete and compared with the one the request states), shown on HEAD only when asked
for, and per part in GetObjectAttributes. Expected values are computed here from the
bytes, independently of the gateway's combining code."""

import base64
import hashlib
import zlib

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.helpers import error_code

MiB = 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _digest(algorithm: str, data: bytes) -> bytes:
    """The raw checksum of data, as S3 computes it."""
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crt.crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return crt.crc64nvme(data).to_bytes(8, "big")
    return hashlib.new(algorithm.lower(), data).digest()


def test_put_checksum_checked_and_shown_only_when_asked(s3, bucket):
    body = b"A" * 1024
    value = _b64(_digest("SHA256", body))
    put = s3.put_object(
        Bucket=bucket, Key="one", Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=value
    )
    assert put["ChecksumSHA256"] == value
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="one")
    head = s3.head_object(Bucket=bucket, Key="one", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == value
    assert head["ChecksumType"] == "FULL_OBJECT"
    with pytest.raises(ClientError) as info:
        s3.put_object(
            Bucket=bucket,
            Key="one",
            Body=b"B" * 1024,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=value,
        )
    assert error_code(info) == (400, "BadDigest")
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == body


def _three_part_upload(s3, bucket, key, algorithm, checksum_type):
    created = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, ChecksumType=checksum_type
    )
    assert created["ChecksumAlgorithm"] == algorithm
    upload_id = created["UploadId"]
    member = f"Checksum{algorithm}"
    parts, datas = [], []
    for number, fill in enumerate(b"ABC", start=1):
        data = bytes([fill]) * (5 * MiB) if number < 3 else bytes([fill]) * 1000
        stated = _b64(_digest(algorithm, data))
        answer = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm=algorithm,
            **{member: stated},
        )
        assert answer[member] == stated
        parts.append({"PartNumber": number, "ETag": answer["ETag"], member: stated})
        datas.append(data)
    return upload_id, parts, datas


@pytest.mark.parametrize(
    ("algorithm", "checksum_type"),
    [
        ("SHA256", "COMPOSITE"),
        ("SHA1", "COMPOSITE"),
        ("CRC32", "COMPOSITE"),
        ("CRC32", "FULL_OBJECT"),
        ("CRC32C", "FULL_OBJECT"),
        ("CRC64NVME", "FULL_OBJECT"),
    ],
)
def test_multipart_checksum(s3, bucket, algorithm, checksum_type):
    key = f"mp-{algorithm}-{checksum_type}"
    member = f"Checksum{algorithm}"
    upload_id, parts, datas = _three_part_upload(s3, bucket, key, algorithm, checksum_type)
    if checksum_type == "COMPOSITE":
        joined = b"".join(_digest(algorithm, d) for d in datas)
        expected = f"{_b64(_digest(algorithm, joined))}-3"
    else:
        expected = _b64(_digest(algorithm, b"".join(datas)))

    # A stated object checksum that does not match completes nothing.
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            **{member: _b64(b"\0" * len(_digest(algorithm, b"")))},
        )
    assert error_code(info) == (400, "BadDigest")
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key=key)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
        **{member: expected},
    )
    assert done[member] == expected
    assert done["ChecksumType"] == checksum_type
    assert member not in s3.head_object(Bucket=bucket, Key=key)
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert (head[member], head["ChecksumType"]) == (expected, checksum_type)
    attributes = s3.get_object_attributes(
        Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectParts", "ObjectSize"]
    )
    assert attributes["Checksum"] == {member: expected, "ChecksumType": checksum_type}
    assert attributes["ObjectSize"] == sum(len(d) for d in datas)
    listed = attributes["ObjectParts"]["Parts"]
    assert [(p["PartNumber"], p["Size"], p[member]) for p in listed] == [
        (n, len(d), _b64(_digest(algorithm, d))) for n, d in enumerate(datas, start=1)
    ]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(datas)


def test_complete_without_stated_checksums_still_answers_them(s3, bucket):
    """Parts listed by ETag only, no object checksum stated: S3 still combines them."""
    upload_id, parts, datas = _three_part_upload(s3, bucket, "bare", "SHA256", "COMPOSITE")
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="bare",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
        },
    )
    joined = b"".join(hashlib.sha256(d).digest() for d in datas)
    assert done["ChecksumSHA256"] == f"{_b64(hashlib.sha256(joined).digest())}-3"


def test_checksum_type_the_algorithm_cannot_make_is_refused(s3, bucket):
    for algorithm, checksum_type in (("SHA256", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE")):
        with pytest.raises(ClientError) as info:
            s3.create_multipart_upload(
                Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType=checksum_type
            )
        assert error_code(info) == (400, "InvalidRequest")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
