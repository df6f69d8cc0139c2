"""aws-chunked decoding, against the AWS "multiple chunks" example and edge cases."""

from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import UTC, datetime

import pytest

from gateway.s3.auth import (
    STREAMING_SIGNED,
    AuthError,
    AuthResult,
    ChunkedDecoder,
    RequestView,
    signing_key,
    verify,
)
from gateway.s3.auth.sigv4 import EMPTY_SHA256, sign

ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
PAYLOAD = b"a" * 66560


def _example_auth() -> AuthResult:
    """Verify the example's seed request, which yields the AuthResult for the body."""
    signed = (
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class"
    )
    view = RequestView(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        {
            "host": "s3.amazonaws.com",
            "x-amz-date": AMZ_DATE,
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": STREAMING_SIGNED,
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": "66560",
            "content-length": "66824",
            "authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS}/{SCOPE},"
            f"SignedHeaders={signed},Signature={SEED}",
        },
    )
    result = verify(
        view, lambda ak: SECRET if ak == ACCESS else None, datetime(2013, 5, 24, tzinfo=UTC)
    )
    assert result is not None and result.payload_hash == STREAMING_SIGNED
    return result


def _example_wire() -> bytes:
    return (
        f"10000;chunk-signature={CHUNK_SIGS[0]}\r\n".encode()
        + PAYLOAD[:65536]
        + f"\r\n400;chunk-signature={CHUNK_SIGS[1]}\r\n".encode()
        + PAYLOAD[65536:]
        + f"\r\n0;chunk-signature={CHUNK_SIGS[2]}\r\n\r\n".encode()
    )


def _decode(decoder: ChunkedDecoder, wire: bytes, step: int) -> bytes:
    out = []
    for i in range(0, len(wire), step):
        out.extend(decoder.feed(wire[i : i + step]))
    decoder.finish()
    return b"".join(out)


def test_example_wire_length_matches_documented_content_length():
    assert len(_example_wire()) == 66824


@pytest.mark.parametrize("step", [1, 7, 4099, 66824])
def test_aws_example_decodes(step):
    decoder = ChunkedDecoder(signed=True, auth=_example_auth())
    assert _decode(decoder, _example_wire(), step) == PAYLOAD
    assert decoder.decoded_length == 66560
    assert decoder.trailers == {}


@pytest.mark.parametrize("offset", [100, 65536 + 200])
def test_flipped_data_byte_is_rejected(offset):
    wire = bytearray(_example_wire())
    start = wire.index(b"aaaa")  # first data byte of the first chunk
    wire[start + offset] ^= 0x01
    with pytest.raises(AuthError) as info:
        _decode(ChunkedDecoder(signed=True, auth=_example_auth()), bytes(wire), 7)
    assert info.value.code == "SignatureDoesNotMatch"


def test_final_chunk_signature_is_checked():
    wire = _example_wire().replace(CHUNK_SIGS[2].encode(), b"0" * 64)
    with pytest.raises(AuthError) as info:
        _decode(ChunkedDecoder(signed=True, auth=_example_auth()), wire, 66824)
    assert info.value.code == "SignatureDoesNotMatch"


def test_reordered_chunks_are_rejected():
    # Valid signatures in the wrong order break the chain.
    wire = _example_wire().replace(CHUNK_SIGS[0].encode(), CHUNK_SIGS[1].encode(), 1)
    with pytest.raises(AuthError) as info:
        ChunkedDecoder(signed=True, auth=_example_auth()).feed(wire)
    assert info.value.code == "SignatureDoesNotMatch"


def test_truncated_body_is_incomplete():
    wire = _example_wire()
    cut = wire.index(b"0;chunk-signature")
    decoder = ChunkedDecoder(signed=True, auth=_example_auth())
    decoder.feed(wire[:cut])
    with pytest.raises(AuthError) as info:
        decoder.finish()
    assert info.value.code == "IncompleteBody"
    with pytest.raises(AuthError):  # the error sticks
        decoder.feed(b"0\r\n")


def test_missing_final_crlf_is_tolerated():
    decoder = ChunkedDecoder(signed=True, auth=_example_auth())
    assert _decode(decoder, _example_wire()[:-2], 66824) == PAYLOAD


def test_stray_line_breaks_after_end_are_ignored():
    decoder = ChunkedDecoder(signed=True, auth=_example_auth())
    assert _decode(decoder, _example_wire() + b"\r\n", 66824) == PAYLOAD


@pytest.mark.parametrize(
    "wire",
    [
        b"zz;chunk-signature=" + b"0" * 64 + b"\r\n",  # bad size
        b"10\r\n",  # no chunk-signature on a signed body
        b"1;chunk-signature=abc\r\n",  # malformed signature
        b"1;chunk-signature=" + b"0" * 64 + b"\r\n" + b"x" * 1000,  # no CRLF after data
        b"f" * 5000,  # endless header line
    ],
)
def test_malformed_signed_framing(wire):
    with pytest.raises(AuthError) as info:
        ChunkedDecoder(signed=True, auth=_example_auth()).feed(wire)
    assert info.value.code in ("InvalidRequest", "SignatureDoesNotMatch")


