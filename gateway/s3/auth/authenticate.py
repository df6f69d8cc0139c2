"""The gateway's single authentication entry point: SigV2 or SigV4, by request shape."""

from __future__ import annotations

from datetime import datetime

from .common import SecretLookup
from .errors import AuthError
from .request import RequestView
from .sigv2 import has_v2_header, has_v2_query, verify_v2
from .sigv4 import AuthResult, verify

_V4_QUERY = frozenset({"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"})


def authenticate(
    view: RequestView, lookup_secret: SecretLookup, now: datetime
) -> AuthResult | None:
    """Authenticate a request signed with SigV2 or SigV4 (header or presigned URL).

    Returns None for an anonymous request and an :class:`AuthResult` for a valid
    signature; raises :class:`AuthError` otherwise, including when more than one auth
    mechanism is present. SigV2 results carry ``payload_hash == UNSIGNED_PAYLOAD`` and an
    empty ``signing_key``/``scope``/``amz_date``.
    """
    v2_query = has_v2_query(view)
    has_header = "authorization" in view.headers
    v4_query = bool({name for name, _ in view.query_pairs()} & _V4_QUERY)
    if (has_header and (v2_query or v4_query)) or (v2_query and v4_query):
        raise AuthError(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
        )
    if has_v2_header(view) or v2_query:
        return verify_v2(view, lookup_secret, now)
    return verify(view, lookup_secret, now)
