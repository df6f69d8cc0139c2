"""The sans-IO request parser: heads, bodies, pipelining and what it refuses."""

from __future__ import annotations

import pytest

from gateway.http.parser import MAX_HEAD, ProtocolError, RequestParser

PUT = b"PUT /bucket/key HTTP/1.1\r\nHost: h\r\n"


def _parse(*pieces: bytes) -> RequestParser:
    parser = RequestParser()
    for piece in pieces:
        parser.feed(piece)
    return parser


def test_a_head_with_lower_case_names_and_joined_repeats() -> None:
    parser = _parse(
        b"GET /b/k?list-type=2&prefix=a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    )
    (message,) = parser.messages
    assert message.method == "GET" and message.head_complete and message.complete
    assert message.headers == {"host": "h", "x-a": "1,2"}
    assert message.path_and_query == ("/b/k", "list-type=2&prefix=a")
    assert message.keep_alive and not message.expect_continue


def test_header_values_are_utf8_text_else_latin1() -> None:
    parser = _parse(
        b"GET /b HTTP/1.1\r\nHost: h\r\nX-Amz-Meta-A: caf\xc3\xa9\r\nX-Amz-Meta-B: caf\xe9\r\n\r\n"
    )
    (message,) = parser.messages
    assert message.headers["x-amz-meta-a"] == "café"  # as the client signed it
    assert message.headers["x-amz-meta-b"] == "café"  # not UTF-8: each byte a character


def test_a_head_split_anywhere_is_the_same_head() -> None:
    raw = b"GET /b/some-key HTTP/1.1\r\nHost: h\r\nX-Long: " + b"v" * 100 + b"\r\n\r\n"
    for cut in range(1, len(raw)):
        message = _parse(raw[:cut], raw[cut:]).messages[0]
        assert message.path_and_query == ("/b/some-key", "")
        assert message.headers["x-long"] == "v" * 100


def test_a_body_arrives_in_pieces_and_completes() -> None:
    parser = _parse(PUT + b"Content-Length: 10\r\n\r\nhello")
    message = parser.messages[0]
    assert message.head_complete and not message.complete
    parser.feed(b" you!")
    assert message.complete and b"".join(message.body) == b"hello you!"


def test_a_chunked_body_is_decoded() -> None:
    parser = _parse(PUT + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    message = parser.messages[0]
    assert message.complete and b"".join(message.body) == b"abcde"


def test_pipelined_requests_queue_in_order() -> None:
    parser = _parse(
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        + PUT
        + b"Content-Length: 2\r\n\r\nxyGET /c HTTP/1.1\r\n"
    )
    first, second, third = parser.messages
    assert [first.path_and_query[0], second.path_and_query[0]] == ["/a", "/bucket/key"]
    assert second.complete and b"".join(second.body) == b"xy"
    assert not third.head_complete and parser.in_head


def test_http_1_0_closes_unless_asked_to_keep_alive() -> None:
    assert not _parse(b"GET / HTTP/1.0\r\n\r\n").messages[0].keep_alive
    kept = _parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").messages[0]
    assert kept.keep_alive and kept.http_version == "1.0"
    assert (
        not _parse(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").messages[0].keep_alive
    )


def test_expect_continue_and_an_absolute_target() -> None:
    message = _parse(
        b"PUT http://h:9000/b/k?uploads HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
        b"Content-Length: 1\r\n\r\n"
    ).messages[0]
    assert message.expect_continue and message.path_and_query == ("/b/k", "uploads")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (PUT + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (PUT + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        (PUT + b"Content-Length: -5\r\n\r\n", 400),
        (PUT + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (PUT + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 400),
        (PUT + b"Transfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400),
        (bytes(range(256)), 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * MAX_HEAD + b"\r\n\r\n", 431),
    ],
)
def test_what_is_refused(raw: bytes, status: int) -> None:
    parser = RequestParser()
    with pytest.raises(ProtocolError) as caught:
        parser.feed(raw)
    assert caught.value.status == status
    with pytest.raises(ProtocolError):  # and stays refused: the stream is out of step
        parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")


def test_a_head_that_trickles_in_forever_is_refused() -> None:
    parser = _parse(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ")
    with pytest.raises(ProtocolError) as caught:
        for _ in range(MAX_HEAD // 1000 + 2):
            parser.feed(b"a" * 1000)
    assert caught.value.status == 431


def test_an_upgrade_request_is_served_then_closes() -> None:
    message = _parse(
        b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPRI"
    ).messages[0]
    assert message.complete and message.upgrade and not message.keep_alive
