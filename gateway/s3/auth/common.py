"""What AWS Signature Version 2 and 4 share (sans-IO): the secret lookup, the clock skew
allowed, and how texts and times are normalised before signing or comparing.

:mod:`.sigv4` and :mod:`.sigv2` (and the POST policy forms in :mod:`gateway.s3.postpolicy`)
import these; neither signature version reaches into the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from .errors import AuthError

# How far a request's signing time may be from the server's clock, either way.
MAX_SKEW = timedelta(minutes=15)

# Maps an access key to its secret, or to the secrets a signature may use (the current one
# first, then one a rotation replaced and still accepts), or None when the key is unknown.
SecretLookup = Callable[[str], "str | Sequence[str] | None"]


def to_bytes(text: str) -> bytes:
    """UTF-8 bytes of a text to sign or compare."""
    # surrogateescape round-trips raw non-UTF-8 bytes the transport may have passed on;
    # anything still unencodable cannot have been signed, so it only has to not crash.
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace")


def as_utc(now: datetime) -> datetime:
    """``now`` in UTC; a naive datetime is taken to be UTC already."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def lookup_secrets(lookup_secret: SecretLookup, access_key: str) -> tuple[str, ...]:
    """The candidate secrets of access_key, current first; InvalidAccessKeyId if none."""
    found = lookup_secret(access_key)
    if not found:
        raise AuthError(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    return (found,) if isinstance(found, str) else tuple(found)
