"""HTTP/1.1 requests from bytes: llhttp (Node.js's parser, through httptools) with no I/O.

Bytes go in with `feed`; complete request heads and their body pieces come out, in
order, as `Message`s. Pipelined requests simply queue up. Whatever the parser rejects
(bad framing, Content-Length with Transfer-Encoding, an unknown transfer coding, a
head too large) raises `ProtocolError` with the status to answer; the connection must
close after it, since the parser cannot find the next request's start.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import httptools

# A request head larger than this is refused with 431 (AWS caps it near 8 KiB).
MAX_HEAD = 64 * 1024


class ProtocolError(Exception):
    """The client broke HTTP/1.1; answer `status` (if nothing was sent yet) and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Message:
    """One request: its head once complete, then its body pieces as they arrive."""

    method: str = ""
    target: bytearray = field(default_factory=bytearray)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, repeats joined
    head_complete: bool = False
    http_version: str = "1.1"
    keep_alive: bool = True
    expect_continue: bool = False
    upgrade: bool = False
    body: deque[bytes] = field(default_factory=deque)
    complete: bool = False  # the last body byte arrived

    @property
    def path_and_query(self) -> tuple[str, str]:
        """The request target's path (undecoded) and query string. An absolute-form
        target (`GET http://host/path`) is reduced to its path, as RFC 9112 asks."""
        target = self.target.decode("utf-8", "surrogateescape")
        if not target.startswith("/") and "://" in target:
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, query = target.partition("?")
        path = path.partition("#")[0]
        return path or "/", query


class RequestParser:
    """Incremental request parser for one connection."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self.messages: deque[Message] = deque()
        self._current: Message | None = None
        self._head_fed = 0  # bytes fed while a head was incomplete (one still arriving)
        self._head_size = 0  # the current head's target and headers (one that came whole)
        self.failed: ProtocolError | None = None

    @property
    def in_head(self) -> bool:
        """True while a request head has begun but not ended."""
        return self._current is not None and not self._current.head_complete

    def feed(self, data: bytes) -> None:
        """Parse data; complete heads and body pieces land in `messages`."""
        if self.failed is not None:
            raise self.failed
        idle = self._current is None or self._current.complete
        if self.in_head or idle:
            self._head_fed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An Upgrade we do not speak: the request itself is served, then the
            # connection closes (the bytes after the head belong to the other protocol).
            if self._current is not None:
                self._current.upgrade = True
                self._current.keep_alive = False
                self._current.complete = True
            return
        except httptools.HttpParserError as exc:
            if self.failed is None:  # else a callback refused the head already
                self.failed = _protocol_error(exc)
            raise self.failed from None
        if self.in_head and self._head_fed > MAX_HEAD:
            self.failed = ProtocolError(431, "request header fields too large")
            raise self.failed

    # -- llhttp callbacks -------------------------------------------------
    def on_message_begin(self) -> None:
        self._current = Message()
        self._head_size = 0
        self.messages.append(self._current)

    def on_url(self, url: bytes) -> None:
        assert self._current is not None
        self._count_head(len(url))
        self._current.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._current is not None
        self._count_head(len(name) + len(value) + 4)
        headers = self._current.headers
        key = name.decode("latin-1").lower()
        text = value.decode() if value.isascii() else _header_text(value)
        headers[key] = f"{headers[key]},{text}" if key in headers else text

    def on_headers_complete(self) -> None:
        message = self._current
        assert message is not None
        message.method = self._parser.get_method().decode("ascii")
        message.http_version = self._parser.get_http_version()
        if message.http_version == "1.1" and "host" not in message.headers:
            self.failed = ProtocolError(400, "an HTTP/1.1 request needs a Host header")
            raise self.failed
        message.keep_alive = self._parser.should_keep_alive()
        message.expect_continue = message.headers.get("expect", "").lower() == "100-continue"
        message.head_complete = True
        self._head_fed = 0

    def on_body(self, body: bytes) -> None:
        assert self._current is not None
        self._current.body.append(body)

    def on_message_complete(self) -> None:
        assert self._current is not None
        self._current.complete = True

    def _count_head(self, size: int) -> None:
        # A head that arrived in one piece is measured here; one still arriving, in feed.
        self._head_size += size
        if self._head_size > MAX_HEAD:
            self.failed = ProtocolError(431, "request header fields too large")
            raise self.failed


def _protocol_error(exc: httptools.HttpParserError) -> ProtocolError:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return ProtocolError(400, f"invalid method: {reason}")
    if "Transfer-Encoding" in reason and "Content-Length" not in reason:
        # A transfer coding other than chunked: RFC 9112 says 501.
        return ProtocolError(501, reason)
    return ProtocolError(400, reason)


def _header_text(value: bytes) -> str:
    """A header value as the text a client means: UTF-8 (metadata with accents, signed
    and echoed as such), else Latin-1 (any byte is some text, and stays encodable)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")
