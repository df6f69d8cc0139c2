"""The request body pipeline: one streaming pass that decodes aws-chunked
framing, verifies the signed payload (SHA-256, chunk signatures, trailers),
Content-MD5 and x-amz-checksum-*, and computes the MD5 ETag.

Sans-IO: feed wire bytes, get payload bytes; `finish()` raises S3Error if
anything failed to verify. The caller commits the object only after finish.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from gateway.s3.auth import sigv4
from gateway.s3.auth.chunked import ChunkedDecoder
from gateway.s3.auth.errors import AuthError
from gateway.s3.auth.sigv4 import AuthResult
from gateway.s3.checksums import ALGORITHMS, Checksum, requested, trailer_algorithms
from gateway.s3.errors import S3Error

_STREAMING = {
    sigv4.STREAMING_SIGNED,
    sigv4.STREAMING_SIGNED_TRAILER,
    sigv4.STREAMING_UNSIGNED_TRAILER,
}


def _s3_error(exc: AuthError) -> S3Error:
    return S3Error(exc.code, exc.message)


class BodyPipeline:
    """Decode and verify one request body."""

    def __init__(self, headers: dict[str, str], auth: AuthResult | None) -> None:
        self.headers = headers
        payload_hash = headers.get("x-amz-content-sha256", "")
        if auth is not None and not auth.presigned:
            payload_hash = auth.payload_hash
        self._decoder: ChunkedDecoder | None = None
        self._sha256 = None
        if payload_hash in _STREAMING:
            signed = payload_hash != sigv4.STREAMING_UNSIGNED_TRAILER
            if signed and auth is None:
                raise S3Error("AccessDenied", "Signed streaming payload without a signature")
            self._decoder = ChunkedDecoder(
                signed=signed,
                auth=auth if signed else None,
                trailer=payload_hash != sigv4.STREAMING_SIGNED,
            )
        elif len(payload_hash) == 64 and auth is not None:
            try:
                self._expected_sha256 = bytes.fromhex(payload_hash)
            except ValueError as exc:
                raise S3Error("InvalidArgument", "x-amz-content-sha256 must be hex") from exc
            self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5()
        self._content_md5 = self._parse_content_md5(headers.get("content-md5"))
        self._expected_checksums = requested(headers)
        algos = set(self._expected_checksums) | set(trailer_algorithms(headers))
        algo = headers.get("x-amz-sdk-checksum-algorithm", "").lower()
        if algo in ALGORITHMS:
            algos.add(algo)
        self._checksums = {a: Checksum(a) for a in sorted(algos)}
        self.size = 0
        self.checksums: dict[str, str] = {}

    @staticmethod
    def _parse_content_md5(value: str | None) -> bytes | None:
        if value is None:
            return None
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise S3Error("InvalidDigest") from exc
        if len(digest) != 16:
            raise S3Error("InvalidDigest")
        return digest

    @property
    def declared_length(self) -> int | None:
        """The payload length the client announced, if any."""
        value = self.headers.get("x-amz-decoded-content-length")
        if self._decoder is None:
            value = self.headers.get("content-length")
        return int(value) if value and value.isdigit() else None

    def feed(self, data: bytes) -> list[bytes]:
        """Wire bytes in, verified-so-far payload pieces out."""
        if self._decoder is not None:
            try:
                pieces = self._decoder.feed(data)
            except AuthError as exc:
                raise _s3_error(exc) from exc
        else:
            pieces = [data]
        for piece in pieces:
            self._consume(piece)
        return pieces

    def _consume(self, piece: bytes) -> None:
        self.size += len(piece)
        self._md5.update(piece)
        if self._sha256 is not None:
            self._sha256.update(piece)
        for checksum in self._checksums.values():
            checksum.update(piece)

    def finish(self) -> None:
        """Verify everything now that the body has ended."""
        expected = dict(self._expected_checksums)
        if self._decoder is not None:
            try:
                self._decoder.finish()
            except AuthError as exc:
                raise _s3_error(exc) from exc
            for name, value in self._decoder.trailers.items():
                algo = name.removeprefix("x-amz-checksum-")
                if name.startswith("x-amz-checksum-") and algo in self._checksums:
                    expected[algo] = value
        declared = self.declared_length
        if declared is not None and declared != self.size:
            raise S3Error("IncompleteBody", "The request body ended early")
        if self._sha256 is not None and not hmac.compare_digest(
            self._sha256.digest(), self._expected_sha256
        ):
            raise S3Error("XAmzContentSHA256Mismatch")
        if self._content_md5 is not None and self._content_md5 != self._md5.digest():
            raise S3Error("BadDigest")
        for algo, value in expected.items():
            actual = self._checksums[algo].b64()
            if value != actual:
                raise S3Error(
                    "BadDigest",
                    f"The {algo.upper()} you specified did not match the calculated checksum.",
                )
        self.checksums = {algo: c.b64() for algo, c in self._checksums.items()}

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()
