"""HTTP Range handling for GetObject/HeadObject (RFC 7233, as S3 applies it)."""

from __future__ import annotations

import re

from .errors import S3Error

# One byte-range-spec; S3 serves a single range only. ASCII so that \d is [0-9] and \s is
# plain whitespace, not every Unicode digit or space.
_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.ASCII | re.IGNORECASE)


def _unsatisfiable(header: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange",
        status=416,
        # RFC 7233 4.4: a 416 should say how long the representation is.
        headers={"Content-Range": f"bytes */{size}"},
        extra={"RangeRequested": header, "ActualObjectSize": str(size)},
    )


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive ``(start, end)`` selected by a Range header on an object of ``size`` bytes.

    Returns ``None`` when the whole object is to be sent: no header, a syntactically invalid
    one, or several ranges (S3 ignores those and answers 200, as RFC 7233 allows). Raises
    ``S3Error('InvalidRange')`` (416) when the range cannot be satisfied; any range on an
    empty object is unsatisfiable.
    """
    if header is None:
        return None
    m = _RANGE.fullmatch(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:
        # Suffix range: the last n bytes, the whole object when n exceeds it.
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - n), size - 1
    start = int(first)
    if last:
        end = int(last)
        if end < start:
            return None  # invalid syntax per RFC 7233 2.1: ignore the header
    else:
        end = size - 1
    if start >= size:
        raise _unsatisfiable(header, size)
    return start, min(end, size - 1)


def content_range(start: int, end: int, size: int) -> str:
    """Content-Range value of a 206 response."""
    return f"bytes {start}-{end}/{size}"
