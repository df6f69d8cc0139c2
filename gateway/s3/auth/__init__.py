"""Sans-IO AWS Signature Version 2 and 4 authentication for the S3 gateway."""

from .authenticate import authenticate
from .chunked import ChunkedDecoder
from .errors import AuthError
from .request import RequestView
from .sigv2 import verify_v2
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
    "authenticate",
    "canonical_request",
    "signing_key",
    "string_to_sign",
    "verify",
    "verify_v2",
]
