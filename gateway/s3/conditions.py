"""Conditional requests: GET/HEAD (RFC 7232 as S3 applies it), and the conditions a
write or a delete puts on the key's current object (If-Match, If-None-Match,
x-amz-if-match-last-modified-time, x-amz-if-match-size, and their DeleteObjects
forms)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Current:
    """The facts of a key's current object a condition looks at."""

    etag: str
    last_modified: float  # seconds
    size: int


@dataclass(frozen=True)
class WriteCondition:
    """What a conditional PUT, CompleteMultipartUpload or delete asks of the key's
    current object; checked under the key's lock, so racing writers serialise."""

    if_match: str | None = None  # ETags (comma list) or *
    if_none_match: str | None = None  # ETags (comma list) or *
    last_modified: float | None = None  # must equal the object's, to the second
    size: int | None = None  # must equal the object's

    @classmethod
    def for_write(cls, headers: Mapping[str, str]) -> WriteCondition | None:
        """The condition of a PUT's (or Complete's) headers; None when it has none."""
        condition = cls(
            if_match=headers.get("if-match"), if_none_match=headers.get("if-none-match")
        )
        return condition if condition != cls() else None

    @classmethod
    def for_delete(cls, headers: Mapping[str, str]) -> WriteCondition | None:
        """The condition of a DeleteObject's headers; None when it has none."""
        size = headers.get("x-amz-if-match-size")
        stamp = headers.get("x-amz-if-match-last-modified-time")
        condition = cls(
            if_match=headers.get("if-match"),
            last_modified=None if stamp is None else _required_date(stamp),
            size=None if size is None else _required_size(size),
        )
        return condition if condition != cls() else None

    @classmethod
    def from_delete_entry(cls, fields: Mapping[str, str]) -> WriteCondition | None:
        """The condition of one <Object> of a DeleteObjects body."""
        stamp, size = fields.get("LastModifiedTime"), fields.get("Size")
        condition = cls(
            if_match=fields.get("ETag"),
            last_modified=None if stamp is None else _iso_date(stamp),
            size=None if size is None else _required_size(size),
        )
        return condition if condition != cls() else None

    def check(self, current: Current | None) -> None:
        """PreconditionFailed (412), or NoSuchKey when a match is asked of nothing."""
        if self.if_none_match is not None and current is not None:
            if _etag_matches(self.if_none_match, current.etag):
                raise S3Error("PreconditionFailed", extra={"Condition": "If-None-Match"})
        asks_match = (self.if_match, self.last_modified, self.size) != (None, None, None)
        if not asks_match:
            return
        if current is None:
            raise S3Error("NoSuchKey")
        if self.if_match is not None and not _etag_matches(self.if_match, current.etag):
            raise S3Error("PreconditionFailed", extra={"Condition": "If-Match"})
        if self.last_modified is not None and int(self.last_modified) != int(current.last_modified):
            raise S3Error(
                "PreconditionFailed", extra={"Condition": "x-amz-if-match-last-modified-time"}
            )
        if self.size is not None and self.size != current.size:
            raise S3Error("PreconditionFailed", extra={"Condition": "x-amz-if-match-size"})


def _required_size(value: str) -> int:
    if not value.strip().isdigit():
        raise S3Error("InvalidArgument", f"not a size in bytes: {value!r}")
    return int(value)


def _required_date(value: str) -> float:
    """An HTTP date (what SDKs send in headers), or an ISO 8601 timestamp."""
    parsed = _parse_date(value)
    return _iso_date(value) if parsed is None else parsed


def _iso_date(value: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise S3Error("InvalidArgument", f"not a timestamp: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
