"""HTTP/1.1 response heads and body framing, as bytes (no I/O)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from http import HTTPStatus

_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}

# Headers the connection owns: what the app sets for these is replaced.
_FRAMING = frozenset({"connection", "transfer-encoding", "keep-alive"})

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_http_date(seconds: float) -> str:
    """``Wed, 12 Oct 2009 17:50:00 GMT`` (RFC 7231's IMF-fixdate), as email.utils.formatdate
    with usegmt writes it, at a third of the cost."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class _DateCache:
    """The Date header's value, formatted once a second rather than once a request."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = format_http_date(now).encode()
        return self._value


http_date = _DateCache()


def response_head(
    status: int,
    headers: Mapping[str, object],
    keep_alive: bool,
    chunked: bool,
    http10: bool = False,
) -> bytes:
    """The status line and headers of a reply. Names are sent as the app spelled them
    (AWS's own spelling: `ETag`, `Content-Length`, `x-amz-request-id`); a value with a
    line break or NUL is refused rather than sent (it would split the response)."""
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Unknown"))]
    has_date = False
    for name, raw in headers.items():
        lowered = name.lower()
        if lowered in _FRAMING:
            continue
        value = str(raw)
        both = name + value
        if "\r" in both or "\n" in both or "\0" in both:
            raise ValueError(f"header {name!r} has a line break or NUL")
        has_date = has_date or lowered == "date"
        lines.append(b"%s: %s" % (name.encode("latin-1"), value.encode()))
    if not has_date:
        lines.append(b"Date: " + http_date())
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
    if not keep_alive:
        lines.append(b"Connection: close")
    elif http10:
        lines.append(b"Connection: keep-alive")
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def body_allowed(method: str, status: int) -> bool:
    """False where HTTP forbids a body: replies to HEAD, 1xx, 204 and 304."""
    return method != "HEAD" and status >= 200 and status not in (204, 304)
