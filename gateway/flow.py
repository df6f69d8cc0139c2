"""Request-body backpressure for Quart-trio.

Quart's connection task moves every body message from the server into the
request's buffer as fast as the network delivers it, so a slow consumer
(replicas, disks) would make the gateway hold the whole object in memory.
Here the task stops taking messages while more than BUFFER_LIMIT bytes wait
unread; Hypercorn's bounded queue then fills and it stops reading the socket,
so TCP flow control slows the client down.
"""

from __future__ import annotations

import trio
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody, TrioRequest

BUFFER_LIMIT = 1 << 20


class FlowBody(TrioBody):
    """A request body that tells the receiver when the handler took data."""

    def __init__(self, expected_content_length: int | None, max_content_length: int | None):
        super().__init__(expected_content_length, max_content_length)
        self.drained = trio.Event()

    @property
    def buffered(self) -> int:
        return len(self._data)

    async def __anext__(self) -> bytes:
        data = await super().__anext__()
        self.drained.set()
        return data


class FlowRequest(TrioRequest):
    body_class = FlowBody


class FlowConnection(TrioASGIHTTPConnection):
    """Moves body messages to the handler only as fast as it reads them."""

    async def handle_messages(self, nursery, request, receive) -> None:  # type: ignore[override]
        body = request.body
        while True:
            if isinstance(body, FlowBody) and body.buffered >= BUFFER_LIMIT:
                body.drained = trio.Event()
                await body.drained.wait()
                continue
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
            elif message["type"] == "http.disconnect":
                break
        nursery.cancel_scope.cancel()
