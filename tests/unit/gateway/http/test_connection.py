"""The HTTP/1.1 server over real sockets: keep-alive, pipelining, bodies pulled as the
handler asks, Expect: 100-continue, streamed replies, failures contained, shutdown."""

from __future__ import annotations

import contextvars
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from gateway.http import connection
from gateway.http.connection import HttpRequest, note_request
from gateway.http.server import HttpServer, open_listener
from gateway.s3.errors import S3Error
from gateway.s3.request import Reply
from tools.cli import TextFormatter

App = Callable[[HttpRequest], Awaitable[Reply]]


@asynccontextmanager
async def _serving(app: App, grace: float = 5.0) -> AsyncIterator[tuple[int, trio.Event]]:
    sock = open_listener("127.0.0.1:0")
    port = sock.getsockname()[1]
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(HttpServer(app, sock, grace).serve, stop)
        yield port, stop
        stop.set()


async def _read_reply(stream: trio.SocketStream, buffered: bytearray) -> tuple[bytes, bytes]:
    """One reply with a Content-Length: its head and body (extra bytes stay buffered)."""
    while b"\r\n\r\n" not in buffered:
        data = await stream.receive_some(65536)
        assert data, bytes(buffered)
        buffered += data
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    buffered[:] = rest
    while len(buffered) < length:
        buffered += await stream.receive_some(65536)
    body = bytes(buffered[:length])
    del buffered[:length]
    return head, body


async def _echo(request: HttpRequest) -> Reply:
    data = b"".join([piece async for piece in request.body])
    text = f"{request.method} {request.raw_path}?{request.raw_query} {len(data)}".encode()
    return Reply(200, {"Content-Length": str(len(text))}, text)


