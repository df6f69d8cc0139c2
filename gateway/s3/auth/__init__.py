"""Sans-IO AWS Signature Version 4 authentication for the S3 gateway."""

from .chunked import ChunkedDecoder
from .errors import AuthError
from .request import RequestView
from .sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    AuthResult,
    canonical_request,
    signing_key,
    string_to_sign,
    verify,
)

__all__ = [
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "AuthError",
    "AuthResult",
    "ChunkedDecoder",
    "RequestView",
    "canonical_request",
    "signing_key",
    "string_to_sign",
    "verify",
]
