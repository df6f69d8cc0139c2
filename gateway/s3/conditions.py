"""Conditional GET/HEAD (RFC 7232 as S3 applies it)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from gateway.s3.errors import S3Error


def _parse_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None  # S3 ignores an unparseable date


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip() for c in header.split(",")]
    return any(c == "*" or c.strip('"') == etag.strip('"') for c in candidates)


def check(headers: dict[str, str], etag: str, last_modified: float) -> None:
    """Raise PreconditionFailed (412) or NotModified (304) as S3 would."""
    # Last-Modified has one-second resolution on the wire.
    modified = int(last_modified)
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            raise S3Error("PreconditionFailed", extra={"Condition": "If-Match"})
    else:
        since = _parse_date(headers.get("if-unmodified-since"))
        if since is not None and modified > since:
            raise S3Error("PreconditionFailed", extra={"Condition": "If-Unmodified-Since"})
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            raise S3Error("NotModified")
    else:
        since = _parse_date(headers.get("if-modified-since"))
        if since is not None and modified <= since:
            raise S3Error("NotModified")
