"""One client connection: read a request, let the app answer it, send the reply, repeat.

A connection is one trio task, and the handler runs inside it: the request body is
read from the socket only when the handler asks for more (backpressure with no buffer
of our own), `Expect: 100-continue` is answered when the body is first asked for (so a
request refused before its body never makes the client send it), and a streamed reply
stops when the client goes away. Nothing a client sends can end the process: whatever
fails inside one connection is logged once, with the request it was serving, and
closes only that connection.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from gateway.http import response
from gateway.http.parser import Message, ProtocolError, RequestParser
from gateway.s3.errors import S3Error
from gateway.s3.request import Reply

log = logging.getLogger("tessera.gateway.connection")

# Socket reads: small while a request head is awaited, large inside a body (fewer trips).
RECV_HEAD = 64 * 1024
RECV_BODY = 1 << 20
# Between requests a connection may idle this long (as Hypercorn's keep_alive_timeout).
KEEP_ALIVE_TIMEOUT = 75.0
# A request head or body that makes no progress for this long is abandoned, and so is a
# client that takes no bytes of a response (nginx's send_timeout has the same meaning).
READ_STALL_TIMEOUT = 60.0
SEND_STALL_TIMEOUT = 60.0
# The send stall clock restarts after every piece: progress, not total time, counts.
SEND_PIECE = 256 * 1024
# Bytes of a pipelined next request read while a reply streams (to notice a client
# that went away); beyond this, reading waits until the reply is done.
PIPELINE_LOOKAHEAD = 64 * 1024
# Bodies up to this size go out in the same send as the head.
COALESCE_LIMIT = 64 * 1024
# Closing with unread bytes from the client makes the kernel send a reset, which can
# destroy the reply before the client reads it. So the server first ends its side, then
# reads and drops what still arrives for up to this long (nginx's lingering close).
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 << 20


@dataclass
class ConnectionInfo:
    """What a connection's failure log line says about it; the app fills request_id."""

    peer: str = "-"
    request_id: str = "-"
    requests: int = 0


_CURRENT: contextvars.ContextVar[ConnectionInfo | None] = contextvars.ContextVar(
    "tessera_connection", default=None
)


class RequestIdFilter(logging.Filter):
    """Tags each record logged while a connection serves a request with that request's
    id, so a warning deep in the storage client says which request it belongs to."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = _CURRENT.get()
        if info is not None and info.requests and "request_id" not in str(record.msg):
            record.request_id = info.request_id
        return True


def peer_host() -> str | None:
    """The address of the client of the request being served (no port), if known."""
    info = _CURRENT.get()
    if info is None or info.peer == "-":
        return None
    return info.peer.rpartition(":")[0].strip("[]")


def note_request(request_id: str) -> None:
    """Record the request the current connection serves now (for its failure log line)."""
    info = _CURRENT.get()
    if info is not None:
        info.request_id = request_id
        info.requests += 1


class RequestBody:
    """The request body as it arrives, pulled from the socket as the handler iterates."""

    def __init__(self, connection: Connection, message: Message) -> None:
        self._connection = connection
        self._message = message
        self.disconnected = False

    @property
    def finished(self) -> bool:
        """True once every body byte was read (at once for a request without a body)."""
        return self._message.complete and not self._message.body

    @property
    def started(self) -> bool:
        """True once the handler asked for the body (or it needed no asking)."""
        return self._connection.continued or not self._message.expect_continue

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        message, connection = self._message, self._connection
        if message.expect_continue and not connection.continued and not message.complete:
            connection.continued = True
            await connection.send(response.CONTINUE)
        while True:
            while message.body:
                yield message.body.popleft()
            if message.complete:
                return
            data = await connection.receive(RECV_BODY)
            if not data:
                self.disconnected = True
                raise S3Error("IncompleteBody", "the client closed the connection mid-body")
            try:
                connection.parser.feed(data)
            except ProtocolError as exc:
                raise S3Error("InvalidRequest", f"malformed request body: {exc.reason}") from exc

    async def wait_disconnect(self, cancel_scope: trio.CancelScope) -> None:
        """While a reply streams: cancel it when the client goes away, so a GET whose
        reader vanished stops pulling bytes from storage nodes. Body bytes the handler
        left unread are dropped (the connection then closes after the reply)."""
        connection = self._connection
        lookahead = 0
        while lookahead < PIPELINE_LOOKAHEAD:
            data = await connection._receive_some(RECV_HEAD)
            if not data:
                self.disconnected = True
                cancel_scope.cancel()
                return
            if not self.finished:
                connection.desynced = connection.linger = True  # unread body bytes dropped
                continue
            lookahead += len(data)
            with contextlib.suppress(ProtocolError):  # answered when that request is read
                connection.parser.feed(data)


@dataclass
class HttpRequest:
    """What the app needs of an HTTP request."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    body: RequestBody