async def test_keep_alive_and_pipelined_requests_are_answered_in_order() -> None:
    async with _serving(_echo) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
            b"PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        )
        buffered = bytearray()
        bodies = [(await _read_reply(stream, buffered))[1] for _ in range(3)]
        assert bodies == [b"GET /a?x=1 0", b"PUT /b? 3", b"PUT /c? 2"]
        await stream.send_all(b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n")  # still open
        assert (await _read_reply(stream, buffered))[1] == b"GET /d? 0"


async def test_the_body_is_read_only_as_the_handler_asks() -> None:
    seen: list[int] = []
    release = trio.Event()

    async def slow(request: HttpRequest) -> Reply:
        async for piece in request.body:
            seen.append(len(piece))
            await release.wait()
        return Reply(200, {"Content-Length": "0"}, b"")

    async with _serving(slow) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n")
        sent = 0
        with trio.move_on_after(1):
            while True:  # the server stops reading, so the client's sends block
                await stream.send_all(b"x" * 65536)
                sent += 65536
        assert sent < 40 << 20  # far less than the 100 MB announced got through
        assert len(seen) == 1
        release.set()
        await stream.aclose()


async def test_expect_continue_is_answered_only_when_the_body_is_wanted() -> None:
    async def refuse(request: HttpRequest) -> Reply:
        if request.raw_path == "/refused":
            return Reply(403, {"Content-Length": "0"}, b"")
        return await _echo(request)

    async with _serving(refuse) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"PUT /wanted HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        )
        assert await stream.receive_some(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        await stream.send_all(b"ok")
        buffered = bytearray()
        assert (await _read_reply(stream, buffered))[1] == b"PUT /wanted? 2"

        refused = await trio.open_tcp_stream("127.0.0.1", port)
        await refused.send_all(
            b"PUT /refused HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"
        )
        head, _ = await _read_reply(refused, bytearray())
        assert head.startswith(b"HTTP/1.1 403") and b"Connection: close" in head
        assert await refused.receive_some(100) == b""  # closed: no body will come
        await refused.aclose()


async def test_a_client_that_leaves_mid_body_is_an_incomplete_body() -> None:
    errors: list[str] = []
    done = trio.Event()

    async def reader(request: HttpRequest) -> Reply:
        try:
            async for _ in request.body:
                pass
        except S3Error as exc:
            errors.append(exc.code)
        done.set()
        return Reply(400, {"Content-Length": "0"}, b"")

    async with _serving(reader) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
        await stream.aclose()
        with trio.fail_after(5):
            await done.wait()
    assert errors == ["IncompleteBody"]


async def test_a_streamed_reply_is_chunked_and_head_has_no_body() -> None:
    async def stream_it(request: HttpRequest) -> Reply:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"hello "
            yield b"world"

        headers = {"Content-Length": "11"} if request.method == "HEAD" else {}
        return Reply(200, headers, chunks())

    async with _serving(stream_it) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        received = b""
        while not received.endswith(b"0\r\n\r\n"):
            received += await stream.receive_some(1000)
        assert b"Transfer-Encoding: chunked" in received
        assert received.endswith(b"\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
        await stream.send_all(
            b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        received = b""
        while received.count(b"HTTP/1.1 200") < 2 or not received.endswith(b"0\r\n\r\n"):
            received += await stream.receive_some(1000)
        head_reply = received.split(b"HTTP/1.1 200")[1]
        assert b"Content-Length: 11" in head_reply and head_reply.endswith(b"\r\n\r\n")


async def test_a_streamed_reply_stops_when_the_client_goes_away() -> None:
    closed = trio.Event()

    async def endless(request: HttpRequest) -> Reply:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"x" * 65536
                    await trio.sleep(0.01)
            finally:
                closed.set()

        return Reply(200, {"Content-Length": str(1 << 40)}, chunks())

    async with _serving(endless) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        await stream.receive_some(1000)
        await stream.aclose()
        with trio.fail_after(5):
            await closed.wait()


async def test_a_failure_is_logged_with_its_request_and_closes_only_its_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def explode(request: HttpRequest) -> Reply:
        if request.raw_path == "/boom":
            note_request("REQ0123")
            raise RuntimeError("kaboom")
        return await _echo(request)

    with caplog.at_level(logging.WARNING, "tessera.gateway.connection"):
        async with _serving(explode) as (port, _):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"GET /boom HTTP/1.1\r\nHost: h\r\n\r\n")
            assert await stream.receive_some(100) == b""
            other = await trio.open_tcp_stream("127.0.0.1", port)
            await other.send_all(b"GET /fine HTTP/1.1\r\nHost: h\r\n\r\n")
            assert (await _read_reply(other, bytearray()))[1] == b"GET /fine? 0"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "request_id=REQ0123" in lines[0] and "kaboom" in lines[0]


async def test_a_client_that_stops_reading_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "SEND_STALL_TIMEOUT", 0.3)
    finished = trio.Event()

    async def big(request: HttpRequest) -> Reply:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                for _ in range(1000):
                    yield b"x" * (1 << 20)
            finally:
                finished.set()

        return Reply(200, {"Content-Length": str(1000 << 20)}, chunks())

    async with _serving(big) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        with trio.fail_after(10):
            await finished.wait()  # the handler was freed though the client never read


async def test_shutdown_ends_idle_connections_and_lets_requests_finish() -> None:
    started, release = trio.Event(), trio.Event()

    async def slow(request: HttpRequest) -> Reply:
        started.set()
        await release.wait()
        return Reply(200, {"Content-Length": "4"}, b"done")

    async with _serving(slow) as (port, stop):
        idle = await trio.open_tcp_stream("127.0.0.1", port)
        busy = await trio.open_tcp_stream("127.0.0.1", port)
        await busy.send_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        await started.wait()
        stop.set()
        with trio.fail_after(5):
            assert await idle.receive_some(100) == b""  # ended at once
        release.set()
        head, body = await _read_reply(busy, bytearray())
        assert body == b"done" and b"Connection: close" in head


def test_records_logged_while_serving_a_request_name_it() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter())
    handler.addFilter(connection.RequestIdFilter())
    logger = logging.getLogger("test.tagging")
    logger.addHandler(handler)
    logger.propagate = False
    try:

        def serving() -> None:
            connection._CURRENT.set(connection.ConnectionInfo())
            logger.warning("before any request")
            note_request("ABC123")
            logger.warning("get failed node=%s", "node1")
            logger.warning("store unavailable request_id=%s", "ABC123")

        contextvars.copy_context().run(serving)
        logger.warning("outside a connection")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert "request_id" not in lines[0]
    assert lines[1].endswith("get failed node=node1 request_id=ABC123")
    assert lines[2].count("request_id") == 1  # already in the message: not repeated
    assert "request_id" not in lines[3]