def test_data_after_final_chunk_is_rejected():
    decoder = ChunkedDecoder(signed=True, auth=_example_auth())
    with pytest.raises(AuthError) as info:
        decoder.feed(_example_wire() + b"junk")
    assert info.value.code == "InvalidRequest"


# --------------------------------------------------------------------------- unsigned + trailers


def _crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


BOTOCORE_BODY = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"


@pytest.mark.parametrize("step", [1, 3, len(BOTOCORE_BODY)])
def test_unsigned_trailer_body(step):
    decoder = ChunkedDecoder(signed=False, trailer=True)
    assert _decode(decoder, BOTOCORE_BODY, step) == b"hello world"
    assert decoder.trailers == {"x-amz-checksum-crc32": _crc32_b64(b"hello world")}
    assert decoder.decoded_length == 11


def test_unsigned_trailer_without_final_blank_line():
    for wire in (BOTOCORE_BODY[:-2], BOTOCORE_BODY[:-4]):
        decoder = ChunkedDecoder(signed=False, trailer=True)
        assert _decode(decoder, wire, 5) == b"hello world"
        assert decoder.trailers == {"x-amz-checksum-crc32": "DUoRhQ=="}


def test_unsigned_chunk_extensions_are_ignored():
    decoder = ChunkedDecoder(signed=False, trailer=True)
    wire = b"5;foo=bar\r\nhello\r\n0;x=y\r\nX-Amz-Checksum-CRC32C : abc \r\n\r\n"
    assert _decode(decoder, wire, 4) == b"hello"
    assert decoder.trailers == {"x-amz-checksum-crc32c": "abc"}


def test_unsigned_payload_is_streamed_before_chunk_end():
    decoder = ChunkedDecoder(signed=False, trailer=True)
    assert decoder.feed(b"10\r\nabcd") == [b"abcd"]
    assert decoder.feed(b"efgh") == [b"efgh"]
    assert decoder.decoded_length == 8
    with pytest.raises(AuthError) as info:
        decoder.finish()
    assert info.value.code == "IncompleteBody"


def _signed_trailer_wire(
    auth: AuthResult, payload: bytes, trailer_value: str | None = None
) -> bytes:
    """Build a STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER body by hand."""
    previous = auth.signature
    wire = bytearray()
    for chunk in (payload, b""):
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                auth.amz_date,
                auth.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            ]
        )
        previous = sign(auth.signing_key, to_sign)
        wire += f"{len(chunk):x};chunk-signature={previous}\r\n".encode()
        if chunk:
            wire += chunk + b"\r\n"
    checksum = _crc32_b64(payload)
    canonical = f"x-amz-checksum-crc32:{checksum}\n"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            auth.amz_date,
            auth.scope,
            previous,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    trailer_signature = sign(auth.signing_key, to_sign)
    wire += f"x-amz-checksum-crc32:{trailer_value or checksum}\r\n".encode()
    wire += f"x-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode()
    return bytes(wire)


def _auth() -> AuthResult:
    return AuthResult(
        access_key=ACCESS,
        signing_key=signing_key(SECRET, "20130524", "us-east-1", "s3"),
        scope=SCOPE,
        amz_date=AMZ_DATE,
        signature="9" * 64,
        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        presigned=False,
    )


@pytest.mark.parametrize("step", [1, 10, 10_000])
def test_signed_trailer(step):
    payload = bytes(range(256)) * 20
    decoder = ChunkedDecoder(signed=True, auth=_auth(), trailer=True)
    assert _decode(decoder, _signed_trailer_wire(_auth(), payload), step) == payload
    assert decoder.trailers == {"x-amz-checksum-crc32": _crc32_b64(payload)}


def test_signed_trailer_tampered_or_missing():
    wire = _signed_trailer_wire(_auth(), b"data", trailer_value="AAAAAA==")
    with pytest.raises(AuthError) as info:
        _decode(ChunkedDecoder(signed=True, auth=_auth(), trailer=True), wire, 3)
    assert info.value.code == "SignatureDoesNotMatch"

    good = _signed_trailer_wire(_auth(), b"data")
    unsigned = good[: good.index(b"x-amz-trailer-signature")] + b"\r\n"
    with pytest.raises(AuthError) as info:
        _decode(ChunkedDecoder(signed=True, auth=_auth(), trailer=True), unsigned, 3)
    assert info.value.code == "InvalidRequest"


def test_trailer_not_allowed_on_signed_body_without_trailer():
    wire = _signed_trailer_wire(_auth(), b"data")
    with pytest.raises(AuthError) as info:
        _decode(ChunkedDecoder(signed=True, auth=_auth(), trailer=False), wire, 100)
    assert info.value.code == "InvalidRequest"


def test_signed_requires_auth():
    with pytest.raises(ValueError):
        ChunkedDecoder(signed=True)