class ServerState(Protocol):
    """What a connection asks of its server: whether it is shutting down, and a place
    to register the wait between requests so that shutdown can end it."""

    closing: bool

    def idle(self) -> contextlib.AbstractContextManager[trio.CancelScope]: ...


App = Callable[[HttpRequest], Awaitable[Reply]]


class Connection:
    """Serves the requests of one client connection, one after another."""

    def __init__(self, stream: trio.abc.Stream, app: App, server: ServerState) -> None:
        self.stream = stream
        self.app = app
        self.server = server
        self.parser = RequestParser()
        self.continued = False  # 100 Continue sent for the current request
        self.desynced = False  # bytes of the current body were dropped
        self.peer_closed = False  # the client ended its side (or reset the connection)
        self.linger = False  # closing while the client may still be sending

    async def run(self) -> None:
        """Serve requests until the client or the server ends the connection."""
        info = ConnectionInfo()
        transport = self.stream
        if isinstance(transport, trio.SSLStream):
            transport = transport.transport_stream
        if isinstance(transport, trio.SocketStream):
            with contextlib.suppress(OSError):
                host, port = transport.socket.getpeername()[:2]
                info.peer = f"{host}:{port}"
        _CURRENT.set(info)
        try:
            while await self._serve_one():
                pass
        except BaseException as exc:
            if not _is_failure(exc):
                raise
            if _is_disconnect(exc):
                return  # the client went away: nothing to report
            log.warning(
                "connection failed peer=%s request_id=%s requests=%d error=%s",
                info.peer,
                info.request_id,
                info.requests,
                _describe(exc),
            )
        finally:
            with trio.CancelScope(shield=True):
                await self._close()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            # TLS cannot half-close: a TLS connection closes without lingering.
            if (
                self.linger
                and not self.peer_closed
                and isinstance(self.stream, trio.abc.HalfCloseableStream)
            ):
                await self.stream.send_eof()
                with trio.move_on_after(LINGER_SECONDS):
                    drained = 0
                    while drained < LINGER_BYTES:
                        data = await self.stream.receive_some(RECV_HEAD)
                        if not data:
                            break
                        drained += len(data)
        with contextlib.suppress(Exception):
            await self.stream.aclose()

    async def _serve_one(self) -> bool:
        """One request and its reply; False when the connection should close."""
        try:
            message = await self._next_head()
        except ProtocolError as exc:
            self.linger = True
            await self._refuse(exc)
            return False
        if message is None:
            return False
        self.continued = False
        path, query = message.path_and_query
        message.headers.setdefault("host", "")
        body = RequestBody(self, message)
        request = HttpRequest(message.method, path, query, message.headers, body)
        reply = await self.app(request)
        keep = (
            message.keep_alive
            and not self.server.closing
            and self.parser.failed is None
            and body.finished  # a body left unread is not drained here: close instead
            and reply.headers.get("Connection", "").lower() != "close"
        )
        self.linger = not body.finished or self.parser.failed is not None
        completed = await self._send_reply(reply, message, body, keep)
        keep = keep and completed and not self.desynced
        if keep:
            self.parser.messages.popleft()
        return keep

    async def _next_head(self) -> Message | None:
        """The next request's head, or None when the client closed or idled out."""
        messages = self.parser.messages
        while not (messages and messages[0].head_complete):
            started = bool(messages) or self.parser.in_head
            if started:
                try:
                    data = await self.receive(RECV_HEAD)
                except S3Error:  # a head that stalled: its client is gone
                    return None
            else:
                with self.server.idle() as idle:
                    idle.deadline = trio.current_time() + KEEP_ALIVE_TIMEOUT
                    data = await self._receive_some(RECV_HEAD)
                if idle.cancelled_caught:
                    return None
            if not data:
                return None
            self.parser.feed(data)
        return messages[0]

    async def receive(self, size: int) -> bytes:
        """Some bytes of the request, b"" at its end; a stall ends the request."""
        with trio.move_on_after(READ_STALL_TIMEOUT):
            return await self._receive_some(size)
        raise S3Error(
            "RequestTimeout",
            "the connection was not read from within the timeout period",
        )

    async def _receive_some(self, size: int) -> bytes:
        try:
            data = await self.stream.receive_some(size)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        self.peer_closed = self.peer_closed or not data
        return data if isinstance(data, bytes) else bytes(data)  # both streams give bytes

    async def send(self, data: bytes) -> None:
        """Send data; a client that takes none of it for SEND_STALL_TIMEOUT is gone."""
        view = memoryview(data)
        for offset in range(0, len(view), SEND_PIECE):
            with trio.move_on_after(SEND_STALL_TIMEOUT):
                await self.stream.send_all(view[offset : offset + SEND_PIECE])
                continue
            raise trio.TooSlowError("the client stopped reading")

    async def _send_reply(
        self, reply: Reply, message: Message, body: RequestBody, keep: bool
    ) -> bool:
        """Send reply; False if it could not be sent whole (the connection must close)."""
        with_body = response.body_allowed(message.method, reply.status)
        http10 = message.http_version == "1.0"
        if isinstance(reply.body, bytes):
            head = response.response_head(reply.status, reply.headers, keep, False, http10)
            if with_body and len(reply.body) <= COALESCE_LIMIT:
                await self.send(head + reply.body)
            else:
                await self.send(head)
                if with_body:
                    await self.send(reply.body)
            return True
        declared = _content_length(reply.headers)
        chunked = with_body and declared is None and not http10
        keep = keep and (declared is not None or chunked)
        head = response.response_head(reply.status, reply.headers, keep, chunked, http10)
        chunks = reply.body
        sent = 0
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(body.wait_disconnect, nursery.cancel_scope)
                await self.send(head)
                if with_body:
                    async for data in chunks:
                        sent += len(data)
                        await self.send(response.chunk(data) if chunked else data)
                    if chunked:
                        await self.send(response.LAST_CHUNK)
                nursery.cancel_scope.cancel()
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                with trio.CancelScope(shield=True):
                    await close()  # releases the storage node's stream at once
        if body.disconnected:
            return False
        return keep and (not with_body or chunked or sent == declared)

    async def _refuse(self, error: ProtocolError) -> None:
        """Answer a request the parser refused, then the connection closes."""
        text = f"{error.status} {error.reason}\n".encode()
        head = response.response_head(
            error.status,
            {"Content-Type": "text/plain", "Content-Length": str(len(text))},
            keep_alive=False,
            chunked=False,
        )
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.send(head + text)


def _content_length(headers: dict[str, str]) -> int | None:
    for name, value in headers.items():
        if name.lower() == "content-length":
            return int(value)
    return None


def _is_failure(exc: BaseException) -> bool:
    """True for errors to contain; False for cancellation and interpreter exits, which
    must keep propagating."""
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split((trio.Cancelled, KeyboardInterrupt, SystemExit))
        interrupted = exc.subgroup((KeyboardInterrupt, SystemExit)) is not None
        return rest is not None and not interrupted
    return isinstance(exc, Exception)


def _is_disconnect(exc: BaseException) -> bool:
    """True if every error in exc says the peer closed or reset the connection."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_disconnect(inner) for inner in exc.exceptions)
    return isinstance(
        exc, (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError, trio.Cancelled)
    )


def _describe(exc: BaseException) -> str:
    """One line naming every leaf error of a (possibly nested) exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    if isinstance(exc, trio.Cancelled):
        return "Cancelled"
    return f"{type(exc).__name__}: {exc}"
