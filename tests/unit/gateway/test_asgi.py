"""The lean S3 path's ASGI plumbing: requests from scopes, bodies pulled on demand,
replies as messages, and a streamed reply that stops when the client goes away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from gateway.asgi import RequestBody, S3Asgi, request_from_scope, send_reply
from gateway.s3.errors import S3Error
from gateway.s3.request import Reply


def _scope(headers: list[tuple[bytes, bytes]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "PUT",
        "path": "/b/k",
        "raw_path": b"/b/a%20key",
        "query_string": b"uploadId=1&partNumber=2",
        "headers": headers,
        **extra,
    }


class Messages:
    """An ASGI receive callable over a list of messages; then waits forever."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = list(messages)
        self.taken = 0

    async def __call__(self) -> dict[str, Any]:
        if not self.messages:
            await trio.sleep_forever()
        self.taken += 1
        return self.messages.pop(0)


def test_request_from_scope() -> None:
    headers = [
        (b"Host", b"127.0.0.1:9000"),
        (b"X-Amz-Meta-A", b"1"),
        (b"x-amz-meta-a", b"2"),
        (b"x-amz-meta-latin", "caf\u00e9".encode("latin-1")),
        (b"content-length", b"5"),
    ]
    request = request_from_scope(_scope(headers), Messages([]))
    assert request.method == "PUT"
    assert request.raw_path == "/b/a%20key"
    assert request.raw_query == "uploadId=1&partNumber=2"
    assert request.headers["host"] == "127.0.0.1:9000"
    assert request.headers["x-amz-meta-a"] == "1,2"
    assert request.headers["x-amz-meta-latin"] == "caf\u00e9"
    assert not request.body.finished


def test_a_request_without_a_body_is_finished_and_has_a_host() -> None:
    request = request_from_scope(_scope([], raw_path=b""), Messages([]))
    assert request.body.finished
    assert request.headers["host"] == ""
    assert request.raw_path == "/b/k"  # no raw_path: the decoded path
    chunked = request_from_scope(_scope([(b"transfer-encoding", b"chunked")]), Messages([]))
    assert not chunked.body.finished


async def test_the_body_is_pulled_message_by_message() -> None:
    receive = Messages(
        [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b"cd", "more_body": False},
        ]
    )
    body = RequestBody(receive, empty=False)
    chunks = body.__aiter__()
    assert await chunks.__anext__() == b"ab"
    assert receive.taken == 1  # nothing read ahead of the handler
    assert [c async for c in chunks] == [b"cd"]
    assert body.finished


async def test_a_disconnect_mid_body_is_an_incomplete_body() -> None:
    receive = Messages(
        [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}]
    )
    body = RequestBody(receive, empty=False)
    with pytest.raises(S3Error) as caught:
        _ = [c async for c in body]
    assert caught.value.code == "IncompleteBody"
    assert body.disconnected and not body.finished


async def test_a_reply_goes_out_as_messages() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    body = RequestBody(Messages([]), empty=True)
    await send_reply(send, Reply(200, {"ETag": '"x"', "x-amz-meta-n": "\u00fc"}, b"hi"), body)
    assert sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"etag", b'"x"'), (b"x-amz-meta-n", "\u00fc".encode())],
    }
    assert sent[1] == {"type": "http.response.body", "body": b"hi", "more_body": False}


async def test_a_streamed_reply_stops_when_the_client_goes_away() -> None:
    closed = trio.Event()
    produced = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal produced
        try:
            while True:
                produced += 1
                yield b"x" * 10
                await trio.sleep(0.01)
        finally:
            closed.set()

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    class Disconnecting(Messages):
        async def __call__(self) -> dict[str, Any]:
            await trio.sleep(0.1)
            return {"type": "http.disconnect"}

    body = RequestBody(Disconnecting([]), empty=True)
    with trio.fail_after(5):
        await send_reply(send, Reply(200, {}, chunks()), body)
    assert closed.is_set() and 1 < produced < 100
    assert sent[-1]["more_body"] is True  # never finished: the client was gone


async def test_other_scopes_go_to_the_fallback() -> None:
    seen: list[str] = []

    async def fallback(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def serve(request: Any) -> Reply:
        raise AssertionError("not for lifespan")

    await S3Asgi(serve, fallback)({"type": "lifespan"}, None, None)
    assert seen == ["lifespan"]
