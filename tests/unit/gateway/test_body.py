"""The body pipeline: payload hash, Content-MD5, checksums, aws-chunked."""

import base64
import hashlib
import zlib

import pytest

from gateway.s3.auth.sigv4 import AuthResult
from gateway.s3.body import BodyPipeline
from gateway.s3.errors import S3Error

DATA = b"tessera" * 10_000


def _auth(payload_hash: str) -> AuthResult:
    return AuthResult(
        access_key="AK",
        signing_key=b"k" * 32,
        scope="20260101/us-east-1/s3/aws4_request",
        amz_date="20260101T000000Z",
        signature="0" * 64,
        payload_hash=payload_hash,
        presigned=False,
    )


def _run(headers, auth, wire=DATA, step=4096):
    pipeline = BodyPipeline(headers, auth)
    out = b"".join(b"".join(pipeline.feed(wire[i : i + step])) for i in range(0, len(wire), step))
    pipeline.finish()
    return pipeline, out


def test_signed_payload_hash_verified():
    digest = hashlib.sha256(DATA).hexdigest()
    pipeline, out = _run({"x-amz-content-sha256": digest}, _auth(digest))
    assert out == DATA and pipeline.md5_hex == hashlib.md5(DATA).hexdigest()
    wrong = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(S3Error) as info:
        _run({"x-amz-content-sha256": wrong}, _auth(wrong))
    assert info.value.code == "XAmzContentSHA256Mismatch"


def test_content_md5():
    good = base64.b64encode(hashlib.md5(DATA).digest()).decode()
    _run({"content-md5": good}, _auth("UNSIGNED-PAYLOAD"))
    with pytest.raises(S3Error) as info:
        _run({"content-md5": base64.b64encode(b"x" * 16).decode()}, _auth("UNSIGNED-PAYLOAD"))
    assert info.value.code == "BadDigest"
    with pytest.raises(S3Error) as info:
        BodyPipeline({"content-md5": "not base64!"}, None)
    assert info.value.code == "InvalidDigest"


def test_checksum_header_verified_and_reported():
    crc = base64.b64encode(zlib.crc32(DATA).to_bytes(4, "big")).decode()
    pipeline, _ = _run({"x-amz-checksum-crc32": crc}, _auth("UNSIGNED-PAYLOAD"))
    assert pipeline.checksums == {"crc32": crc}
    with pytest.raises(S3Error) as info:
        _run({"x-amz-checksum-crc32": "AAAAAA=="}, _auth("UNSIGNED-PAYLOAD"))
    assert info.value.code == "BadDigest"


def test_short_body_is_incomplete():
    with pytest.raises(S3Error) as info:
        _run({"content-length": str(len(DATA) + 1)}, _auth("UNSIGNED-PAYLOAD"))
    assert info.value.code == "IncompleteBody"


def _unsigned_chunked(data: bytes, trailer_value: str) -> bytes:
    wire = b""
    for i in range(0, len(data), 8192):
        part = data[i : i + 8192]
        wire += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return wire + b"0\r\nx-amz-checksum-crc32:" + trailer_value.encode() + b"\r\n\r\n"


def test_unsigned_trailer_stream_checks_trailer_checksum():
    crc = base64.b64encode(zlib.crc32(DATA).to_bytes(4, "big")).decode()
    headers = {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "content-encoding": "aws-chunked",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(DATA)),
    }
    auth = _auth("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    pipeline, out = _run(headers, auth, _unsigned_chunked(DATA, crc), step=1000)
    assert out == DATA and pipeline.checksums["crc32"] == crc
    with pytest.raises(S3Error) as info:
        _run(headers, auth, _unsigned_chunked(DATA, "AAAAAA=="))
    assert info.value.code == "BadDigest"
