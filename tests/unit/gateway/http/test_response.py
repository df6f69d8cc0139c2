"""Response heads and body framing."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from gateway.http.response import (
    body_allowed,
    chunk,
    format_http_date,
    http_date,
    response_head,
)


def test_a_head_keeps_the_apps_spelling_and_adds_a_date() -> None:
    head = response_head(200, {"ETag": '"abc"', "Content-Length": "3"}, True, False)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b'ETag: "abc"' in lines and b"Content-Length: 3" in lines
    assert b"Date: " + http_date() in lines
    assert head.endswith(b"\r\n\r\n") and b"Connection" not in head


def test_framing_headers_belong_to_the_connection() -> None:
    head = response_head(404, {"Connection": "keep-alive", "Content-Length": "0"}, False, True)
    assert b"Connection: close" in head and b"keep-alive" not in head
    assert b"Transfer-Encoding: chunked" in head and head.startswith(b"HTTP/1.1 404 Not Found")
    assert b"Connection: keep-alive" in response_head(200, {}, True, False, http10=True)


def test_values_are_utf8_and_a_line_break_is_refused() -> None:
    assert "x-amz-meta-name: café".encode() in response_head(
        200, {"x-amz-meta-name": "café"}, True, False
    )
    with pytest.raises(ValueError):
        response_head(200, {"x-amz-meta-a": "1\r\nSet-Cookie: x"}, True, False)


def test_chunks_and_where_a_body_is_allowed() -> None:
    assert chunk(b"a" * 26) == b"1a\r\n" + b"a" * 26 + b"\r\n"
    assert body_allowed("GET", 200) and not body_allowed("HEAD", 200)
    assert not body_allowed("GET", 304) and not body_allowed("DELETE", 204)


def test_http_dates_match_the_standard_library() -> None:
    rng = random.Random(7)
    stamps = [0, 951782400.5, 1709164799, 4102444800] + [rng.uniform(0, 4e9) for _ in range(500)]
    for stamp in stamps:
        assert format_http_date(stamp) == formatdate(stamp, usegmt=True)
