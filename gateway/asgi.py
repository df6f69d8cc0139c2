"""The S3 request path as a bare ASGI app, mounted in front of Quart's own.

Every HTTP request a gateway serves is an S3 request (or /healthz, /readyz,
/metrics, which serve_s3 answers too), so Quart's request and app contexts,
URL map, Request and Response objects bought nothing but CPU: a quarter of a
small GET's gateway time went there. Here a request is read straight from the
ASGI scope and its body pulled from `receive` only as fast as the handler asks
(Hypercorn's bounded queue then slows the client: backpressure with no buffer
of our own), and a Reply goes out as ASGI messages. Quart still owns the
lifespan and anything that is not HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope

from gateway.s3.errors import S3Error
from gateway.s3.request import Reply

# Quart's asgi_app, typed as Quart types it (Hypercorn's ASGI types).
ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


class RequestBody:
    """The request body as it arrives: each `http.request` message in turn."""

    def __init__(self, receive: Callable[[], Awaitable[dict[str, Any]]], empty: bool) -> None:
        self._receive = receive
        self.finished = empty  # no body at all, or its last message was read
        self.disconnected = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while not self.finished:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                raise S3Error("IncompleteBody", "the client closed the connection mid-body")
            if not message.get("more_body", False):
                self.finished = True
            data = message.get("body", b"")
            if data:
                yield data

    async def wait_disconnect(self, cancel_scope: trio.CancelScope) -> None:
        """While a response streams: cancel it when the client goes away, so a GET
        whose reader vanished stops pulling bytes from storage nodes. Body bytes a
        handler left unread are dropped (the reply then closes the connection)."""
        while not self.disconnected:
            message = await self._receive()
            self.disconnected = message["type"] == "http.disconnect"
        cancel_scope.cancel()


@dataclass
class HttpRequest:
    """What serve_s3 needs of an HTTP request."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    body: RequestBody


def request_from_scope(scope: HTTPScope, receive: Any) -> HttpRequest:
    """An HttpRequest for an ASGI http scope (headers decoded as latin-1, as Quart did)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    headers.setdefault("host", "")
    raw_path = scope.get("raw_path") or b""
    path = raw_path.decode("utf-8", "surrogateescape") or scope.get("path", "/")
    empty = headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers
    return HttpRequest(
        method=scope["method"],
        raw_path=path,
        raw_query=scope.get("query_string", b"").decode("utf-8", "surrogateescape"),
        headers=headers,
        body=RequestBody(receive, empty),
    )


def _start(reply: Reply) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": reply.status,
        # Values as UTF-8, as Quart sent them (S3 metadata may hold any text).
        "headers": [(k.lower().encode(), str(v).encode()) for k, v in reply.headers.items()],
    }


async def send_reply(send: Any, reply: Reply, body: RequestBody) -> None:
    """Send reply; a streamed body stops early if the client disconnects."""
    if isinstance(reply.body, bytes):
        await send(_start(reply))
        await send({"type": "http.response.body", "body": reply.body, "more_body": False})
        return
    chunks = reply.body
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(body.wait_disconnect, nursery.cancel_scope)
            await send(_start(reply))
            async for data in chunks:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            nursery.cancel_scope.cancel()
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            with trio.CancelScope(shield=True):
                await close()  # releases the storage node's stream at once


class S3Asgi:
    """Serves HTTP scopes with `serve`; everything else goes to `fallback` (Quart)."""

    def __init__(self, serve: Callable[[HttpRequest], Awaitable[Reply]], fallback: ASGIApp):
        self._serve = serve
        self._fallback = fallback

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self._fallback(scope, receive, send)
            return
        request = request_from_scope(scope, receive)
        reply = await self._serve(request)
        await send_reply(send, reply, request.body)
