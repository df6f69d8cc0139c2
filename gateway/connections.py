"""Hypercorn's per-connection server, hardened so that no connection can end the process.

Hypercorn 0.18's trio ``TCPServer`` runs each connection as a task of the server's
nursery: an exception that escapes one connection cancels the nursery and stops the
whole gateway. Two ways out existed (issue 9):

- ``send_eof`` held trio's send conflict detector across a checkpoint without taking
  the connection's send lock, so the app task (or h11's own 400 for a malformed body)
  could call ``send_all`` at that moment and raise ``BusyResourceError``, which is not
  an ``OSError`` and escaped ``TCPServer.run``.
- ``send_all`` was shielded from cancellation with no deadline: a client that stops
  reading holds its connection and the handler's task forever.

Here the end-of-file takes the send lock, sends give up after SEND_STALL_TIMEOUT
seconds without progress, and whatever still fails inside one connection is logged
once (with the id of the request it was serving) and closes only that connection.
The upstream code is hypercorn/trio/tcp_server.py; `install()` swaps this class in.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from dataclasses import dataclass

import hypercorn.trio.run
import trio
from hypercorn.events import Closed, Event, RawData
from hypercorn.trio.tcp_server import TCPServer

log = logging.getLogger("tessera.gateway.connection")

# A client that takes no bytes of a response for this long is gone: its connection is
# closed, which frees the handler's task (nginx's send_timeout has the same meaning).
SEND_STALL_TIMEOUT = 60.0
# The stall clock restarts after every piece: progress, not total time, is what counts.
SEND_PIECE = 256 * 1024


@dataclass
class ConnectionInfo:
    """What a connection's failure log line says about it; the app fills request_id."""

    peer: str = "-"
    request_id: str = "-"
    requests: int = 0


_CURRENT: contextvars.ContextVar[ConnectionInfo | None] = contextvars.ContextVar(
    "tessera_connection", default=None
)


def note_request(request_id: str) -> None:
    """Record the request a connection serves now (app tasks inherit the connection's
    context, so they share its ConnectionInfo)."""
    info = _CURRENT.get()
    if info is not None:
        info.request_id = request_id
        info.requests += 1


def _is_failure(exc: BaseException) -> bool:
    """True for errors to contain; False for cancellation and interpreter exits, which
    must keep propagating."""
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split((trio.Cancelled, KeyboardInterrupt, SystemExit))
        interrupted = exc.subgroup((KeyboardInterrupt, SystemExit)) is not None
        return rest is not None and not interrupted
    return isinstance(exc, Exception)


def _describe(exc: BaseException) -> str:
    """One line naming every leaf error of a (possibly nested) exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    if isinstance(exc, trio.Cancelled):
        return "Cancelled"
    return f"{type(exc).__name__}: {exc}"


class GuardedTCPServer(TCPServer):
    """One client connection; its failures stay inside it."""

    async def run(self) -> None:
        info = ConnectionInfo()
        with contextlib.suppress(Exception):
            host, port = self.stream.socket.getpeername()[:2]
            info.peer = f"{host}:{port}"
        _CURRENT.set(info)
        try:
            await super().run()
        except BaseException as exc:
            if not _is_failure(exc):
                raise
            log.warning(
                "connection failed peer=%s request_id=%s requests=%d error=%s",
                info.peer,
                info.request_id,
                info.requests,
                _describe(exc),
            )
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self.stream.aclose()

    async def protocol_send(self, event: Event) -> None:
        if not isinstance(event, RawData):
            await super().protocol_send(event)
            return
        async with self.send_lock:
            try:
                await self._send_with_deadline(event.data)
            except (
                trio.BrokenResourceError,
                trio.ClosedResourceError,
                trio.BusyResourceError,
            ):
                await self.protocol.handle(Closed())
            except trio.TooSlowError:
                log.info("closing a connection whose client stopped reading")
                await self.protocol.handle(Closed())
                with trio.CancelScope(shield=True):
                    await self.stream.aclose()  # wakes the reader task too

    async def _send_with_deadline(self, data: bytes) -> None:
        view = memoryview(data)
        offset = 0
        while True:
            # Shielded as upstream (a cancelled handler must not cut a response in half),
            # but with a deadline of its own.
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + SEND_STALL_TIMEOUT
                await self.stream.send_all(view[offset : offset + SEND_PIECE])
            if scope.cancelled_caught:
                raise trio.TooSlowError
            offset += SEND_PIECE
            if offset >= len(view):
                return

    async def _close(self) -> None:
        # Upstream calls send_eof without the send lock; a send in another task then
        # raises BusyResourceError. A send in progress (or our own task holding the lock)
        # means the end of file can be skipped: aclose ends the connection either way.
        if not self.send_lock.locked():
            async with self.send_lock:
                with contextlib.suppress(
                    trio.BrokenResourceError,
                    trio.BusyResourceError,
                    trio.ClosedResourceError,
                    AttributeError,  # an SSL stream has no send_eof
                ):
                    await self.stream.send_eof()
        await self.stream.aclose()


def install() -> None:
    """Make Hypercorn's trio worker serve every connection with GuardedTCPServer."""
    hypercorn.trio.run.TCPServer = GuardedTCPServer  # type: ignore[misc]
