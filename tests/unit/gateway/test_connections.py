"""GuardedTCPServer over real sockets: a failure stays inside its connection, a client
that stops reading is dropped, and the end of file never races a send."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
from hypercorn.config import Config
from hypercorn.events import Closed, RawData
from hypercorn.trio.worker_context import WorkerContext

from gateway import connections
from gateway.connections import GuardedTCPServer, note_request


def _server(cls: type[GuardedTCPServer] = GuardedTCPServer) -> tuple[Any, trio.SocketStream]:
    ours, theirs = trio.socket.socketpair()
    server = cls(None, Config(), WorkerContext(None), {}, trio.SocketStream(ours))
    return server, trio.SocketStream(theirs)


class _Protocol:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def handle(self, event: Any) -> None:
        self.events.append(event)


async def test_an_error_inside_a_connection_is_logged_and_closes_only_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Exploding(GuardedTCPServer):
        async def _read_data(self) -> None:
            note_request("REQ0123")
            raise trio.BusyResourceError("another task is currently sending data")

    server, client = _server(Exploding)
    with caplog.at_level(logging.WARNING, "tessera.gateway.connection"):
        await server.run()  # returns: nothing escapes to the server's nursery
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert "request_id=REQ0123" in lines[0] and "BusyResourceError" in lines[0]
    assert await client.receive_some(10) == b""  # the client sees its connection end


async def test_cancellation_still_propagates() -> None:
    class Cancelled(GuardedTCPServer):
        async def _read_data(self) -> None:
            await trio.sleep_forever()

    server, _client = _server(Cancelled)
    with trio.move_on_after(0.05) as scope:
        await server.run()
    assert scope.cancelled_caught


async def test_a_client_that_stops_reading_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "SEND_STALL_TIMEOUT", 0.2)
    server, client = _server()
    server.protocol = _Protocol()
    with trio.fail_after(10):
        await server.protocol_send(RawData(data=b"x" * (32 << 20)))  # more than buffers hold
    assert any(isinstance(e, Closed) for e in server.protocol.events)
    with pytest.raises(trio.ClosedResourceError):
        await server.stream.send_all(b"more")
    await client.aclose()


async def test_a_slow_reader_that_keeps_reading_gets_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connections, "SEND_STALL_TIMEOUT", 0.5)
    server, client = _server()
    server.protocol = _Protocol()
    payload = bytes(range(256)) * (24 << 10)  # 6 MiB: several pieces, more than buffers
    received = bytearray()

    async def read_slowly() -> None:
        while len(received) < len(payload):
            received.extend(await client.receive_some(1 << 16))
            await trio.sleep(0.001)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_slowly)
        await server.protocol_send(RawData(data=payload))
    assert bytes(received) == payload
    assert server.protocol.events == []


async def test_end_of_file_never_races_a_send() -> None:
    # Upstream's send_eof held trio's send conflict detector without the send lock, so a
    # send starting meanwhile raised BusyResourceError out of the connection.
    for _ in range(20):
        server, client = _server()
        server.protocol = _Protocol()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server._close)
            nursery.start_soon(server.protocol_send, RawData(data=b"reply"))
        await client.aclose()
